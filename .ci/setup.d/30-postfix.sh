#!/usr/bin/env bash
# Postfix behind /usr/sbin/sendmail, local delivery only, started without
# systemd (.ci machines have none as PID 1). Tests deliver through it into
# /var/mail/USER. Idempotent: a second run changes nothing and leaves a
# running Postfix running.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
case "$(dpkg-query -W -f='${Status}' postfix 2>/dev/null)" in
*' ok installed') ;;
*)
	printf 'postfix postfix/main_mailer_type select Local only\npostfix postfix/mailname string mppd.test\n' |
		debconf-set-selections
	apt-get install -y -qq -o DPkg::Lock::Timeout=300 postfix >/dev/null
	;;
esac
# Without syslog Postfix's own log would be lost; the tests read it.
if [ "$(postconf -h maillog_file)" != /var/log/postfix.log ]; then
	postconf -e maillog_file=/var/log/postfix.log
	postfix status >/dev/null 2>&1 && postfix reload
fi
postfix status >/dev/null 2>&1 || postfix start
postfix status
