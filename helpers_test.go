package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
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

// mppdBinary builds the mppd binary once per test run and returns its path:
// end-to-end tests run the program exactly as inetd or systemd would.
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
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildOut)
	}
	return builtPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtPath != "" {
		os.RemoveAll(filepath.Dir(builtPath))
	}
	os.Exit(code)
}
