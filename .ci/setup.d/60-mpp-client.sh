#!/usr/bin/env bash
# The mpp client's real parts: Postfix behind /usr/sbin/sendmail (mail
# posted through mppd lands in /var/mail/USER), Debian's bsd-mailx run with
# mpp as its sendmail, and script(1) (bsdutils) to give mpp a terminal for
# its password prompt. Idempotent. Postfix is set up and started by 30-postfix.sh.
set -euo pipefail
apt-get install -y -qq --no-install-recommends bsd-mailx bsdutils >/dev/null
