package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// ftpAuth checks a name and password by logging in to an FTP server with
// USER and PASS (RFC 1204 §3.4; RFC 959 §4.1.1), after AUTH TLS for ftps://
// (RFC 4217 §4). It opens no data connection: it logs in, and says QUIT.
type ftpAuth struct{ remote }

// Authenticate implements Authenticator.
func (a *ftpAuth) Authenticate(ctx context.Context, user, password string) error {
	if isAnonymousFTP(user) {
		return errAuthFailed("anonymous FTP name: never sent (an FTP server takes any password for it)")
	}
	if err := checkSendable(user, password, 0); err != nil {
		return err
	}
	rc, done, err := a.dial(ctx, ftpCodeText)
	if err != nil {
		return err
	}
	defer done()
	code, line, err := rc.ftpReply()
	if err != nil {
		return err
	}
	if code != 220 {
		// 120 (ready in a while), 421 (not available) and the rest.
		return rc.notNow(line)
	}
	if a.tls == tlsUpgrade {
		if err := rc.send("reply to AUTH TLS", "AUTH TLS"); err != nil {
			return err
		}
		if code, line, err = rc.ftpReply(); err != nil {
			return err
		}
		if code != 234 {
			// No plaintext fallback: the password never goes out in clear
			// to a server we were told to reach over TLS.
			return rc.notNow(line)
		}
		if err := rc.startTLS(ctx); err != nil {
			return err
		}
	}
	defer rc.quit()
	if err := rc.send("reply to USER", "USER "+user); err != nil {
		return err
	}
	if code, line, err = rc.ftpReply(); err != nil {
		return err
	}
	switch code {
	case 331: // need password
	case 530:
		// Some servers refuse names at USER (vsftpd's userlist, or
		// logins they only allow over TLS): a refusal like any other.
		return rc.refused(line)
	case 230:
		// Logged in without a password: the password was not checked.
		return tempAuthError(fmt.Errorf("server logged in without asking for a password: %s", rc.describe(line)))
	default:
		// 332 (needs ACCT), 421 and other 4yz, 500 and the like.
		return rc.notNow(line)
	}
	if err := rc.sendPassword("reply to PASS", "PASS "+password); err != nil {
		return err
	}
	if code, line, err = rc.ftpReply(); err != nil {
		return err
	}
	switch code {
	case 230:
		return nil
	case 530:
		return rc.refused(line)
	}
	// 202 (no password needed), 332 (ACCT), 421 and other 4yz, 5yz other
	// than 530: the server did not say whether the password is right.
	return rc.notNow(line)
}

// ftpReply reads one reply, single- or multi-line (RFC 959 §4.2: a
// multi-line reply starts with "NNN-" and ends with a line starting "NNN "),
// and returns its code and last line.
func (rc *remoteConn) ftpReply() (int, string, error) {
	var first string
	for i := 0; i < maxRemoteLines; i++ {
		line, err := rc.readLine()
		if err != nil {
			return 0, "", err
		}
		if i == 0 {
			if ftpCode(line) == 0 {
				return 0, "", rc.nonsense(line)
			}
			first = line
		}
		// The end: the first line's code and a space, or a one-line reply.
		if strings.HasPrefix(line, first[:3]) && (len(line) == 3 || line[3] == ' ') {
			return ftpCode(line), line, nil
		}
	}
	return 0, "", tempAuthError(fmt.Errorf("nonsense in %s: more than %d lines", rc.phase, maxRemoteLines))
}

// ftpCodeText is what of an FTP reply is logged after PASS: its code, or
// "" for a line without one.
func ftpCodeText(line string) string {
	if code := ftpCode(line); code != 0 {
		return strconv.Itoa(code)
	}
	return ""
}

// ftpCode is the reply code a line starts with, or 0.
func ftpCode(line string) int {
	if len(line) < 3 || line[0] < '1' || line[0] > '5' || line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9' {
		return 0
	}
	if len(line) > 3 && line[3] != ' ' && line[3] != '-' {
		return 0
	}
	return int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
}

// isAnonymousFTP says whether user is one of the names FTP servers let in
// with any password when they allow anonymous logins (RFC 1635: vsftpd,
// ProFTPD, Pure-FTPd and wu-ftpd all take "anonymous" and "ftp", in any
// case). A 230 to such a name proves nothing about the user, so the FTP
// backend refuses them without asking: otherwise anyone could post mail as
// "anonymous" through a server that allows it. Spaces around the name are
// ignored, as some servers ignore them.
func isAnonymousFTP(user string) bool {
	u := strings.TrimSpace(user)
	return strings.EqualFold(u, "anonymous") || strings.EqualFold(u, "ftp")
}
