package main

import (
	"context"
	"errors"
	"slices"
	"strings"
)

// pop3Auth checks a name and password by logging in to a POP3 server with
// USER and PASS (RFC 1204 §3.4; RFC 1939 §7), over TLS when the spec asks.
// It reads no mail: it logs in, and says QUIT.
type pop3Auth struct {
	remote
	// inUseOK (?in-use-ok) takes -ERR [IN-USE] to PASS as proof of the
	// password (RFC 2449 §8.1.2). A server that looks at the lock before
	// the password would then let anyone in as a user whose mail client is
	// open; only the administrator knows which kind it is, so by default
	// it is a 451.
	inUseOK bool
}

// maxPOP3Command is RFC 2449 §4's limit on a command line, CRLF included.
const maxPOP3Command = 255

// Authenticate implements Authenticator.
func (a *pop3Auth) Authenticate(ctx context.Context, user, password string) error {
	if err := checkSendable(user, password, maxPOP3Command); err != nil {
		return err
	}
	rc, done, err := a.dial(ctx, pop3Code)
	if err != nil {
		return err
	}
	defer done()
	if _, err := rc.pop3Reply(false); err != nil {
		return err
	}
	if a.tls == tlsUpgrade {
		// RFC 2595 §4: STLS. A server that refuses it does not get the
		// password in plaintext instead.
		if err := rc.send("reply to STLS", "STLS"); err != nil {
			return err
		}
		if _, err := rc.pop3Reply(false); err != nil {
			return err
		}
		if err := rc.startTLS(ctx); err != nil {
			return err
		}
	}
	defer rc.quit()
	if err := rc.send("reply to USER", "USER "+user); err != nil {
		return err
	}
	if _, err := rc.pop3Reply(true); err != nil {
		// A server may refuse an unknown name at USER (RFC 1939 §7). The
		// client sees the same 530 as for a wrong password. So it does for
		// IN-USE here, before any password: a 451 would tell anyone which
		// users exist and are reading their mail.
		return err
	}
	if err := rc.sendPassword("reply to PASS", "PASS "+password); err != nil {
		return err
	}
	if code, err := rc.pop3Reply(true); err != nil {
		if code == "IN-USE" {
			if a.inUseOK {
				return nil
			}
			return tempAuthError(errors.New("reply to PASS: -ERR [IN-USE]: the maildrop is locked (a mail client has it open); not taken as proof of the password without ?in-use-ok"))
		}
		return err
	}
	return nil
}

// pop3Reply reads one status line (RFC 1939 §3) and returns its response
// code (RFC 2449 §8), if any. +OK is nil. -ERR to USER or PASS (aboutUser)
// is a refusal (530), unless its response code says the server could not
// decide (RFC 3206): SYS/TEMP, SYS/PERM and LOGIN-DELAY are 451. -ERR to
// the greeting or to STLS refuses nobody: 451, as is anything that is
// neither +OK nor -ERR.
func (rc *remoteConn) pop3Reply(aboutUser bool) (string, error) {
	line, err := rc.readLine()
	if err != nil {
		return "", err
	}
	status, code := pop3Status(line)
	switch status {
	case "+OK":
		return "", nil
	case "-ERR":
	default:
		return "", rc.nonsense(line)
	}
	if !aboutUser || code == "SYS/TEMP" || code == "SYS/PERM" || code == "LOGIN-DELAY" {
		return code, rc.notNow(line)
	}
	return code, rc.refused(line)
}

// pop3Status is a status line's status, +OK or -ERR ("" for neither), and
// its response code in upper case (RFC 2449 §8: "[CODE]" right after the
// status), if any.
func pop3Status(line string) (status, code string) {
	status, text, _ := strings.Cut(line, " ")
	status = strings.ToUpper(status)
	if status != "+OK" && status != "-ERR" {
		return "", ""
	}
	if rest, ok := strings.CutPrefix(text, "["); ok {
		if c, _, ok := strings.Cut(rest, "]"); ok {
			code = strings.ToUpper(c)
		}
	}
	return status, code
}

// pop3Codes are the response codes registered for POP3 (RFC 2449 §8.1,
// RFC 3206 §4, RFC 6856 §7): the only ones that reach the log once the
// server has the password. Another could be any text the server chose.
var pop3Codes = []string{"LOGIN-DELAY", "IN-USE", "SYS/TEMP", "SYS/PERM", "AUTH", "UTF8"}

// pop3Code is what of a POP3 reply is logged after PASS: "+OK", "-ERR",
// "-ERR [AUTH]" with a registered response code, or "" for a line that is
// no POP3 reply.
func pop3Code(line string) string {
	status, code := pop3Status(line)
	switch {
	case status == "" || code == "":
		return status
	case slices.Contains(pop3Codes, code):
		return status + " [" + code + "]"
	}
	return status + " [a response code not registered for POP3]"
}
