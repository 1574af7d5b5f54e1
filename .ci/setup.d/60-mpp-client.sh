#!/usr/bin/env bash
# The mpp client's real parts: Postfix behind /usr/sbin/sendmail (mail
# posted through mppd lands in /var/mail/USER), Debian's bsd-mailx run with
# mpp as its sendmail, and script(1) (bsdutils) to give mpp a terminal for
# its password prompt. Idempotent: another script may set Postfix up too.
set -euo pipefail
if ! command -v postfix >/dev/null; then
	printf 'postfix postfix/main_mailer_type select Local only\npostfix postfix/mailname string mppd.test\n' |
		debconf-set-selections
	apt-get install -y -qq --no-install-recommends postfix >/dev/null
fi
apt-get install -y -qq --no-install-recommends bsd-mailx bsdutils >/dev/null
# Without syslog Postfix's own log would be lost.
[ "$(postconf -h maillog_file)" ] || postconf -e maillog_file=/var/log/postfix.log
postfix status >/dev/null 2>&1 || postfix start
