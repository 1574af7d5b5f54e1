package e2e

// The one way the tests start mppd: a table of the launchers an
// administrator uses, each starting a command line (mppd and its flags,
// perhaps behind a wrapper such as setpriv) as that launcher would, and a
// ladder on what it started, as go-smtp's server_test.go has it: a
// connection, then the greeting read, then a user logged in.

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

// Reply codes (RFC 1204) and exit statuses (sysexits.h) the tests expect.
const (
	codeOK         = 250
	codeLocalError = 451
	codeAuthFailed = 530

	exitUsage  = 64
	exitConfig = 78
)

// launcher is one way mppd is started. start runs argv (the program and
// its arguments) under it, until the test ends.
type launcher struct {
	name  string
	start func(t testing.TB, argv []string) *mppd
}

// launchers are every way mppd is started, in the order of mppd(8)
// ACTIVATION: a socketpair on fds 0, 1 and 2 as inetd and xinetd hand it
// over, the real openbsd-inetd and xinetd, systemd-socket-activate as a
// socket unit with Accept=yes (fd 3, or fds 0 and 1 with --inetd) and
// with Accept=no (a listening fd 3), -listen, a pipe on stdin, and the
// installed package under a booted systemd.
var launchers = []launcher{
	{"inetd", startSocketpair},
	{"openbsd-inetd", startOpenbsdInetd},
	{"xinetd", startXinetd},
	{"systemd --accept", socketActivate("--accept")},
	{"systemd --inetd", socketActivate("--inetd")},
	{"systemd Accept=no", socketActivate("")},
	{"-listen", startListen},
	{"pipe", startPipe},
	{"container", startContainer},
}

func launcherNamed(t testing.TB, name string) launcher {
	t.Helper()
	for _, l := range launchers {
		if l.name == name {
			return l
		}
	}
	t.Fatalf("no launcher %q", name)
	return launcher{}
}

// mppd is mppd as a launcher started it.
type mppd struct {
	log  *testlib.Log // what mppd or its launcher wrote to stderr, where that is not the connection
	addr string       // where it listens; "" where each connection is a process of its own
	dial func(t testing.TB) *client

	// From launch: the user who may post, and the directory the fake
	// sendmail records in (e2eSetup); delivered finds a message there or,
	// in the container, in the user's mailbox.
	user, password string
	dir            string
	delivered      func(t testing.TB, marker string) string
}

// start runs the built mppd with flags under the launcher name.
func start(t testing.TB, name string, flags ...string) *mppd {
	t.Helper()
	return launcherNamed(t, name).start(t, append([]string{testlib.Mppd(t)}, flags...))
}

// launch is start with e2eSetup's password file and fake sendmail (doing
// sendmailBody) before extra; in the container, the package as installed.
func launch(t testing.TB, name, sendmailBody string, extra ...string) *mppd {
	t.Helper()
	if name == "container" {
		return start(t, name)
	}
	dir, flags := e2eSetup(t, sendmailBody)
	m := start(t, name, append(flags, extra...)...)
	m.user, m.password, m.dir = "alice", testlib.FixturePassword, dir
	m.delivered = func(t testing.TB, marker string) string {
		t.Helper()
		var found string
		testlib.WaitFor(10*time.Second, func() bool {
			for _, msg := range testlib.Recorded(t, dir, "msg") {
				if strings.Contains(msg, marker) {
					found = msg
				}
			}
			return found != ""
		})
		return found
	}
	return m
}

// conn is a new connection to m, nothing read yet.
func (m *mppd) conn(t testing.TB) *client {
	t.Helper()
	return m.dial(t)
}

// greeted is a connection whose 220 greeting has been read.
func (m *mppd) greeted(t testing.TB) *client {
	t.Helper()
	c := m.conn(t)
	c.Expect("220")
	return c
}

// authenticated is a connection logged in as user with pw.
func (m *mppd) authenticated(t testing.TB, user, pw string) *client {
	t.Helper()
	c := m.greeted(t)
	c.Cmd("USER "+user, "250")
	c.Cmd("PASS "+pw, "250")
	return c
}

// client is a connection to mppd, and the process serving it where each
// connection is one (inetd, pipe).
type client struct {
	*testlib.Client
	t   testing.TB
	cmd *exec.Cmd
}

func newClient(t testing.TB, c net.Conn) *client {
	return &client{Client: testlib.NewClient(t, c), t: t}
}

// e2eSetup writes a password file with alice (testlib.FixturePassword,
// sha512crypt: quick) and a recording fake sendmail; it returns mppd's
// flags for them.
func e2eSetup(t testing.TB, sendmailBody string) (dir string, flags []string) {
	t.Helper()
	dir = t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	if err := os.WriteFile(passwd, []byte("alice:"+testlib.FixtureHashes["sha512crypt"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sm := testlib.FakeSendmail(t, dir, sendmailBody)
	// -config "": what this machine's /etc/mppd/mppd.conf says is not the
	// test's business (the container tests read the real one).
	return dir, []string{"-config", "", "-passwd", passwd, "-sendmail", sm + " -t -oi", "-fail-delay", "0",
		"-hostname", "e2e.test", "-domain", "example.org", "-delivery-timeout", "2s"}
}

const e2eMessage = "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: e2e\r\n\r\n..leading dot\r\n8-bit: caf\xc3\xa9\r\n.\r\n"
const e2eDelivered = "From: alice@example.org\nTo: bob@example.org\nSubject: e2e\n\n.leading dot\n8-bit: caf\xc3\xa9\n"

// startText reads the greeting, logs in as alice and starts a text,
// checking every reply.
func (c *client) startText() {
	c.t.Helper()
	c.Expect("220")
	c.Cmd("USER alice", "250")
	c.Cmd("PASS "+testlib.FixturePassword, "250")
	c.Cmd("DATA", "354")
}

// post runs a whole posting and checks every reply.
func (c *client) post() {
	c.t.Helper()
	c.startText()
	c.Send(e2eMessage)
	c.Expect("250")
	c.Cmd("QUIT", "221")
	if extra := c.Rest(); extra != "" {
		c.t.Errorf("after 221: %q", extra)
	}
}

// checkDelivered checks the fake sendmail got exactly one message, right.
func checkDelivered(t testing.TB, dir string) {
	t.Helper()
	msgs := testlib.Recorded(t, dir, "msg")
	if len(msgs) != 1 || testlib.WithoutTrace(t, msgs[0]) != e2eDelivered {
		t.Fatalf("delivered %q", msgs)
	}
	if argv := testlib.Recorded(t, dir, "argv"); argv[0] != "-t\n-oi\n-f\nalice@example.org\n" {
		t.Errorf("sendmail argv %q", argv[0])
	}
	if s := testlib.Recorded(t, dir, "sockets"); strings.TrimSpace(s[0]) != "0" {
		t.Errorf("delivery command inherited %s sockets", strings.TrimSpace(s[0]))
	}
}

// startSocketpair: each connection is a new process with one end of a
// socketpair as its fds 0, 1 and 2 and an empty environment (inetd drops
// PATH), exactly as inetd and xinetd start it.
func startSocketpair(t testing.TB, argv []string) *mppd {
	return &mppd{dial: func(t testing.TB) *client {
		t.Helper()
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		server := os.NewFile(uintptr(fds[0]), "server")
		clientFile := os.NewFile(uintptr(fds[1]), "client")
		cmd := exec.Command(argv[0], argv[1:]...)
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
		c := newClient(t, conn)
		c.cmd = cmd
		return c
	}}
}

// startPipe: each connection is a new process with the session on pipes,
// as "mppd < transcript" has it; the test's end of them is the connection.
func startPipe(t testing.TB, argv []string) *mppd {
	m := &mppd{log: &testlib.Log{}}
	m.dial = func(t testing.TB) *client {
		t.Helper()
		cmd := exec.Command(argv[0], argv[1:]...)
		in, out := pipes(t, cmd)
		cmd.Stderr = m.log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Close(); cmd.Process.Kill(); cmd.Wait() })
		c := newClient(t, pipeConn{out, in})
		c.cmd = cmd
		return c
	}
	return m
}

// pipes are cmd's standard input and output, for the test to write and read.
func pipes(t testing.TB, cmd *exec.Cmd) (io.WriteCloser, io.ReadCloser) {
	t.Helper()
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	return in, out
}

// pipeConn is the test's end of mppd's stdin and stdout, as a net.Conn.
type pipeConn struct {
	io.Reader
	io.WriteCloser
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

func (pipeConn) LocalAddr() net.Addr              { return pipeAddr{} }
func (pipeConn) RemoteAddr() net.Addr             { return pipeAddr{} }
func (pipeConn) SetDeadline(time.Time) error      { return nil }
func (pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (pipeConn) SetWriteDeadline(time.Time) error { return nil }

// startListen: mppd -listen on a free loopback port.
func startListen(t testing.TB, argv []string) *mppd {
	t.Helper()
	addr := testlib.FreePort(t)
	return tcpMppd(t, addr, runLauncher(t, argv[0], append(slices.Clone(argv[1:]), "-listen", addr)...))
}

// socketActivate: systemd-socket-activate on a free loopback port, as a
// socket unit with Accept=yes (mode --accept or --inetd) or Accept=no
// (mode "").
func socketActivate(mode string) func(t testing.TB, argv []string) *mppd {
	return func(t testing.TB, argv []string) *mppd {
		t.Helper()
		ssa := testlib.NeedProgram(t, "systemd-socket-activate")
		addr := testlib.FreePort(t)
		args := []string{"-l", addr}
		if mode != "" {
			args = append(args, mode)
		}
		return tcpMppd(t, addr, runLauncher(t, ssa, append(append(args, "--"), argv...)...))
	}
}

// startOpenbsdInetd: the real openbsd-inetd, with a line for argv on a
// free loopback port (root: inetd sets the user of the server it starts).
func startOpenbsdInetd(t testing.TB, argv []string) *mppd {
	t.Helper()
	testlib.NeedRoot(t)
	addr := testlib.FreePort(t)
	runInetd(t, addr+" stream tcp nowait root "+wrapperScript(t, argv)+" mppd")
	return tcpMppd(t, addr, nil)
}

// startXinetd: the real xinetd, with a service for argv on a free
// loopback port.
func startXinetd(t testing.TB, argv []string) *mppd {
	t.Helper()
	testlib.NeedRoot(t)
	addr := testlib.FreePort(t)
	_, port, _ := net.SplitHostPort(addr)
	runXinetd(t, fmt.Sprintf("service mpp\n{\n\ttype = UNLISTED\n\tport = %s\n\tbind = 127.0.0.1\n"+
		"\tsocket_type = stream\n\tprotocol = tcp\n\twait = no\n\tuser = root\n\tserver = %s\n\tdisable = no\n}\n",
		port, wrapperScript(t, argv)))
	return tcpMppd(t, addr, nil)
}

// wrapperScript is a script that execs argv: an inetd.conf line cannot
// quote an argument with spaces (-sendmail's), nor xinetd's server_args.
// exec keeps the descriptors.
func wrapperScript(t testing.TB, argv []string) string {
	t.Helper()
	script := "#!/bin/sh\nexec"
	for _, a := range argv {
		script += " '" + a + "'"
	}
	p := filepath.Join(t.TempDir(), "mppd.sh")
	if err := os.WriteFile(p, []byte(script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// runInetd runs openbsd-inetd in the foreground with one inetd.conf line
// until the test ends.
func runInetd(t testing.TB, line string) *testlib.Log {
	t.Helper()
	inetd := testlib.NeedProgram(t, "/usr/sbin/inetd")
	conf := filepath.Join(t.TempDir(), "inetd.conf")
	os.WriteFile(conf, []byte(line+"\n"), 0o644)
	return runLauncher(t, inetd, "-d", conf)
}

// xinetdBinary is the installed xinetd, or the one .ci unpacks under
// /opt/xinetd (it conflicts with openbsd-inetd).
func xinetdBinary(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/xinetd", "/opt/xinetd/usr/sbin/xinetd"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	testlib.NeedReal(t, false, "xinetd not installed (nor unpacked under /opt/xinetd)")
	return ""
}

// runXinetd runs xinetd in the foreground with one service file until the
// test ends.
func runXinetd(t testing.TB, service string) *testlib.Log {
	t.Helper()
	xinetd := xinetdBinary(t)
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "xinetd.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "xinetd.d", "mpp"), []byte(service), 0o644)
	conf := fmt.Sprintf("defaults\n{\n\tlog_type = FILE %s/xinetd.log\n}\nincludedir %s/xinetd.d\n", dir, dir)
	os.WriteFile(filepath.Join(dir, "xinetd.conf"), []byte(conf), 0o644)
	return runLauncher(t, xinetd, "-dontfork", "-f", filepath.Join(dir, "xinetd.conf"), "-pidfile", filepath.Join(dir, "pid"))
}

// tcpMppd is an mppd that a launcher serves on addr.
func tcpMppd(t testing.TB, addr string, log *testlib.Log) *mppd {
	return &mppd{log: log, addr: addr, dial: func(t testing.TB) *client {
		t.Helper()
		c := testlib.DialRetry(t, addr)
		t.Cleanup(func() { c.Close() })
		return newClient(t, c)
	}}
}

// runLauncher runs a long-lived program (a launcher, mppd -listen, a
// daemon) with its stderr and stdout kept, and stops it when the test
// ends, saying what it wrote if the test failed.
func runLauncher(t testing.TB, name string, args ...string) *testlib.Log {
	t.Helper()
	out := &testlib.Log{}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		waitExit(t, cmd)
		if t.Failed() {
			t.Logf("%s said:\n%s", name, out)
		}
	})
	return out
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

// startContainer: the package installed in a booted Debian (ctInstall)
// and mppd.socket as shipped; argv is not used, the installed mppd is.
// alice may post; her mail lands in /var/mail/alice.
func startContainer(t testing.TB, argv []string) *mppd {
	t.Helper()
	c := ctInstall(t)
	m := &mppd{addr: "127.0.0.1:218", user: "alice", password: ctPassword, dial: func(t testing.TB) *client {
		t.Helper()
		return ctClient(t, c, "", "127.0.0.1:218")
	}}
	m.delivered = func(t testing.TB, marker string) string {
		t.Helper()
		return ctFind(c, "/var/mail/alice", marker)
	}
	return m
}
