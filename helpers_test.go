package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// realRequired is set by .ci/run (MPPD_REQUIRE_REAL=1): there a test that
// needs a real component (Postfix, inetd, systemd-socket-activate...) and does
// not find it fails instead of skipping, so CI proves every real path.
var realRequired = os.Getenv("MPPD_REQUIRE_REAL") == "1"

// needReal skips the test with a one-line reason when a real component is
// missing, or fails it under MPPD_REQUIRE_REAL=1.
func needReal(t testing.TB, ok bool, reason string) {
	t.Helper()
	if ok {
		return
	}
	if realRequired {
		t.Fatalf("MPPD_REQUIRE_REAL=1 but %s", reason)
	}
	t.Skip(reason)
}

// needProgram is needReal for a program that must be installed.
func needProgram(t testing.TB, path string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	needReal(t, err == nil, path+" not installed")
	return p
}

// needRoot is needReal for tests that create users or read /etc/shadow.
func needRoot(t testing.TB) {
	t.Helper()
	needReal(t, os.Geteuid() == 0, "needs root")
}

var (
	buildOnce sync.Once
	builtPath string
	buildErr  error
	buildOut  []byte
)

// mppdBinary builds the mppd binary once per test run, static and without
// cgo as make build builds it, and returns its path: end-to-end tests run
// the program exactly as inetd or systemd would.
func mppdBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mppd-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtPath = filepath.Join(dir, "mppd")
		cmd := exec.Command("go", "build", "-o", builtPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildOut)
	}
	return builtPath
}

// besideMppd is a program of this repository built once per test run
// beside mppd's binary (so TestMain removes it too), in a directory other
// users may enter: some tests run the programs as an unprivileged user.
type besideMppd struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// build builds package pkg as name with go build's extra args and env
// (added to the test's environment), the first time it is asked for, and
// returns its path.
func (b *besideMppd) build(t testing.TB, name, pkg string, args, env []string) string {
	t.Helper()
	dir := filepath.Dir(mppdBinary(t))
	b.once.Do(func() {
		b.path = filepath.Join(dir, name)
		if b.err = os.Chmod(dir, 0o755); b.err != nil {
			return
		}
		cmd := exec.Command("go", append(append([]string{"build"}, args...), "-o", b.path, pkg)...)
		cmd.Env = append(os.Environ(), env...)
		b.out, b.err = cmd.CombinedOutput()
	})
	if b.err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, b.err, b.out)
	}
	return b.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtPath != "" {
		os.RemoveAll(filepath.Dir(builtPath))
	}
	os.Exit(code)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// runCmd runs a command with stdin and fails the test if it fails.
func runCmd(t testing.TB, stdin, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// mailUser is a real user and its password.
type mailUser struct{ name, password string }

// userSpec says how newTestUser makes a user.
type userSpec struct {
	prefix   string   // of the random name; "mppdt" if empty
	home     bool     // a home directory and /bin/sh (vsftpd's PAM stack wants a shell from /etc/shells); else none and nologin
	gecos    string   // the full name field
	password string   // "" for a random one with a space and an 8-bit character
	chpasswd []string // chpasswd's own options, e.g. -c SHA512
}

// newTestUser makes a real user with useradd and sets its password with
// chpasswd (through PAM: yescrypt on Debian 12 unless s.chpasswd picks a
// method). The user, its home and its mailbox go when the test ends.
func newTestUser(t testing.TB, s userSpec) mailUser {
	t.Helper()
	needRoot(t)
	needProgram(t, "useradd")
	needProgram(t, "chpasswd")
	if s.prefix == "" {
		s.prefix = "mppdt"
	}
	u := mailUser{name: s.prefix + randomHex(6), password: s.password}
	if u.password == "" {
		u.password = "pw " + randomHex(6) + " caf\u00e9"
	}
	args := []string{"-M", "-s", "/usr/sbin/nologin"}
	if s.home {
		args = []string{"-m", "-s", "/bin/sh"}
	}
	if s.gecos != "" {
		args = append(args, "-c", s.gecos)
	}
	runCmd(t, "", "useradd", append(args, u.name)...)
	t.Cleanup(func() {
		removeUser(u.name, s.home)
		os.Remove("/var/mail/" + u.name)
	})
	runCmd(t, u.name+":"+u.password+"\n", "chpasswd", s.chpasswd...)
	return u
}

// removeUser deletes a test's user (and its home), trying again while
// another test holds the lock on /etc/passwd (userdel exits 1 or 10 then):
// a user left behind would outlive the test run.
func removeUser(name string, withHome bool) {
	args := []string{"-f", name}
	if withHome {
		args = []string{"-r", "-f", name}
	}
	for i := 0; i < 50; i++ {
		err := exec.Command("userdel", args...).Run()
		var ee *exec.ExitError
		if err == nil || errors.As(err, &ee) && ee.ExitCode() == 6 { // 6: no such user
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}
