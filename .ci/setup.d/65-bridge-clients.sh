#!/usr/bin/env bash
# The SMTP clients the bridge (mpp smtpd, mpp -bs; e2e/bridge_test.go) is
# proven with, each posting through it into mppd and Postfix: swaks (with
# Net::SSLeay for STARTTLS), msmtp as a client, Python's smtplib (python3),
# git send-email (git-email; Authen::SASL for its AUTH, IO::Socket::SSL for
# its STARTTLS, Mail::Address from libmailtools-perl) and mutt with
# smtp_url. Postfix is 30-postfix.sh's. Nothing is started here.
# Idempotent.
set -euo pipefail
apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends \
	swaks libnet-ssleay-perl msmtp python3 git git-email libauthen-sasl-perl \
	libio-socket-ssl-perl libmailtools-perl mutt >/dev/null
swaks --version >/dev/null
test -x /usr/lib/git-core/git-send-email
# Not piped into grep -q: under pipefail, a reader that stops early kills
# the writer with SIGPIPE and the run fails (exit 141) at random.
v=$(mutt -v)
[[ $v == *+USE_SMTP* ]]
