#!/bin/sh
# make bench: measure mppd against the physical limit of its hops and against
# msmtpd, side by side in one run, and print one table (see BENCHMARKS.md).
# Sizes and counts can be made smaller for a quick look, e.g.
#   bench/run.sh -size 8MiB -big 0 -rounds 1 -greetings 20 -session-time 500ms
# Arguments are passed to the driver (bench/main.go; go run ./bench -h).
set -eu
cd "$(dirname "$0")/.."
GO=${GO:-go}
work=$(mktemp -d "${TMPDIR:-/tmp}/mppd-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# mppd built as make build builds it: static, without cgo (PAM is the
# helper's, which no figure here uses).
CGO_ENABLED=0 $GO build -trimpath -o "$work/mppd" .
$GO build -o "$work/mppbench" ./bench
gcc -O2 -o "$work/floor" bench/floor/floor.c
# PASS over the bare hash, per kind: a Go benchmark, both timed in one loop;
# PASS_ITERATIONS=0 leaves it out.
pass=
if [ "${PASS_ITERATIONS:-40}" != 0 ]; then
	pass="$work/pass.txt"
	$GO test -run '^$' -bench '^BenchmarkPASSOverhead$' -benchtime "${PASS_ITERATIONS:-40}x" . >"$pass"
fi
"$work/mppbench" -mppd "$work/mppd" -floor "$work/floor" -pass-bench "$pass" "$@"
