package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

func TestVerifyHash(t *testing.T) {
	for name, h := range testlib.FixtureHashes {
		t.Run(name, func(t *testing.T) {
			if ok, err := verifyHash(h, testlib.FixturePassword); !ok || err != nil {
				t.Errorf("right password: ok=%v err=%v", ok, err)
			}
			for _, wrong := range []string{"pässwörd 2", "pässwörd", "", testlib.FixturePassword + " "} {
				if ok, err := verifyHash(h, wrong); ok || err != nil {
					t.Errorf("wrong password %q: ok=%v err=%v", wrong, ok, err)
				}
			}
		})
	}
}

func TestVerifyHashRefusesOddities(t *testing.T) {
	for _, h := range []string{"", "!", "*", "!!", "x", "abJnggxhB/yWI", // descrypt
		"$gy$j9T$abc$def", "$7$abc", "$y$", "$6$", "$2b$", "$y$jZZ$salt$hash"} {
		if ok, _ := verifyHash(h, ""); ok {
			t.Errorf("%q verified the empty password", h)
		}
		if ok, _ := verifyHash(h, testlib.FixturePassword); ok {
			t.Errorf("%q verified a password", h)
		}
	}
}

func authResult(err error) string {
	if err == nil {
		return "ok"
	}
	var re *replyError
	if !errors.As(err, &re) {
		return "not a replyError: " + err.Error()
	}
	return fmt.Sprintf("%d %v", re.code, re.err)
}

func TestShadowAuth(t *testing.T) {
	y := testlib.FixtureHashes["yescrypt"]
	s6 := testlib.FixtureHashes["sha512crypt"]
	// Day 20000 is 2024-10-04; the checks run on day 20100.
	file := strings.Join([]string{
		"# comment",
		"",
		"   # indented comment",
		"alice:" + y,
		"bob:" + s6 + ":19000:0:99999:7:::",
		"locked:!" + y + ":19000:0:99999:7:::",
		"star:*:19000:0:99999:7:::",
		"bang:!:19000::::::",
		"empty::19000:0:99999:7:::",
		"expired:" + y + ":19000:0:99999:7::20100:",
		"expires-tomorrow:" + y + ":19000:0:99999:7::20101:",
		"inactive:" + y + ":19000:0:1000:7:10::",
		// Password aging (shadow(5) fields 3, 5 and 7), as pam_unix reads it.
		"must-change:" + y + ":0:0:99999:7:::",
		"must-change-no-max:" + y + ":0::::::",
		"aged-no-inactive:" + y + ":19000:0:1000:7:::",
		"aged-in-inactive-window:" + y + ":19000:0:1050:7:100::",
		"max-reached-today:" + y + ":20000:0:100:7:::",
		"max-reached-tomorrow:" + y + ":20001:0:100:7:::",
		"inactive-ends-tomorrow:" + y + ":20000:0:50:7:51::",
		"inactive-ended-today:" + y + ":20000:0:50:7:50::",
		"old-no-max:" + y + ":1:0::7:::",
		"old-max-99999:" + y + ":1:0:99999:7:::",
		"no-last-change:" + y + "::0:1:7:1::",
		"changed-in-future:" + y + ":30000:0:10:7:0::",
		"huge-numbers:" + y + ":1:0:9223372036854775807:7:9223372036854775807::",
		"broken-line:" + y + ":1:2",
		"alice:" + s6, // the first entry wins, as getspnam's does
		"weird:$gy$j9T$abc$def",
	}, "\n") + "\n"
	a := &shadowAuth{path: testlib.TempFile(t, "passwd", file, 0o600), now: func() time.Time { return time.Unix(20100*86400+3600, 0) }}
	cases := []struct{ user, pw, want string }{
		{"alice", testlib.FixturePassword, "ok"},
		{"alice", "nope", "530 wrong password"},
		{"bob", testlib.FixturePassword, "ok"},
		{"bob", "nope", "530 wrong password"},
		{"nobody", testlib.FixturePassword, "530 unknown user"},
		{"locked", testlib.FixturePassword, "530 account locked"},
		{"star", testlib.FixturePassword, "530 account locked"},
		{"bang", "", "530 account locked"},
		{"empty", "", "530 empty password field (no passwordless network logins)"},
		{"empty", "x", "530 empty password field (no passwordless network logins)"},
		{"expired", testlib.FixturePassword, "530 account expired"},
		{"expires-tomorrow", testlib.FixturePassword, "ok"},
		{"inactive", testlib.FixturePassword, "530 password expired and account inactive"},
		{"must-change", testlib.FixturePassword, "530 password must be changed (last change 0: passwd -e, chage -d 0)"},
		{"must-change-no-max", testlib.FixturePassword, "530 password must be changed (last change 0: passwd -e, chage -d 0)"},
		{"aged-no-inactive", testlib.FixturePassword, "530 password expired (older than its maximum age): it must be changed"},
		{"aged-in-inactive-window", testlib.FixturePassword, "530 password expired (older than its maximum age): it must be changed"},
		{"max-reached-today", testlib.FixturePassword, "530 password expired (older than its maximum age): it must be changed"},
		{"max-reached-tomorrow", testlib.FixturePassword, "ok"},
		{"inactive-ends-tomorrow", testlib.FixturePassword, "530 password expired (older than its maximum age): it must be changed"},
		{"inactive-ended-today", testlib.FixturePassword, "530 password expired and account inactive"},
		{"old-no-max", testlib.FixturePassword, "ok"},
		{"old-max-99999", testlib.FixturePassword, "ok"},
		{"no-last-change", testlib.FixturePassword, "ok"},
		{"changed-in-future", testlib.FixturePassword, "ok"},
		{"huge-numbers", testlib.FixturePassword, "ok"},
		// The account's dates count only once the password is right, as
		// pam_unix's account stack runs after its auth stack.
		{"must-change", "nope", "530 wrong password"},
		{"inactive", "nope", "530 wrong password"},
		{"expired", "nope", "530 wrong password"},
		{"broken-line", testlib.FixturePassword, "530 unknown user"},
		{"weird", testlib.FixturePassword, "530 unsupported hash method"},
		{"# comment", testlib.FixturePassword, "530 unknown user"},
	}
	for _, tc := range cases {
		if got := authResult(a.Authenticate(context.Background(), tc.user, tc.pw)); got != tc.want {
			t.Errorf("%s/%q: %s, want %s", tc.user, tc.pw, got, tc.want)
		}
	}
}

func TestShadowAuthUnreadable(t *testing.T) {
	a := &shadowAuth{path: filepath.Join(t.TempDir(), "missing")}
	if got := authResult(a.Authenticate(context.Background(), "alice", "x")); !strings.HasPrefix(got, "451 ") {
		t.Errorf("missing file: %s, want 451", got)
	}
}

// TestDummyHashIsOfTheCommonKind: an unknown user's refusal costs one hash
// of the kind the file mostly holds, so it takes as long as a wrong password.
func TestDummyHashIsOfTheCommonKind(t *testing.T) {
	y := testlib.FixtureHashes["yescrypt"]
	s6 := testlib.FixtureHashes["sha512crypt"]
	cases := []struct {
		file, want string
	}{
		{"a:" + s6 + "\nb:" + y + "\nc:" + y + "\n", y},
		{"a:" + s6 + "\nb:" + y + "\n", s6},
		{"a:" + testlib.FixtureHashes["bcrypt 2b"] + "\nb:!" + y + "\n", testlib.FixtureHashes["bcrypt 2b"]},
		{"a:*\nb:!\n", fallbackDummyHash},
		{"", fallbackDummyHash},
	}
	for _, tc := range cases {
		_, dummy, err := lookupPasswd(testlib.TempFile(t, "passwd", tc.file, 0o600), "nobody")
		if err != nil || dummy != tc.want {
			t.Errorf("file %q: dummy %q (%v), want %q", tc.file, dummy, err, tc.want)
		}
	}
	if _, err := verifyHash(fallbackDummyHash, "x"); err != nil {
		t.Errorf("fallback dummy hash cannot be computed: %v", err)
	}
	if k := hashKind(testlib.FixtureHashes["sha512crypt rounds"]); k != "$6$rounds=10000" {
		t.Errorf("hashKind = %q", k)
	}
}

// TestVerifySystemHashes checks fresh hashes of every method mkpasswd (the
// system's libxcrypt) writes, with a random password each time.
func TestVerifySystemHashes(t *testing.T) {
	mkpasswd := testlib.NeedProgram(t, "mkpasswd")
	for _, m := range [][]string{
		{"-m", "yescrypt"}, {"-m", "sha512crypt"}, {"-m", "sha512crypt", "-R", "20000"},
		{"-m", "sha256crypt"}, {"-m", "sha256crypt", "-R", "9999"}, {"-m", "md5crypt"},
		{"-m", "bcrypt"}, {"-m", "bcrypt-a"},
	} {
		pw := randomPassword(t)
		cmd := exec.Command(mkpasswd, append(m, "-s")...)
		cmd.Stdin = strings.NewReader(pw)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("mkpasswd %v: %v", m, err)
		}
		h := strings.TrimSpace(string(out))
		if ok, err := verifyHash(h, pw); !ok || err != nil {
			t.Errorf("mkpasswd %v: %q does not verify: %v", m, h, err)
		}
		if ok, _ := verifyHash(h, pw+"x"); ok {
			t.Errorf("mkpasswd %v: wrong password verified", m)
		}
	}
}

func randomPassword(t testing.TB) string {
	var b [9]byte
	rand.Read(b[:])
	return "p w-" + hex.EncodeToString(b[:])
}

// TestHashKindAgainstSplit: hashKind, which returns a part of the hash,
// agrees with the plain definition (split at "$", put together again) on
// every fixture and on odd shapes.
func TestHashKindAgainstSplit(t *testing.T) {
	split := func(h string) string {
		f := strings.Split(h, "$")
		if len(f) < 4 || f[0] != "" {
			return ""
		}
		switch f[1] {
		case "y", "2a", "2b", "2y":
			return "$" + f[1] + "$" + f[2]
		case "5", "6":
			if strings.HasPrefix(f[2], "rounds=") {
				return "$" + f[1] + "$" + f[2]
			}
			return "$" + f[1]
		case "1":
			return "$1"
		}
		return ""
	}
	hashes := []string{"", "$", "$$$", "$$$$", "$6$", "$6$$", "$6$$$", "$6$salt$", "$6$rounds=5000$s$h",
		"$y$$$", "$1$$", "$1$a$b", "$2b$05$x", "x$6$a$b", "!$6$a$b", "$7$a$b$c", "*", "!"}
	for _, h := range testlib.FixtureHashes {
		hashes = append(hashes, h)
	}
	for _, h := range hashes {
		if got, want := hashKind(h), split(h); got != want {
			t.Errorf("hashKind(%q) = %q, want %q", h, got, want)
		}
	}
}

// BenchmarkVerifyHash is the floor of a PASS: the hash computation alone.
// Compare with BenchmarkPASS: the difference is mppd's own cost.
func BenchmarkVerifyHash(b *testing.B) {
	for _, kind := range benchHashes {
		h := testlib.FixtureHashes[kind]
		b.Run(kind, func(b *testing.B) {
			for b.Loop() {
				verifyHash(h, testlib.FixturePassword)
			}
		})
	}
}

// BenchmarkPASS is a PASS as the session makes it: the password file read
// and parsed (a file of 50 users, as a small host's /etc/shadow), the hash
// verified.
func BenchmarkPASS(b *testing.B) {
	for _, kind := range benchHashes {
		h := testlib.FixtureHashes[kind]
		a := &shadowAuth{path: benchPasswd(b, h)}
		b.Run(kind, func(b *testing.B) {
			for b.Loop() {
				if err := a.Authenticate(context.Background(), "alice", testlib.FixturePassword); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var benchHashes = []string{"yescrypt", "sha512crypt", "sha512crypt rounds", "sha256crypt", "md5crypt", "bcrypt 2b"}

// benchPasswd is a password file of 50 users, as a small host's
// /etc/shadow, alice last, all with hash h.
func benchPasswd(b *testing.B, h string) string {
	var file strings.Builder
	for i := 0; i < 49; i++ {
		file.WriteString("user" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + ":" + h + ":19000:0:99999:7:::\n")
	}
	file.WriteString("alice:" + h + ":19000:0:99999:7:::\n")
	return testlib.TempFile(b, "passwd", file.String(), 0o600)
}
