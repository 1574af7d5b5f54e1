package e2e

// End-to-end tests of the idle and session limits on the connection mppd
// inherits from inetd or systemd, which it reads in blocking mode with the
// socket's own timeouts (sockconn.go).

import (
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

func TestInetdIdleTimeout(t *testing.T) {
	c := launch(t, "inetd", "", "-idle-timeout", "300ms").conn(t)
	cmd := c.cmd
	c.Expect("220")
	// From before USER: the idle clock restarts when mppd has replied,
	// which may be before this side has read the reply.
	start := time.Now()
	c.Cmd("USER alice", "250")
	got := c.Rest()
	if want := "451 Idle timeout, closing connection\r\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("ended after %v of idleness, before -idle-timeout", d)
	}
	if code := waitExit(t, cmd); code != 0 {
		t.Errorf("exit status %d", code)
	}
}

// TestInetdSessionTimeoutTrickle: a client that sends a line of text every
// few milliseconds is never idle; the session limit still ends it, and the
// text without its final dot is not delivered.
func TestInetdSessionTimeoutTrickle(t *testing.T) {
	m := launch(t, "inetd", "", "-idle-timeout", "300ms", "-session-timeout", "1s")
	dir := m.dir
	c := m.conn(t)
	cmd := c.cmd
	c.startText()
	stop := c.Trickle("more text\r\n")
	defer stop()
	if got, want := c.Rest(), "451 Session time limit exceeded, closing connection\r\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	stop()
	waitExit(t, cmd)
	if s := testlib.Recorded(t, dir, "started"); len(s) != 0 {
		t.Errorf("delivery started %d times for a text without its dot", len(s))
	}
}

// TestInetdLoginTimeout: a client that never logs in but is never idle
// either (a NOOP every few milliseconds) is ended by -login-timeout, with
// a last 451 that says why.
func TestInetdLoginTimeout(t *testing.T) {
	c := launch(t, "inetd", "", "-login-timeout", "500ms").conn(t)
	cmd := c.cmd
	c.Expect("220")
	start := time.Now()
	defer c.Trickle("NOOP\r\n")()
	got := c.Rest()
	if !strings.HasSuffix(got, "250 Command OK\r\n451 Login time limit exceeded, closing connection\r\n") {
		t.Errorf("got %.200q ... %q", got, got[max(0, len(got)-120):])
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("ended after %v, before -login-timeout", d)
	}
	if code := waitExit(t, cmd); code != 0 {
		t.Errorf("exit status %d", code)
	}
}

// TestSystemdAcceptIdleTimeout: the same limit on the socket that
// systemd-socket-activate --accept passes as fd 3.
func TestSystemdAcceptIdleTimeout(t *testing.T) {
	m := launch(t, "systemd --accept", "", "-idle-timeout", "300ms")
	c := m.greeted(t)
	got := c.Rest()
	if want := "451 Idle timeout, closing connection\r\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// And a session that keeps to the limits still works.
	c = m.conn(t)
	c.startText()
	c.Send(e2eMessage)
	c.Expect("250")
	c.Cmd("QUIT", "221")
	if extra := c.Rest(); strings.TrimSpace(extra) != "" {
		t.Errorf("after 221: %q", extra)
	}
}

// TestInetdClientNeverReads: a client that sends commands and never reads
// the replies fills the socket's buffers; mppd's write of a reply then
// blocks, and the write deadline (the idle timeout, SO_SNDTIMEO) ends the
// session instead of leaving the process blocked for ever.
func TestInetdClientNeverReads(t *testing.T) {
	c := launch(t, "inetd", "", "-idle-timeout", "300ms", "-max-errors", "0").conn(t)
	cmd := c.cmd
	go func() {
		noops := []byte(strings.Repeat("NOOP\r\n", 4096))
		for {
			if _, err := c.Conn.Write(noops); err != nil {
				return
			}
		}
	}()
	if code := waitExit(t, cmd); code != 0 {
		t.Errorf("exit status %d", code)
	}
}

// TestOpenbsdInetdTimeouts: under the real openbsd-inetd, which hands mppd
// a TCP connection on fds 0, 1 and 2 (the tests above use a socketpair, or
// fd 3), an idle client and one that trickles text each get their 451.
func TestOpenbsdInetdTimeouts(t *testing.T) {
	m := launch(t, "openbsd-inetd", "", "-idle-timeout", "300ms", "-session-timeout", "1s")
	dir := m.dir

	c := m.greeted(t)
	c.Cmd("USER alice", "250")
	if got, want := c.Rest(), "451 Idle timeout, closing connection\r\n"; got != want {
		t.Errorf("idle: got %q, want %q", got, want)
	}

	c = m.conn(t)
	c.startText()
	stop := c.Trickle("more text\r\n")
	defer stop()
	if got, want := c.Rest(), "451 Session time limit exceeded, closing connection\r\n"; got != want {
		t.Errorf("trickle: got %q, want %q", got, want)
	}
	stop()
	if s := testlib.Recorded(t, dir, "started"); len(s) != 0 {
		t.Errorf("delivery started %d times for a text without its dot", len(s))
	}
}
