#!/usr/bin/env bash
# TestMultihost (e2e/multihost_test.go): HAProxy in front of three mppd hosts,
# each with its own Postfix, in network namespaces (iproute2's ip netns and
# veth pairs on a bridge); Postfix and Dovecot come from 30-postfix.sh and
# 50-auth.sh; Dovecot's LMTP server and Sieve (Pigeonhole), for the central
# delivery's duplicate test, come from here. The test starts every daemon
# itself, in its namespaces, with configurations of its own: nothing is
# started or configured here.
# Idempotent: installed packages are left as they are.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
for p in haproxy iproute2 dovecot-lmtpd dovecot-sieve; do
	case "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" in
	*' ok installed') ;;
	*) need+=("$p") ;;
	esac
done
if [ ${#need[@]} -gt 0 ]; then
	apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "${need[@]}" >/dev/null
fi
# sed reads to the end; head would leave haproxy to die of SIGPIPE (141).
haproxy -v | sed -n 1p
ip netns list >/dev/null
