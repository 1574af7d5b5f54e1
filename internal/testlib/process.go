package testlib

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Script writes a shell script name into a new directory, where it may
// leave what it saw, and returns both (a fake sendmail, a fake PAM helper).
func Script(t testing.TB, name, body string) (path, dir string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, dir
}

// AnyPAMService is a PAM service whose file exists here ("other" is
// Linux-PAM's fallback; Debian and Fedora ship it).
func AnyPAMService(t testing.TB) string {
	t.Helper()
	for _, dir := range []string{"/etc/pam.d", "/usr/lib/pam.d"} {
		if _, err := os.Stat(filepath.Join(dir, "other")); err == nil {
			return "other"
		}
	}
	NeedReal(t, false, "no PAM service file \"other\" in /etc/pam.d or /usr/lib/pam.d (libpam-runtime)")
	return ""
}

// PIDFrom reads the process id a script wrote into the file path.
func PIDFrom(t testing.TB, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 0 {
		t.Fatalf("child pid %q", b)
	}
	return pid
}

// ProcessRunning says whether pid is a process that has not exited (a
// zombie has).
func ProcessRunning(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// MustBeGone fails unless pid has exited within 2 s (after: what it
// should not have outlived), and kills it then.
func MustBeGone(t testing.TB, pid int, after string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for ProcessRunning(pid) {
		if time.Now().After(deadline) {
			if p, err := os.FindProcess(pid); err == nil {
				p.Kill() // SIGKILL; os, not syscall: testlib builds on Windows too
			}
			t.Fatalf("the helper's child %d outlived %s", pid, after)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
