package e2e

// -auth end to end: the built mppd, its flags, a real dovecot behind it,
// and what the client and the log see.

import (
	"cmp"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

// TestAuthEndToEndAging: a password that must be changed, or has aged past
// its maximum, gets what a wrong password gets, as late (-fail-delay), and
// only the log says why.
func TestAuthEndToEndAging(t *testing.T) {
	y := testlib.FixtureHashes["yescrypt"]
	today := time.Now().Unix() / 86400
	file := testlib.TempFile(t, "passwd", fmt.Sprintf("fresh:%[1]s:%[2]d:0:99999:7:::\n"+
		"mustchange:%[1]s:0:0:99999:7:::\n"+
		"aged:%[1]s:%[3]d:0:30:7:::\n"+
		"inactive:%[1]s:%[3]d:0:30:7:10::\n", y, today, today-100), 0o600)
	args := []string{"-passwd", file, "-fail-delay", "300ms"}
	wrong, _, _ := mppSession(t, args, "fresh", "wrong")
	if wrong != "530 Authentication Failure" {
		t.Fatalf("wrong password: %q", wrong)
	}
	if reply, log, _ := mppSession(t, args, "fresh", testlib.FixturePassword); !strings.HasPrefix(reply, "250 ") {
		t.Fatalf("fresh password: %q\n%s", reply, log)
	}
	for user, why := range map[string]string{
		"mustchange": "password must be changed",
		"aged":       "password expired (older than its maximum age)",
		"inactive":   "password expired and account inactive",
	} {
		reply, log, took := mppSession(t, args, user, testlib.FixturePassword)
		if reply != wrong {
			t.Errorf("%s: %q, want what a wrong password gets: %q", user, reply, wrong)
		}
		if took < 300*time.Millisecond {
			t.Errorf("%s: refused after %v, before -fail-delay", user, took)
		}
		if !strings.Contains(log, "authentication failed") || !strings.Contains(log, why) {
			t.Errorf("%s: the log does not say %q:\n%s", user, why, log)
		}
	}
}

// TestRealShadow checks users made by useradd and chpasswd in the real
// /etc/shadow, then locked with usermod -L and expired with chage -E.
func TestRealShadow(t *testing.T) {
	for _, method := range []string{"", "SHA512", "SHA256", "MD5"} {
		var args []string
		if method != "" {
			args = []string{"-c", method}
		}
		u := testlib.NewUser(t, testlib.UserSpec{Chpasswd: args})
		name, pw := u.Name, u.Password
		if hash := testlib.ShadowHash(t, name); method == "" && !strings.HasPrefix(hash, "$y$") {
			t.Errorf("chpasswd wrote %q, expected yescrypt", hash[:4])
		}
		if got := shadowResult(t, name, pw); got != "ok" {
			t.Errorf("%s (%s): %s", name, method, got)
		}
		if got := shadowResult(t, name, pw+"!"); got != "530 wrong password" {
			t.Errorf("%s (%s) wrong password: %s", name, method, got)
		}
	}

	u := testlib.NewUser(t, testlib.UserSpec{})
	name, pw := u.Name, u.Password
	run := func(args ...string) {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
	}
	run("usermod", "-L", name)
	if got := shadowResult(t, name, pw); got != "530 account locked" {
		t.Errorf("after usermod -L: %s", got)
	}
	run("usermod", "-U", name)
	if got := shadowResult(t, name, pw); got != "ok" {
		t.Errorf("after usermod -U: %s", got)
	}
	run("chage", "-E", "2001-01-01", name)
	if got := shadowResult(t, name, pw); got != "530 account expired" {
		t.Errorf("after chage -E 2001-01-01: %s", got)
	}
	run("chage", "-E", "-1", name)
	run("passwd", "-d", name)
	if got := shadowResult(t, name, pw); !strings.HasPrefix(got, "530 empty password") {
		t.Errorf("after passwd -d: %s", got)
	}
}

// TestRealShadowAging ages a real user's password with chage and checks
// the shadow backend reads /etc/shadow as pam_unix does
// (TestAuthPAMAgingAgreesWithShadow puts the two side by side).
func TestRealShadowAging(t *testing.T) {
	u := testlib.NewUser(t, testlib.UserSpec{})
	name, pw := u.Name, u.Password
	for _, st := range agingStates() {
		setAging(t, name, st)
		got := shadowResult(t, name, pw)
		if st.refused == "" && got != "ok" || st.refused != "" && !(strings.HasPrefix(got, "530 ") && strings.Contains(got, st.refused)) {
			t.Errorf("%s: %s, want %s", st.name, got, cmp.Or(st.refused, "ok"))
		}
		if got := shadowResult(t, name, pw+"x"); got != "530 wrong password" {
			t.Errorf("%s, wrong password: %s", st.name, got)
		}
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
	testlib.Run(t, "", "chage", append(st.chage(time.Now().Unix()/86400), user)...)
}
