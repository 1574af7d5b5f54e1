package main

import (
	"context"
	"errors"
	"strings"
)

// pop3Auth checks a name and password by logging in to a POP3 server with
// USER and PASS (RFC 1204 §3.4; RFC 1939 §7), over TLS when the spec asks.
// It reads no mail: it logs in, and says QUIT.
type pop3Auth struct {
	remote
	// inUseOK (?in-use-ok) takes -ERR [IN-USE] to PASS as proof of the
	// password. RFC 2449 §8.1.2 says the server sends it when "the user
	// successfully authenticates" and the maildrop is locked (a mail
	// client has it open), but nothing makes a server check the password
	// before the lock: one that looks at the lock first would let anyone
	// in as a user whose mail client is open, whatever the password. Only
	// the administrator can know which kind of server it is; by default it
	// is a 451, and the user tries again once the maildrop is free.
	inUseOK bool
}

// maxPOP3Command is RFC 2449 §4's limit on a command line, CRLF included.
const maxPOP3Command = 255

// Authenticate implements Authenticator.
func (a *pop3Auth) Authenticate(ctx context.Context, user, password string) error {
	if err := checkSendable(user, password, maxPOP3Command); err != nil {
		return err
	}
	rc, done, err := a.dial(ctx, password)
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
	if err := rc.send("reply to PASS", "PASS "+password); err != nil {
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
	status, text, _ := strings.Cut(line, " ")
	switch strings.ToUpper(status) {
	case "+OK":
		return "", nil
	case "-ERR":
	default:
		return "", rc.nonsense(line)
	}
	code := ""
	if rest, ok := strings.CutPrefix(text, "["); ok {
		code, _, _ = strings.Cut(rest, "]")
		code = strings.ToUpper(code)
	}
	if !aboutUser || code == "SYS/TEMP" || code == "SYS/PERM" || code == "LOGIN-DELAY" {
		return code, rc.notNow(line)
	}
	return code, rc.refused(line)
}
