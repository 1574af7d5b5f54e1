package e2e

// Signals to the built mppd. SIGTERM, as systemd sends it at
// RuntimeMaxSec= and at shutdown: a last 451 to each client, nothing half
// delivered, a delivery under way answered first (shutdown.go). SIGHUP: a
// -listen server rereads its file, a session goes on.

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

const shutdownReply = "451 Server shutting down, closing connection\r\n"

// TestShutdownSIGTERM: a session of its own (inetd, a pipe) told to stop
// while waiting for a command, in a text, and while sendmail runs.
func TestShutdownSIGTERM(t *testing.T) {
	for _, name := range []string{"inetd", "pipe"} {
		t.Run(name+"/waiting", func(t *testing.T) {
			m := launch(t, name, "", "-idle-timeout", "1h")
			c := m.conn(t)
			c.Expect("220")
			c.Cmd("USER alice", "250")
			c.cmd.Process.Signal(syscall.SIGTERM)
			if got := c.Rest(); got != shutdownReply {
				t.Errorf("got %q, want %q", got, shutdownReply)
			}
			if code := waitExit(t, c.cmd); code != 0 {
				t.Errorf("exit status %d", code)
			}
		})
		t.Run(name+"/in text", func(t *testing.T) {
			m := launch(t, name, "", "-idle-timeout", "1h")
			c := m.conn(t)
			c.startText()
			c.Send("Subject: half\r\n\r\nthe first half\r\n")
			c.cmd.Process.Signal(syscall.SIGTERM)
			if got := c.Rest(); got != shutdownReply {
				t.Errorf("got %q, want %q", got, shutdownReply)
			}
			waitExit(t, c.cmd)
			if s := testlib.Recorded(t, m.dir, "started"); len(s) != 0 {
				t.Errorf("delivery started %d times for a text without its dot", len(s))
			}
		})
		t.Run(name+"/delivering", func(t *testing.T) {
			m := launch(t, name, "sleep 1", "-idle-timeout", "1h")
			c := m.conn(t)
			c.startText()
			c.Send(e2eMessage)
			if !testlib.WaitFor(10*time.Second, func() bool { return len(testlib.Recorded(t, m.dir, "msg")) == 1 }) {
				t.Fatal("sendmail did not get the message")
			}
			c.cmd.Process.Signal(syscall.SIGTERM)
			if got, want := c.Rest(), "250 Command OK, message queued for delivery\r\n"+shutdownReply; got != want {
				t.Errorf("got %q, want %q", got, want)
			}
			waitExit(t, c.cmd)
			checkDelivered(t, m.dir)
		})
	}
}

// TestShutdownListen: SIGTERM to a -listen server ends its sessions with
// the 451 and the server with them; no new session is taken.
func TestShutdownListen(t *testing.T) {
	dir, flags := e2eSetup(t, "")
	cmd, m := listenProcess(t, append(flags, "-idle-timeout", "1h")...)
	out := m.log
	waiting := m.greeted(t)
	waiting.Cmd("USER alice", "250")
	inText := m.authenticated(t, "alice", testlib.FixturePassword)
	inText.Cmd("DATA", "354")
	inText.Send("Subject: half\r\n\r\nthe first half\r\n")
	cmd.Process.Signal(syscall.SIGTERM)
	for what, c := range map[string]*client{"waiting for a command": waiting, "in a text": inText} {
		if got := c.Rest(); got != shutdownReply {
			t.Errorf("%s: got %q, want %q", what, got, shutdownReply)
		}
	}
	// The listeners closed before the sessions were told; the process
	// is still lingering on their connections.
	if c, err := net.DialTimeout("tcp", m.addr, time.Second); err == nil {
		c.Close()
		t.Errorf("a connection was taken after SIGTERM, while the sessions ended")
	}
	if code := waitExit(t, cmd); code != 0 {
		t.Errorf("exit status %d\n%s", code, out)
	}
	if s := testlib.Recorded(t, dir, "started"); len(s) != 0 {
		t.Errorf("delivery started %d times for a text without its dot", len(s))
	}
	for _, want := range []string{"stopping: no new sessions", "result=shutdown"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, out)
		}
	}
}

// listenProcess starts mppd -listen with flags, its log on stderr, and
// returns the process, for the test to signal, and the server.
func listenProcess(t *testing.T, flags ...string) (*exec.Cmd, *mppd) {
	t.Helper()
	addr := testlib.FreePort(t)
	out := &testlib.Log{}
	cmd := exec.Command(testlib.Mppd(t), append(flags, "-log", "stderr", "-listen", addr)...)
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, tcpMppd(t, addr, out)
}

// TestSIGHUP: SIGHUP has a -listen server read its file now, saying in the
// log whether it changed and was taken, as inetd and Postfix reload on it;
// the server and its sessions go on. A session of its own ignores it.
func TestSIGHUP(t *testing.T) {
	t.Run("-listen", func(t *testing.T) {
		_, flags := e2eSetup(t, "")
		flags = slicesWithout(slicesWithout(flags, "-config", ""), "-hostname", "e2e.test")
		p := filepath.Join(t.TempDir(), "mppd.conf")
		write := func(text string) {
			if err := os.WriteFile(p+".new", []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			os.Rename(p+".new", p)
		}
		write("hostname = before.example\n")
		cmd, m := listenProcess(t, append(flags, "-config", p)...)
		open := m.greeted(t)
		hup := func(want string) {
			t.Helper()
			before := strings.Count(m.log.String(), want)
			cmd.Process.Signal(syscall.SIGHUP)
			if !testlib.WaitFor(10*time.Second, func() bool { return strings.Count(m.log.String(), want) > before }) {
				t.Fatalf("after SIGHUP the log does not say %q:\n%s", want, m.log)
			}
		}
		hup("SIGHUP: configuration file unchanged")
		write("hostname = after.example\n")
		hup("configuration reloaded")
		write("hostname = bad.example\nno-such-setting = 1\n")
		hup("configuration not reloaded")
		open.Cmd("NOOP", "250")
		open.Cmd("QUIT", "221")
		if g := m.conn(t).Expect("220"); !strings.Contains(g, "after.example") {
			t.Errorf("greeting %q, want the settings of the last good file", g)
		}
	})
	t.Run("inetd", func(t *testing.T) {
		c := launch(t, "inetd", "").conn(t)
		c.Expect("220")
		c.cmd.Process.Signal(syscall.SIGHUP)
		c.Cmd("NOOP", "250")
		c.Cmd("QUIT", "221")
		if code := waitExit(t, c.cmd); code != 0 {
			t.Errorf("exit status %d", code)
		}
	})
}
