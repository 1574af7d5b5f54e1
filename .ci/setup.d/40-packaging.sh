#!/usr/bin/env bash
# Packaging (TestPackage in e2e/package_test.go): make package needs gcc,
# dpkg-shlibdeps (dpkg-dev) and, for the PAM helper, libpam0g-dev; the test
# judges the .deb with lintian and systemd-analyze (man-db for its man page
# check), installs it, and posts through the installed mppd under real
# openbsd-inetd (update-inetd registers the line), real xinetd (it conflicts
# with openbsd-inetd, so it is unpacked under /opt/xinetd) and
# systemd-socket-activate inside the unit's sandbox (setpriv, unshare;
# linux-libc-dev numbers the system calls for packaging/unitseccomp), into
# Postfix; fail2ban checks the shipped filter
# and jail; rpm reads the .rpm back. Idempotent. Postfix is 30-postfix.sh's.
set -euo pipefail
# No man-db index: TestPackage's dpkg -i and dpkg -r would each spend 3 to 4
# s rebuilding it, and man (systemd-analyze's check, lintian) finds a page
# without it. The debconf answer is for a man-db installed below; the file
# is what an installed one looks at.
echo 'man-db man-db/auto-update boolean false' | debconf-set-selections
rm -f /var/lib/man-db/auto-update
apt-get install -y -qq --no-install-recommends \
	gcc libc6-dev libpam0g-dev linux-libc-dev dpkg-dev lintian man-db adduser \
	openbsd-inetd update-inetd fail2ban python3-systemd util-linux mount rpm >/dev/null
if [ ! -x /opt/xinetd/usr/sbin/xinetd ] && [ ! -x /usr/sbin/xinetd ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && apt-get download -qq xinetd 2>/dev/null && dpkg-deb -x xinetd_*.deb /opt/xinetd)
fi
