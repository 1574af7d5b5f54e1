package main

import (
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

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
			addr, got := testlib.LineServer(t, c.script...)
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
				addr, _ := testlib.LineServer(t, c.script...)
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
	addr, _ := testlib.LineServer(t, "S:+OK hi", "C:USER", "S:-ERR no such\x1b[2J mailbox \xff"+strings.Repeat("x", 500))
	_, _, err := checkAuth(t, authOptions{timeout: time.Second}, []string{"pop3://" + addr}, "u", "pw")
	if msg := err.Error(); !strings.Contains(msg, `refused: reply to USER: "-ERR no such?[2J mailbox ?xxx`) || len(msg) > 300 {
		t.Errorf("reason %q: want the server's text, printable and bounded", msg)
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
