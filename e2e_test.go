package main

// End-to-end tests of the built binary, started the ways administrators
// start it: a socketpair end on fds 0, 1 and 2 (exactly what inetd and
// xinetd do), systemd-socket-activate with --accept (fd 3) and --inetd, a
// listening fd 3 (Accept=no), -listen, and a pipe on stdin.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// e2eSetup writes a password file with alice/secret (sha512crypt, quick) and
// a recording fake sendmail; it returns mppd's flags for them.
func e2eSetup(t testing.TB, sendmailBody string) (dir string, flags []string) {
	t.Helper()
	dir = t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	// alice's password is fixturePassword.
	if err := os.WriteFile(passwd, []byte("alice:"+fixtureHashes["sha512crypt"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sm := fakeSendmail(t, dir, sendmailBody)
	// -config "": what this machine's /etc/mppd/mppd.conf says is not the
	// test's business (the container tests read the real one).
	return dir, []string{"-config", "", "-passwd", passwd, "-sendmail", sm + " -t -oi", "-fail-delay", "0",
		"-hostname", "e2e.test", "-domain", "example.org", "-delivery-timeout", "2s"}
}

// client is the test's side of an MPP session.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func newClient(t testing.TB, c net.Conn) *client {
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &client{t: t, conn: c, r: bufio.NewReader(c)}
}

// expect reads one reply and checks its code.
func (c *client) expect(code string) string {
	c.t.Helper()
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("waiting for %s: %v (got %q)", code, err, line)
	}
	if !strings.HasPrefix(line, code+" ") || !strings.HasSuffix(line, "\r\n") {
		c.t.Fatalf("got %q, want %s", line, code)
	}
	return line
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// cmd sends one command line and checks the reply.
func (c *client) cmd(line, code string) string {
	c.t.Helper()
	c.send(line + "\r\n")
	return c.expect(code)
}

// rest reads whatever comes until the server closes.
func (c *client) rest() string {
	b, _ := io.ReadAll(c.r)
	return string(b)
}

const e2eMessage = "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: e2e\r\n\r\n..leading dot\r\n8-bit: caf\xc3\xa9\r\n.\r\n"
const e2eDelivered = "From: alice@example.org\nTo: bob@example.org\nSubject: e2e\n\n.leading dot\n8-bit: caf\xc3\xa9\n"

// startText logs in as alice and starts a text, checking every reply.
func (c *client) startText() {
	c.t.Helper()
	c.expect("220")
	c.cmd("USER alice", "250")
	c.cmd("PASS "+fixturePassword, "250")
	c.cmd("DATA", "354")
}

// post runs a whole posting and checks every reply.
func (c *client) post() {
	c.t.Helper()
	c.startText()
	c.send(e2eMessage)
	c.expect("250")
	c.cmd("QUIT", "221")
	if extra := c.rest(); extra != "" {
		c.t.Errorf("after 221: %q", extra)
	}
}

// checkDelivered checks the fake sendmail got exactly one message, right.
func checkDelivered(t testing.TB, dir string) {
	t.Helper()
	msgs := recorded(t, dir, "msg")
	if len(msgs) != 1 || withoutTrace(t, msgs[0]) != e2eDelivered {
		t.Fatalf("delivered %q", msgs)
	}
	if argv := recorded(t, dir, "argv"); argv[0] != "-t\n-oi\n-f\nalice@example.org\n" {
		t.Errorf("sendmail argv %q", argv[0])
	}
	if s := recorded(t, dir, "sockets"); strings.TrimSpace(s[0]) != "0" {
		t.Errorf("delivery command inherited %s sockets", strings.TrimSpace(s[0]))
	}
}

// startInetd starts mppd as inetd does: one end of a socketpair as its fds
// 0, 1 and 2, an empty environment (inetd drops PATH).
func startInetd(t testing.TB, flags ...string) (*client, *exec.Cmd) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	server := os.NewFile(uintptr(fds[0]), "server")
	clientFile := os.NewFile(uintptr(fds[1]), "client")
	cmd := exec.Command(mppdBinary(t), flags...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = server, server, server
	cmd.Env = []string{}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	server.Close()
	conn, err := net.FileConn(clientFile)
	clientFile.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); cmd.Process.Kill(); cmd.Wait() })
	return newClient(t, conn), cmd
}

// waitExit waits for the process and returns its exit status.
func waitExit(t testing.TB, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("mppd did not exit")
	}
	return cmd.ProcessState.ExitCode()
}

func TestInetdSocketpair(t *testing.T) {
	dir, flags := e2eSetup(t, "")
	c, cmd := startInetd(t, flags...)
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
	_, flags := e2eSetup(t, "echo 'sendmail complains' >&2; exit 1")
	c, cmd := startInetd(t, flags...)
	c.startText()
	c.send("x\r\n.\r\n")
	c.expect("451")
	c.cmd("NOOP", "451")
	c.cmd("USER alice", "503")
	c.cmd("QUIT", "221")
	if extra := c.rest(); extra != "" {
		t.Errorf("unexpected bytes on the connection: %q", extra)
	}
	waitExit(t, cmd)

	c, cmd = startInetd(t, append(flags, "-log", "stderr")...)
	if extra := c.rest(); extra != "" {
		t.Errorf("-log stderr under inetd wrote %q to the client", extra)
	}
	if code := waitExit(t, cmd); code != exitConfig {
		t.Errorf("exit status %d, want %d", code, exitConfig)
	}

	c, cmd = startInetd(t, "-no-such-flag")
	if extra := c.rest(); extra != "" {
		t.Errorf("a bad flag under inetd wrote %q to the client", extra)
	}
	if code := waitExit(t, cmd); code != exitUsage {
		t.Errorf("exit status %d, want %d", code, exitUsage)
	}
}

// TestClientGoneMidText and TestKilledMidText: the mail system sees a
// message only after its final dot.
func TestClientGoneMidText(t *testing.T) {
	dir, flags := e2eSetup(t, "")
	c, cmd := startInetd(t, flags...)
	c.startText()
	c.send("Subject: half\r\n\r\nthe first half of the text\r\n")
	c.conn.Close()
	waitExit(t, cmd)
	if s := recorded(t, dir, "started"); len(s) != 0 {
		t.Errorf("delivery started %d times for a text without its dot", len(s))
	}
}

func TestKilledMidText(t *testing.T) {
	dir, flags := e2eSetup(t, "")
	c, cmd := startInetd(t, flags...)
	c.startText()
	c.send("Subject: half\r\n\r\nthe first half of the text\r\n")
	time.Sleep(100 * time.Millisecond) // let mppd spool it
	cmd.Process.Signal(syscall.SIGKILL)
	waitExit(t, cmd)
	io.WriteString(c.conn, ".\r\n") // too late: nobody is there to take it
	if s := recorded(t, dir, "started"); len(s) != 0 {
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
			_, flags := e2eSetup(t, tc.body)
			flags = append(append(flags, "-delivery-timeout", "300ms"), tc.extra...)
			c, cmd := startInetd(t, flags...)
			c.startText()
			c.send("x\r\n.\r\n")
			c.expect("451")
			c.cmd("QUIT", "221")
			waitExit(t, cmd)
		})
	}
}

// freePort finds a loopback port nobody listens on (for launchers that want
// a number).
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// dialRetry connects to addr, waiting for a launcher to start listening.
func dialRetry(t testing.TB, addr string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startLauncher runs a long-lived launcher (systemd-socket-activate, mppd
// -listen) with its stderr kept, and stops it when the test ends.
func startLauncher(t testing.TB, name string, args ...string) *launcherLog {
	t.Helper()
	stderr := &launcherLog{}
	cmd := exec.Command(name, args...)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); waitExit(t, cmd) })
	return stderr
}

// launcherLog is what a launcher writes to stderr, read by the test while
// the launcher may still be writing.
type launcherLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *launcherLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *launcherLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// contains says whether the log holds s, waiting a while for it: mppd may
// write its log line after the reply the test has just read.
func (l *launcherLog) contains(s string) bool {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if strings.Contains(l.String(), s) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

func TestSystemdSocketActivate(t *testing.T) {
	ssa := needProgram(t, "systemd-socket-activate")
	for _, mode := range []string{"--accept", "--inetd"} {
		t.Run(mode, func(t *testing.T) {
			dir, flags := e2eSetup(t, "")
			addr := freePort(t)
			startLauncher(t, ssa, append([]string{"-l", addr, mode, "--", mppdBinary(t)}, flags...)...)
			newClient(t, dialRetry(t, addr)).post()
			deadline := time.Now().Add(10 * time.Second)
			for len(recorded(t, dir, "msg")) == 0 && time.Now().Before(deadline) {
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
	ssa := needProgram(t, "systemd-socket-activate")
	dir, flags := e2eSetup(t, "")
	addr := freePort(t)
	logs := startLauncher(t, ssa, append([]string{"-l", addr, "--", mppdBinary(t), "-log", "stderr"}, flags...)...)
	newClient(t, dialRetry(t, addr)).post()
	c := newClient(t, dialRetry(t, addr))
	c.expect("220")
	c.cmd("USER alice", "250")
	c.cmd("PASS wrong", "530")
	c.cmd("QUIT", "221")
	checkDelivered(t, dir)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "authentication failed") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `authentication failed reason="wrong password" rip=127.0.0.1`) {
		t.Errorf("log:\n%s", logs)
	}
	if strings.Contains(logs.String(), fixturePassword) || strings.Contains(logs.String(), "wrong ") && strings.Contains(logs.String(), "PASS wrong") {
		t.Errorf("password in the log:\n%s", logs)
	}
}

func TestListenFlag(t *testing.T) {
	dir, flags := e2eSetup(t, "")
	addr := freePort(t)
	startLauncher(t, mppdBinary(t), append([]string{"-listen", addr, "-log", "stderr"}, flags...)...)
	newClient(t, dialRetry(t, addr)).post()
	checkDelivered(t, dir)
}

// TestServerWarnsMissingSendmail: a -listen or Accept=no server whose
// delivery command is not there starts (the command may be installed
// later; each text gets 451 meanwhile) but logs a warning at start, and
// -listen says so on stderr too. With the command there, no warning.
func TestServerWarnsMissingSendmail(t *testing.T) {
	ssa := needProgram(t, "systemd-socket-activate")
	_, flags := e2eSetup(t, "")
	const warning = "delivery command missing: every message will be answered 451 until it is there"
	for _, tc := range []struct {
		name     string
		sendmail string
		start    func(addr string, flags []string) *launcherLog
		warn     bool
	}{
		{"-listen", "/nonexistent/sendmail -t", func(addr string, flags []string) *launcherLog {
			return startLauncher(t, mppdBinary(t), append([]string{"-listen", addr, "-log", "stderr"}, flags...)...)
		}, true},
		{"Accept=no", "/etc/passwd -t", func(addr string, flags []string) *launcherLog {
			return startLauncher(t, ssa, append([]string{"-l", addr, "--", mppdBinary(t), "-log", "stderr"}, flags...)...)
		}, true},
		{"present", "", func(addr string, flags []string) *launcherLog {
			return startLauncher(t, mppdBinary(t), append([]string{"-listen", addr, "-log", "stderr"}, flags...)...)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := slices.Clone(flags)
			if tc.sendmail != "" {
				f = append(f, "-sendmail", tc.sendmail)
			}
			addr := freePort(t)
			logs := tc.start(addr, f)
			c := newClient(t, dialRetry(t, addr))
			c.expect("220")
			c.cmd("QUIT", "221")
			if !logs.contains("session ended") {
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
	dir, flags := e2eSetup(t, "")
	cmd := exec.Command(mppdBinary(t), append(flags, "-log", "none")...)
	cmd.Stdin = strings.NewReader("USER alice\r\nPASS " + fixturePassword + "\r\nDATA\r\n" + e2eMessage + "QUIT\r\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, l := range strings.Split(strings.TrimSuffix(string(out), "\r\n"), "\r\n") {
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
	_, flags := e2eSetup(t, "")
	cmd := exec.Command(mppdBinary(t), append(flags, "-log", "none", "-idle-timeout", "200ms")...)
	stdin, _ := cmd.StdinPipe()
	defer stdin.Close()
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd)
	if want := "220 e2e.test Message Posting Service Ready\r\n451 Idle timeout, closing connection\r\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

func TestVersionAndHelp(t *testing.T) {
	out, err := exec.Command(mppdBinary(t), "-version").Output()
	if err != nil || !strings.HasPrefix(string(out), "mppd ") {
		t.Errorf("-version: %q %v", out, err)
	}
	cmd := exec.Command(mppdBinary(t), "-h")
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
	_, flags := e2eSetup(t, "")
	addr := freePort(t)
	startLauncher(t, mppdBinary(t), append([]string{"-listen", addr, "-log", "none", "-max-sessions", "1"}, flags...)...)
	first := newClient(t, dialRetry(t, addr))
	first.expect("220")
	second := newClient(t, dialRetry(t, addr))
	if got := second.rest(); got != "451 Too many sessions, try again later\r\n" {
		t.Errorf("over the limit: %q", got)
	}
	first.cmd("QUIT", "221")
	first.rest()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := newClient(t, dialRetry(t, addr))
		line, _ := c.r.ReadString('\n')
		c.conn.Close()
		if strings.HasPrefix(line, "220 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session after the first ended: %q", line)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMaxSessionsPerAddress: by default a -listen server gives one client
// address 10 sessions at a time; the 11th gets 451 and is closed, while
// another address is still served, and the address is served again once
// one of its sessions has ended.
func TestMaxSessionsPerAddress(t *testing.T) {
	_, flags := e2eSetup(t, "")
	addr := freePort(t)
	startLauncher(t, mppdBinary(t), append([]string{"-listen", addr, "-log", "none"}, flags...)...)
	var held []*client
	defer func() {
		for _, c := range held {
			c.conn.Close() // or mppd, stopping, waits for them
		}
	}()
	for i := 0; i < 10; i++ {
		c := newClient(t, dialRetry(t, addr))
		c.expect("220")
		c.cmd("USER alice", "250")
		held = append(held, c)
	}
	over := newClient(t, dialRetry(t, addr))
	if got := over.rest(); got != "451 Too many sessions from your address, try again later\r\n" {
		t.Errorf("the 11th session from 127.0.0.1: %q", got)
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	other, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	newClient(t, other).post()

	held[0].cmd("QUIT", "221")
	held[0].rest()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := newClient(t, dialRetry(t, addr))
		line, _ := c.r.ReadString('\n')
		c.conn.Close()
		if strings.HasPrefix(line, "220 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session for 127.0.0.1 after one of its ten ended: %q", line)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestInetdStderrIsDevNull: under inetd mppd points fd 2 at /dev/null, so
// nothing that writes to stderr (logrus reporting a failed hook, a library,
// the Go runtime) can reach the client.
func TestInetdStderrIsDevNull(t *testing.T) {
	_, flags := e2eSetup(t, "")
	c, cmd := startInetd(t, flags...)
	c.expect("220")
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/2", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if link != "/dev/null" {
		t.Errorf("fd 2 is %s, want /dev/null", link)
	}
	c.cmd("QUIT", "221")
	waitExit(t, cmd)
}

// TestEndWithUnreadInput: a session that mppd ends while the client is
// still sending (here -max-errors against a client pipelining bad
// commands; a time limit against one trickling text is the same) ends
// with FIN after the last reply, not RST. Closing a socket with unread
// input makes the kernel answer with RST (RFC 1122 §4.2.2.13), and many
// TCP stacks (Windows among them) then throw away what the client had
// received but not yet read: the final 451. On Linux the reply survives,
// and the reset shows as ECONNRESET after it.
func TestEndWithUnreadInput(t *testing.T) {
	ssa := needProgram(t, "systemd-socket-activate")
	_, flags := e2eSetup(t, "")
	flags = append(flags, "-max-errors", "3")
	for name, start := range map[string]func(t *testing.T, addr string){
		"--accept": func(t *testing.T, addr string) {
			startLauncher(t, ssa, append([]string{"-l", addr, "--accept", "--", mppdBinary(t)}, flags...)...)
		},
		"-listen": func(t *testing.T, addr string) {
			startLauncher(t, mppdBinary(t), append([]string{"-listen", addr, "-log", "stderr"}, flags...)...)
		},
	} {
		t.Run(name, func(t *testing.T) {
			addr := freePort(t)
			start(t, addr)
			c := dialRetry(t, addr)
			defer c.Close()
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
