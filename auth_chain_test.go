package main

// Unit tests of the -auth chain (auth_chain.go), with stub backends; the
// POP3 and FTP dialogues are in auth_pop3_test.go and auth_ftp_test.go.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAuthSpecs(t *testing.T) {
	good := map[string]string{
		"shadow":                      "shadow",
		"pop3://mail.example.org":     "pop3://mail.example.org:110",
		"pop3://127.0.0.1:1110":       "pop3://127.0.0.1:1110",
		"pop3://127.0.0.1?starttls":   "pop3://127.0.0.1:110?starttls",
		"pop3://127.0.0.1/?starttls":  "pop3://127.0.0.1:110?starttls",
		"pop3s://[::1]":               "pop3s://[::1]:995",
		"ftp://ftp.example.org":       "ftp://ftp.example.org:21",
		"ftps://ftp.example.org:2121": "ftps://ftp.example.org:2121",
		"pop3://127.0.0.1?in-use-ok":  "pop3://127.0.0.1:110?in-use-ok",
		"pop3s://[::1]?in-use-ok":     "pop3s://[::1]:995?in-use-ok",
		// The options named in one order, however given.
		"pop3://h?starttls&in-use-ok": "pop3://h:110?starttls&in-use-ok",
		"pop3://h?in-use-ok&starttls": "pop3://h:110?starttls&in-use-ok",
	}
	o := authOptions{connectTimeout: time.Second, timeout: time.Second}
	for spec, name := range good {
		c, err := newAuthChain([]string{spec}, o)
		if err != nil {
			t.Errorf("%s: %v", spec, err)
			continue
		}
		if got := c.backends[0].name; got != name {
			t.Errorf("%s: named %q, want %q", spec, got, name)
		}
	}
	bad := map[string]string{
		"imap://host":                  "unknown scheme",
		"pop3://":                      "no host",
		"pop3://user:pw@host":          "no user or password",
		"pop3://host/INBOX":            "no path",
		"pop3://host?tls":              "unknown option",
		"pop3s://host?starttls":        "?starttls is for pop3://",
		"ftp://host?starttls":          "?starttls is for pop3://",
		"pop3://host:0":                "bad port",
		"pop3://host:99999":            "bad port",
		"ldap":                         "want shadow",
		"pam:":                         "pam:SERVICE",
		"pam:../etc/shadow":            "pam:SERVICE",
		"pam:mppd-no-such-service":     "no PAM service",
		"SHADOW":                       "want shadow",
		"pop3://host#x":                "no path or fragment",
		"pop3://host pop3://other":     "",
		"pop3://host\r\nQUIT":          "",
		"ftp://[::1":                   "",
		"pop3://\x00":                  "",
		"pop3s://host:995:995":         "",
		"pop3://host:110?starttls&":    "unknown option",
		"ftp://host?in-use-ok":         "?in-use-ok is for pop3:// and pop3s://",
		"ftps://host?in-use-ok":        "?in-use-ok is for pop3:// and pop3s://",
		"pop3://host?in-use-ok=yes":    "unknown option",
		"pop3://host?IN-USE-OK":        "unknown option",
		"pop3://h?in-use-ok&in-use-ok": "given twice",
		"pop3s://h?in-use-ok&starttls": "?starttls is for pop3://",
	}
	for spec, want := range bad {
		_, err := newAuthChain([]string{spec}, o)
		if err == nil {
			t.Errorf("%q: accepted", spec)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %q, want %q in it", spec, err, want)
		}
	}
	if _, err := newAuthChain([]string{"pop3://h", "pop3://h:110"}, o); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("the same server twice: %v", err)
	}
	if _, err := newAuthChain([]string{"pop3://h?in-use-ok&starttls", "pop3://h:110?starttls&in-use-ok"}, o); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("the same server twice, options in another order: %v", err)
	}
	if _, err := newAuthChain(nil, authOptions{connectTimeout: time.Second}); err == nil {
		t.Errorf("zero -auth-timeout accepted")
	}
	if _, err := newAuthChain(nil, authOptions{connectTimeout: time.Second, timeout: time.Second, caFile: "/etc/hostname"}); err == nil || !strings.Contains(err.Error(), "no PEM") {
		t.Errorf("a CA file without certificates: %v", err)
	}
	c, err := newAuthChain(nil, o)
	if err != nil || len(c.backends) != 1 || c.backends[0].name != "shadow" {
		t.Errorf("default chain: %v %v", c, err)
	}
}

// chainStubAuth answers with a fixed error and counts its calls.
type chainStubAuth struct {
	err   error
	calls int
}

func (f *chainStubAuth) Authenticate(ctx context.Context, user, password string) error {
	f.calls++
	return f.err
}

func TestAuthChainOrder(t *testing.T) {
	yes := func() *chainStubAuth { return &chainStubAuth{} }
	no := func() *chainStubAuth { return &chainStubAuth{err: errAuthFailed("wrong password")} }
	down := func() *chainStubAuth { return &chainStubAuth{err: tempAuthError(errors.New("connection refused"))} }
	cases := []struct {
		name      string
		backends  []*chainStubAuth
		want      int
		wantCalls []int
	}{
		{"one yes", []*chainStubAuth{yes()}, codeOK, []int{1}},
		{"one no", []*chainStubAuth{no()}, codeAuthFailed, []int{1}},
		{"one down", []*chainStubAuth{down()}, codeLocalError, []int{1}},
		{"first yes: the rest not asked", []*chainStubAuth{yes(), down()}, codeOK, []int{1, 0}},
		{"no then yes", []*chainStubAuth{no(), yes()}, codeOK, []int{1, 1}},
		{"down then yes", []*chainStubAuth{down(), yes()}, codeOK, []int{1, 1}},
		{"no, no", []*chainStubAuth{no(), no()}, codeAuthFailed, []int{1, 1}},
		{"no then down: 451", []*chainStubAuth{no(), down()}, codeLocalError, []int{1, 1}},
		{"down then no: 451", []*chainStubAuth{down(), no()}, codeLocalError, []int{1, 1}},
		{"a plain error is a 451", []*chainStubAuth{{err: errors.New("boom")}}, codeLocalError, []int{1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			chain := &authChain{}
			for i, b := range c.backends {
				chain.backends = append(chain.backends, authBackend{name: "b" + string(rune('1'+i)), auth: b})
			}
			err := chain.Authenticate(context.Background(), "u", "p")
			if got := replyCode(err); got != c.want {
				t.Errorf("got %d (%v), want %d", got, err, c.want)
			}
			for i, b := range c.backends {
				if b.calls != c.wantCalls[i] {
					t.Errorf("backend %d asked %d times, want %d", i+1, b.calls, c.wantCalls[i])
				}
			}
			if err != nil && len(c.backends) > 1 {
				for i, b := range c.backends {
					if b.calls > 0 && !strings.Contains(err.Error(), "b"+string(rune('1'+i))+": ") {
						t.Errorf("reason %q does not name b%d", err, i+1)
					}
				}
			}
		})
	}
}

func TestAuthChainDefaultReasons(t *testing.T) {
	// The default chain (shadow alone) logs reasons as they always were.
	chain := &authChain{backends: []authBackend{{name: "shadow", auth: &chainStubAuth{err: errAuthFailed("wrong password")}}}}
	err := chain.Authenticate(context.Background(), "u", "p")
	if causeText(asReplyError(err)) != "wrong password" {
		t.Errorf("reason %q", causeText(asReplyError(err)))
	}
}

// Every answer but 250 waits until -fail-delay has passed since PASS came:
// how long the backends took says nothing.
func TestAuthChainFailFloor(t *testing.T) {
	for _, c := range []struct {
		name  string
		err   error
		waits bool
	}{
		{"accepted: no wait", nil, false},
		{"refused: waits", errAuthFailed("x"), true},
		{"unreachable: waits", tempAuthError(errors.New("x")), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var until time.Time
			chain := &authChain{
				backends:  []authBackend{{name: "b", auth: &chainStubAuth{err: c.err}}},
				failFloor: 3 * time.Second,
				sleep:     func(ctx context.Context, u time.Time) { until = u },
			}
			start := time.Now()
			chain.Authenticate(context.Background(), "u", "p")
			if !c.waits {
				if !until.IsZero() {
					t.Errorf("waited after a success")
				}
				return
			}
			// Not before start+3s: the chain's clock starts after this
			// one. The upper bound is loose: a paused machine moves it.
			if d := until.Sub(start); d < 3*time.Second || d > 3*time.Second+time.Second {
				t.Errorf("waits until %v after the start, want 3s", d)
			}
		})
	}
	// The wait ends with the session.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	sleepUntil(ctx, start.Add(time.Hour))
	if time.Since(start) > 5*time.Second {
		t.Errorf("sleepUntil ignored its context")
	}
}

// testChain builds a chain of specs with the tests' timeouts (5s to
// connect, 10s in all) where o leaves them zero.
func testChain(t testing.TB, o authOptions, specs ...string) *authChain {
	t.Helper()
	if o.connectTimeout == 0 {
		o.connectTimeout = 5 * time.Second
	}
	if o.timeout == 0 {
		o.timeout = 10 * time.Second
	}
	c, err := newAuthChain(specs, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// replyCode is the reply a check's result becomes: 250 for nil.
func replyCode(err error) int {
	if err == nil {
		return codeOK
	}
	return asReplyError(err).code
}

// checkAuth runs one check with a fresh chain of the given specs and
// returns the reply code it becomes, the time, and the error.
func checkAuth(t testing.TB, o authOptions, specs []string, user, pw string) (int, time.Duration, error) {
	t.Helper()
	c := testChain(t, o, specs...)
	start := time.Now()
	err := c.Authenticate(context.Background(), user, pw)
	return replyCode(err), time.Since(start), err
}

// mustNotLeak fails if the password appears in s (a log line, an error).
func mustNotLeak(t testing.TB, s, password string) {
	t.Helper()
	if strings.Contains(s, password) {
		t.Errorf("password %q leaked into %q", password, s)
	}
}
