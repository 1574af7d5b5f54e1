package main

// End-to-end tests of the idle and session limits on the connection mppd
// inherits from inetd or systemd, which it reads in blocking mode with the
// socket's own timeouts (sockconn.go).

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestInetdIdleTimeout(t *testing.T) {
	_, flags := e2eSetup(t, "")
	c, cmd := startInetd(t, append(flags, "-idle-timeout", "300ms")...)
	c.expect("220")
	c.cmd("USER alice", "250")
	start := time.Now()
	got := c.rest()
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
	dir, flags := e2eSetup(t, "")
	c, cmd := startInetd(t, append(flags, "-idle-timeout", "300ms", "-session-timeout", "1s")...)
	c.startText()
	stop := c.trickle()
	defer stop()
	if got, want := c.rest(), "451 Session time limit exceeded, closing connection\r\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	stop()
	waitExit(t, cmd)
	if s := recorded(t, dir, "started"); len(s) != 0 {
		t.Errorf("delivery started %d times for a text without its dot", len(s))
	}
}

// TestInetdLoginTimeout: a client that never logs in but is never idle
// either (a NOOP every few milliseconds) is ended by -login-timeout, with
// a last 451 that says why.
func TestInetdLoginTimeout(t *testing.T) {
	_, flags := e2eSetup(t, "")
	c, cmd := startInetd(t, append(flags, "-login-timeout", "500ms")...)
	c.expect("220")
	start := time.Now()
	var stopped atomic.Bool
	defer stopped.Store(true)
	go func() {
		for !stopped.Load() {
			if _, err := c.conn.Write([]byte("NOOP\r\n")); err != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	got := c.rest()
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
	ssa := needProgram(t, "systemd-socket-activate")
	_, flags := e2eSetup(t, "")
	addr := freePort(t)
	startLauncher(t, ssa, append([]string{"-l", addr, "--accept", "--", mppdBinary(t), "-idle-timeout", "300ms"}, flags...)...)
	c := newClient(t, dialRetry(t, addr))
	c.expect("220")
	got := c.rest()
	if want := "451 Idle timeout, closing connection\r\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// And a session that keeps to the limits still works.
	c = newClient(t, dialRetry(t, addr))
	c.startText()
	c.send(e2eMessage)
	c.expect("250")
	c.cmd("QUIT", "221")
	if extra := c.rest(); strings.TrimSpace(extra) != "" {
		t.Errorf("after 221: %q", extra)
	}
}

// TestInetdClientNeverReads: a client that sends commands and never reads
// the replies fills the socket's buffers; mppd's write of a reply then
// blocks, and the write deadline (the idle timeout, SO_SNDTIMEO) ends the
// session instead of leaving the process blocked for ever.
func TestInetdClientNeverReads(t *testing.T) {
	_, flags := e2eSetup(t, "")
	c, cmd := startInetd(t, append(flags, "-idle-timeout", "300ms", "-max-errors", "0")...)
	go func() {
		noops := []byte(strings.Repeat("NOOP\r\n", 4096))
		for {
			if _, err := c.conn.Write(noops); err != nil {
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
	inetd := needProgram(t, "/usr/sbin/inetd")
	needRoot(t) // inetd sets the user and groups of the server it starts
	dir, flags := e2eSetup(t, "")
	// A script between inetd and mppd, since an inetd.conf line cannot
	// quote an argument with spaces (-sendmail's); exec keeps the fds.
	script := "#!/bin/sh\nexec '" + mppdBinary(t) + "' -idle-timeout 300ms -session-timeout 1s"
	for _, f := range flags {
		script += " '" + f + "'"
	}
	run := filepath.Join(dir, "mppd.sh")
	conf := filepath.Join(dir, "inetd.conf")
	addr := freePort(t)
	if err := os.WriteFile(run, []byte(script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte(addr+" stream tcp nowait root "+run+" mppd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pkgStartDaemon(t, inetd, "-d", conf)

	c := newClient(t, dialRetry(t, addr))
	c.expect("220")
	c.cmd("USER alice", "250")
	if got, want := c.rest(), "451 Idle timeout, closing connection\r\n"; got != want {
		t.Errorf("idle: got %q, want %q", got, want)
	}

	c = newClient(t, dialRetry(t, addr))
	c.startText()
	stop := c.trickle()
	defer stop()
	if got, want := c.rest(), "451 Session time limit exceeded, closing connection\r\n"; got != want {
		t.Errorf("trickle: got %q, want %q", got, want)
	}
	stop()
	if s := recorded(t, dir, "started"); len(s) != 0 {
		t.Errorf("delivery started %d times for a text without its dot", len(s))
	}
}

// trickle sends a line of text every few milliseconds, a client that is
// never idle, until stop is called or the connection fails.
func (c *client) trickle() (stop func()) {
	var stopped atomic.Bool
	go func() {
		for !stopped.Load() {
			if _, err := c.conn.Write([]byte("more text\r\n")); err != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return func() { stopped.Store(true) }
}
