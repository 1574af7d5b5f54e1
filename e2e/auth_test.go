package e2e

// -auth through the built mppd: one session on a pipe per check, USER and
// PASS as a client sends them, and what the reply and the log say.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

// authOptions are the -auth flags of a check.
type authOptions struct {
	passwd         string        // -passwd, for the shadow backend
	caFile         string        // -auth-ca-file; "": the system roots
	connectTimeout time.Duration // -auth-connect-timeout; 0: 5s
	timeout        time.Duration // -auth-timeout; 0: 10s
	pamHelper      string        // -pam-helper, for pam:SERVICE
}

// flags are mppd's flags for a check of specs with o: no -fail-delay, so
// that the times are the backends' own.
func (o authOptions) flags(specs []string) []string {
	flags := []string{"-fail-delay", "0",
		"-auth-connect-timeout", cmpDuration(o.connectTimeout, 5*time.Second),
		"-auth-timeout", cmpDuration(o.timeout, 10*time.Second)}
	if o.passwd != "" {
		flags = append(flags, "-passwd", o.passwd)
	}
	if o.caFile != "" {
		flags = append(flags, "-auth-ca-file", o.caFile)
	}
	if o.pamHelper != "" {
		flags = append(flags, "-pam-helper", o.pamHelper)
	}
	for _, s := range specs {
		flags = append(flags, "-auth", s)
	}
	return flags
}

func cmpDuration(d, otherwise time.Duration) string {
	if d == 0 {
		d = otherwise
	}
	return d.String()
}

// mppSession runs one session of mppd with flags on a pipe: USER, PASS,
// QUIT. It returns the reply to PASS, the log (stderr) and how long after
// the PASS line the reply came.
func mppSession(t testing.TB, flags []string, user, pw string) (string, string, time.Duration) {
	t.Helper()
	m := start(t, "pipe", append([]string{"-config", "", "-log", "stderr", "-hostname", "mppd-test"}, flags...)...)
	c := m.conn(t)
	// The whole dialogue first: an mppd that has gone answers "" to the
	// rest, and its log is read only once it has exited.
	greeting, _ := c.R.ReadString('\n')
	if !strings.HasPrefix(greeting, "220 ") {
		waitExit(t, c.cmd)
		t.Fatalf("greeting %q; log:\n%s", greeting, m.log)
	}
	c.Cmd("USER "+user, "250")
	// Timed from before the send: mppd counts -fail-delay from when PASS
	// came, which may be before this goroutine runs again after writing.
	start := time.Now()
	c.Send("PASS " + pw + "\r\n")
	reply, _ := c.R.ReadString('\n')
	took := time.Since(start)
	c.Send("QUIT\r\n")
	c.R.ReadString('\n')
	c.Conn.Close()
	waitExit(t, c.cmd)
	return strings.TrimRight(reply, "\r\n"), m.log.String(), took
}

// checkAuth checks user and pw with the backends specs, and returns the
// reply code to PASS, how long it took, and what the log says of a
// refusal (the reason of "authentication failed", the error of
// "authentication unavailable"); nil for 250.
func checkAuth(t testing.TB, o authOptions, specs []string, user, pw string) (int, time.Duration, error) {
	t.Helper()
	reply, log, took := mppSession(t, o.flags(specs), user, pw)
	code, err := strconv.Atoi(reply[:min(3, len(reply))])
	if err != nil {
		t.Fatalf("reply to PASS %q; log:\n%s", reply, log)
	}
	if code == codeOK {
		return code, took, nil
	}
	for _, f := range []struct{ line, field string }{
		{"authentication failed ", "reason"}, {"authentication unavailable ", "error"},
	} {
		if v, ok := logField(log, f.line, f.field); ok {
			return code, took, errors.New(v)
		}
	}
	t.Fatalf("reply %q and no authentication line in the log:\n%s", reply, log)
	return 0, 0, nil
}

// logField is the value of field in the first log line holding line,
// unquoted.
func logField(log, line, field string) (string, bool) {
	for _, l := range strings.Split(log, "\n") {
		i := strings.Index(l, line)
		if i < 0 {
			continue
		}
		j := strings.Index(l[i:], " "+field+"=")
		if j < 0 {
			continue
		}
		v := l[i+j+len(field)+2:]
		if strings.HasPrefix(v, `"`) {
			q, err := strconv.QuotedPrefix(v)
			if err != nil {
				return v, true
			}
			u, _ := strconv.Unquote(q)
			return u, true
		}
		v, _, _ = strings.Cut(v, " ")
		return v, true
	}
	return "", false
}

// mustNotLeak fails if the password appears in s (a log line, an error).
func mustNotLeak(t testing.TB, s, password string) {
	t.Helper()
	if strings.Contains(s, password) {
		t.Errorf("password %q leaked into %q", password, s)
	}
}

// shadowResult is what the shadow backend made of user and pw against
// /etc/shadow: "ok", or the code and the logged reason.
func shadowResult(t testing.TB, user, pw string) string {
	t.Helper()
	code, _, err := checkAuth(t, authOptions{passwd: "/etc/shadow"}, []string{"shadow"}, user, pw)
	if err == nil {
		return "ok"
	}
	return fmt.Sprintf("%d %v", code, err)
}

// How long one PASS check takes with each -auth backend against the local
// servers of the tests (go test -run '^$' -bench Auth ./e2e), through a
// -listen mppd: a connection, its greeting, USER and PASS. No -fail-delay:
// the figures are the backends' own. Refusals are measured too: unknown
// user and wrong password should cost the same.
func benchAuth(b *testing.B, o authOptions, spec, user, pw string, want int) {
	b.Helper()
	m := start(b, "-listen", append([]string{"-config", "", "-log", "none"}, o.flags([]string{spec})...)...)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := m.greeted(b)
		c.Cmd("USER "+user, "250")
		c.Cmd("PASS "+pw, strconv.Itoa(want))
		c.Conn.Close()
	}
}

// benchOutcomes measures right password, wrong password and unknown user.
func benchOutcomes(b *testing.B, o authOptions, spec, user, pw string) {
	b.Run("right", func(b *testing.B) { benchAuth(b, o, spec, user, pw, codeOK) })
	b.Run("wrong", func(b *testing.B) { benchAuth(b, o, spec, user, "wrong", codeAuthFailed) })
	b.Run("unknown", func(b *testing.B) { benchAuth(b, o, spec, "mppdnosuchuser", pw, codeAuthFailed) })
}

func BenchmarkAuthBackends(b *testing.B) {
	b.Run("shadow", func(b *testing.B) {
		// examples/demo.passwd: yescrypt, the Debian default.
		benchOutcomes(b, authOptions{passwd: testlib.Repo("examples/demo.passwd")}, "shadow", "demo", "demo")
	})
	b.Run("dovecot", func(b *testing.B) {
		srv := startDovecot(b, map[string]string{"alice": "bench-pw"}, true)
		o := authOptions{caFile: srv.ca}
		b.Run("pop3", func(b *testing.B) { benchOutcomes(b, o, "pop3://"+srv.plain, "alice", "bench-pw") })
		b.Run("pop3-stls", func(b *testing.B) { benchOutcomes(b, o, "pop3://"+srv.plain+"?starttls", "alice", "bench-pw") })
		b.Run("pop3s", func(b *testing.B) { benchOutcomes(b, o, "pop3s://"+srv.tls, "alice", "bench-pw") })
	})
	b.Run("vsftpd", func(b *testing.B) {
		user := testlib.NewUser(b, testlib.UserSpec{Home: true, Password: "bench-pw"}).Name
		srv := startVsftpd(b, true)
		o := authOptions{caFile: srv.ca}
		b.Run("ftp", func(b *testing.B) { benchOutcomes(b, o, "ftp://"+srv.addr, user, "bench-pw") })
		b.Run("ftps", func(b *testing.B) { benchOutcomes(b, o, "ftps://"+srv.addr, user, "bench-pw") })
	})
}
