#!/usr/bin/env bash
# The fail2ban filter's journalmatch (e2e/fail2ban_test.go): the test writes
# journal entries, real mppd's and forged ones, into a journal file with
# systemd-journal-remote, which takes the export format with the fields
# only journald itself sets (_SYSTEMD_SLICE, _COMM ...), and runs
# fail2ban-regex (40-packaging.sh installs fail2ban) on that file.
# Nothing is started.
set -euo pipefail
apt-get install -y -qq --no-install-recommends systemd-journal-remote fail2ban python3-systemd >/dev/null
/lib/systemd/systemd-journal-remote --version >/dev/null
