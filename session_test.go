package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
)

// fakeAuth knows users and their passwords. The user "broken" cannot be
// checked (a password database that is down): 451.
type fakeAuth map[string]string

func (a fakeAuth) Authenticate(_ context.Context, user, password string) error {
	if user == "broken" {
		return tempError("Local error encountered: cannot check passwords now", io.ErrUnexpectedEOF)
	}
	if pw, ok := a[user]; ok && pw == password {
		return nil
	}
	return errAuthFailed("wrong password or unknown user")
}

// fakeDeliver records what it is given; fail makes it refuse.
type fakeDeliver struct {
	mu   sync.Mutex
	got  []delivered
	fail bool
}

type delivered struct {
	env  Envelope
	text string
}

func (d *fakeDeliver) Deliver(_ context.Context, env Envelope, msg *os.File) error {
	if d.fail {
		return tempError("Local error encountered: mail system did not accept the message, try again later", io.ErrClosedPipe)
	}
	b, err := io.ReadAll(msg)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.got = append(d.got, delivered{env, string(b)})
	d.mu.Unlock()
	return nil
}

func (d *fakeDeliver) messages() []delivered {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]delivered(nil), d.got...)
}

// scriptConn plays a whole client transcript at once, as a pipelining
// client would send it, and keeps what the server writes.
type scriptConn struct {
	in  io.Reader
	out bytes.Buffer
}

func (c *scriptConn) Read(p []byte) (int, error)       { return c.in.Read(p) }
func (c *scriptConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

func testConfig(t testing.TB) (*Config, *fakeDeliver, *test.Hook) {
	log, hook := test.NewNullLogger()
	log.Level = logrus.DebugLevel
	d := &fakeDeliver{}
	return &Config{
		Hostname:       "mpp.test",
		Auth:           fakeAuth{"alice": "secret", "bob": "pass word", "carol": "c"},
		Deliver:        d,
		SpoolDir:       t.TempDir(),
		MaxLine:        512,
		MaxMessage:     1 << 20,
		IdleTimeout:    time.Minute,
		SessionTimeout: time.Hour,
		MaxErrors:      10,
		Log:            log,
	}, d, hook
}

// replyLine is every reply mppd may send: one of RFC 1204's ten codes, a
// space, text, CRLF.
var replyLine = regexp.MustCompile(`^(220|221|250|354|451|500|501|503|530|550) [^\r\n]*$`)

// runScript runs a session over input and returns the reply codes in order,
// checking that every reply is well-formed.
func runScript(t testing.TB, cfg *Config, input string) []string {
	t.Helper()
	c := &scriptConn{in: strings.NewReader(input)}
	Serve(cfg, c, "192.0.2.1")
	out := c.out.String()
	if out != "" && !strings.HasSuffix(out, "\r\n") {
		t.Fatalf("output does not end in CRLF: %q", out)
	}
	var codes []string
	for _, l := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
		if !replyLine.MatchString(l) {
			t.Fatalf("malformed reply %q in %q", l, out)
		}
		codes = append(codes, l[:3])
	}
	return codes
}

const login = "USER alice\r\nPASS secret\r\n"

// TestTranscripts checks every rule of docs/protocol.md: when each command is
// allowed (RFC 1204 §2.3) and what it answers. Each input is sent in one
// write, so every case is also a pipelining case.
func TestTranscripts(t *testing.T) {
	cases := []struct {
		name  string
		input string
		want  string // reply codes, space-separated, greeting first
		sent  int    // messages delivered
	}{
		{"greeting then EOF", "", "220", 0},
		{"quit", "QUIT\r\n", "220 221", 0},
		{"commands any case", "quit\r\n", "220 221", 0},
		{"noop mixed case", "NoOp\r\nQUIT\r\n", "220 250 221", 0},
		{"full posting", login + "DATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n", "220 250 250 354 250 221", 1},
		{"bare LF line ends", "USER alice\nPASS secret\nDATA\nhi\n.\nQUIT\n", "220 250 250 354 250 221", 1},
		{"final dot with LF after CRLF text", login + "DATA\r\nhi\r\n.\nQUIT\r\n", "220 250 250 354 250 221", 1},
		{"input after QUIT is ignored", "QUIT\r\nNOOP\r\n", "220 221", 0},

		// 500: not a command
		{"unknown command", "HELO x\r\nQUIT\r\n", "220 500 221", 0},
		{"empty line", "\r\nQUIT\r\n", "220 500 221", 0},
		{"tab is not the separator", "USER\talice\r\n", "220 500", 0},
		{"DATA takes no argument", login + "DATA now\r\nDATA\r\nx\r\n.\r\n", "220 250 250 500 354 250", 1},
		{"command line too long", strings.Repeat("N", 600) + "\r\nNOOP\r\n", "220 500 250", 0},

		// USER: at the start, after a text got 250, after a USER that got 501
		{"USER twice", "USER alice\r\nUSER bob\r\n", "220 250 503", 0},
		{"USER after PASS 250", login + "USER bob\r\n", "220 250 250 503", 0},
		{"USER after 501", "USER -f\r\nUSER alice\r\nPASS secret\r\n", "220 501 250 250", 0},
		{"USER without argument", "USER\r\n", "220 501", 0},
		{"USER empty argument", "USER \r\n", "220 501", 0},
		{"USER two spaces", "USER  alice\r\n", "220 501", 0},
		{"USER with colon", "USER a:b\r\n", "220 501", 0},
		{"USER with space", "USER a b\r\n", "220 501", 0},
		{"USER with control char", "USER a\x01b\r\n", "220 501", 0},
		{"USER with NUL", "USER a\x00b\r\n", "220 501", 0},
		{"USER leading dash", "USER -oQ/tmp\r\n", "220 501", 0},
		{"USER too long", "USER " + strings.Repeat("a", 257) + "\r\n", "220 501", 0},
		{"USER invalid UTF-8", "USER a\xffb\r\n", "220 501", 0},
		{"USER unknown gets 250", "USER nobody-here\r\n", "220 250", 0},
		{"USER after text 250", login + "DATA\r\nx\r\n.\r\nUSER bob\r\nPASS pass word\r\nDATA\r\ny\r\n.\r\n", "220 250 250 354 250 250 250 354 250", 2},
		{"new USER needs PASS before DATA", login + "DATA\r\nx\r\n.\r\nUSER bob\r\nDATA\r\n", "220 250 250 354 250 250 503", 1},
		{"USER after text 451", login + "DATA\r\n" + strings.Repeat("x", 2<<20) + "\r\n.\r\nUSER bob\r\n", "220 250 250 354 451 503", 0},

		// PASS: right after USER 250 or PASS 501
		{"PASS at start", "PASS secret\r\n", "220 503", 0},
		{"PASS after USER 501", "USER -x\r\nPASS secret\r\n", "220 501 503", 0},
		{"PASS twice after 250", login + "PASS secret\r\n", "220 250 250 503", 0},
		{"PASS without argument", "USER alice\r\nPASS\r\nPASS secret\r\n", "220 250 501 250", 0},
		{"PASS empty twice", "USER alice\r\nPASS \r\nPASS \r\nPASS secret\r\n", "220 250 501 501 250", 0},
		{"PASS with NUL", "USER alice\r\nPASS a\x00b\r\nPASS secret\r\n", "220 250 501 250", 0},
		{"password with spaces", "USER bob\r\nPASS pass word\r\n", "220 250 250", 0},
		{"password is everything after one space", "USER bob\r\nPASS  pass word\r\n", "220 250 530", 0},
		{"wrong password", "USER alice\r\nPASS nope\r\n", "220 250 530", 0},
		{"unknown user same as wrong password", "USER nobody\r\nPASS secret\r\n", "220 250 530", 0},
		{"after 530 only NOOP and QUIT", "USER alice\r\nPASS nope\r\nUSER alice\r\nPASS secret\r\nDATA\r\nNOOP\r\nQUIT\r\n", "220 250 530 503 503 503 250 221", 0},
		{"password check unavailable ends the login", "USER broken\r\nPASS x\r\nPASS x\r\nUSER alice\r\nNOOP\r\n", "220 250 451 503 503 451", 0},
		// ... and NOOP there counts against -max-errors (10 here): it only
		// keeps a session going that can do nothing else.
		{"NOOP after 530 counts as an error", "USER alice\r\nPASS nope\r\n" + strings.Repeat("NOOP\r\n", 12), "220 250 530" + strings.Repeat(" 250", 9) + " 451", 0},
		{"NOOP after 451 to PASS counts as an error", "USER broken\r\nPASS x\r\n" + strings.Repeat("NOOP\r\n", 12), "220 250 451" + strings.Repeat(" 451", 10) + " 451", 0},

		// NOOP is transparent: it breaks no "right after" chain
		{"NOOP between USER and PASS", "USER alice\r\nNOOP\r\nPASS secret\r\n", "220 250 250 250", 0},
		{"NOOP between PASS and DATA", login + "NOOP\r\nDATA\r\nx\r\n.\r\n", "220 250 250 250 354 250", 1},
		{"NOOP before USER", "NOOP\r\nUSER alice\r\n", "220 250 250", 0},
		{"NOOP argument ignored", "NOOP now\r\n", "220 250", 0},
		{"500 and 503 change nothing", "USER alice\r\nHELO\r\nDATA\r\nPASS secret\r\n", "220 250 500 503 250", 0},

		// DATA: after PASS 250, after a text got 250 (or 451: docs/protocol.md)
		{"DATA at start", "DATA\r\n", "220 503", 0},
		{"DATA after USER", "USER alice\r\nDATA\r\n", "220 250 503", 0},
		{"DATA after PASS 501", "USER alice\r\nPASS\r\nDATA\r\n", "220 250 501 503", 0},
		{"two messages", login + "DATA\r\nx\r\n.\r\nDATA\r\ny\r\n.\r\n", "220 250 250 354 250 354 250", 2},
		{"commands inside text are text", login + "DATA\r\nQUIT\r\nUSER x\r\n.\r\nNOOP\r\n", "220 250 250 354 250 250", 1},
		{"too large: read to the dot, 451, then in step", login + "DATA\r\n" + strings.Repeat("y", 1<<20) + "\r\n.\r\nNOOP\r\nDATA\r\nsmall\r\n.\r\n", "220 250 250 354 451 250 354 250", 1},
		{"EOF in text delivers nothing", login + "DATA\r\nhalf a mess", "220 250 250 354", 0},
		{"EOF after text before dot", login + "DATA\r\nline\r\n", "220 250 250 354", 0},

		// QUIT: always, 221
		{"QUIT with argument", "QUIT now\r\n", "220 221", 0},
		{"QUIT mid login", "USER alice\r\nQUIT\r\n", "220 250 221", 0},

		// errors are capped: the tenth refusal ends the session with 451
		{"too many errors", strings.Repeat("BAD\r\n", 12), "220 500 500 500 500 500 500 500 500 500 500 451", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, d, _ := testConfig(t)
			got := strings.Join(runScript(t, cfg, tc.input), " ")
			if got != tc.want {
				t.Errorf("replies %q, want %q", got, tc.want)
			}
			if n := len(d.messages()); n != tc.sent {
				t.Errorf("%d messages delivered, want %d", n, tc.sent)
			}
		})
	}
}

func TestDeliveryFailureThenRetry(t *testing.T) {
	cfg, d, _ := testConfig(t)
	d.fail = true
	got := strings.Join(runScript(t, cfg, login+"NOOP\r\nDATA\r\nx\r\n.\r\nNOOP\r\nUSER bob\r\nDATA\r\nx\r\n.\r\n"), " ")
	// 451 after the text; NOOP then reports the local error (RFC 1204
	// §2.3); USER is not allowed after a 451 text, DATA is (docs/protocol.md).
	if want := "220 250 250 250 354 451 451 503 354 451"; got != want {
		t.Errorf("replies %q, want %q", got, want)
	}
}

func TestReplyTexts(t *testing.T) {
	cfg, _, _ := testConfig(t)
	c := &scriptConn{in: strings.NewReader(login + "DATA\r\nx\r\n.\r\nQUIT\r\n")}
	Serve(cfg, c, "192.0.2.1")
	want := "220 mpp.test Message Posting Service Ready\r\n" +
		"250 Command OK, send PASS\r\n" +
		"250 Command OK, alice authenticated\r\n" +
		"354 Enter mail, end with \".\" on a line by itself\r\n" +
		"250 Command OK, message queued for delivery\r\n" +
		"221 mpp.test Closing Connection\r\n"
	if got := c.out.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestMessageText(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"CRLF becomes LF", "a\r\nb\r\n", "a\nb\n"},
		{"leading dot removed", "..x\r\n.\r\n..\r\n", ".x\n"},
		{"dot space is text", ". x\r\n", " x\n"},
		{"lone dot with LF ends", "a\n.\n", "a\n"},
		{"dot CR CR is not the end", ".\r\r\n", "\r\n"},
		{"8-bit and NUL kept", "caf\xc3\xa9 \xff\x00z\r\n", "caf\xc3\xa9 \xff\x00z\n"},
		{"bare CR kept", "a\rb\r\n", "a\rb\n"},
		{"empty message", "", ""},
		{"blank lines kept", "\r\n\r\nx\r\n", "\n\nx\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, d, _ := testConfig(t)
			runScript(t, cfg, login+"DATA\r\n"+tc.text+".\r\n")
			msgs := d.messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages delivered", len(msgs))
			}
			if msgs[0].text != tc.want {
				t.Errorf("delivered %q, want %q", msgs[0].text, tc.want)
			}
			if msgs[0].env.User != "alice" || msgs[0].env.Peer != "192.0.2.1" || msgs[0].env.Size != int64(len(tc.want)) {
				t.Errorf("envelope %+v", msgs[0].env)
			}
		})
	}
}

// TestIdentityIsTheProvenOne: a message is always posted as the user whose
// password was checked, never as a name given after it.
func TestIdentityIsTheProvenOne(t *testing.T) {
	cfg, d, _ := testConfig(t)
	runScript(t, cfg, login+"DATA\r\nx\r\n.\r\nUSER bob\r\nPASS wrong\r\nDATA\r\ny\r\n.\r\nUSER carol\r\nPASS c\r\nDATA\r\nz\r\n.\r\n")
	var users []string
	for _, m := range d.messages() {
		users = append(users, m.env.User)
	}
	if got := strings.Join(users, ","); got != "alice" {
		t.Errorf("messages posted as %q, want only alice (bob's PASS failed, so the session ended its posting)", got)
	}
}

func TestNoPasswordInLogs(t *testing.T) {
	cfg, _, hook := testConfig(t)
	runScript(t, cfg, "USER alice\r\nPASS hunter2-wrong\r\nQUIT\r\n")
	runScript(t, cfg, "USER alice\r\nPASS secret\r\nQUIT\r\n")
	runScript(t, cfg, "USER broken\r\nPASS hunter3\r\nQUIT\r\n")
	var all strings.Builder
	for _, e := range hook.AllEntries() {
		line, _ := lineFormatter{}.Format(e)
		all.Write(line)
	}
	for _, pw := range []string{"hunter2-wrong", "secret", "hunter3"} {
		if strings.Contains(all.String(), pw) {
			t.Errorf("password %q in the log:\n%s", pw, all.String())
		}
	}
	if !strings.Contains(all.String(), `authentication failed reason="wrong password or unknown user" rip=192.0.2.1`) {
		t.Errorf("no fail2ban-matchable line for the failed login:\n%s", all.String())
	}
}

func TestSessionLogLine(t *testing.T) {
	cfg, _, hook := testConfig(t)
	runScript(t, cfg, login+"DATA\r\nhello\r\n.\r\nQUIT\r\n")
	e := hook.LastEntry()
	if e.Message != "session ended" {
		t.Fatalf("last log entry %q", e.Message)
	}
	for k, want := range map[string]any{"user": "alice", "result": "quit", "messages": 1, "bytes": int64(6), "rip": "192.0.2.1"} {
		if got := e.Data[k]; got != want {
			t.Errorf("%s = %v (%T), want %v", k, got, got, want)
		}
	}
	if _, ok := e.Data["duration"]; !ok {
		t.Error("no duration")
	}
}

// panicAuth stands for a bug in a handler.
type panicAuth struct{}

func (panicAuth) Authenticate(context.Context, string, string) error { panic("bug") }

func TestPanicBecomes451(t *testing.T) {
	cfg, _, hook := testConfig(t)
	cfg.Auth = panicAuth{}
	c := &scriptConn{in: strings.NewReader("USER alice\r\nPASS x\r\nNOOP\r\n")}
	Serve(cfg, c, "192.0.2.1")
	want := "220 mpp.test Message Posting Service Ready\r\n250 Command OK, send PASS\r\n451 Local error encountered, closing connection\r\n"
	if got := c.out.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	found := false
	for _, e := range hook.AllEntries() {
		found = found || e.Level == logrus.ErrorLevel && strings.Contains(e.Message, "internal error")
	}
	if !found {
		t.Error("no log line for the panic")
	}
}

// pipeSession runs a session on one end of a synchronous in-memory
// connection and returns the other end.
func pipeSession(t *testing.T, cfg *Config) (net.Conn, chan struct{}) {
	t.Helper()
	server, client := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer server.Close()
		Serve(cfg, server, "192.0.2.1")
	}()
	t.Cleanup(func() { client.Close(); <-done })
	return client, done
}

func readAll(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(c)
	return string(b)
}

func TestIdleTimeout(t *testing.T) {
	cfg, _, _ := testConfig(t)
	cfg.IdleTimeout = 50 * time.Millisecond
	c, done := pipeSession(t, cfg)
	got := readAll(t, c)
	<-done
	if want := "220 mpp.test Message Posting Service Ready\r\n451 Idle timeout, closing connection\r\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestIdleTimeoutInText(t *testing.T) {
	cfg, d, _ := testConfig(t)
	cfg.IdleTimeout = 100 * time.Millisecond
	c, done := pipeSession(t, cfg)
	go io.WriteString(c, login+"DATA\r\npart of a text\r\n")
	got := readAll(t, c)
	<-done
	if !strings.HasSuffix(got, "354 Enter mail, end with \".\" on a line by itself\r\n451 Idle timeout, closing connection\r\n") {
		t.Errorf("got %q", got)
	}
	if n := len(d.messages()); n != 0 {
		t.Errorf("%d messages delivered from a text without its final dot", n)
	}
}

// TestSessionTimeout: a client that keeps sending, never idle, is still
// stopped by the session limit.
func TestSessionTimeout(t *testing.T) {
	cfg, d, _ := testConfig(t)
	cfg.SessionTimeout = 300 * time.Millisecond
	c, done := pipeSession(t, cfg)
	go func() {
		io.WriteString(c, login+"DATA\r\n")
		for {
			if _, err := io.WriteString(c, "more text\r\n"); err != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	got := readAll(t, c)
	<-done
	if !strings.HasSuffix(got, "451 Session time limit exceeded, closing connection\r\n") {
		t.Errorf("got %q", got)
	}
	if n := len(d.messages()); n != 0 {
		t.Errorf("%d messages delivered", n)
	}
}

// noopTrickle writes command lines and then a NOOP every few milliseconds,
// a client that is never idle, until the connection fails.
func noopTrickle(c net.Conn, first string) {
	if _, err := io.WriteString(c, first); err != nil {
		return
	}
	for {
		time.Sleep(5 * time.Millisecond)
		if _, err := io.WriteString(c, "NOOP\r\n"); err != nil {
			return
		}
	}
}

// TestLoginTimeout: a client that keeps its session busy but never logs
// in, with no PASS or a wrong one, is ended by the login limit, long
// before the idle and session limits.
func TestLoginTimeout(t *testing.T) {
	for name, first := range map[string]string{
		"no PASS":     "USER alice\r\n",
		"failed PASS": "USER alice\r\nPASS nope\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			cfg, _, _ := testConfig(t)
			cfg.LoginTimeout = 300 * time.Millisecond
			cfg.MaxErrors = 0 // the NOOPs after a failed PASS would end it first
			c, done := pipeSession(t, cfg)
			go noopTrickle(c, first)
			got := readAll(t, c)
			<-done
			if !strings.HasSuffix(got, "250 Command OK\r\n451 Login time limit exceeded, closing connection\r\n") {
				t.Errorf("got %q", got)
			}
		})
	}
}

// TestLoginTimeoutEndsAtLogin: once PASS got 250 the login limit is gone,
// for later USER and PASS too (a user who has proven who they are is not
// the client it is for).
func TestLoginTimeoutEndsAtLogin(t *testing.T) {
	cfg, _, _ := testConfig(t)
	cfg.LoginTimeout = 200 * time.Millisecond
	c, done := pipeSession(t, cfg)
	go func() {
		io.WriteString(c, login+"DATA\r\nx\r\n.\r\nUSER bob\r\n")
		for end := time.Now().Add(600 * time.Millisecond); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			if _, err := io.WriteString(c, "NOOP\r\n"); err != nil {
				return
			}
		}
		io.WriteString(c, "QUIT\r\n")
	}()
	got := readAll(t, c)
	<-done
	if strings.Contains(got, "451") || !strings.HasSuffix(got, "221 mpp.test Closing Connection\r\n") {
		t.Errorf("got %q", got)
	}
}

// TestPipeConnIdleTimeout: stdin that is a pipe has no deadlines; the
// session still ends when it is idle.
func TestPipeConnIdleTimeout(t *testing.T) {
	cfg, _, _ := testConfig(t)
	cfg.IdleTimeout = 50 * time.Millisecond
	inR, inW := io.Pipe()
	defer inW.Close()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		Serve(cfg, newPipeConn(inR, &out), "pipe")
		close(done)
	}()
	io.WriteString(inW, "NOOP\r\n")
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("session on a pipe did not time out")
	}
	if want := "220 mpp.test Message Posting Service Ready\r\n250 Command OK\r\n451 Idle timeout, closing connection\r\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// TestPipelinedInPieces sends a pipelined transcript split at every byte
// boundary in turn: replies are the same however the input is cut.
func TestPipelinedInPieces(t *testing.T) {
	input := login + "NOOP\r\nDATA\r\n..a\r\nb\r\n.\r\nquit\r\n"
	cfg, _, _ := testConfig(t)
	want := strings.Join(runScript(t, cfg, input), " ")
	for cut := 1; cut < len(input); cut++ {
		cfg, d, _ := testConfig(t)
		c := &scriptConn{in: io.MultiReader(strings.NewReader(input[:cut]), strings.NewReader(input[cut:]))}
		Serve(cfg, c, "x")
		var codes []string
		for _, l := range strings.Split(strings.TrimSuffix(c.out.String(), "\r\n"), "\r\n") {
			codes = append(codes, l[:3])
		}
		if got := strings.Join(codes, " "); got != want {
			t.Fatalf("cut at %d: %q, want %q", cut, got, want)
		}
		if m := d.messages(); len(m) != 1 || m[0].text != ".a\nb\n" {
			t.Fatalf("cut at %d: delivered %+v", cut, m)
		}
	}
}

func TestCheckUserName(t *testing.T) {
	for name, ok := range map[string]bool{
		"alice": true, "a.b-c_d": true, "alice@example.org": true, "jürgen": true,
		// Not addresses, but names a backend may have (mppd(8)).
		"ceo%corp.example": true, "corp.example!ceo": true, "a,b": true, "<x>": true, `"q"`: true,
		strings.Repeat("a", 256): true, strings.Repeat("a", 257): false,
		"": false, "-f": false, "a:b": false, "a b": false, "a\tb": false,
		"a\x7fb": false, "a\u0085b": false, "a\u00a0b": false, "\xc3": false,
	} {
		if got := checkUserName(name) == ""; got != ok {
			t.Errorf("checkUserName(%q) ok=%v, want %v", name, got, ok)
		}
	}
}

func ExampleServe() {
	log, _ := test.NewNullLogger()
	cfg := &Config{Hostname: "mpp.example", Auth: fakeAuth{"alice": "secret"}, Deliver: &fakeDeliver{},
		MaxLine: 512, Log: log}
	c := &scriptConn{in: strings.NewReader("USER alice\r\nPASS secret\r\nQUIT\r\n")}
	Serve(cfg, c, "192.0.2.1")
	fmt.Print(strings.ReplaceAll(c.out.String(), "\r\n", "\n"))
	// Output:
	// 220 mpp.example Message Posting Service Ready
	// 250 Command OK, send PASS
	// 250 Command OK, alice authenticated
	// 221 mpp.example Closing Connection
}

// TestServeEndedBy: Serve says whether mppd ended the session, so that
// only then the connection lingers for what the client may still send
// (closeGently).
func TestServeEndedBy(t *testing.T) {
	for _, c := range []struct {
		name, input string
		byServer    bool
	}{
		{"QUIT", "NOOP\r\nQUIT\r\n", false},
		{"end of input", "NOOP\r\n", false},
		{"end of input in text", login + "DATA\r\nx\r\n", false},
		{"too many errors", strings.Repeat("BOGUS\r\n", 10), true},
		{"too many NOOPs after a failed PASS", "USER alice\r\nPASS nope\r\n" + strings.Repeat("NOOP\r\n", 9), true},
	} {
		cfg, _, _ := testConfig(t)
		if got := Serve(cfg, &scriptConn{in: strings.NewReader(c.input)}, "192.0.2.1"); got != c.byServer {
			t.Errorf("%s: Serve says ended by mppd: %v, want %v", c.name, got, c.byServer)
		}
	}
}

// The session puts the filter between the text and the deliverer: the
// envelope sender is qualified, the Received: field carries the session id
// of the log lines, and a refusal is a 451 that leaves NOOP at 250 and
// DATA allowed.
func TestSessionIdentity(t *testing.T) {
	cfg, d, hook := testConfig(t)
	cfg.Identity = testIdentity(t, PolicyReject, "")
	codes := runScript(t, cfg, login+"DATA\r\nFrom: alice@example.org\r\nTo: b@x.org\r\n\r\n..dot\r\n.\r\n"+
		"DATA\r\nFrom: ceo@corp.example\r\n\r\nb\r\n.\r\nNOOP\r\nDATA\r\n\r\nno header\r\n.\r\nQUIT\r\n")
	if want := "220 250 250 354 250 354 451 250 354 250 221"; strings.Join(codes, " ") != want {
		t.Fatalf("codes %v, want %s", codes, want)
	}
	msgs := d.messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages delivered", len(msgs))
	}
	if msgs[0].env.Sender != "alice@example.org" || msgs[0].env.User != "alice" {
		t.Errorf("envelope %+v", msgs[0].env)
	}
	m := regexp.MustCompile(`^Received: from \[192\.0\.2\.1\]\n\tby mpp\.test \(mppd\) with MPP id ([0-9a-f]{12})\n`).FindStringSubmatch(msgs[0].text)
	if m == nil {
		t.Fatalf("no Received: field: %q", msgs[0].text)
	}
	if got := testlib.WithoutTrace(t, msgs[0].text); got != "From: alice@example.org\nTo: b@x.org\n\n.dot\n" {
		t.Errorf("first message %q", got)
	}
	if got := testlib.WithoutTrace(t, msgs[1].text); got != "From: "+aliceFrom+"\n\nno header\n" {
		t.Errorf("second message %q", got)
	}
	queued, refused := false, false
	for _, e := range hook.AllEntries() {
		if e.Data["session"] != m[1] {
			t.Errorf("log line %q has session %v, Received: says %s", e.Message, e.Data["session"], m[1])
		}
		queued = queued || e.Message == "message queued" && e.Data["sender"] == "alice@example.org"
		refused = refused || e.Message == "message refused: sender identity"
	}
	if !queued || !refused {
		t.Errorf("log lines missing (queued %v, refused %v)", queued, refused)
	}
}

// FuzzSession runs whole sessions on arbitrary client input and checks what
// must hold whatever a client sends: the session ends without a panic, every
// byte written is a well-formed reply with one of RFC 1204's codes, and mail
// is only ever posted as a user whose password was right.
//
// make fuzz, or: go test -run '^$' -fuzz FuzzSession -fuzztime 60s .
func FuzzSession(f *testing.F) {
	for _, seed := range []string{
		"",
		"QUIT\r\n",
		login + "DATA\r\nSubject: x\r\n\r\nbody\r\n..dot\r\n.\r\nQUIT\r\n",
		"USER alice\nPASS secret\nDATA\nhi\n.\nUSER bob\nPASS pass word\nDATA\nx\n.\n",
		"USER alice\r\nPASS wrong\r\nUSER alice\r\nPASS secret\r\nDATA\r\nx\r\n.\r\n",
		"USER -f\r\nUSER a:b\r\nPASS\r\nNOOP x\r\nDATA x\r\n" + strings.Repeat("Z", 600) + "\r\n",
		"USER broken\r\nPASS x\r\nNOOP\r\n",
		login + "DATA\r\n.\r\r\n.\n.\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		cfg, d, hook := testConfig(t)
		cfg.MaxMessage = 256
		cfg.MaxLine = 128
		c := &scriptConn{in: strings.NewReader(string(input))}
		Serve(cfg, c, "192.0.2.1")
		out := c.out.String()
		if out != "" && !strings.HasSuffix(out, "\r\n") {
			t.Fatalf("output does not end in CRLF: %q", out)
		}
		for _, l := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
			if !replyLine.MatchString(l) {
				t.Fatalf("malformed reply %q", l)
			}
		}
		for _, m := range d.messages() {
			if pw, ok := (fakeAuth{"alice": "secret", "bob": "pass word", "carol": "c"})[m.env.User]; !ok || pw == "" {
				t.Fatalf("message posted as %q", m.env.User)
			}
		}
		for _, e := range hook.AllEntries() {
			if e.Level <= logrus.ErrorLevel && strings.Contains(e.Message, "internal error") {
				t.Fatalf("panic in the session: %v", e.Data)
			}
		}
	})
}

// discardDeliver takes every message and reads none of it.
type discardDeliver struct{}

func (discardDeliver) Deliver(context.Context, Envelope, *os.File) error { return nil }

// BenchmarkSessionThroughput: a whole session posting 8 MiB, spool file
// included: bytes per second from the client's input to the spool.
func BenchmarkSessionThroughput(b *testing.B) {
	log, _ := test.NewNullLogger()
	cfg := &Config{Hostname: "bench", Auth: fakeAuth{"alice": "secret"}, Deliver: discardDeliver{},
		SpoolDir: b.TempDir(), MaxLine: 2048, Log: log}
	input := append([]byte(login+"DATA\r\n"), benchText(8<<20)...)
	input = append(input, "QUIT\r\n"...)
	b.SetBytes(int64(len(input)))
	for b.Loop() {
		Serve(cfg, &scriptConn{in: bytes.NewReader(input)}, "bench")
	}
}

// BenchmarkPASSOverhead is the PASS figure of bench/run.sh: a PASS command
// as the session handles it (the password file of BenchmarkPASS read and
// parsed, the hash verified, the log line, the reply written) and the bare
// verification of the same hash, timed in turn in the same loop so that a
// noisy machine slows both alike, and compared by their medians. pass/verify is the ratio; the difference
// is mppd's own cost.
func BenchmarkPASSOverhead(b *testing.B) {
	for _, kind := range benchHashes {
		h := testlib.FixtureHashes[kind]
		log, _ := test.NewNullLogger()
		cfg := &Config{Hostname: "bench", Auth: &shadowAuth{path: benchPasswd(b, h)},
			Deliver: discardDeliver{}, SpoolDir: b.TempDir(), MaxLine: 2048, Log: log}
		conn := &scriptConn{in: bytes.NewReader(nil)}
		s := &session{cfg: cfg, conn: conn, w: bufio.NewWriterSize(conn, 4<<10), id: "bench", peer: "bench"}
		s.log = log.WithFields(logrus.Fields{"session": s.id, "rip": s.peer})
		line := "PASS " + testlib.FixturePassword
		b.Run(kind, func(b *testing.B) {
			var verify, pass []time.Duration
			timeVerify := func() {
				t0 := time.Now()
				if ok, err := verifyHash(h, testlib.FixturePassword); !ok || err != nil {
					b.Fatal(ok, err)
				}
				verify = append(verify, time.Since(t0))
			}
			timePASS := func() {
				s.state, s.user = stateAwaitingPass, "alice"
				conn.out.Reset()
				t0 := time.Now()
				if err := s.handle(line); err != nil || s.state != stateAuthenticated {
					b.Fatalf("%v %v %q", err, s.state, conn.out.String())
				}
				pass = append(pass, time.Since(t0))
			}
			// Each goes first in every other round: neither always pays
			// for the garbage the other left.
			for i := 0; b.Loop(); i++ {
				if i%2 == 0 {
					timeVerify()
					timePASS()
				} else {
					timePASS()
					timeVerify()
				}
			}
			// Medians: a pause of the machine in one iteration moves neither.
			p, v := medianDuration(pass), medianDuration(verify)
			b.ReportMetric(float64(p)/float64(v), "pass/verify")
			b.ReportMetric(float64(v)/1e3, "verify-µs")
			b.ReportMetric(float64(p)/1e3, "pass-µs")
		})
	}
}

func medianDuration(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
