package testlib

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// User is a real user of the machine and its password.
type User struct{ Name, Password string }

// UserSpec says how NewUser makes a user.
type UserSpec struct {
	Prefix   string   // of the random name; "mppdt" if empty
	Home     bool     // a home directory and /bin/sh (vsftpd's PAM stack wants a shell from /etc/shells); else none and nologin
	Gecos    string   // the full name field
	Password string   // "" for a random one with a space and an 8-bit character
	Chpasswd []string // chpasswd's own options, e.g. -c SHA512
	System   bool     // a system user with no password, for a daemon to run as
	Hash     string   // the prefix the hash chpasswd writes must have ("$y$": yescrypt), if any
}

// NewUser makes a real user with useradd and sets its password with
// chpasswd (through PAM: yescrypt on Debian 12 unless s.Chpasswd picks a
// method). The user, its home and its mailbox go when the test ends.
func NewUser(t testing.TB, s UserSpec) User {
	t.Helper()
	NeedRoot(t)
	NeedProgram(t, "useradd")
	NeedProgram(t, "chpasswd")
	if s.Prefix == "" {
		s.Prefix = "mppdt"
	}
	u := User{Name: s.Prefix + RandomHex(6), Password: s.Password}
	if u.Password == "" && !s.System {
		u.Password = "pw " + RandomHex(6) + " caf\u00e9"
	}
	args := []string{"-M", "-s", "/usr/sbin/nologin"}
	if s.Home {
		args = []string{"-m", "-s", "/bin/sh"}
	}
	if s.System {
		args = append([]string{"--system"}, args...)
	}
	if s.Gecos != "" {
		args = append(args, "-c", s.Gecos)
	}
	Run(t, "", "useradd", append(args, u.Name)...)
	t.Cleanup(func() {
		removeUser(u.Name, s.Home)
		os.Remove("/var/mail/" + u.Name)
	})
	if !s.System {
		Run(t, u.Name+":"+u.Password+"\n", "chpasswd", s.Chpasswd...)
	}
	if h := ""; s.Hash != "" {
		if h = ShadowHash(t, u.Name); !strings.HasPrefix(h, s.Hash) {
			t.Fatalf("chpasswd wrote %q, not %s", h, s.Hash)
		}
	}
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

// ShadowHash is the hash field of user in /etc/shadow.
func ShadowHash(t testing.TB, user string) string {
	t.Helper()
	b, err := os.ReadFile("/etc/shadow")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ":")
		if len(f) > 1 && f[0] == user {
			return f[1]
		}
	}
	t.Fatalf("%s not in /etc/shadow", user)
	return ""
}
