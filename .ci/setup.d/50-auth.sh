#!/usr/bin/env bash
# The -auth backends' real parts: dovecot (dovecot-pop3d) and vsftpd, which
# the tests start themselves on loopback ports, each with its own
# configuration, certificate and directories; libpam0g-dev, so that
# make test builds the PAM helper cmd/mppd-pam (cgo, -tags pam) and tests
# pam:SERVICE through it (pam_unix, useradd and chpasswd come with the base
# system). Nothing is started here.
set -euo pipefail
apt-get install -y -qq --no-install-recommends dovecot-pop3d vsftpd libpam0g-dev >/dev/null
test -e /usr/include/security/pam_appl.h
test -e /etc/pam.d/vsftpd
grep -qx /bin/sh /etc/shells
