package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOpenPlain: the file is read whole, its descriptor blocking and
// close-on-exec (the delivery command must not inherit the password file),
// a missing file is fs.ErrNotExist as with os.Open, and readPlain stops at
// its bound. (That the poller is left out shows in strace and in the start
// figure of BENCHMARKS.md, not here: os.Open also ends with a blocking
// descriptor for a regular file.)
func TestOpenPlain(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	want := bytes.Repeat([]byte("line\n"), 5000)
	if err := os.WriteFile(p, want, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := openPlain(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var fd int
	rc, _ := f.SyscallConn()
	rc.Control(func(d uintptr) { fd = int(d) })
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK != 0 {
		t.Errorf("flags %#x (%v): non-blocking", fl, err)
	}
	if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("close-on-exec not set (%#x, %v): the delivery command would inherit it", flags, err)
	}
	got, err := readPlain(p, 1<<20)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("readPlain: %d bytes, %v", len(got), err)
	}
	if got, err := readPlain(p, 7); err != nil || string(got) != "line\nli" {
		t.Errorf("readPlain bounded to 7: %q, %v", got, err)
	}
	if _, err := openPlain(p + "-missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
