#!/usr/bin/env bash
# Real systemd as PID 1 (the container tests: e2e/container*_test.go): a
# Debian bookworm root booted with systemd-nspawn, built once per machine
# by .ci/container/build-root and cached under /var/cache/mppd-ci (about
# 45 s the first time, nothing after), with every package the tests
# install inside already downloaded. Nothing is started here; each test
# boots its own container on an overlay of the root.
set -euo pipefail
apt-get install -y -qq --no-install-recommends debootstrap systemd-container >/dev/null
"$(dirname "$0")/../container/build-root" >/dev/null
