package main

// -auth against the real servers: dovecot for POP3 (plain, STLS, pop3s)
// and vsftpd for FTP (plain, AUTH TLS). Each backend: right password,
// wrong password, unknown user, server down, server hanging; and TLS that
// cannot be verified or is refused never falls back to plaintext.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// wantCode checks a check's outcome, and that its error (which goes to the
// log) names the backend and never holds the password.
func wantCode(t *testing.T, code int, err error, want int, name, pw string) {
	t.Helper()
	if code != want {
		t.Fatalf("got %d (%v), want %d", code, err, want)
	}
	if err != nil {
		mustNotLeak(t, err.Error(), pw)
		if name != "" && !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name the backend %s", err, name)
		}
	}
}

// checkOutcomes checks spec with the right password, a wrong one (whose
// logged reason must hold the server's reply code, mark) and an unknown
// user, and that a wrong password that is a word of the server's reply to
// PASS (word) is not told by the log.
func checkOutcomes(t *testing.T, o authOptions, spec, user, pw, mark, word string) {
	t.Helper()
	t.Run("wrong password, a word of the server's reply", func(t *testing.T) {
		code, _, err := checkAuth(t, o, []string{spec}, user, word)
		wantCode(t, code, err, codeAuthFailed, spec, word)
		if strings.Contains(err.Error(), "[password]") || !strings.HasSuffix(err.Error(), "reply to PASS: "+mark) {
			t.Errorf("log reason %q: want the reply's code %q and nothing of its text", err, mark)
		}
	})
	t.Run("right password", func(t *testing.T) {
		code, _, err := checkAuth(t, o, []string{spec}, user, pw)
		wantCode(t, code, err, codeOK, spec, pw)
	})
	t.Run("wrong password", func(t *testing.T) {
		code, _, err := checkAuth(t, o, []string{spec}, user, "not it")
		wantCode(t, code, err, codeAuthFailed, spec, "not it")
		if !strings.Contains(err.Error(), mark) {
			t.Errorf("log reason %q lacks the server's reply", err)
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		code, _, err := checkAuth(t, o, []string{spec}, "mppdnosuchuser", pw)
		wantCode(t, code, err, codeAuthFailed, spec, pw)
	})
}

func TestAuthPOP3Dovecot(t *testing.T) {
	const user, pw = "alice", "pop3 Secret-1"
	srv := startDovecot(t, map[string]string{user: pw, "bob": "other"}, true)
	o := authOptions{caFile: srv.pki.caFile}
	for _, spec := range []string{
		"pop3://" + srv.plain,
		"pop3://" + srv.plain + "?starttls",
		"pop3s://" + srv.tls,
	} {
		t.Run(spec, func(t *testing.T) {
			checkOutcomes(t, o, spec, user, pw, "-ERR [AUTH]", "failed")
			t.Run("another user's password", func(t *testing.T) {
				code, _, err := checkAuth(t, o, []string{spec}, "bob", pw)
				wantCode(t, code, err, codeAuthFailed, spec, pw)
			})
		})
	}

	t.Run("TLS not verifiable: 451, no password sent", func(t *testing.T) {
		// Without -auth-ca-file the system roots do not know the test CA.
		logins := strings.Count(srv.output(), "user=<"+user)
		for _, spec := range []string{"pop3s://" + srv.tls, "pop3://" + srv.plain + "?starttls"} {
			code, _, err := checkAuth(t, authOptions{}, []string{spec}, user, pw)
			wantCode(t, code, err, codeLocalError, spec, pw)
			if !strings.Contains(err.Error(), "certificate") {
				t.Errorf("%s: reason %q does not mention the certificate", spec, err)
			}
		}
		time.Sleep(100 * time.Millisecond) // dovecot logs the disconnection
		if log := srv.output(); strings.Count(log, "user=<"+user) != logins || !strings.Contains(log, "bad certificate") {
			t.Errorf("want a refused handshake and no login attempt in dovecot's log:\n%s", log)
		}
	})

	t.Run("server down", func(t *testing.T) {
		spec := "pop3://" + freePort(t)
		code, _, err := checkAuth(t, o, []string{spec}, user, pw)
		wantCode(t, code, err, codeLocalError, spec, pw)
		if !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("reason %q does not say why", err)
		}
	})

	t.Run("server hanging", func(t *testing.T) {
		srv.stop(t)
		defer srv.cont()
		for _, spec := range []string{"pop3://" + srv.plain, "pop3s://" + srv.tls} {
			o := authOptions{caFile: srv.pki.caFile, timeout: 500 * time.Millisecond}
			code, took, err := checkAuth(t, o, []string{spec}, user, pw)
			wantCode(t, code, err, codeLocalError, spec, pw)
			if took < 450*time.Millisecond || took > 3*time.Second {
				t.Errorf("%s: gave up after %v, want about the 500ms -auth-timeout", spec, took)
			}
			if !strings.Contains(err.Error(), "within 500ms") {
				t.Errorf("%s: reason %q does not say it timed out", spec, err)
			}
		}
	})

	t.Run("STLS refused: 451, never plaintext", func(t *testing.T) {
		plain := startDovecot(t, map[string]string{user: pw}, false)
		spec := "pop3://" + plain.plain + "?starttls"
		code, _, err := checkAuth(t, o, []string{spec}, user, pw)
		wantCode(t, code, err, codeLocalError, spec, pw)
		if !strings.Contains(err.Error(), "STLS") {
			t.Errorf("reason %q does not say STLS was refused", err)
		}
		time.Sleep(100 * time.Millisecond) // dovecot logs the disconnection
		if log := plain.output(); !strings.Contains(log, "no auth attempts") || strings.Contains(log, "user=<"+user) {
			t.Errorf("dovecot saw a login attempt:\n%s", log)
		}
		// The same server without ?starttls: the administrator chose plaintext.
		code, _, err = checkAuth(t, o, []string{"pop3://" + plain.plain}, user, pw)
		wantCode(t, code, err, codeOK, "", pw)
	})

	t.Run("chain", func(t *testing.T) {
		real := "pop3://" + srv.plain
		down := "pop3://" + freePort(t)
		cases := []struct {
			name  string
			specs []string
			pw    string
			want  int
		}{
			{"down then accepting: accepted", []string{down, real}, pw, codeOK},
			{"accepting then down: accepted at once", []string{real, down}, pw, codeOK},
			{"refusing then down: 451, the second might have accepted", []string{real, down}, "wrong", codeLocalError},
			{"down then refusing: 451", []string{down, real}, "wrong", codeLocalError},
			{"shadow without the user, then POP3: accepted", []string{"shadow", real}, pw, codeOK},
			{"both refuse: 530", []string{"shadow", real}, "wrong", codeAuthFailed},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				o := authOptions{passwd: "examples/demo.passwd"}
				code, _, err := checkAuth(t, o, c.specs, user, c.pw)
				wantCode(t, code, err, c.want, "", c.pw)
				if err != nil {
					for _, s := range c.specs {
						if !strings.Contains(err.Error(), s) {
							t.Errorf("reason %q does not name %s", err, s)
						}
					}
				}
			})
		}
	})
}

func TestAuthFTPVsftpd(t *testing.T) {
	const pw = "ftp Secret-2"
	user := addSystemUser(t, pw)
	srv := startVsftpd(t, true)
	o := authOptions{caFile: srv.pki.caFile}
	for _, spec := range []string{"ftp://" + srv.addr, "ftps://" + srv.addr} {
		t.Run(spec, func(t *testing.T) { checkOutcomes(t, o, spec, user, pw, "530", "incorrect") })
	}
	if log := srv.output(); strings.Contains(log, pw) {
		t.Errorf("vsftpd logged the password (test setup):\n%s", log)
	}

	t.Run("TLS not verifiable: 451, no USER sent", func(t *testing.T) {
		spec := "ftps://" + srv.addr
		users := strings.Count(srv.output(), `"USER `)
		code, _, err := checkAuth(t, authOptions{}, []string{spec}, user, pw)
		wantCode(t, code, err, codeLocalError, spec, pw)
		if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("reason %q does not mention the certificate", err)
		}
		time.Sleep(100 * time.Millisecond) // vsftpd logs as the session ends
		if log := srv.output(); strings.Count(log, `"USER `) != users || !strings.Contains(log, `"AUTH TLS"`) {
			t.Errorf("vsftpd's log: want AUTH TLS and no new USER:\n%s", log)
		}
	})

	t.Run("AUTH TLS refused: 451, never plaintext", func(t *testing.T) {
		plain := startVsftpd(t, false)
		spec := "ftps://" + plain.addr
		code, _, err := checkAuth(t, o, []string{spec}, user, pw)
		wantCode(t, code, err, codeLocalError, spec, pw)
		if !strings.Contains(err.Error(), "AUTH TLS") {
			t.Errorf("reason %q does not say AUTH TLS was refused", err)
		}
		time.Sleep(100 * time.Millisecond) // vsftpd logs as the session ends
		if log := plain.output(); !strings.Contains(log, `"AUTH TLS"`) || strings.Contains(log, `"USER `) {
			t.Errorf("vsftpd's log: want AUTH TLS and no USER:\n%s", log)
		}
	})

	t.Run("server down", func(t *testing.T) {
		spec := "ftp://" + freePort(t)
		code, _, err := checkAuth(t, o, []string{spec}, user, pw)
		wantCode(t, code, err, codeLocalError, spec, pw)
	})

	t.Run("server hanging", func(t *testing.T) {
		srv.stop(t)
		defer srv.cont()
		spec := "ftps://" + srv.addr
		o := authOptions{caFile: srv.pki.caFile, timeout: 500 * time.Millisecond}
		code, took, err := checkAuth(t, o, []string{spec}, user, pw)
		wantCode(t, code, err, codeLocalError, spec, pw)
		if took < 450*time.Millisecond || took > 3*time.Second {
			t.Errorf("gave up after %v, want about the 500ms -auth-timeout", took)
		}
	})
}

// ftpLogin logs in to addr with USER and PASS as any FTP client would and
// returns the reply code to PASS.
func ftpLogin(t *testing.T, addr, user, pw string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	reply := func() int {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("FTP dialogue with %s: %v", addr, err)
			}
			if len(line) > 3 && line[3] == ' ' {
				return ftpCode(line[:3])
			}
		}
	}
	if code := reply(); code != 220 {
		t.Fatalf("greeting %d", code)
	}
	fmt.Fprintf(c, "USER %s\r\n", user)
	if code := reply(); code != 331 {
		return code
	}
	fmt.Fprintf(c, "PASS %s\r\n", pw)
	code := reply()
	fmt.Fprintf(c, "QUIT\r\n")
	return code
}

// TestAuthFTPVsftpdAnonymous: vsftpd that lets anyone in as "anonymous" or
// "ftp" with any password (it does, for a plain FTP client) is never asked
// about those names: 530, no connection. Its local users still log in.
func TestAuthFTPVsftpdAnonymous(t *testing.T) {
	const pw = "ftp Secret-7"
	user := addSystemUser(t, pw)
	srv := startAnonymousVsftpd(t)
	spec := "ftp://" + srv.addr
	if code := ftpLogin(t, srv.addr, "anonymous", "any@example.org"); code != 230 {
		t.Fatalf("vsftpd answers an anonymous login with %d, want 230 (test setup)", code)
	}
	time.Sleep(100 * time.Millisecond) // vsftpd logs as the session ends
	connects := strings.Count(srv.output(), "CONNECT:")
	for _, name := range []string{"anonymous", "ANONYMOUS", "Anonymous", "ftp", "FTP", "fTp"} {
		code, _, err := checkAuth(t, authOptions{}, []string{spec}, name, "any@example.org")
		wantCode(t, code, err, codeAuthFailed, spec, "any@example.org")
		if !strings.Contains(err.Error(), "anonymous") {
			t.Errorf("%s: reason %q does not say why", name, err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if n := strings.Count(srv.output(), "CONNECT:"); n != connects {
		t.Errorf("mppd connected to vsftpd %d times for anonymous names:\n%s", n-connects, srv.output())
	}
	code, _, err := checkAuth(t, authOptions{}, []string{spec}, user, pw)
	wantCode(t, code, err, codeOK, spec, pw)
}

// TestAuthPOP3DovecotInUse: dovecot with pop3_lock_session answers -ERR
// [IN-USE] to the right password while another session holds the
// maildrop (after waiting 10 s for it). That is a 451 (try later) unless
// the spec says ?in-use-ok; dovecot checks the password before the lock (a
// wrong one is still -ERR [AUTH] at once), which is what makes ?in-use-ok
// safe with it.
func TestAuthPOP3DovecotInUse(t *testing.T) {
	const user, pw = "dora", "pop3 Secret-8"
	// Maildir: with mbox, dovecot waits on the mbox lock instead.
	srv := startDovecot(t, map[string]string{user: pw}, false, "pop3_lock_session = yes", "mail_location = maildir:~/Maildir")
	spec := "pop3://" + srv.plain
	// A mail client that has the maildrop open.
	holder, err := net.DialTimeout("tcp", srv.plain, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	holder.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(holder)
	for _, cmd := range []string{"", "USER " + user, "PASS " + pw, "STAT"} {
		if cmd != "" {
			fmt.Fprintf(holder, "%s\r\n", cmd)
		}
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
			t.Fatalf("holding the maildrop: %q: %q %v", cmd, line, err)
		}
	}

	// Dovecot gives up on the lock after 10 s: both checks at once.
	o := authOptions{timeout: 20 * time.Second}
	plain, inUseOK := testChain(t, o, spec), testChain(t, o, spec+"?in-use-ok")
	plainErr, inUseOKErr := make(chan error, 1), make(chan error, 1)
	go func() { plainErr <- plain.Authenticate(context.Background(), user, pw) }()
	go func() { inUseOKErr <- inUseOK.Authenticate(context.Background(), user, pw) }()
	code, _, err := checkAuth(t, o, []string{spec + "?in-use-ok"}, user, "not it")
	wantCode(t, code, err, codeAuthFailed, spec+"?in-use-ok", "not it")
	if !strings.Contains(err.Error(), "[AUTH]") {
		t.Errorf("wrong password while the maildrop is in use: %v, want dovecot's [AUTH]", err)
	}
	err = <-plainErr
	wantCode(t, replyCode(err), err, codeLocalError, spec, pw)
	if !strings.Contains(err.Error(), "IN-USE") {
		t.Errorf("reason %q does not say the maildrop is in use", err)
	}
	err = <-inUseOKErr
	wantCode(t, replyCode(err), err, codeOK, "", pw)

	fmt.Fprintf(holder, "QUIT\r\n")
	r.ReadString('\n')
	holder.Close()
	code, _, err = checkAuth(t, authOptions{}, []string{spec}, user, pw)
	wantCode(t, code, err, codeOK, "", pw)
}
