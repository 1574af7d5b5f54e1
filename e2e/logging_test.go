package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

// The -log targets that speak to a daemon, and journald's socket.
const (
	logSyslog     = "syslog"
	logJournal    = "journal"
	journalSocket = "/run/systemd/journal/socket"
)

// listenDatagrams makes a unixgram socket at path for a test that stands in
// for syslogd or journald, where neither runs. It skips when the path is
// taken (a real daemon is there, and must not be disturbed).
func listenDatagrams(t *testing.T, path string) *net.UnixConn {
	t.Helper()
	testlib.NeedRoot(t)
	if _, err := os.Lstat(path); err == nil {
		t.Skipf("%s exists: a real log daemon runs here", path)
	}
	os.MkdirAll(filepath.Dir(path), 0o755)
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); os.Remove(path) })
	return c
}

// runLogged runs one session of the built binary on a pipe with REMOTE_ADDR
// set, a failed login then QUIT, and returns when it has exited.
func runLogged(t *testing.T, logTarget string) {
	t.Helper()
	_, flags := e2eSetup(t, "")
	cmd := exec.Command(testlib.Mppd(t), append(flags, "-log", logTarget)...)
	cmd.Env = []string{"REMOTE_ADDR=198.51.100.7"}
	cmd.Stdin = strings.NewReader("USER alice\r\nPASS not-the-password\r\nQUIT\r\n")
	if out, err := cmd.Output(); err != nil || !strings.Contains(string(out), "530 ") {
		t.Fatalf("session: %v %q", err, out)
	}
}

// collectDatagrams reads datagrams in the background, as the log daemon
// would (a full socket queue would block the sender), and returns a function
// that waits until one holds until and returns all of them. Others may come
// too: any mppd on this machine logging with -log auto while the socket
// exists.
func collectDatagrams(t *testing.T, c *net.UnixConn, until string) func() string {
	t.Helper()
	var all strings.Builder
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		for !strings.Contains(all.String(), until) {
			n, err := c.Read(buf)
			if err != nil {
				done <- err
				return
			}
			all.Write(buf[:n])
			all.WriteString("\n")
		}
		done <- nil
	}()
	return func() string {
		t.Helper()
		if err := <-done; err != nil {
			t.Fatalf("%v; got so far:\n%s", err, all.String())
		}
		return all.String()
	}
}

// TestSyslogLog: -log syslog writes to /dev/log, facility mail, tagged mppd.
func TestSyslogLog(t *testing.T) {
	c := listenDatagrams(t, "/dev/log")
	wait := collectDatagrams(t, c, "result=quit rip=198.51.100.7")
	runLogged(t, logSyslog)
	got := wait()
	// <petc>: mail (2) * 8 + warning (4) = 20
	if !strings.Contains(got, "<20>") || !strings.Contains(got, "mppd[") ||
		!strings.Contains(got, `authentication failed reason="wrong password" rip=198.51.100.7`) {
		t.Errorf("syslog got:\n%s", got)
	}
	if strings.Contains(got, "not-the-password") {
		t.Error("password in the log")
	}
}

// TestJournalLog: -log journal speaks journald's native protocol, with the
// fields as MPPD_* journal fields.
func TestJournalLog(t *testing.T) {
	c := listenDatagrams(t, "/run/systemd/journal/socket")
	wait := collectDatagrams(t, c, "result=quit rip=198.51.100.7")
	runLogged(t, logJournal)
	got := wait()
	for _, want := range []string{"SYSLOG_IDENTIFIER=mppd", "PRIORITY=4", "MPPD_RIP=198.51.100.7",
		"MPPD_REASON=wrong password", `MESSAGE=authentication failed reason="wrong password" rip=198.51.100.7`} {
		if !strings.Contains(got, want) {
			t.Errorf("journal lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "not-the-password") {
		t.Error("password in the log")
	}
}

// TestAutoLogChosenOnFirstLine: -log auto finds its target when the first
// line is logged (after the greeting), and with neither journal nor syslog
// there it is stderr, stamped as -log stderr stamps it.
func TestAutoLogChosenOnFirstLine(t *testing.T) {
	for _, p := range []string{journalSocket, "/dev/log", "/var/run/syslog", "/var/run/log"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			t.Skipf("%s exists: auto would choose it", p)
		}
	}
	_, flags := e2eSetup(t, "")
	cmd := exec.Command(testlib.Mppd(t), flags...)
	cmd.Env = []string{"REMOTE_ADDR=198.51.100.7"}
	cmd.Stdin = strings.NewReader("USER alice\r\nPASS not-the-password\r\nQUIT\r\n")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if out, err := cmd.Output(); err != nil || !strings.HasPrefix(string(out), "220 ") {
		t.Fatalf("session: %v %q", err, out)
	}
	if !strings.Contains(stderr.String(), `] warning: authentication failed reason="wrong password" rip=198.51.100.7`) ||
		!strings.Contains(stderr.String(), "] info: session ended") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
}

// TestJournalStalled: a journald that has stopped reading (its socket's
// queue full) must not hold up a session: the lines are given up after a
// bound and the session runs to its end.
func TestJournalStalled(t *testing.T) {
	c := listenDatagrams(t, journalSocket)
	// Fill the queue from a socket of our own until the kernel refuses.
	filler, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: journalSocket, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer filler.Close()
	for i := 0; i < 10000; i++ {
		filler.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := filler.Write([]byte("MESSAGE=filler\n")); err != nil {
			break
		}
	}
	_ = c // never read: the daemon is stalled
	_, flags := e2eSetup(t, "")
	cmd := exec.Command(testlib.Mppd(t), append(flags, "-log", logJournal)...)
	cmd.Stdin = strings.NewReader("USER alice\r\nPASS " + testlib.FixturePassword + "\r\nDATA\r\nx\r\n.\r\nQUIT\r\n")
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd)
	if !strings.HasSuffix(out.String(), "250 Command OK, message queued for delivery\r\n221 e2e.test Closing Connection\r\n") {
		t.Errorf("session: %q", out.String())
	}
}
