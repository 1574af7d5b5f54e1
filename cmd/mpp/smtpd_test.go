package main

// Tests of the bridge (bridge.go, smtpd.go) in one process: a real go-smtp
// listener on loopback, a scripted MPP server behind it, raw SMTP lines
// from the test. The real clients and the real mppd are e2e/bridge_test.go's.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

const fakePassword = "pw with space caf\u00e9"

// fakeMPP is a scripted MPP server: alice logs in with fakePassword; each
// text it takes is recorded as it came (dot-stuffed, CRLF). A reply
// field that is not empty replaces the usual reply at that step; "close"
// closes the connection instead of replying; "hold" waits for release
// before it sends textReply.
type fakeMPP struct {
	t        *testing.T
	addr     string
	greeting string
	user     string
	pass     string
	data     string
	dropOne  bool // close the first connection right after its login
	text     string
	release  chan struct{}
	mu       sync.Mutex
	texts    []string
	logins   int
	conns    int
}

// newFakeMPP starts a fakeMPP; adjust, if given, sets its replies before
// it takes a connection.
func newFakeMPP(t *testing.T, adjust ...func(*fakeMPP)) *fakeMPP {
	f := &fakeMPP{t: t, release: make(chan struct{})}
	for _, a := range adjust {
		a(f)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f.addr = l.Addr().String()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *fakeMPP) get(field *string, def string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *field != "" {
		return *field
	}
	return def
}

func (f *fakeMPP) serve(c net.Conn) {
	defer c.Close()
	f.mu.Lock()
	f.conns++
	f.mu.Unlock()
	r := bufio.NewReader(c)
	say := func(reply string) bool {
		if reply == "close" {
			return false
		}
		_, err := io.WriteString(c, reply+"\r\n")
		return err == nil
	}
	if !say(f.get(&f.greeting, "220 fake.test Message Posting Service Ready")) {
		return
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		var reply string
		switch strings.ToUpper(verb) {
		case "USER":
			reply = f.get(&f.user, "250 Command OK")
		case "PASS":
			reply = f.get(&f.pass, "")
			if reply == "" && arg == fakePassword {
				reply = "250 Command OK, authenticated"
				f.mu.Lock()
				f.logins++
				drop := f.dropOne
				f.dropOne = false
				f.mu.Unlock()
				if drop {
					say(reply)
					return
				}
			} else if reply == "" {
				reply = "530 Authentication Failure"
			}
		case "NOOP":
			reply = "250 Command OK"
		case "QUIT":
			say("221 fake.test Closing Connection")
			return
		case "DATA":
			reply = f.get(&f.data, "354 Enter mail")
			if !strings.HasPrefix(reply, "354") {
				break
			}
			say(reply)
			var text strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return // no final dot: nothing posted
				}
				if l == ".\r\n" {
					break
				}
				text.WriteString(l)
			}
			reply = f.get(&f.text, "250 Command OK, message queued for delivery")
			if reply == "hold" {
				<-f.release
				reply = "451 Local error encountered"
			}
			if reply != "close" {
				f.mu.Lock()
				f.texts = append(f.texts, text.String())
				f.mu.Unlock()
			}
		default:
			reply = "500 Command unrecognized"
		}
		if !say(reply) {
			return
		}
	}
}

// connections counts the connections the fake has had.
func (f *fakeMPP) connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns
}

// posted is what the fake took, each text with its MPP reply attached.
func (f *fakeMPP) posted() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.texts...)
}

// startBridge runs the bridge in this process against mppAddr (the host
// setting: one address, or several for the failover); it returns
// the SMTP address and the bridge's log.
func startBridge(t *testing.T, mppAddr string, adjust func(*smtpdOptions)) (string, *testlib.Log) {
	t.Helper()
	so := &smtpdOptions{maxSize: defaultMaxSize, maxLine: defaultMaxLine, idle: 5 * time.Second, maxSessions: 10, hostname: "bridge.test"}
	if adjust != nil {
		adjust(so)
	}
	cfg, err := loadConfig(&options{settings: map[string]string{"host": mppAddr, "timeout": "5s"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlib.Log{}
	logger := log.New(logs, "", 0)
	b := &bridge{cfg: cfg, logf: logger.Printf, maxLine: so.maxLine,
		trace: func(id, line string) { logger.Printf("%s: %s", id, line) }}
	s := newSMTPServer(b, so.hostname, so.maxSize, so.maxLine, so.idle, logger)
	s.AllowInsecureAuth = true
	if so.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(so.tlsCert, so.tlsKey)
		if err != nil {
			t.Fatal(err)
		}
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(&limitListener{Listener: l, max: int64(so.maxSessions), logf: logger.Printf})
	t.Cleanup(func() { s.Close() })
	return l.Addr().String(), logs
}

// smtpc is the test's side of an SMTP connection.
type smtpc struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialSMTP(t *testing.T, addr string) *smtpc {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	s := &smtpc{t: t, conn: c, r: bufio.NewReader(c)}
	s.expect("220")
	return s
}

// reply reads one reply, all its lines.
func (s *smtpc) reply() string {
	s.t.Helper()
	var all strings.Builder
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("reading a reply: %v (got %q)", err, all.String()+line)
		}
		all.WriteString(line)
		if len(line) < 4 || line[3] != '-' {
			return all.String()
		}
	}
}

func (s *smtpc) expect(code string) string {
	s.t.Helper()
	r := s.reply()
	if !strings.HasPrefix(r, code) {
		s.t.Fatalf("got %q, want %s", r, code)
	}
	return r
}

func (s *smtpc) send(text string) {
	s.t.Helper()
	if _, err := io.WriteString(s.conn, text); err != nil {
		s.t.Fatal(err)
	}
}

func (s *smtpc) cmd(line, code string) string {
	s.t.Helper()
	s.send(line + "\r\n")
	return s.expect(code)
}

// closed says whether the server has closed the connection (after what
// was read).
func (s *smtpc) closed() bool {
	s.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := s.r.ReadByte()
	return err == io.EOF
}

func plain(user, pw string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pw))
}

func (s *smtpc) login() {
	s.t.Helper()
	s.cmd("EHLO client.test", "250")
	s.cmd("AUTH PLAIN "+plain("alice", fakePassword), "235")
}

const bridgeMessage = "From: alice@example.org\r\nTo: Bob <bob@example.org>\r\nCc: carol@example.org\r\nSubject: bridge\r\n\r\n" +
	"..leading dot\r\n...\r\ncaf\xc3\xa9 \xff\r\n.\r\n"

// the same text as the MPP server gets it, dot-stuffed again, with the
// Bcc: for dave, whom only RCPT TO named
const bridgeToMPP = "From: alice@example.org\r\nTo: Bob <bob@example.org>\r\nCc: carol@example.org\r\nSubject: bridge\r\nBcc: dave@example.org\r\n\r\n" +
	"..leading dot\r\n...\r\ncaf\xc3\xa9 \xff\r\n"

func (s *smtpc) envelope(rcpts ...string) {
	s.t.Helper()
	s.cmd("MAIL FROM:<alice@example.org> BODY=8BITMIME", "250")
	for _, r := range rcpts {
		s.cmd("RCPT TO:<"+r+">", "250")
	}
}

// TestBridgePosts: AUTH, then a message whose Bcc recipient only RCPT TO
// names: the MPP server gets it once, dots stuffed once, 8-bit bytes as
// they were, with the Bcc: field added; then a second message on the same
// connection goes through the same MPP session.
func TestBridgePosts(t *testing.T) {
	f := newFakeMPP(t)
	addr, logs := startBridge(t, f.addr, nil)
	c := dialSMTP(t, addr)
	ehlo := c.cmd("EHLO client.test", "250")
	for _, ext := range []string{"PIPELINING", "8BITMIME", "SIZE 10240000", "AUTH PLAIN LOGIN", "ENHANCEDSTATUSCODES"} {
		if !strings.Contains(ehlo, ext) {
			t.Errorf("EHLO lacks %s:\n%s", ext, ehlo)
		}
	}
	c.cmd("AUTH PLAIN "+plain("alice", fakePassword), "235")
	c.envelope("bob@example.org", "Carol@Example.org", "dave@example.org")
	c.cmd("DATA", "354")
	c.send(bridgeMessage)
	c.expect("250")
	c.envelope("bob@example.org")
	c.cmd("DATA", "354")
	c.send("To: bob@example.org\r\n\r\nsecond\r\n.\r\n")
	c.expect("250")
	c.cmd("QUIT", "221")
	got := f.posted()
	if len(got) != 2 || got[0] != bridgeToMPP || got[1] != "To: bob@example.org\r\n\r\nsecond\r\n" {
		t.Errorf("MPP server got %q", got)
	}
	if f.conns != 1 || f.logins != 1 {
		t.Errorf("%d MPP connections, %d logins; want one of each", f.conns, f.logins)
	}
	if strings.Contains(logs.String(), fakePassword) || !strings.Contains(logs.String(), "PASS ********") {
		t.Errorf("log:\n%s", logs)
	}
}

// TestBridgeNo250BeforeMPP: the SMTP client hears nothing after its text
// until the MPP server has answered it, and then hears that answer: a
// 451 is a 451, never a 250.
func TestBridgeNo250BeforeMPP(t *testing.T) {
	f := newFakeMPP(t)
	f.text = "hold"
	addr, _ := startBridge(t, f.addr, nil)
	c := dialSMTP(t, addr)
	c.login()
	c.envelope("bob@example.org")
	c.cmd("DATA", "354")
	c.send("To: bob@example.org\r\n\r\nwait\r\n.\r\n")
	c.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if b, err := c.r.ReadByte(); err == nil {
		t.Fatalf("a reply (%q...) before the MPP server's", b)
	}
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	close(f.release)
	if r := c.expect("451"); !strings.Contains(r, "451 4.3.0 MPP server: 451 Local error encountered") {
		t.Errorf("got %q", r)
	}
	// MPP's 451 after a text leaves its session usable: the next
	// message goes through it.
	f.mu.Lock()
	f.text = ""
	f.mu.Unlock()
	c.envelope("bob@example.org")
	c.cmd("DATA", "354")
	c.send("To: bob@example.org\r\n\r\nagain\r\n.\r\n")
	c.expect("250")
}

// TestBridgeReplies: every MPP outcome, and the SMTP reply it becomes.
// 421 (the MPP side is gone) also closes the SMTP connection.
func TestBridgeReplies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		adjust func(f *fakeMPP)
		auth   string // the reply to AUTH
		text   string // else the reply to the text
		closed bool
	}{
		{"wrong password is 535", func(f *fakeMPP) { f.pass = "530 Authentication Failure" }, "535 5.7.8 MPP server refused the login: 530", "", false},
		{"bad user name is 535", func(f *fakeMPP) { f.user = "501 Argument syntax error" }, "535 5.7.8", "", false},
		{"451 to PASS is 454", func(f *fakeMPP) { f.pass = "451 Local error encountered" }, "454 4.7.0 MPP server: 451", "", false},
		{"greeting 451 is 421", func(f *fakeMPP) { f.greeting = "451 Too many sessions" }, "421 4.3.0 MPP server not ready: 451 Too many sessions", "", true},
		{"no greeting is 421", func(f *fakeMPP) { f.greeting = "close" }, "421 4.4.2 connection to the MPP server lost at greeting", "", true},
		{"not MPP is 421", func(f *fakeMPP) { f.greeting = "SSH-2.0-OpenSSH" }, "421 4.5.0", "", true},
		{"451 to DATA is 451", func(f *fakeMPP) { f.data = "451 Local error encountered" }, "", "451 4.3.0", false},
		{"451 to the text is 451", func(f *fakeMPP) { f.text = "451 Message too large" }, "", "451 4.3.0 MPP server: 451 Message too large", false},
		{"550 to the text is 554", func(f *fakeMPP) { f.text = "550 Error" }, "", "554 5.0.0 MPP server refused the message: 550 Error", false},
		{"lost before the reply is 421", func(f *fakeMPP) { f.text = "close" }, "", "421 4.4.2 connection to the MPP server lost before its reply to the text", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeMPP(t)
			f.mu.Lock()
			tc.adjust(f)
			f.mu.Unlock()
			addr, _ := startBridge(t, f.addr, nil)
			c := dialSMTP(t, addr)
			c.cmd("EHLO client.test", "250")
			c.send("AUTH PLAIN " + plain("alice", fakePassword) + "\r\n")
			r := c.reply()
			if tc.auth != "" {
				if !strings.HasPrefix(r, tc.auth) {
					t.Fatalf("AUTH: %q, want %s", r, tc.auth)
				}
			} else {
				if !strings.HasPrefix(r, "235") {
					t.Fatalf("AUTH: %q", r)
				}
				c.envelope("bob@example.org")
				c.cmd("DATA", "354")
				c.send("To: bob@example.org\r\n\r\nx\r\n.\r\n")
				if r := c.reply(); !strings.HasPrefix(r, tc.text) {
					t.Fatalf("text: %q, want %s", r, tc.text)
				}
			}
			if tc.closed && !c.closed() {
				t.Error("connection still open after 421")
			}
			if !tc.closed {
				c.cmd("NOOP", "250")
			}
		})
	}
}

// TestBridgeUnreachable: nothing listens where the MPP server should be:
// AUTH gets 421 and the connection ends; the client keeps its message.
func TestBridgeUnreachable(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	gone := l.Addr().String()
	l.Close()
	addr, _ := startBridge(t, gone, nil)
	c := dialSMTP(t, addr)
	c.cmd("EHLO client.test", "250")
	if r := c.cmd("AUTH PLAIN "+plain("alice", fakePassword), "421"); !strings.Contains(r, "421 4.4.1 cannot reach "+gone) {
		t.Errorf("got %q", r)
	}
	if !c.closed() {
		t.Error("connection still open after 421")
	}
}

// TestBridgeEnvelope: a header recipient the client did not give in
// RCPT TO must not get the message: it is refused, and the MPP server
// gets no text at all (no DATA).
func TestBridgeEnvelope(t *testing.T) {
	f := newFakeMPP(t)
	addr, _ := startBridge(t, f.addr, nil)
	c := dialSMTP(t, addr)
	c.login()
	c.envelope("bob@example.org", "carol@example.org")
	c.cmd("DATA", "354")
	c.send("To: bob@example.org\r\nCc: carol@example.org, mallory@example.org\r\nResent-To: eve@example.org\r\n\r\nx\r\n.\r\n")
	if r := c.expect("554"); !strings.Contains(r, "554 5.7.1 the header names mallory@example.org, eve@example.org, not among the RCPT TO recipients") {
		t.Errorf("got %q", r)
	}
	c.envelope("bob@example.org")
	c.cmd("DATA", "354")
	c.send("To: bob@\r\n\r\nx\r\n.\r\n")
	c.expect("554 5.6.0 bad message: To: cannot read the address")
	c.cmd("QUIT", "221")
	if got := f.posted(); len(got) != 0 {
		t.Errorf("posted %q", got)
	}
}

// TestBridgeAuthRequired: mpp smtpd posts for nobody who has not proven
// who they are: any local user can reach its port.
func TestBridgeAuthRequired(t *testing.T) {
	f := newFakeMPP(t)
	addr, _ := startBridge(t, f.addr, nil)
	c := dialSMTP(t, addr)
	c.cmd("EHLO client.test", "250")
	c.cmd("MAIL FROM:<alice@example.org>", "530 5.7.0 Authentication required")
	c.cmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("bob\x00alice\x00"+fakePassword)), "535 5.7.8 cannot act as bob")
	c.cmd("MAIL FROM:<alice@example.org>", "530")
	if f.logins != 0 {
		t.Errorf("%d logins", f.logins)
	}
}

// TestBridgeLogin: AUTH LOGIN, with and without the name as initial
// response (RFC 4954 §4), as Outlook and Thunderbird send it.
func TestBridgeLogin(t *testing.T) {
	f := newFakeMPP(t)
	addr, _ := startBridge(t, f.addr, nil)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	c := dialSMTP(t, addr)
	c.cmd("EHLO client.test", "250")
	c.cmd("AUTH LOGIN", "334 "+b64("Username:"))
	c.cmd(b64("alice"), "334 "+b64("Password:"))
	c.cmd(b64(fakePassword), "235")
	c = dialSMTP(t, addr)
	c.cmd("EHLO client.test", "250")
	c.cmd("AUTH LOGIN "+b64("alice"), "334 "+b64("Password:"))
	c.cmd(b64("wrong"), "535")
	if f.logins != 1 {
		t.Errorf("%d logins, want 1", f.logins)
	}
}

// TestBridgeSize: SIZE over the limit is refused at MAIL; a text over it
// is refused after its dot with 552, and the MPP server, which never got
// the final dot, posted nothing. The next message opens a new session.
func TestBridgeSize(t *testing.T) {
	f := newFakeMPP(t)
	addr, _ := startBridge(t, f.addr, func(so *smtpdOptions) { so.maxSize = 1000 })
	c := dialSMTP(t, addr)
	c.login()
	c.cmd("MAIL FROM:<alice@example.org> SIZE=1001", "552")
	c.envelope("bob@example.org")
	c.cmd("DATA", "354")
	c.send("To: bob@example.org\r\n\r\n" + strings.Repeat("0123456789\r\n", 100) + ".\r\n")
	c.expect("552 5.3.4")
	c.envelope("bob@example.org")
	c.cmd("DATA", "354")
	c.send("To: bob@example.org\r\n\r\nsmall\r\n.\r\n")
	c.expect("250")
	if got := f.posted(); len(got) != 1 || !strings.Contains(got[0], "small") {
		t.Errorf("posted %q", got)
	}
	if f.logins != 2 {
		t.Errorf("%d logins, want 2", f.logins)
	}
}

// TestBridgeLongLine: a line over -max-line-length, command or text,
// ends the connection instead of growing a buffer; nothing is posted.
func TestBridgeLongLine(t *testing.T) {
	f := newFakeMPP(t)
	addr, _ := startBridge(t, f.addr, nil)
	c := dialSMTP(t, addr)
	c.login()
	c.envelope("bob@example.org")
	c.cmd("DATA", "354")
	c.send("To: bob@example.org\r\n\r\n" + strings.Repeat("x", 3000) + "\r\n.\r\n")
	c.expect("500")
	if got := f.posted(); len(got) != 0 {
		t.Errorf("posted %q", got)
	}
	c = dialSMTP(t, addr)
	c.send("EHLO " + strings.Repeat("x", 3000) + "\r\n")
	c.expect("500")
	if !c.closed() {
		t.Error("still open")
	}
}

// TestBridgePipelining: a client that sends MAIL, RCPT, RCPT and DATA in
// one write (RFC 2920) gets the four replies in order.
func TestBridgePipelining(t *testing.T) {
	f := newFakeMPP(t)
	addr, _ := startBridge(t, f.addr, nil)
	c := dialSMTP(t, addr)
	c.login()
	c.send("MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\nRCPT TO:<nobody@example.org>\r\nRCPT TO:<\"no body\"@example.org>\r\nDATA\r\n")
	for _, code := range []string{"250", "250", "250", "250", "354"} {
		c.expect(code)
	}
	c.send("To: bob@example.org\r\n\r\npipelined\r\n.\r\nQUIT\r\n")
	c.expect("250")
	c.expect("221")
	if got := f.posted(); len(got) != 1 || !strings.Contains(got[0], "Bcc: nobody@example.org, <\"no body\"@example.org>\r\n") {
		t.Errorf("posted %q", got)
	}
}

// TestBridgeChunking: BDAT (RFC 3030), which go-smtp offers, posts the
// same way: only the chunks' bytes, the final 250 only after MPP's.
func TestBridgeChunking(t *testing.T) {
	f := newFakeMPP(t)
	addr, _ := startBridge(t, f.addr, nil)
	c := dialSMTP(t, addr)
	c.login()
	c.envelope("bob@example.org")
	chunk := "To: bob@example.org\r\n\r\n.dot\r\n"
	c.send(fmt.Sprintf("BDAT %d\r\n%s", len(chunk), chunk))
	c.expect("250")
	c.send("BDAT 6 LAST\r\nlast\r\n")
	c.expect("250")
	if got := f.posted(); len(got) != 1 || got[0] != "To: bob@example.org\r\n\r\n..dot\r\nlast\r\n" {
		t.Errorf("posted %q", got)
	}
}

// TestBridgeIdleSession: an MPP session the server ended while it was
// unused (its idle timeout) is opened anew for the next message, which
// is posted once: found by NOOP after idleCheck, or by DATA before it.
// A connection lost after the text was sent is 421, never a second try.
func TestBridgeIdleSession(t *testing.T) {
	for _, idle := range []time.Duration{0, time.Hour} {
		t.Run(fmt.Sprint("idleCheck ", idle), func(t *testing.T) {
			f := newFakeMPP(t)
			f.dropOne = true
			addr, _ := startBridge(t, f.addr, nil)
			old := idleCheck
			idleCheck = idle
			t.Cleanup(func() { idleCheck = old })
			c := dialSMTP(t, addr)
			c.login()
			c.envelope("bob@example.org")
			c.cmd("DATA", "354")
			c.send("To: bob@example.org\r\n\r\nx\r\n.\r\n")
			c.expect("250")
			if got := f.posted(); len(got) != 1 || f.logins != 2 {
				t.Errorf("%d logins, posted %q", f.logins, got)
			}
			f.mu.Lock()
			f.text = "close"
			f.mu.Unlock()
			c.envelope("bob@example.org")
			c.cmd("DATA", "354")
			c.send("To: bob@example.org\r\n\r\ny\r\n.\r\n")
			c.expect("421")
			if f.logins != 2 {
				t.Errorf("%d logins: the text was sent again", f.logins)
			}
		})
	}
}

// TestBridgeFailover: AUTH logs in at the first server of the host
// setting that takes the login, past one that cannot be reached and one
// that answers 451, as mpp does (failover.go); a session lost before DATA
// is opened anew through the same list, and finds the next server when
// its own has gone; one whose DATA gets 451 is given up for the next
// server that takes a session. A refused login is final.
func TestBridgeFailover(t *testing.T) {
	busy := newFakeMPP(t, func(f *fakeMPP) { f.pass = "451 cannot check passwords now" })
	a := newFakeMPP(t, func(f *fakeMPP) { f.dropOne = true }) // its session is lost after AUTH
	b := newFakeMPP(t)
	addr, logs := startBridge(t, closedAddr(t)+", "+busy.addr+" "+a.addr+","+b.addr, nil)
	c := dialSMTP(t, addr)
	c.login()
	if a.logins != 1 || busy.logins != 0 || b.connections() != 0 {
		t.Errorf("logins: %d at the server that took AUTH, %d at the busy one; %d connections past it", a.logins, busy.logins, b.connections())
	}
	for _, want := range []string{"=== cannot reach", busy.addr + ": MPP server: 451 cannot check passwords now; try again later; trying the next server"} {
		if !logs.Contains(want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	a.mu.Lock()
	a.greeting = "451 Too many sessions" // gone, as a host that was killed
	a.mu.Unlock()
	c.envelope("bob@example.org")
	c.cmd("DATA", "354")
	c.send("To: bob@example.org\r\n\r\nx\r\n.\r\n")
	c.expect("250")
	if len(a.posted()) != 0 || len(b.posted()) != 1 {
		t.Errorf("posted %q at the first server, %q at the next", a.posted(), b.posted())
	}

	if !logs.Contains("AUTH alice: authenticated by the MPP server "+a.addr) || !logs.Contains("posted for 1 recipients at "+b.addr) {
		t.Errorf("the log does not name the servers:\n%s", logs)
	}
	// 451 to DATA (mppd cannot make its spool file): the text goes to
	// the next server, and the one that refused is not asked again.
	noSpool := newFakeMPP(t, func(f *fakeMPP) { f.data = "451 Local error encountered: cannot store the message" })
	other := newFakeMPP(t)
	addr, _ = startBridge(t, noSpool.addr+" "+other.addr, nil)
	c = dialSMTP(t, addr)
	c.login()
	c.envelope("bob@example.org")
	c.cmd("DATA", "354")
	c.send("To: bob@example.org\r\n\r\ny\r\n.\r\n")
	c.expect("250")
	if len(other.posted()) != 1 || noSpool.connections() != 1 {
		t.Errorf("posted %q at the next server; %d connections to the one that refused DATA", other.posted(), noSpool.connections())
	}

	refusing := newFakeMPP(t, func(f *fakeMPP) { f.pass = "530 Authentication Failure" })
	after := newFakeMPP(t)
	addr, _ = startBridge(t, closedAddr(t)+" "+refusing.addr+" "+after.addr, nil)
	c = dialSMTP(t, addr)
	c.cmd("EHLO client.test", "250")
	c.cmd("AUTH PLAIN "+plain("alice", fakePassword), "535 5.7.8 MPP server refused the login: 530")
	if after.connections() != 0 {
		t.Error("a server was tried after a refused login")
	}
}

// TestBridgeFailoverAllFail: when no server takes the login, the reply is
// the last one's, and names each server and what it said.
func TestBridgeFailoverAllFail(t *testing.T) {
	gone := closedAddr(t)
	busy := newFakeMPP(t, func(f *fakeMPP) { f.pass = "451 cannot check passwords now" })
	addr, logs := startBridge(t, gone+" "+busy.addr, nil)
	c := dialSMTP(t, addr)
	c.cmd("EHLO client.test", "250")
	c.cmd("AUTH PLAIN "+plain("alice", fakePassword), "454 4.7.0 no MPP server took the session (2 tried): cannot reach "+gone+": ")
	addr, _ = startBridge(t, busy.addr+" "+gone, nil)
	c = dialSMTP(t, addr)
	c.cmd("EHLO client.test", "250")
	r := c.cmd("AUTH PLAIN "+plain("alice", fakePassword), "421 4.4.1 no MPP server took the session (2 tried): "+busy.addr+": MPP server: 451")
	if !strings.Contains(r, "; cannot reach "+gone) {
		t.Errorf("got %q", r)
	}
	if !c.closed() {
		t.Error("the SMTP connection is still open after 421")
	}
	if strings.Contains(logs.String(), fakePassword) {
		t.Errorf("log:\n%s", logs)
	}
}

// TestBridgeMaxSessions: connections over -max-sessions get 421 at once.
func TestBridgeMaxSessions(t *testing.T) {
	f := newFakeMPP(t)
	addr, _ := startBridge(t, f.addr, func(so *smtpdOptions) { so.maxSessions = 1 })
	first := dialSMTP(t, addr)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c)
	if string(b) != "421 4.3.2 Too many connections, try again later\r\n" {
		t.Errorf("got %q", b)
	}
	first.cmd("QUIT", "221")
	time.Sleep(100 * time.Millisecond)
	dialSMTP(t, addr).cmd("QUIT", "221")
}

// TestBridgeSTARTTLS: with a certificate, STARTTLS is offered, and AUTH
// works over it.
func TestBridgeSTARTTLS(t *testing.T) {
	f := newFakeMPP(t)
	cert, key := testlib.NewCA(t).Server(t, t.TempDir())
	addr, _ := startBridge(t, f.addr, func(so *smtpdOptions) { so.tlsCert, so.tlsKey = cert, key })
	c := dialSMTP(t, addr)
	if r := c.cmd("EHLO client.test", "250"); !strings.Contains(r, "STARTTLS") {
		t.Fatalf("no STARTTLS: %q", r)
	}
	c.cmd("STARTTLS", "220")
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	c.conn, c.r = tc, bufio.NewReader(tc)
	c.login()
	c.envelope("bob@example.org")
	c.cmd("DATA", "354")
	c.send("To: bob@example.org\r\n\r\nover TLS\r\n.\r\n")
	c.expect("250")
	if tc.ConnectionState().Version < tls.VersionTLS12 {
		t.Errorf("TLS version %x", tc.ConnectionState().Version)
	}
}

// TestBridgeStdio: mpp -bs, SMTP on stdin and stdout, posts as the
// config's user with passwordeval's password when the client does not
// AUTH (sendmail -bs clients such as alpine do not).
func TestBridgeStdio(t *testing.T) {
	f := newFakeMPP(t)
	host, port, _ := net.SplitHostPort(f.addr)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pw"), []byte(fakePassword+"\n"), 0o600)
	conf := filepath.Join(dir, "config")
	os.WriteFile(conf, []byte(fmt.Sprintf("host %s\nport %s\nuser alice\npasswordeval \"cat %s/pw\"\n", host, port, dir)), 0o644)
	in := "EHLO client.test\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nTo: bob@example.org\r\n\r\n..via -bs\r\n.\r\nQUIT\r\n"
	var out, errOut bytes.Buffer
	if code := run([]string{"-bs", "-C", conf}, strings.NewReader(in), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	replies := out.String()
	for _, want := range []string{"220 ", "250-", "250 2.0.0 Roger", "250 2.0.0 I'll", "354 ", "250 2.0.0 OK: queued", "221 2.0.0 Bye"} {
		if !strings.Contains(replies, want) {
			t.Errorf("stdout lacks %q:\n%s", want, replies)
		}
	}
	if got := f.posted(); len(got) != 1 || got[0] != "To: bob@example.org\r\n\r\n..via -bs\r\n" {
		t.Errorf("posted %q", got)
	}
	// Wrong password: 535 at MAIL, and nothing is posted.
	os.WriteFile(filepath.Join(dir, "pw"), []byte("wrong\n"), 0o600)
	out.Reset()
	run([]string{"-bs", "-C", conf}, strings.NewReader(in), &out, &errOut)
	if !strings.Contains(out.String(), "535 5.7.8 MPP server refused the login") {
		t.Errorf("stdout:\n%s", out.String())
	}
	if len(f.posted()) != 1 {
		t.Errorf("posted %q", f.posted())
	}
}

// TestBridgeStdioConfigError: mpp -bs with no server configured says why
// as an SMTP reply, then exits 78.
func TestBridgeStdioConfigError(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "config")
	os.WriteFile(conf, []byte("tls on\n"), 0o644)
	var out, errOut bytes.Buffer
	if code := run([]string{"-bs", "-C", conf}, strings.NewReader("EHLO x\r\n"), &out, &errOut); code != exConfig {
		t.Errorf("exit %d", code)
	}
	if !strings.HasPrefix(out.String(), "421 4.3.5 mpp: no server") {
		t.Errorf("stdout %q", out.String())
	}
}

// TestSmtpdArgs: the command line of mpp smtpd, and what it refuses.
func TestSmtpdArgs(t *testing.T) {
	so, err := parseSmtpdArgs([]string{"-listen", "127.0.0.1:1", "--host", "mpp.example.org", "--tls", "on", "-max-message-size", "5"}, io.Discard)
	if err != nil || so.listen != "127.0.0.1:1" || so.o.settings["host"] != "mpp.example.org" || so.o.settings["tls"] != "on" || so.maxSize != 5 {
		t.Errorf("%+v, %v", so, err)
	}
	for _, args := range [][]string{{"-max-line-length", "100"}, {"-tls-cert", "x"}, {"extra"}, {"-user", "x"}, {"-idle-timeout", "0s"}} {
		if _, err := parseSmtpdArgs(args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	// Off loopback without TLS, AUTH would send passwords in the clear.
	err = smtpd([]string{"-listen", "0.0.0.0:0", "--host", "x"}, io.Discard, io.Discard)
	if ee, ok := err.(*exitError); !ok || ee.code != exConfig || !strings.Contains(ee.msg, "not a loopback address") {
		t.Errorf("got %v", err)
	}
	for host, want := range map[string]bool{"127.0.0.1": true, "::1": true, "localhost": true, "127.1.2.3": true, "0.0.0.0": false, "": false, "192.0.2.1": false} {
		if isLoopback(host) != want {
			t.Errorf("isLoopback(%q) = %v", host, !want)
		}
	}
}

// FuzzBridgeRecipients: for any message and any RCPT TO list the bridge
// would take, either the message is refused or the header it posts names
// exactly the RCPT TO recipients: everyone the client sent to gets it
// (the MPP server's mail system reads the header), and nobody else.
func FuzzBridgeRecipients(f *testing.F) {
	f.Add("To: a@x.org\r\nCc: B <b@x.org>\r\n\r\nbody\r\n", "a@x.org,b@x.org,c@x.org")
	f.Add("To: a@x.org\nBcc: c@x.org\n\nbody\n", "a@x.org,c@x.org")
	f.Add("Subject: no header recipients\r\n\r\n", "\"a b\"@x.org,d@y.org")
	f.Add("To: a@x.org\r\nbody without an empty line\r\n", "A@X.ORG")
	f.Add("To: a@x.org\r\n\r\n", "a@x.org,a b@x.org") // go-smtp's RCPT TO:<"a b"@x.org>
	f.Add("To: (comment) a@x.org, \"q, r\" <q@x.org>\r\n\r\n", "a@x.org,q@x.org,e@x.org")
	f.Fuzz(func(t *testing.T, text, rcpts string) {
		var list []string
		for _, r := range strings.Split(rcpts, ",") {
			if r != "" && headerSafe(r) {
				list = append(list, r)
			}
		}
		m, err := readMessage(bufio.NewReader(strings.NewReader(text)))
		if err != nil || len(list) == 0 || len(missing(m.recipients, list)) > 0 {
			return // refused
		}
		posted, err := io.ReadAll(withBcc(m, missing(list, m.recipients)))
		if err != nil {
			t.Fatal(err)
		}
		m2, err := readMessage(bufio.NewReader(bytes.NewReader(posted)))
		if err != nil {
			t.Fatalf("the posted text does not read back: %v\n%q", err, posted)
		}
		if lost := missing(list, m2.recipients); len(lost) > 0 {
			t.Errorf("RCPT TO %q not in the posted header:\n%q", lost, posted)
		}
		if extra := missing(m2.recipients, list); len(extra) > 0 {
			t.Errorf("the posted header names %q, not in RCPT TO:\n%q", extra, posted)
		}
	})
}
