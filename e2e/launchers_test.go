package e2e

// End-to-end tests of the built binary, started the ways administrators
// start it: a socketpair end on fds 0, 1 and 2 (exactly what inetd and
// xinetd do), systemd-socket-activate with --accept (fd 3) and --inetd, a
// listening fd 3 (Accept=no), -listen, and a pipe on stdin.

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

func TestInetdSocketpair(t *testing.T) {
	m := launch(t, "inetd", "")
	dir := m.dir
	c := m.conn(t)
	cmd := c.cmd
	c.post()
	if code := waitExit(t, cmd); code != 0 {
		t.Errorf("exit status %d", code)
	}
	checkDelivered(t, dir)
}

// TestInetdNothingOnStderr: under inetd fd 2 is the connection. A refused
// login and a failed delivery log lines, which must not reach the client,
// and -log stderr is refused there rather than obeyed.
func TestInetdNothingOnStderr(t *testing.T) {
	c := launch(t, "inetd", "echo 'sendmail complains' >&2; exit 1").conn(t)
	cmd := c.cmd
	c.startText()
	c.Send("x\r\n.\r\n")
	c.Expect("451")
	c.Cmd("NOOP", "451")
	c.Cmd("USER alice", "503")
	c.Cmd("QUIT", "221")
	if extra := c.Rest(); extra != "" {
		t.Errorf("unexpected bytes on the connection: %q", extra)
	}
	waitExit(t, cmd)

	c = launch(t, "inetd", "", "-log", "stderr").conn(t)
	cmd = c.cmd
	if extra := c.Rest(); extra != "" {
		t.Errorf("-log stderr under inetd wrote %q to the client", extra)
	}
	if code := waitExit(t, cmd); code != exitConfig {
		t.Errorf("exit status %d, want %d", code, exitConfig)
	}

	c = start(t, "inetd", "-no-such-flag").conn(t)
	cmd = c.cmd
	if extra := c.Rest(); extra != "" {
		t.Errorf("a bad flag under inetd wrote %q to the client", extra)
	}
	if code := waitExit(t, cmd); code != exitUsage {
		t.Errorf("exit status %d, want %d", code, exitUsage)
	}
}

// TestClientGoneMidText and TestKilledMidText: the mail system sees a
// message only after its final dot.
func TestClientGoneMidText(t *testing.T) {
	m, c := halfText(t)
	c.Conn.Close()
	waitExit(t, c.cmd)
	if s := testlib.Recorded(t, m.dir, "started"); len(s) != 0 {
		t.Errorf("delivery started %d times for a text without its dot", len(s))
	}
}

// halfText is a session under inetd that has sent half a text, no dot.
func halfText(t *testing.T) (*mppd, *client) {
	t.Helper()
	m := launch(t, "inetd", "")
	c := m.conn(t)
	c.startText()
	c.Send("Subject: half\r\n\r\nthe first half of the text\r\n")
	return m, c
}

func TestKilledMidText(t *testing.T) {
	m, c := halfText(t)
	time.Sleep(100 * time.Millisecond) // let mppd spool it
	c.cmd.Process.Signal(syscall.SIGKILL)
	waitExit(t, c.cmd)
	io.WriteString(c.Conn, ".\r\n") // too late: nobody is there to take it
	if s := testlib.Recorded(t, m.dir, "started"); len(s) != 0 {
		t.Errorf("delivery started %d times", len(s))
	}
}

func TestDeliveryFaultsEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		extra      []string
	}{
		{"fails", "exit 75", nil},
		{"killed", "kill -9 $$", nil},
		{"hung", "sleep 30", nil},
		{"missing", "", []string{"-sendmail", "/nonexistent/sendmail -t"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := launch(t, "inetd", tc.body, append([]string{"-delivery-timeout", "300ms"}, tc.extra...)...).conn(t)
			cmd := c.cmd
			c.startText()
			c.Send("x\r\n.\r\n")
			c.Expect("451")
			c.Cmd("QUIT", "221")
			waitExit(t, cmd)
		})
	}
}

func TestSystemdSocketActivate(t *testing.T) {
	for _, mode := range []string{"systemd --accept", "systemd --inetd"} {
		t.Run(mode, func(t *testing.T) {
			m := launch(t, mode, "")
			dir := m.dir
			m.conn(t).post()
			deadline := time.Now().Add(10 * time.Second)
			for len(testlib.Recorded(t, dir, "msg")) == 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			checkDelivered(t, dir)
		})
	}
}

// TestSystemdAcceptNo: without --accept the launcher passes the listening
// socket (a socket unit with Accept=no); mppd serves it, session after
// session, and logs to stderr, which is not the client here.
func TestSystemdAcceptNo(t *testing.T) {
	m := launch(t, "systemd Accept=no", "", "-log", "stderr")
	dir, logs := m.dir, m.log
	m.conn(t).post()
	c := m.greeted(t)
	c.Cmd("USER alice", "250")
	c.Cmd("PASS wrong", "530")
	c.Cmd("QUIT", "221")
	checkDelivered(t, dir)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "authentication failed") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `authentication failed reason="wrong password" rip=127.0.0.1`) {
		t.Errorf("log:\n%s", logs)
	}
	if strings.Contains(logs.String(), testlib.FixturePassword) || strings.Contains(logs.String(), "wrong ") && strings.Contains(logs.String(), "PASS wrong") {
		t.Errorf("password in the log:\n%s", logs)
	}
}

func TestListenFlag(t *testing.T) {
	m := launch(t, "-listen", "", "-log", "stderr")
	m.conn(t).post()
	checkDelivered(t, m.dir)
}

// TestServerWarnsMissingSendmail: a -listen or Accept=no server whose
// delivery command is not there starts (the command may be installed
// later; each text gets 451 meanwhile) but logs a warning at start, and
// -listen says so on stderr too. With the command there, no warning.
func TestServerWarnsMissingSendmail(t *testing.T) {
	const warning = "delivery command missing: every message will be answered 451 until it is there"
	for _, tc := range []struct {
		name     string
		sendmail string
		launcher string
		warn     bool
	}{
		{"-listen", "/nonexistent/sendmail -t", "-listen", true},
		{"Accept=no", "/etc/passwd -t", "systemd Accept=no", true},
		{"present", "", "-listen", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := []string{"-log", "stderr"}
			if tc.sendmail != "" {
				f = append(f, "-sendmail", tc.sendmail)
			}
			m := launch(t, tc.launcher, "", f...)
			logs := m.log
			c := m.greeted(t)
			c.Cmd("QUIT", "221")
			if !logs.Contains("session ended") {
				t.Fatalf("no session in the log:\n%s", logs)
			}
			if got := strings.Contains(logs.String(), warning); got != tc.warn {
				t.Errorf("warning logged: %v, want %v; log:\n%s", got, tc.warn, logs)
			}
		})
	}
}

// TestPipeStdin: "mppd < transcript" works, replies on stdout.
func TestPipeStdin(t *testing.T) {
	m := launch(t, "pipe", "", "-log", "none")
	dir := m.dir
	c := m.conn(t)
	c.Send("USER alice\r\nPASS " + testlib.FixturePassword + "\r\nDATA\r\n" + e2eMessage + "QUIT\r\n")
	out := c.Rest()
	if code := waitExit(t, c.cmd); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	var codes []string
	for _, l := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
		codes = append(codes, l[:3])
	}
	if got := strings.Join(codes, " "); got != "220 250 250 354 250 221" {
		t.Errorf("replies %q", got)
	}
	checkDelivered(t, dir)
}

// TestPipeIdleTimeout: a pipe has no deadlines; the timer still ends the
// session.
func TestPipeIdleTimeout(t *testing.T) {
	c := launch(t, "pipe", "", "-log", "none", "-idle-timeout", "200ms").conn(t)
	out := c.Rest()
	waitExit(t, c.cmd)
	if want := "220 e2e.test Message Posting Service Ready\r\n451 Idle timeout, closing connection\r\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

func TestVersionAndHelp(t *testing.T) {
	out, err := exec.Command(testlib.Mppd(t), "-version").Output()
	if err != nil || !strings.HasPrefix(string(out), "mppd ") {
		t.Errorf("-version: %q %v", out, err)
	}
	cmd := exec.Command(testlib.Mppd(t), "-h")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Errorf("-h: %v", err)
	}
	for _, f := range []string{"-passwd", "-sendmail", "-idle-timeout", "-session-timeout", "-login-timeout", "-max-message-size",
		"-delivery-timeout", "-log", "-listen", "-version", "-max-line-length", "-max-errors", "-fail-delay"} {
		if !strings.Contains(stderr.String(), "\n  "+f+" ") && !strings.Contains(stderr.String(), "\n  "+f+"\n") {
			t.Errorf("mppd -h does not show %s", f)
		}
	}
}

// TestMaxSessions: a -listen server over its limit answers 451 and closes,
// and serves again once a session has ended.
func TestMaxSessions(t *testing.T) {
	m := launch(t, "-listen", "", "-log", "none", "-max-sessions", "1")
	first := m.conn(t)
	first.Expect("220")
	second := m.conn(t)
	if got := second.Rest(); got != "451 Too many sessions, try again later\r\n" {
		t.Errorf("over the limit: %q", got)
	}
	first.Cmd("QUIT", "221")
	first.Rest()
	m.waitServed(t, "no session after the first ended")
}

// TestMaxSessionsPerAddress: by default a -listen server gives one client
// address 10 sessions at a time; the 11th gets 451 and is closed, while
// another address is still served, and the address is served again once
// one of its sessions has ended.
func TestMaxSessionsPerAddress(t *testing.T) {
	m := launch(t, "-listen", "", "-log", "none")
	addr := m.addr
	var held []*client
	defer func() {
		for _, c := range held {
			c.Conn.Close() // or mppd, stopping, waits for them
		}
	}()
	for i := 0; i < 10; i++ {
		c := m.conn(t)
		c.Expect("220")
		c.Cmd("USER alice", "250")
		held = append(held, c)
	}
	over := m.conn(t)
	if got := over.Rest(); got != "451 Too many sessions from your address, try again later\r\n" {
		t.Errorf("the 11th session from 127.0.0.1: %q", got)
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	other, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	newClient(t, other).post()

	held[0].Cmd("QUIT", "221")
	held[0].Rest()
	m.waitServed(t, "no session for 127.0.0.1 after one of its ten ended")
}

// TestInetdStderrIsDevNull: under inetd mppd points fd 2 at /dev/null, so
// nothing that writes to stderr (logrus reporting a failed hook, a library,
// the Go runtime) can reach the client.
func TestInetdStderrIsDevNull(t *testing.T) {
	c := launch(t, "inetd", "").conn(t)
	cmd := c.cmd
	c.Expect("220")
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/2", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if link != "/dev/null" {
		t.Errorf("fd 2 is %s, want /dev/null", link)
	}
	c.Cmd("QUIT", "221")
	waitExit(t, cmd)
}

// TestEndWithUnreadInput: a session mppd ends while the client is still
// sending (-max-errors against pipelined bad commands) ends with FIN after
// the last reply, not RST (RFC 1122 §4.2.2.13), which would make many TCP
// stacks drop the final 451 unread; on Linux the reset would show as
// ECONNRESET after it.
func TestEndWithUnreadInput(t *testing.T) {
	for name, l := range map[string]struct {
		launcher string
		extra    []string
	}{
		"--accept": {"systemd --accept", nil},
		"-listen":  {"-listen", []string{"-log", "stderr"}},
	} {
		t.Run(name, func(t *testing.T) {
			c := launch(t, l.launcher, "", append([]string{"-max-errors", "3"}, l.extra...)...).conn(t).Conn
			// 3 MiB of bad commands in one go: the session ends after the
			// third, with most of them still unread.
			go c.Write(bytes.Repeat([]byte("BOGUS\r\n"), 3<<20/7))
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(c)
			if !strings.Contains(string(got), "\r\n451 ") {
				t.Errorf("no final 451 in %q", got)
			}
			if err != nil {
				t.Errorf("the session ended with %v after %q, want a clean end (FIN)", err, got)
			}
		})
	}
}

// TestEveryLauncher: a message posted through mppd under each launcher of
// the table is delivered, header and body as sent.
func TestEveryLauncher(t *testing.T) {
	for _, l := range launchers {
		t.Run(l.name, func(t *testing.T) {
			m := launch(t, l.name, "")
			marker := "every-launcher-" + testlib.RandomHex(6)
			c := m.authenticated(t, m.user, m.password)
			c.Cmd("DATA", "354")
			c.Send("To: " + m.user + "@localhost\r\nSubject: " + marker + "\r\n\r\n..leading dot\r\n8-bit: caf\xc3\xa9\r\n.\r\n")
			c.Expect("250")
			c.Cmd("QUIT", "221")
			msg := m.delivered(t, marker)
			if !strings.Contains(msg, "Subject: "+marker+"\n") || !strings.Contains(msg, "\n\n.leading dot\n8-bit: caf\xc3\xa9\n") {
				t.Errorf("delivered %q", msg)
			}
		})
	}
}

// waitServed waits until a new connection to m is greeted with 220, for
// up to 10 s, and fails with why if it is not.
func (m *mppd) waitServed(t testing.TB, why string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := m.conn(t)
		line, _ := c.R.ReadString('\n')
		c.Conn.Close()
		if strings.HasPrefix(line, "220 ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q", why, line)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
