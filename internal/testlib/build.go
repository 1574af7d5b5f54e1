package testlib

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The programs of this repository, each built once per test run into one
// directory that other users may enter (some tests run them as an
// unprivileged user); RemoveBuilt, from TestMain, removes it.
var (
	binDirOnce sync.Once
	binDir     string
	binDirErr  error

	builds sync.Map // name -> *build
)

type build struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// Mppd is mppd built as make build builds it: static, without cgo. Tests
// run it exactly as inetd or systemd would.
func Mppd(t testing.TB) string {
	t.Helper()
	return Built(t, "mppd", "github.com/mppd/mppd", nil, []string{"CGO_ENABLED=0"})
}

// Mpp is the client.
func Mpp(t testing.TB) string {
	t.Helper()
	return Built(t, "mpp", "github.com/mppd/mppd/cmd/mpp", nil, nil)
}

// Built builds package pkg as name with go build's extra args and env
// (added to the test's environment), the first time it is asked for, and
// returns its path.
func Built(t testing.TB, name, pkg string, args, env []string) string {
	t.Helper()
	binDirOnce.Do(func() {
		binDir, binDirErr = os.MkdirTemp("", "mppd-bin-")
		if binDirErr == nil {
			binDirErr = os.Chmod(binDir, 0o755)
		}
	})
	if binDirErr != nil {
		t.Fatal(binDirErr)
	}
	v, _ := builds.LoadOrStore(name, &build{})
	b := v.(*build)
	b.once.Do(func() {
		b.path = filepath.Join(binDir, name)
		cmd := exec.Command("go", append(append([]string{"build"}, args...), "-o", b.path, pkg)...)
		cmd.Dir = Repo(".")
		cmd.Env = append(os.Environ(), env...)
		b.out, b.err = cmd.CombinedOutput()
	})
	if b.err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, b.err, b.out)
	}
	return b.path
}

// RemoveBuilt removes the programs built for the test run.
func RemoveBuilt() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}
