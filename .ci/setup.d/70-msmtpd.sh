#!/usr/bin/env bash
# The peer of the benchmark (make bench, and its smoke test in bench/):
# msmtpd from Debian's msmtp-mta. msmtp-mta conflicts with Postfix, so it is
# unpacked under /opt/msmtp instead of installed; the msmtp package gives
# its libraries. Nothing is started.
set -euo pipefail
apt-get install -y -qq --no-install-recommends msmtp >/dev/null
if [ ! -x /opt/msmtp/usr/bin/msmtpd ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && apt-get download -qq msmtp-mta 2>/dev/null && dpkg-deb -x msmtp-mta_*.deb /opt/msmtp)
fi
/opt/msmtp/usr/bin/msmtpd --version >/dev/null
