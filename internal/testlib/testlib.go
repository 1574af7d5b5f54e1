// Package testlib is what mppd's tests share: those of the root package
// and cmd/mpp, which run the code in the test process and need nothing of
// the machine, and those of e2e/, which run the built programs with the
// real components (launchers, MTAs, password servers, PAM, systemd).
package testlib

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// RealRequired is set by .ci/run (MPPD_REQUIRE_REAL=1): there a test that
// needs a real component and does not find it fails instead of skipping,
// so CI proves every real path.
var RealRequired = os.Getenv("MPPD_REQUIRE_REAL") == "1"

// NeedReal skips the test with a one-line reason when a real component is
// missing, or fails it under MPPD_REQUIRE_REAL=1.
func NeedReal(t testing.TB, ok bool, reason string) {
	t.Helper()
	if ok {
		return
	}
	if RealRequired {
		t.Fatalf("MPPD_REQUIRE_REAL=1 but %s", reason)
	}
	t.Skip(reason)
}

// NeedProgram is NeedReal for a program that must be installed.
func NeedProgram(t testing.TB, path string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	NeedReal(t, err == nil, path+" not installed")
	return p
}

// NeedRoot is NeedReal for tests that create users or read /etc/shadow.
func NeedRoot(t testing.TB) {
	t.Helper()
	NeedReal(t, os.Geteuid() == 0, "needs root")
}

// Repo is the path of a file of the repository, wherever the test runs.
func Repo(path string) string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", path)
}

func RandomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Run runs a command with stdin and fails the test if it fails.
func Run(t testing.TB, stdin, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// WaitFor polls cond for up to d, every d/200 (20 to 100 ms).
func WaitFor(d time.Duration, cond func() bool) bool {
	every := min(max(d/200, 20*time.Millisecond), 100*time.Millisecond)
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(every)
	}
}

// FreePort finds a loopback address nobody listens on (for launchers that
// want a number).
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// DialRetry connects to addr, waiting for a launcher to start listening.
func DialRetry(t testing.TB, addr string) net.Conn {
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

// ShortTempDir is a directory under /tmp with a short name that other
// users may enter: daemons' unix sockets live in such directories (their
// paths must stay under 108 bytes), and some tests run programs as an
// unprivileged user.
func ShortTempDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Log is what a program writes to stderr, read by the test while the
// program may still be writing.
type Log struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Contains says whether the log holds s, waiting a while for it: mppd may
// write its log line after the reply the test has just read.
func (l *Log) Contains(s string) bool {
	return WaitFor(5*time.Second, func() bool { return strings.Contains(l.String(), s) })
}

// TempFile writes content to a file name in a new temporary directory, with
// mode whatever the umask, and returns its path.
func TempFile(t testing.TB, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, mode)
	return p
}
