package e2e

// -auth against the real servers: dovecot for POP3 (plain, STLS, pop3s)
// and vsftpd for FTP (plain, AUTH TLS). Each backend: right password,
// wrong password, unknown user, server down, server hanging; and TLS that
// cannot be verified or is refused never falls back to plaintext.

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
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
	o := authOptions{caFile: srv.ca}
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
		spec := "pop3://" + testlib.FreePort(t)
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
			o := authOptions{caFile: srv.ca, timeout: 500 * time.Millisecond}
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
		down := "pop3://" + testlib.FreePort(t)
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
	type result struct {
		code int
		err  error
	}
	check := func(spec string, to chan<- result) {
		code, _, err := checkAuth(t, o, []string{spec}, user, pw)
		to <- result{code, err}
	}
	plainRes, inUseOKRes := make(chan result, 1), make(chan result, 1)
	go check(spec, plainRes)
	go check(spec+"?in-use-ok", inUseOKRes)
	code, _, err := checkAuth(t, o, []string{spec + "?in-use-ok"}, user, "not it")
	wantCode(t, code, err, codeAuthFailed, spec+"?in-use-ok", "not it")
	if !strings.Contains(err.Error(), "[AUTH]") {
		t.Errorf("wrong password while the maildrop is in use: %v, want dovecot's [AUTH]", err)
	}
	res := <-plainRes
	err = res.err
	wantCode(t, res.code, err, codeLocalError, spec, pw)
	if !strings.Contains(err.Error(), "IN-USE") {
		t.Errorf("reason %q does not say the maildrop is in use", err)
	}
	res = <-inUseOKRes
	wantCode(t, res.code, res.err, codeOK, "", pw)

	fmt.Fprintf(holder, "QUIT\r\n")
	r.ReadString('\n')
	holder.Close()
	code, _, err = checkAuth(t, authOptions{}, []string{spec}, user, pw)
	wantCode(t, code, err, codeOK, "", pw)
}

func TestAuthEndToEndPOP3(t *testing.T) {
	const user, pw = "carol", "e2e Secret-4"
	srv := startDovecot(t, map[string]string{user: pw}, true)
	bin := testlib.Mppd(t)
	base := []string{"-passwd", "/dev/null", "-fail-delay", "0", "-auth-ca-file", srv.ca}

	t.Run("accepted by pop3s", func(t *testing.T) {
		reply, log, _ := mppSession(t, append(base, "-auth", "pop3s://"+srv.tls), user, pw)
		if !strings.HasPrefix(reply, "250 ") {
			t.Fatalf("PASS: %q\n%s", reply, log)
		}
		mustNotLeak(t, log, pw)
	})
	t.Run("wrong password: 530, the log names the server", func(t *testing.T) {
		reply, log, _ := mppSession(t, append(base, "-auth", "pop3://"+srv.plain+"?starttls"), user, "wrong "+pw)
		if reply != "530 Authentication Failure" {
			t.Fatalf("PASS: %q\n%s", reply, log)
		}
		if !strings.Contains(log, "authentication failed") || !strings.Contains(log, "pop3://"+srv.plain+"?starttls") {
			t.Errorf("log:\n%s", log)
		}
		mustNotLeak(t, log, pw)
	})
	t.Run("server down: 451, the log says which and why", func(t *testing.T) {
		down := "pop3://" + testlib.FreePort(t)
		reply, log, _ := mppSession(t, append(base, "-auth", down), user, pw)
		if !strings.HasPrefix(reply, "451 ") {
			t.Fatalf("PASS: %q\n%s", reply, log)
		}
		if !strings.Contains(log, down) || !strings.Contains(log, "connection refused") {
			t.Errorf("log does not say which server and why:\n%s", log)
		}
		mustNotLeak(t, log, pw)
	})
	t.Run("chain: shadow, then a server that is down, then dovecot", func(t *testing.T) {
		args := append(base, "-auth", "shadow", "-auth", "pop3://"+testlib.FreePort(t), "-auth", "pop3://"+srv.plain)
		if reply, log, _ := mppSession(t, args, user, pw); !strings.HasPrefix(reply, "250 ") {
			t.Fatalf("PASS: %q\n%s", reply, log)
		}
	})
	t.Run("-fail-delay counts from PASS, once", func(t *testing.T) {
		args := []string{"-passwd", "/dev/null", "-fail-delay", "1s", "-auth", "pop3://" + srv.plain}
		reply, log, took := mppSession(t, args, user, "wrong")
		if reply != "530 Authentication Failure" {
			t.Fatalf("PASS: %q\n%s", reply, log)
		}
		if took < time.Second || took > 1900*time.Millisecond {
			t.Errorf("530 after %v, want 1s after PASS (not 1s plus the check, nor twice)", took)
		}
	})
	t.Run("bad specs stop mppd at start-up", func(t *testing.T) {
		for _, spec := range []string{"imap://host", "pop3s://host?starttls", "pam:mppd-no-such-service"} {
			cmd := exec.Command(bin, "-log", "stderr", "-auth", spec)
			out, err := cmd.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitConfig {
				t.Errorf("-auth %s: %v, want exit %d\n%s", spec, err, exitConfig, out)
			}
			if !strings.Contains(string(out), "-auth") {
				t.Errorf("-auth %s: message %q does not name the flag", spec, out)
			}
		}
	})
}
