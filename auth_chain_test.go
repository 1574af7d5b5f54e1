package main

// Unit tests of the -auth chain and of the POP3 and FTP dialogues, against
// scripted servers that misbehave in ways the real ones (auth_real_test.go)
// cannot be made to.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
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
			if d := until.Sub(start); d < 3*time.Second-50*time.Millisecond || d > 3*time.Second+50*time.Millisecond {
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

// scriptedServer runs script on the first connection it accepts: "S:text" sends
// text and CRLF, "C:prefix" reads a line that must start with prefix, and
// "HANG" waits for the client to go, "CLOSE" hangs up. Afterwards it keeps reading until the
// client closes. got returns every line the client sent.
func scriptedServer(t *testing.T, script ...string) (addr string, got func() []string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	done := make(chan struct{})
	accepted := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		close(accepted)
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		read := func() (string, bool) {
			line, err := r.ReadString('\n')
			if err != nil {
				return "", false
			}
			line = strings.TrimRight(line, "\r\n")
			mu.Lock()
			lines = append(lines, line)
			mu.Unlock()
			return line, true
		}
		for _, s := range script {
			switch {
			case strings.HasPrefix(s, "S:"):
				c.Write([]byte(s[2:] + "\r\n"))
			case strings.HasPrefix(s, "C:"):
				line, ok := read()
				if !ok {
					return
				}
				if !strings.HasPrefix(line, s[2:]) {
					t.Errorf("server got %q, want %q", line, s[2:])
					return
				}
			case s == "CLOSE":
				return
			case s == "HANG":
				for {
					if _, ok := read(); !ok {
						return
					}
				}
			}
		}
		for {
			if _, ok := read(); !ok {
				return
			}
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return l.Addr().String(), func() []string {
		select {
		case <-accepted:
		default:
			l.Close()
		}
		<-done
		mu.Lock()
		defer mu.Unlock()
		return lines
	}
}

// dialogueCase is one check against a scripted server (scriptedServer).
type dialogueCase struct {
	name   string
	spec   string // the -auth spec, %s for the server's address
	script []string
	want   int      // the reply the check becomes
	reason string   // in the error, which also names the backend
	sent   []string // every line the server must have got; nil: not checked
}

// runDialogues runs each case against its own scripted server, with the
// password pw, which must stay out of every error.
func runDialogues(t *testing.T, pw string, cases []dialogueCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr, got := scriptedServer(t, c.script...)
			spec := fmt.Sprintf(c.spec, addr)
			o := authOptions{timeout: 300 * time.Millisecond}
			code, _, err := checkAuth(t, o, []string{spec}, "u", pw)
			if code != c.want {
				t.Fatalf("got %d (%v), want %d", code, err, c.want)
			}
			if err != nil {
				mustNotLeak(t, err.Error(), pw)
				if !strings.Contains(err.Error(), c.reason) || !strings.Contains(err.Error(), spec) {
					t.Errorf("reason %q: want %q and the server's name in it", err, c.reason)
				}
			}
			if c.sent != nil {
				if lines := got(); strings.Join(lines, "|") != strings.Join(c.sent, "|") {
					t.Errorf("server got %q, want %q", lines, c.sent)
				}
			}
		})
	}
}

func TestPOP3Dialogue(t *testing.T) {
	const pw = "p4ss word"
	runDialogues(t, pw, []dialogueCase{
		{"accepted", "pop3://%s", []string{"S:+OK hi", "C:USER u", "S:+OK", "C:PASS " + pw, "S:+OK in"},
			codeOK, "", []string{"USER u", "PASS " + pw, "QUIT"}},
		{"refused at PASS", "pop3://%s", []string{"S:+OK hi", "C:USER", "S:+OK", "C:PASS", "S:-ERR [AUTH] Authentication failed."},
			codeAuthFailed, "refused: reply to PASS: -ERR [AUTH]", nil},
		{"refused at USER: no PASS sent", "pop3://%s", []string{"S:+OK hi", "C:USER", "S:-ERR no such mailbox"},
			codeAuthFailed, "no such mailbox", []string{"USER u", "QUIT"}},
		// RFC 2449 §8.1.2: [IN-USE] after PASS proves the password only on
		// a server that checks it before the lock: 451 (try later) unless
		// the administrator says the server is one (?in-use-ok).
		{"IN-USE at PASS: 451", "pop3://%s", []string{"S:+OK hi", "C:USER", "S:+OK", "C:PASS", "S:-ERR [IN-USE] Mailbox locked"},
			codeLocalError, "[IN-USE]", []string{"USER u", "PASS " + pw, "QUIT"}},
		{"in-use at PASS, any case: 451", "pop3://%s", []string{"S:+OK hi", "C:USER", "S:+OK", "C:PASS", "S:-err [in-use] Mailbox locked"},
			codeLocalError, "IN-USE", nil},
		{"IN-USE at PASS with ?in-use-ok: accepted", "pop3://%s?in-use-ok", []string{"S:+OK hi", "C:USER", "S:+OK", "C:PASS", "S:-ERR [IN-USE] Mailbox locked"},
			codeOK, "", []string{"USER u", "PASS " + pw, "QUIT"}},
		{"?in-use-ok: other refusals stay refusals", "pop3://%s?in-use-ok", []string{"S:+OK hi", "C:USER", "S:+OK", "C:PASS", "S:-ERR [AUTH] Authentication failed."},
			codeAuthFailed, "[AUTH]", nil},
		// At USER no password was checked, and a 451 there would tell any
		// client which users exist and read their mail.
		{"IN-USE at USER proves nothing", "pop3://%s", []string{"S:+OK hi", "C:USER", "S:-ERR [IN-USE] busy"},
			codeAuthFailed, "IN-USE", nil},
		{"IN-USE at USER with ?in-use-ok proves nothing either", "pop3://%s?in-use-ok", []string{"S:+OK hi", "C:USER", "S:-ERR [IN-USE] busy"},
			codeAuthFailed, "IN-USE", []string{"USER u", "QUIT"}},
		{"SYS/TEMP: 451", "pop3://%s", []string{"S:+OK hi", "C:USER", "S:+OK", "C:PASS", "S:-ERR [SYS/TEMP] Temporary authentication failure."},
			codeLocalError, "SYS/TEMP", nil},
		{"LOGIN-DELAY: 451", "pop3://%s", []string{"S:+OK hi", "C:USER", "S:+OK", "C:PASS", "S:-ERR [LOGIN-DELAY] wait"},
			codeLocalError, "LOGIN-DELAY", nil},
		{"greeting -ERR: 451", "pop3://%s", []string{"S:-ERR too busy"}, codeLocalError, "too busy", []string{}},
		{"nonsense greeting: 451", "pop3://%s", []string{"S:220 ftp.example.org FTP ready"}, codeLocalError, "nonsense", []string{}},
		{"reply too long: 451", "pop3://%s", []string{"S:+OK " + strings.Repeat("x", 5000)}, codeLocalError, "longer than", []string{}},
		{"nonsense after PASS: 451", "pop3://%s", []string{"S:+OK hi", "C:USER", "S:+OK", "C:PASS", "S:OK fine"},
			codeLocalError, "nonsense", nil},
		{"closed after USER: 451", "pop3://%s", []string{"S:+OK hi", "C:USER", "CLOSE"}, codeLocalError, "closed the connection", nil},
		{"silent after USER: 451 at the timeout", "pop3://%s", []string{"S:+OK hi", "HANG"}, codeLocalError, "no reply to USER within", nil},
		{"STLS refused: 451, nothing more sent", "pop3://%s?starttls", []string{"S:+OK hi", "C:STLS", "S:-ERR not now"},
			codeLocalError, "not now", []string{"STLS"}},
		{"data after the STLS reply: 451 before the handshake", "pop3://%s?starttls", []string{"S:+OK hi", "C:STLS", "S:+OK go\r\n+OK injected"},
			codeLocalError, "before the TLS handshake", []string{"STLS"}},
	})
}

func TestFTPDialogue(t *testing.T) {
	const pw = "f7p word"
	greeting := "S:220-Welcome\r\n220-to the test\r\n220 ready"
	runDialogues(t, pw, []dialogueCase{
		{"accepted after a multi-line greeting", "ftp://%s", []string{greeting, "C:USER u", "S:331 Password?", "C:PASS " + pw, "S:230-Hi\r\n230 Logged in"},
			codeOK, "", []string{"USER u", "PASS " + pw, "QUIT"}},
		{"refused", "ftp://%s", []string{greeting, "C:USER", "S:331 Password?", "C:PASS", "S:530 Login incorrect."},
			codeAuthFailed, "refused: reply to PASS: 530", nil},
		{"refused at USER: no PASS sent", "ftp://%s", []string{greeting, "C:USER", "S:530 Permission denied."},
			codeAuthFailed, "Permission denied", []string{"USER u", "QUIT"}},
		{"logged in without a password: 451", "ftp://%s", []string{greeting, "C:USER", "S:230 Welcome"},
			codeLocalError, "without asking for a password", []string{"USER u", "QUIT"}},
		{"ACCT wanted: 451", "ftp://%s", []string{greeting, "C:USER", "S:331 ok", "C:PASS", "S:332 Need account"},
			codeLocalError, "332", nil},
		{"202 to PASS: 451", "ftp://%s", []string{greeting, "C:USER", "S:331 ok", "C:PASS", "S:202 whatever"},
			codeLocalError, "202", nil},
		{"421 to PASS: 451", "ftp://%s", []string{greeting, "C:USER", "S:331 ok", "C:PASS", "S:421 Shutting down"},
			codeLocalError, "421", nil},
		{"greeting 421: 451", "ftp://%s", []string{"S:421 Too many users"}, codeLocalError, "Too many users", []string{}},
		{"greeting 120: 451", "ftp://%s", []string{"S:120 Ready in 5 minutes"}, codeLocalError, "120", []string{}},
		{"nonsense greeting: 451", "ftp://%s", []string{"S:+OK POP3 ready"}, codeLocalError, "nonsense", []string{}},
		{"endless multi-line reply: 451", "ftp://%s", []string{"S:" + strings.Repeat("220-more\r\n", 100)}, codeLocalError, "more than", []string{}},
		{"silent after PASS: 451 at the timeout", "ftp://%s", []string{greeting, "C:USER", "S:331 ok", "HANG"},
			codeLocalError, "no reply to PASS within", nil},
		{"AUTH TLS refused: 451, nothing more sent", "ftps://%s", []string{greeting, "C:AUTH TLS", "S:502 Command not implemented"},
			codeLocalError, "AUTH TLS", []string{"AUTH TLS"}},
		{"AUTH TLS refused with 530: 451 too", "ftps://%s", []string{greeting, "C:AUTH TLS", "S:530 Please login with USER and PASS."},
			codeLocalError, "AUTH TLS", []string{"AUTH TLS"}},
		{"data after 234: 451 before the handshake", "ftps://%s", []string{greeting, "C:AUTH TLS", "S:234 go\r\n230 injected"},
			codeLocalError, "before the TLS handshake", []string{"AUTH TLS"}},
	})
}

// TestRemoteReplyNeverShowsPassword: of a reply that came after PASS only
// its code is logged, never its text, which may echo the password, a piece
// of it, or be made of words that are the password. What came before PASS
// is logged, bounded and printable.
func TestRemoteReplyNeverShowsPassword(t *testing.T) {
	pop3 := func(reply string) []string {
		return []string{"S:+OK hi", "C:USER", "S:+OK", "C:PASS", "S:" + reply}
	}
	ftp := func(reply string) []string {
		return []string{"S:220 hi", "C:USER", "S:331 Password?", "C:PASS", "S:" + reply}
	}
	// Passwords that are words of the servers' replies, not of mppd's own.
	for _, pw := range []string{"Sesame-Open-42", "incorrect", "Login incorrect"} {
		piece := pw[:len(pw)/2+1]
		cases := []struct {
			name, spec string
			script     []string
			want       int
			logged     string // the reason ends with it
		}{
			{"pop3 echo", "pop3://%s", pop3("-ERR Authentication failed: " + pw), codeAuthFailed, "refused: reply to PASS: -ERR"},
			{"pop3 piece", "pop3://%s", pop3("-ERR Login incorrect for " + piece + "..."), codeAuthFailed, "refused: reply to PASS: -ERR"},
			{"pop3 [AUTH] echo", "pop3://%s", pop3("-ERR [AUTH] " + pw), codeAuthFailed, "refused: reply to PASS: -ERR [AUTH]"},
			{"pop3 code of the password", "pop3://%s", pop3("-ERR [" + pw + "] no"), codeAuthFailed,
				"refused: reply to PASS: -ERR [a response code not registered for POP3]"},
			{"pop3 SYS/TEMP echo", "pop3://%s", pop3("-ERR [SYS/TEMP] cannot verify " + pw), codeLocalError, "reply to PASS: -ERR [SYS/TEMP]"},
			{"pop3 nonsense echo", "pop3://%s", pop3("PASS " + pw), codeLocalError,
				"nonsense in reply to PASS: no reply code (the text, sent after the password, is not logged)"},
			{"ftp echo", "ftp://%s", ftp("530 Login incorrect: " + pw), codeAuthFailed, "refused: reply to PASS: 530"},
			{"ftp piece", "ftp://%s", ftp("530 " + piece), codeAuthFailed, "refused: reply to PASS: 530"},
			{"ftp multi-line echo", "ftp://%s", ftp("530-You said " + pw + "\r\n530-" + piece + "\r\n530 Login incorrect."), codeAuthFailed,
				"refused: reply to PASS: 530"},
			{"ftp 421 echo", "ftp://%s", ftp("421 " + pw), codeLocalError, "reply to PASS: 421"},
			{"ftp 230 echo", "ftp://%s", ftp("230 Welcome, " + pw), codeOK, ""},
			{"ftp nonsense echo", "ftp://%s", ftp(pw), codeLocalError,
				"nonsense in reply to PASS: no reply code (the text, sent after the password, is not logged)"},
		}
		for _, c := range cases {
			t.Run(pw+"/"+c.name, func(t *testing.T) {
				addr, _ := scriptedServer(t, c.script...)
				code, _, err := checkAuth(t, authOptions{timeout: time.Second}, []string{fmt.Sprintf(c.spec, addr)}, "u", pw)
				if code != c.want {
					t.Fatalf("got %d (%v), want %d", code, err, c.want)
				}
				if err == nil {
					return
				}
				msg := err.Error()
				if !strings.HasSuffix(msg, c.logged) {
					t.Errorf("reason %q, want it to end with %q", msg, c.logged)
				}
				mustNotLeak(t, msg, piece)
				for _, word := range []string{"[password]", "incorrect", "Login", "said", "verify", "Welcome"} {
					if strings.Contains(msg, word) {
						t.Errorf("the server's text %q is in %q", word, msg)
					}
				}
			})
		}
	}
	// Before PASS the server has not been sent the password: its text says
	// what went wrong, made printable and bounded.
	addr, _ := scriptedServer(t, "S:+OK hi", "C:USER", "S:-ERR no such\x1b[2J mailbox \xff"+strings.Repeat("x", 500))
	_, _, err := checkAuth(t, authOptions{timeout: time.Second}, []string{"pop3://" + addr}, "u", "pw")
	if msg := err.Error(); !strings.Contains(msg, `refused: reply to USER: "-ERR no such?[2J mailbox ?xxx`) || len(msg) > 300 {
		t.Errorf("reason %q: want the server's text, printable and bounded", msg)
	}
}

// The FTP backend never asks about the anonymous names, in any case, even
// of a server that would let them in (230); other names are asked as ever.
func TestFTPNeverAnonymous(t *testing.T) {
	anonymousOK := []string{"S:220 ready", "C:USER", "S:331 Any password will do", "C:PASS", "S:230 Login successful."}
	for _, name := range []string{"anonymous", "ANONYMOUS", "Anonymous", "ftp", "FTP", "Ftp", " anonymous", "ftp\t"} {
		for _, scheme := range []string{"ftp", "ftps"} {
			addr, got := scriptedServer(t, anonymousOK...)
			spec := scheme + "://" + addr
			code, _, err := checkAuth(t, authOptions{}, []string{spec}, name, "guest@example.org")
			if code != codeAuthFailed || !strings.Contains(err.Error(), "anonymous FTP name") || !strings.Contains(err.Error(), spec) {
				t.Errorf("%s %q: got %d (%v), want 530 saying why", scheme, name, code, err)
			}
			if lines := got(); lines != nil {
				t.Errorf("%s %q: the server was asked: %q", scheme, name, lines)
			}
		}
	}
	for _, name := range []string{"anonymous2", "ftpuser", "myftp", "anon"} {
		addr, got := scriptedServer(t, anonymousOK...)
		code, _, err := checkAuth(t, authOptions{}, []string{"ftp://" + addr}, name, "pw")
		if code != codeOK {
			t.Errorf("%q: got %d (%v), want 250", name, code, err)
		}
		if lines := got(); len(lines) == 0 || lines[0] != "USER "+name {
			t.Errorf("%q: the server got %q", name, lines)
		}
	}
}

// Names and passwords that would break a line protocol are refused before
// any connection is made.
func TestRemoteRefusesLineBreakers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	conns := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	for _, scheme := range []string{"pop3", "ftp"} {
		for _, c := range []struct{ user, pw string }{
			{"u", "a\r\nDELE 1"}, {"u", "a\nb"}, {"u", "a\rb"}, {"u", "a\x00b"},
			{"u\r\nPASS x", "pw"}, {"u\x00", "pw"},
		} {
			code, _, err := checkAuth(t, authOptions{}, []string{scheme + "://" + l.Addr().String()}, c.user, c.pw)
			if code != codeAuthFailed {
				t.Errorf("%s %q %q: got %d (%v), want 530", scheme, c.user, c.pw, code, err)
			}
			if err != nil {
				mustNotLeak(t, err.Error(), c.pw)
			}
		}
	}
	// RFC 2449 §4: POP3 commands fit in 255 bytes.
	code, _, _ := checkAuth(t, authOptions{}, []string{"pop3://" + l.Addr().String()}, "u", strings.Repeat("x", 249))
	if code != codeAuthFailed {
		t.Errorf("an over-long POP3 password: got %d", code)
	}
	select {
	case <-conns:
		t.Errorf("a connection was made")
	case <-time.After(50 * time.Millisecond):
	}
}

// A server whose listen queue is full drops the handshake: the connect
// timeout, not the whole-check one, ends the wait.
func TestRemoteConnectTimeout(t *testing.T) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*syscall.SockaddrInet4).Port}).String()
	// Fill the queue (never accepted).
	var fill []net.Conn
	defer func() {
		for _, c := range fill {
			c.Close()
		}
	}()
	for i := 0; i < 4; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		fill = append(fill, c)
	}
	o := authOptions{connectTimeout: 300 * time.Millisecond, timeout: 5 * time.Second}
	code, took, err := checkAuth(t, o, []string{"pop3://" + addr}, "u", "p")
	if code != codeLocalError {
		t.Fatalf("got %d (%v), want 451", code, err)
	}
	if !strings.Contains(err.Error(), "cannot connect") || took > 2*time.Second {
		t.Errorf("after %v: %v; want a connect timeout after about 300ms", took, err)
	}
}
