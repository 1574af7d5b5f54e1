package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const fixturePassword = "pässwörd 1"

// Hashes of fixturePassword written by libxcrypt (mkpasswd from Debian's
// whois package, and Python's crypt for $2y$), so the unit tests need no
// tools; TestVerifySystemHashes makes fresh ones where mkpasswd exists.
var fixtureHashes = map[string]string{
	"yescrypt":              "$y$j9T$xOabzSFWluraK5tCndf530$BWNWaGGz8zzkEXEx5ot75RacijBOWs.e2KevwyRKF03",
	"yescrypt cost 7":       "$y$jBT$7F7YrpOcyioW6CXLm89pH0$laXf98wukZ5H.2xfN9WCoMQuf1OGuyrlKNf1rJkDDn0",
	"sha512crypt":           "$6$pbBZUIjFqrX5ruvi$bYHqbKQrJ3DdBoK9qTybsaEyYnO826LkZuJTYhTvXz1humPGIxYd6jo/rD2z2ZDkRRxMHHHL85DapTbNyIk351",
	"sha512crypt rounds":    "$6$rounds=10000$G/iqh2W1t69q4j4y$3b77YjoKUYzcq9.ik2.Odk/JUM5hdbyJS9dGvbGeU4R7ShywbHaFqR.6rknc6N.O2sX.hbhJ7bIqSa63LhgYP1",
	"sha256crypt":           "$5$FYcLm0rUgYcNCiHm$kP8bHpsSUP2Cu2.jZgOZHtpHIhjNg9BPI2d.5nuDU17",
	"sha256crypt rounds":    "$5$rounds=1000$jRkUva7WSm/H1QL2$TzHiiqqxGC3nwUa.o4k.rArCFX9OffpZ5dxeaKCsaM8",
	"md5crypt":              "$1$pGbRUH2I$lX79omLfGrnixqpSxntA0.",
	"bcrypt 2b":             "$2b$05$zgrIzB./8v7zpg6breT0peHw0vwlHLwIjuaACqGGavsNxWBOloVdm",
	"bcrypt 2a":             "$2a$05$nh2gwwn3jxk6Vf7P3LMInOqB5AStuu0/4Vj8bbBjNAXOMidhySqum",
	"bcrypt 2y (libxcrypt)": "$2y$05$abcdefghijklmnopqrstuu9zkq65eNjJ/pyWJYBzBge4LrMqMXEd6",
}

func TestVerifyHash(t *testing.T) {
	for name, h := range fixtureHashes {
		t.Run(name, func(t *testing.T) {
			if ok, err := verifyHash(h, fixturePassword); !ok || err != nil {
				t.Errorf("right password: ok=%v err=%v", ok, err)
			}
			for _, wrong := range []string{"pässwörd 2", "pässwörd", "", fixturePassword + " "} {
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
		if ok, _ := verifyHash(h, fixturePassword); ok {
			t.Errorf("%q verified a password", h)
		}
	}
}

func writeFile(t testing.TB, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
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
	y := fixtureHashes["yescrypt"]
	s6 := fixtureHashes["sha512crypt"]
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
	a := &shadowAuth{path: writeFile(t, file), now: func() time.Time { return time.Unix(20100*86400+3600, 0) }}
	cases := []struct{ user, pw, want string }{
		{"alice", fixturePassword, "ok"},
		{"alice", "nope", "530 wrong password"},
		{"bob", fixturePassword, "ok"},
		{"bob", "nope", "530 wrong password"},
		{"nobody", fixturePassword, "530 unknown user"},
		{"locked", fixturePassword, "530 account locked"},
		{"star", fixturePassword, "530 account locked"},
		{"bang", "", "530 account locked"},
		{"empty", "", "530 empty password field (no passwordless network logins)"},
		{"empty", "x", "530 empty password field (no passwordless network logins)"},
		{"expired", fixturePassword, "530 account expired"},
		{"expires-tomorrow", fixturePassword, "ok"},
		{"inactive", fixturePassword, "530 password expired and account inactive"},
		{"must-change", fixturePassword, "530 password must be changed (last change 0: passwd -e, chage -d 0)"},
		{"must-change-no-max", fixturePassword, "530 password must be changed (last change 0: passwd -e, chage -d 0)"},
		{"aged-no-inactive", fixturePassword, "530 password expired (older than its maximum age): it must be changed"},
		{"aged-in-inactive-window", fixturePassword, "530 password expired (older than its maximum age): it must be changed"},
		{"max-reached-today", fixturePassword, "530 password expired (older than its maximum age): it must be changed"},
		{"max-reached-tomorrow", fixturePassword, "ok"},
		{"inactive-ends-tomorrow", fixturePassword, "530 password expired (older than its maximum age): it must be changed"},
		{"inactive-ended-today", fixturePassword, "530 password expired and account inactive"},
		{"old-no-max", fixturePassword, "ok"},
		{"old-max-99999", fixturePassword, "ok"},
		{"no-last-change", fixturePassword, "ok"},
		{"changed-in-future", fixturePassword, "ok"},
		{"huge-numbers", fixturePassword, "ok"},
		// The account's dates count only once the password is right, as
		// pam_unix's account stack runs after its auth stack.
		{"must-change", "nope", "530 wrong password"},
		{"inactive", "nope", "530 wrong password"},
		{"expired", "nope", "530 wrong password"},
		{"broken-line", fixturePassword, "530 unknown user"},
		{"weird", fixturePassword, "530 unsupported hash method"},
		{"# comment", fixturePassword, "530 unknown user"},
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
	y := fixtureHashes["yescrypt"]
	s6 := fixtureHashes["sha512crypt"]
	cases := []struct {
		file, want string
	}{
		{"a:" + s6 + "\nb:" + y + "\nc:" + y + "\n", y},
		{"a:" + s6 + "\nb:" + y + "\n", s6},
		{"a:" + fixtureHashes["bcrypt 2b"] + "\nb:!" + y + "\n", fixtureHashes["bcrypt 2b"]},
		{"a:*\nb:!\n", fallbackDummyHash},
		{"", fallbackDummyHash},
	}
	for _, tc := range cases {
		_, dummy, err := lookupPasswd(writeFile(t, tc.file), "nobody")
		if err != nil || dummy != tc.want {
			t.Errorf("file %q: dummy %q (%v), want %q", tc.file, dummy, err, tc.want)
		}
	}
	if _, err := verifyHash(fallbackDummyHash, "x"); err != nil {
		t.Errorf("fallback dummy hash cannot be computed: %v", err)
	}
	if k := hashKind(fixtureHashes["sha512crypt rounds"]); k != "$6$rounds=10000" {
		t.Errorf("hashKind = %q", k)
	}
}

// TestVerifySystemHashes checks fresh hashes of every method mkpasswd (the
// system's libxcrypt) writes, with a random password each time.
func TestVerifySystemHashes(t *testing.T) {
	mkpasswd := needProgram(t, "mkpasswd")
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

// newSystemUser makes a real user (newTestUser) whose password chpasswd
// hashes with its default method, or the one chpasswdArgs pick.
func newSystemUser(t testing.TB, chpasswdArgs ...string) (string, string) {
	t.Helper()
	u := newTestUser(t, userSpec{chpasswd: chpasswdArgs})
	return u.name, u.password
}

// TestRealShadow checks users made by useradd and chpasswd in the real
// /etc/shadow, then locked with usermod -L and expired with chage -E.
func TestRealShadow(t *testing.T) {
	a := &shadowAuth{path: "/etc/shadow"}
	for _, method := range []string{"", "SHA512", "SHA256", "MD5"} {
		var args []string
		if method != "" {
			args = []string{"-c", method}
		}
		name, pw := newSystemUser(t, args...)
		entry, _, err := lookupPasswd("/etc/shadow", name)
		if err != nil || entry == nil {
			t.Fatalf("%s not in /etc/shadow: %v", name, err)
		}
		if method == "" && !strings.HasPrefix(entry.hash, "$y$") {
			t.Errorf("chpasswd wrote %q, expected yescrypt", entry.hash[:4])
		}
		if got := authResult(a.Authenticate(context.Background(), name, pw)); got != "ok" {
			t.Errorf("%s (%s): %s", name, method, got)
		}
		if got := authResult(a.Authenticate(context.Background(), name, pw+"!")); got != "530 wrong password" {
			t.Errorf("%s (%s) wrong password: %s", name, method, got)
		}
	}

	name, pw := newSystemUser(t)
	run := func(args ...string) {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
	}
	run("usermod", "-L", name)
	if got := authResult(a.Authenticate(context.Background(), name, pw)); got != "530 account locked" {
		t.Errorf("after usermod -L: %s", got)
	}
	run("usermod", "-U", name)
	if got := authResult(a.Authenticate(context.Background(), name, pw)); got != "ok" {
		t.Errorf("after usermod -U: %s", got)
	}
	run("chage", "-E", "2001-01-01", name)
	if got := authResult(a.Authenticate(context.Background(), name, pw)); got != "530 account expired" {
		t.Errorf("after chage -E 2001-01-01: %s", got)
	}
	run("chage", "-E", "-1", name)
	run("passwd", "-d", name)
	if got := authResult(a.Authenticate(context.Background(), name, "")); !strings.HasPrefix(got, "530 empty password") {
		t.Errorf("after passwd -d: %s", got)
	}
}

// agingState is a password age set with chage on a real user, and why the
// shadow backend refuses the right password then ("" if it accepts).
type agingState struct {
	name    string
	chage   func(today int64) []string
	refused string
}

// agingStates are the states the real-user tests go through. Each sets
// every field it relies on. None is within a day of a limit, where Debian
// 12's pam_unix 1.5 and later ones differ (see expired).
func agingStates() []agingState {
	d := func(n int64) string { return strconv.FormatInt(n, 10) }
	const mustChange, inactive = "must be changed", "account inactive"
	return []agingState{
		{"just set", func(int64) []string { return []string{"-M", "99999", "-I", "-1"} }, ""},
		{"chage -d 0", func(int64) []string { return []string{"-d", "0"} }, mustChange},
		{"past -M, no -I", func(t int64) []string { return []string{"-d", d(t - 100), "-M", "30", "-I", "-1"} }, mustChange},
		{"past -M, within -I", func(t int64) []string { return []string{"-d", d(t - 100), "-M", "30", "-I", "100"} }, mustChange},
		{"past -M and -I", func(t int64) []string { return []string{"-d", d(t - 100), "-M", "30", "-I", "10"} }, inactive},
		{"within -M", func(t int64) []string { return []string{"-d", d(t - 100), "-M", "200", "-I", "10"} }, ""},
		{"old, -M 99999", func(int64) []string { return []string{"-d", "2000-01-01", "-M", "99999", "-I", "-1"} }, ""},
		{"old, no -M", func(int64) []string { return []string{"-d", "2000-01-01", "-M", "-1", "-I", "30"} }, ""},
	}
}

// setAging puts user into state st with chage.
func setAging(t testing.TB, user string, st agingState) {
	t.Helper()
	runCmd(t, "", "chage", append(st.chage(time.Now().Unix()/86400), user)...)
}

// TestRealShadowAging ages a real user's password with chage and checks
// the shadow backend reads /etc/shadow as pam_unix does
// (TestAuthPAMAgingAgreesWithShadow puts the two side by side).
func TestRealShadowAging(t *testing.T) {
	name, pw := newSystemUser(t)
	a := &shadowAuth{path: "/etc/shadow"}
	for _, st := range agingStates() {
		setAging(t, name, st)
		got := authResult(a.Authenticate(context.Background(), name, pw))
		if st.refused == "" && got != "ok" || st.refused != "" && !(strings.HasPrefix(got, "530 ") && strings.Contains(got, st.refused)) {
			t.Errorf("%s: %s, want %s", st.name, got, cmp.Or(st.refused, "ok"))
		}
		if got := authResult(a.Authenticate(context.Background(), name, pw+"x")); got != "530 wrong password" {
			t.Errorf("%s, wrong password: %s", st.name, got)
		}
	}
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
	for _, h := range fixtureHashes {
		hashes = append(hashes, h)
	}
	for _, h := range hashes {
		if got, want := hashKind(h), split(h); got != want {
			t.Errorf("hashKind(%q) = %q, want %q", h, got, want)
		}
	}
}
