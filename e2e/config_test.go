package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mppd/mppd/internal/testlib"
)

// The built mppd with a file it cannot use: exit 78 and the line, never a
// session; under inetd, not a byte on the client's connection.
func TestConfigBadFileExit(t *testing.T) {
	_, flags := e2eSetup(t, "")
	bad := testlib.TempFile(t, "mppd.conf", "# mppd\nidle-timeout = 1m\nidle-timout = 2m\n", 0o644)
	cmd := exec.Command(testlib.Mppd(t), append(flags, "-config", bad, "-log", "none")...)
	cmd.Stdin = strings.NewReader("USER alice\r\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitConfig {
		t.Errorf("exit %v, want %d", err, exitConfig)
	}
	if !strings.Contains(stderr.String(), bad+":3: unknown setting \"idle-timout\"") || stdout.Len() != 0 {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}

	c := start(t, "inetd", append(flags, "-config", bad)...).conn(t)
	icmd := c.cmd
	if rest := c.Rest(); rest != "" {
		t.Errorf("the client got %q", rest)
	}
	if code := waitExit(t, icmd); code != exitConfig {
		t.Errorf("under inetd: exit %d, want %d", code, exitConfig)
	}
}

func TestPrintConfig(t *testing.T) {
	_, flags := e2eSetup(t, "")
	p := testlib.TempFile(t, "mppd.conf", "# x\nidle-timeout = 90s\nauth = shadow\nauth = pop3s://127.0.0.1\n", 0o644)
	out, err := exec.Command(testlib.Mppd(t), append(flags, "-config", p, "-print-config", "-max-errors", "3")...).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"idle-timeout = 1m30s\t# " + p + ":2\n",
		"auth = shadow\t# " + p + ":3\n",
		"auth = pop3s://127.0.0.1\t# " + p + ":4\n",
		"max-errors = 3\t# command line\n",
		"session-timeout = 30m0s\t# default\n",
		"hostname = e2e.test\t# command line\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	// A value that cannot work is reported as at start-up.
	bad := testlib.TempFile(t, "mppd.conf", "from-policy = forge\n", 0o644)
	if err := exec.Command(testlib.Mppd(t), append(flags, "-config", bad, "-print-config")...).Run(); err == nil {
		t.Errorf("-print-config of a bad from-policy succeeded")
	}
}

// A -listen server reads the file again when it changed, before the next
// session; a bad edit leaves it serving with what it had.
func TestListenRereadsConfig(t *testing.T) {
	_, flags := e2eSetup(t, "")
	flags = slicesWithout(flags, "-hostname", "e2e.test")
	dir := t.TempDir()
	p := filepath.Join(dir, "mppd.conf")
	write := func(text string) {
		// As editors do: a new file renamed over the old one.
		tmp := p + ".new"
		os.WriteFile(tmp, []byte(text), 0o644)
		os.Chmod(tmp, 0o644)
		os.Rename(tmp, p)
	}
	write("hostname = first.example\n")
	addr := testlib.FreePort(t)
	logs := runLauncher(t, testlib.Mppd(t), append(flags, "-listen", addr, "-log", "stderr", "-config", p)...)
	greeting := func() string {
		c := newClient(t, testlib.DialRetry(t, addr))
		defer c.Conn.Close()
		g := c.Expect("220")
		c.Cmd("QUIT", "221")
		return g
	}
	if g := greeting(); !strings.Contains(g, "first.example") {
		t.Fatalf("greeting %q", g)
	}
	write("hostname = second.example\n")
	if g := greeting(); !strings.Contains(g, "second.example") {
		t.Errorf("after the edit: greeting %q", g)
	}
	write("hostname = third.example\nidle-timout = 1m\n")
	if g := greeting(); !strings.Contains(g, "second.example") {
		t.Errorf("after a bad edit: greeting %q, want the last good settings", g)
	}
	if !strings.Contains(logs.String(), "configuration not reloaded") || !strings.Contains(logs.String(), "mppd.conf:2: unknown setting") {
		t.Errorf("the bad edit is not logged:\n%s", logs)
	}
}

func slicesWithout(args []string, flag, value string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == flag && i+1 < len(args) && args[i+1] == value {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// As sshd's StrictModes: a file of another user's is not read, and the
// built mppd says whose it is (exit 78). TestConfigFileOwner has the other
// cases.
func TestConfigFileOtherOwner(t *testing.T) {
	testlib.NeedRoot(t)
	p := testlib.TempFile(t, "mppd.conf", "hostname = a\n", 0o644)
	if err := os.Chown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testlib.Mppd(t), "-config", p, "-print-config")
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != exitConfig || !strings.Contains(string(out), "belongs to uid 65534") {
		t.Errorf("exit %d (%v), output %q; want %d and %q", code, err, out, exitConfig, "belongs to uid 65534")
	}
}
