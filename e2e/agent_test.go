package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

// The built mppd as agent under systemd-socket-activate (SOCK_SEQPACKET,
// Accept=no, as mppd-deliver.socket starts it) and as session under inetd:
// the message arrives as if the session had run the command itself. Then a
// session running as another user is refused by SO_PEERCRED, though the
// socket's mode lets it connect.
func TestAgentEndToEnd(t *testing.T) {
	testlib.NeedProgram(t, "systemd-socket-activate")
	testlib.NeedRoot(t)
	dir, flags := e2eSetup(t, "")
	sockDir, err := os.MkdirTemp("", "mppd-agent-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	os.Chmod(sockDir, 0o755)
	sock := filepath.Join(sockDir, "deliver.sock")
	agentFlags := append([]string{"-l", sock, "--seqpacket", "--", testlib.Mppd(t), "-delivery-agent", "-session-user", "root", "-log", "stderr"}, flags...)
	alog := runLauncher(t, "systemd-socket-activate", agentFlags...)
	for i := 0; i < 100 && !fileExists(sock); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	os.Chmod(sock, 0o777)
	c := start(t, "inetd", append(flags, "-delivery-socket", sock, "-sendmail", "/nonexistent/sendmail")...).conn(t)
	cmd := c.cmd
	c.post()
	waitExit(t, cmd)
	checkDelivered(t, dir)

	// Another user: nobody, with the transcript on stdin (pipe mode).
	passwd := filepath.Join(sockDir, "passwd")
	os.WriteFile(passwd, []byte("alice:"+testlib.FixtureHashes["sha512crypt"]+"\n"), 0o644)
	nobody := launcherNamed(t, "pipe").start(t, []string{"setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups", testlib.Mppd(t),
		"-passwd", passwd, "-fail-delay", "0", "-hostname", "e2e.test", "-delivery-socket", sock, "-log", "none"}).conn(t)
	nobody.Send("USER alice\r\nPASS " + testlib.FixturePassword + "\r\nDATA\r\n" + e2eMessage + "QUIT\r\n")
	out := nobody.Rest()
	if !strings.Contains(out, "\r\n451 ") {
		t.Errorf("a session as nobody got %q", out)
	}
	if n := len(testlib.Recorded(t, dir, "msg")); n != 1 {
		t.Errorf("%d messages delivered, want the first only", n)
	}
	for i := 0; i < 100 && !strings.Contains(alog.String(), "not an mppd session"); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(alog.String(), "not an mppd session") {
		t.Errorf("the agent's log does not say it refused nobody:\n%s", alog)
	}
}

// The agent is a server: a delivery command that is not there is said at
// its start, where the administrator looks, not only at the first 451.
func TestAgentWarnsMissingSendmail(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "deliver.sock")
	logs := runLauncher(t, testlib.Mppd(t), "-delivery-agent", "-session-user", "", "-listen", sock,
		"-log", "stderr", "-sendmail", "/nonexistent/sendmail -t")
	if !testlib.WaitFor(10*time.Second, func() bool { return strings.Contains(logs.String(), "delivery agent listening") }) {
		t.Fatalf("the agent did not start:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "delivery command missing") {
		t.Errorf("no warning for a missing -sendmail:\n%s", logs)
	}
}
