#!/usr/bin/env bash
# Base tools: mkpasswd (whois) writes the hashes tests verify against;
# systemd-socket-activate (systemd) launches mppd as a socket unit would;
# passwd/login give useradd and chpasswd; util-linux gives setpriv.
set -euo pipefail
apt-get install -y -qq --no-install-recommends \
	make gcc git ca-certificates whois systemd passwd login util-linux procps >/dev/null
