package e2e

// -auth pam:SERVICE against the real libpam and pam_unix, through the helper
// mppd-pam built from cmd/mppd-pam as make build builds it, with users made
// by useradd and chpasswd, through the service file the package ships
// (packaging/pam.d/mpp) and through small stacks that make PAM fail, hang,
// or talk. auth_pam_test.go at the top tests mppd's side against fake helpers.

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

// pamHeaders is what cmd/mppd-pam needs to be built with PAM (Debian:
// libpam0g-dev), as the Makefile looks for it.
const pamHeaders = "/usr/include/security/pam_appl.h"

// pamHelperBinary builds the PAM helper once per test run, with cgo and
// -tags pam, beside mppd's binary (so TestMain removes it too, as
// mppBinary's), in a directory other users may enter (the least-privilege
// test runs both as a daemon user), and returns its path. Without the PAM
// headers or a C compiler it skips (or fails under MPPD_REQUIRE_REAL=1).
func pamHelperBinary(t testing.TB) string {
	t.Helper()
	_, err := os.Stat(pamHeaders)
	testlib.NeedReal(t, err == nil, pamHeaders+" missing (libpam0g-dev): the PAM helper cannot be built")
	_, err = exec.LookPath("gcc")
	testlib.NeedReal(t, err == nil, "no C compiler (gcc): the PAM helper, a cgo program, cannot be built")
	return testlib.Built(t, "mppd-pam", "github.com/mppd/mppd/cmd/mppd-pam", []string{"-tags", "pam"}, []string{"CGO_ENABLED=1"})
}

// pamOptions are o with the built helper.
func pamOptions(t testing.TB, o authOptions) authOptions {
	t.Helper()
	o.pamHelper = pamHelperBinary(t)
	return o
}

// installPAMService writes a service file into /etc/pam.d under a unique
// name and removes it at the end of the test.
func installPAMService(t testing.TB, content string) string {
	t.Helper()
	testlib.NeedRoot(t)
	name := "mppd-test-" + testlib.RandomHex(6)
	path := filepath.Join("/etc/pam.d", name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	return name
}

func shippedPAMService(t testing.TB) string {
	t.Helper()
	content, err := os.ReadFile("packaging/pam.d/mpp")
	if err != nil {
		t.Fatal(err)
	}
	return installPAMService(t, string(content))
}

func TestAuthPAM(t *testing.T) {
	pamHelperBinary(t) // skip before making users, if it cannot be built
	const pw = "pam Secret-3"
	user := testlib.NewUser(t, testlib.UserSpec{Home: true, Password: pw}).Name
	spec := "pam:" + shippedPAMService(t)

	t.Run("right password", func(t *testing.T) {
		code, _, err := checkAuth(t, pamOptions(t, authOptions{}), []string{spec}, user, pw)
		wantCode(t, code, err, codeOK, spec, pw)
	})
	t.Run("wrong password, after the PAM delay", func(t *testing.T) {
		code, took, err := checkAuth(t, pamOptions(t, authOptions{}), []string{spec}, user, "not it")
		wantCode(t, code, err, codeAuthFailed, spec, "not it")
		// pam_unix asks for 2 s (pam_fail_delay), which libpam varies
		// at random by up to half of it either way (_pam_compute_delay:
		// the mean of three uniform draws, so 1.26 s has been seen);
		// mppd must not cut it short.
		if took < 1000*time.Millisecond {
			t.Errorf("refused after %v: the PAM delay was not honoured", took)
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		code, _, err := checkAuth(t, pamOptions(t, authOptions{}), []string{spec}, "mppdnosuchuser", pw)
		wantCode(t, code, err, codeAuthFailed, spec, pw)
	})
	t.Run("password must be changed", func(t *testing.T) {
		u := testlib.NewUser(t, testlib.UserSpec{Home: true, Password: pw}).Name
		testlib.Run(t, "", "chage", "-d", "0", u)
		code, _, err := checkAuth(t, pamOptions(t, authOptions{}), []string{spec}, u, pw)
		wantCode(t, code, err, codeAuthFailed, spec, pw)
		if !strings.Contains(err.Error(), "account") {
			t.Errorf("reason %q: want the account stack's refusal", err)
		}
	})
	t.Run("account expired", func(t *testing.T) {
		u := testlib.NewUser(t, testlib.UserSpec{Home: true, Password: pw}).Name
		testlib.Run(t, "", "chage", "-E", "1", u)
		code, _, err := checkAuth(t, pamOptions(t, authOptions{}), []string{spec}, u, pw)
		wantCode(t, code, err, codeAuthFailed, spec, pw)
		if !strings.Contains(err.Error(), "account") {
			t.Errorf("reason %q: want the account stack's refusal", err)
		}
	})
	t.Run("account locked", func(t *testing.T) {
		u := testlib.NewUser(t, testlib.UserSpec{Home: true, Password: pw}).Name
		testlib.Run(t, "", "usermod", "-L", u)
		code, _, err := checkAuth(t, pamOptions(t, authOptions{}), []string{spec}, u, pw)
		wantCode(t, code, err, codeAuthFailed, spec, pw)
	})
	t.Run("PAM cannot reach its database: 451", func(t *testing.T) {
		// pam_debug answers what it is told: here, what pam_sss or
		// pam_ldap answer when their server is down.
		svc := installPAMService(t, "auth required pam_debug.so auth=authinfo_unavail\naccount required pam_permit.so\n")
		code, _, err := checkAuth(t, pamOptions(t, authOptions{}), []string{"pam:" + svc}, user, pw)
		wantCode(t, code, err, codeLocalError, "pam:"+svc, pw)
	})
	t.Run("PAM hanging: 451 after -auth-timeout", func(t *testing.T) {
		svc := installPAMService(t, "auth required pam_exec.so quiet /bin/sleep 5\naccount required pam_permit.so\n")
		o := authOptions{timeout: 500 * time.Millisecond}
		code, took, err := checkAuth(t, pamOptions(t, o), []string{"pam:" + svc}, user, pw)
		wantCode(t, code, err, codeLocalError, "pam:"+svc, pw)
		if took < 450*time.Millisecond || took > 3*time.Second {
			t.Errorf("gave up after %v, want about the 500ms -auth-timeout", took)
		}
	})
	t.Run("messages from PAM are not answers", func(t *testing.T) {
		// pam_echo shows a text (PAM_TEXT_INFO) before the password prompt.
		svc := installPAMService(t, "auth required pam_echo.so Hello %u\nauth required pam_unix.so nodelay\naccount required pam_unix.so\n")
		code, _, err := checkAuth(t, pamOptions(t, authOptions{}), []string{"pam:" + svc}, user, pw)
		wantCode(t, code, err, codeOK, "", pw)
	})
	t.Run("chain: PAM after a refusing shadow file", func(t *testing.T) {
		code, _, err := checkAuth(t, pamOptions(t, authOptions{passwd: "examples/demo.passwd"}), []string{"shadow", spec}, user, pw)
		wantCode(t, code, err, codeOK, "", pw)
	})
	t.Run("service that does not exist: refused at start-up", func(t *testing.T) {
		o := pamOptions(t, authOptions{connectTimeout: time.Second, timeout: time.Second})
		cmd := exec.Command(testlib.Mppd(t), append(o.flags([]string{"pam:mppd-no-such-service"}), "-config", "", "-log", "stderr")...)
		out, err := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != exitConfig || !strings.Contains(string(out), "no PAM service") {
			t.Fatalf("got %v %q, want a start-up error", err, out)
		}
	})
}

// BenchmarkAuthPAM is BenchmarkAuthBackends for pam:SERVICE, through the shipped
// service file (pam_unix, which asks for a 2 s delay after a failure) and
// through pam_unix with nodelay.
func BenchmarkAuthPAM(b *testing.B) {
	pamHelperBinary(b)
	user := testlib.NewUser(b, testlib.UserSpec{Home: true, Password: "bench-pw"}).Name
	b.Run("shipped", func(b *testing.B) {
		benchOutcomes(b, pamOptions(b, authOptions{}), "pam:"+shippedPAMService(b), user, "bench-pw")
	})
	b.Run("nodelay", func(b *testing.B) {
		svc := installPAMService(b, "auth required pam_unix.so nodelay\naccount required pam_unix.so\n")
		benchOutcomes(b, pamOptions(b, authOptions{}), "pam:"+svc, user, "bench-pw")
	})
}

// TestAuthPAMLeastPrivilege runs mppd and its PAM helper as the packaged
// unit runs them: an unprivileged user whose only extra group is shadow,
// no_new_privs, no capabilities. The helper inherits all of that, and
// pam_unix in it reads /etc/shadow itself (its setgid helper is powerless
// under no_new_privs). Without the group, Debian's common-auth refuses
// every password: a 530, as for any PAM service.
func TestAuthPAMLeastPrivilege(t *testing.T) {
	setpriv := testlib.NeedProgram(t, "setpriv")
	helper := pamHelperBinary(t)
	const pw = "pam Secret-5"
	user := testlib.NewUser(t, testlib.UserSpec{Home: true, Password: pw}).Name
	svc := shippedPAMService(t)
	runAs := testlib.NewUser(t, testlib.UserSpec{Prefix: "i3mppd", System: true}).Name
	// Beside the helper, in a directory runAs may enter.
	bin := testlib.Mppd(t)
	pass := func(groups, pw string) (string, string) {
		m := launcherNamed(t, "pipe").start(t, []string{setpriv, "--reuid", runAs, "--regid", runAs, "--groups", groups,
			"--no-new-privs", "--inh-caps=-all", "--bounding-set=-all",
			bin, "-log", "stderr", "-fail-delay", "0", "-auth", "pam:" + svc, "-pam-helper", helper})
		c := m.conn(t)
		c.Send("USER " + user + "\r\nPASS " + pw + "\r\nQUIT\r\n")
		out := c.Rest()
		if code := waitExit(t, c.cmd); code != 0 {
			t.Fatalf("mppd: exit status %d\n%s", code, m.log)
		}
		lines := strings.Split(out, "\r\n")
		if len(lines) < 3 {
			t.Fatalf("replies %q\n%s", out, m.log)
		}
		mustNotLeak(t, m.log.String(), pw)
		return lines[2], m.log.String()
	}
	if reply, log := pass("shadow", pw); !strings.HasPrefix(reply, "250 ") {
		t.Errorf("group shadow, right password: %q\n%s", reply, log)
	}
	if reply, log := pass("shadow", "wrong"); !strings.HasPrefix(reply, "530 ") {
		t.Errorf("group shadow, wrong password: %q\n%s", reply, log)
	}
	if reply, log := pass(runAs, pw); !strings.HasPrefix(reply, "530 ") {
		t.Errorf("without group shadow: %q\n%s", reply, log)
	}
}

// TestAuthPAMRhost: the modules see the client's address as PAM_RHOST and
// "mpp" as PAM_TTY, from the session to the real libpam: pam_exec exports
// PAM's items to a script, which writes down what it was given. Over TCP
// (-listen) the address is the socket's peer; under a launcher that passes
// it in REMOTE_ADDR (systemd, a stdin session) it is that; with none known,
// PAM_RHOST is left unset, as is PAM_RUSER.
func TestAuthPAMRhost(t *testing.T) {
	helper := pamHelperBinary(t)
	dir := t.TempDir()
	items := filepath.Join(dir, "items")
	script := filepath.Join(dir, "record")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s|%s|%s\\n' \"${PAM_RHOST-unset}\" \"${PAM_TTY-unset}\" \"${PAM_RUSER-unset}\" >"+items+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	svc := installPAMService(t, "auth required pam_exec.so quiet "+script+"\nauth required pam_permit.so\naccount required pam_permit.so\n")
	args := []string{"-fail-delay", "0", "-auth", "pam:" + svc, "-pam-helper", helper}
	recorded := func() string {
		t.Helper()
		b, err := os.ReadFile(items)
		if err != nil {
			t.Fatalf("the PAM stack did not run: %v", err)
		}
		os.Remove(items)
		return strings.TrimSpace(string(b))
	}
	for _, v := range []string{"REMOTE_ADDR", "TCPREMOTEIP", "REMOTE_HOST"} {
		t.Setenv(v, "")
	}

	t.Run("TCP", func(t *testing.T) {
		c := start(t, "-listen", append([]string{"-config", "", "-log", "stderr"}, args...)...).greeted(t)
		c.Cmd("USER mppdrhost", "250")
		c.Cmd("PASS pw", "250")
		if got := recorded(); got != "127.0.0.1|mpp|unset" {
			t.Errorf("PAM_RHOST|PAM_TTY|PAM_RUSER = %q, want 127.0.0.1|mpp|unset", got)
		}
	})
	t.Run("REMOTE_ADDR", func(t *testing.T) {
		t.Setenv("REMOTE_ADDR", "203.0.113.5")
		if reply, log, _ := mppSession(t, args, "mppdrhost", "pw"); !strings.HasPrefix(reply, "250 ") {
			t.Fatalf("PASS: %q\n%s", reply, log)
		}
		if got := recorded(); got != "203.0.113.5|mpp|unset" {
			t.Errorf("PAM_RHOST|PAM_TTY|PAM_RUSER = %q, want 203.0.113.5|mpp|unset", got)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		if reply, log, _ := mppSession(t, args, "mppdrhost", "pw"); !strings.HasPrefix(reply, "250 ") {
			t.Fatalf("PASS: %q\n%s", reply, log)
		}
		if got := recorded(); got != "unset|mpp|unset" {
			t.Errorf("PAM_RHOST|PAM_TTY|PAM_RUSER = %q, want unset|mpp|unset", got)
		}
	})
	t.Run("the helper refuses an address that is not one", func(t *testing.T) {
		cmd := exec.Command(helper)
		cmd.Stdin = strings.NewReader(svc + "\x00mppdrhost\x00pw\x00client.example\x00")
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "not an IP address") {
			t.Errorf("mppd-pam: %v %q, want exit 2 saying the address is not one", err, out)
		}
		if _, err := os.Stat(items); err == nil {
			t.Errorf("the PAM stack ran")
		}
	})
}

// TestAuthPAMAgingAgreesWithShadow: for each password age of agingStates,
// the real pam_unix (through the shipped service's common-account) and the
// shadow backend reading the same /etc/shadow let the right password in,
// or refuse it, alike.
func TestAuthPAMAgingAgreesWithShadow(t *testing.T) {
	pamHelperBinary(t)
	const pw = "pam Secret-6"
	user := testlib.NewUser(t, testlib.UserSpec{Home: true, Password: pw}).Name
	pamSpec := "pam:" + shippedPAMService(t)
	o := pamOptions(t, authOptions{passwd: "/etc/shadow"})
	for _, st := range agingStates() {
		setAging(t, user, st)
		pamCode, _, pamErr := checkAuth(t, o, []string{pamSpec}, user, pw)
		shadowCode, _, shadowErr := checkAuth(t, o, []string{"shadow"}, user, pw)
		want := codeOK
		if st.refused != "" {
			want = codeAuthFailed
		}
		if pamCode != want || shadowCode != want {
			t.Errorf("%s: pam_unix %d (%v), shadow %d (%v), want %d", st.name, pamCode, pamErr, shadowCode, shadowErr, want)
		}
	}
}

// TestAuthPAMEchoingModule: a module that prints the password where the
// helper's output goes (pam_exec with expose_authtok and log=/dev/stderr, a
// set-up for debugging a script) does not get it, whole or in pieces, into
// mppd's log: what the log says comes from the helper's report alone, on
// a descriptor the script cannot write to (pam_exec closes it in its child,
// and the helper marks it close-on-exec for modules that do not).
func TestAuthPAMEchoingModule(t *testing.T) {
	helper := pamHelperBinary(t)
	const pw = "Echoed Secret-9"
	dir := t.TempDir()
	script := filepath.Join(dir, "echo-password")
	if err := os.WriteFile(script, []byte("#!/bin/sh\npw=$(tr -d '\\000')\necho \"got $pw\"\necho \"${pw%???}\" >&2\necho \"${pw#???}\"\n{ echo \"$pw\" >&3; } 2>/dev/null\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	svc := installPAMService(t, "auth requisite pam_exec.so expose_authtok log=/dev/stderr "+script+"\naccount required pam_permit.so\n")
	code, _, err := checkAuth(t, pamOptions(t, authOptions{}), []string{"pam:" + svc}, "alice", pw)
	if code == codeOK {
		t.Fatalf("accepted: the script did not run")
	}
	for _, piece := range []string{pw, pw[:len(pw)-3], pw[3:], "Echoed", "Secret"} {
		mustNotLeak(t, err.Error(), piece)
	}
	if !strings.Contains(err.Error(), "auth: PAM_") {
		t.Errorf("reason %q: want the auth stack's return value", err)
	}
	// The helper run by hand: the module's output is there, for a person.
	cmd := exec.Command(helper)
	cmd.Stdin = strings.NewReader(svc + "\x00alice\x00" + pw + "\x00\x00")
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "got "+pw) {
		t.Errorf("the script's output did not reach the helper's standard error (test set-up): %q", out)
	}
}

// A helper still checking when mppd dies does not outlive it: it has no
// time limit of its own.
func TestPAMHelperOutlivesMppd(t *testing.T) {
	helper, dir := testlib.Script(t, "mppd-pam", `echo $$ >"$0.child"; exec sleep 60`)
	cmd := exec.Command(testlib.Mppd(t), "-log", "none", "-auth", "pam:"+testlib.AnyPAMService(t), "-pam-helper", helper)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	io.WriteString(stdin, "USER alice\r\nPASS pw\r\n")
	pidFile := filepath.Join(dir, "mppd-pam.child")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(pidFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("mppd did not start the helper")
		}
	}
	pid := testlib.PIDFrom(t, filepath.Join(dir, "mppd-pam.child"))
	cmd.Process.Kill()
	cmd.Wait()
	testlib.MustBeGone(t, pid, "mppd")
}

// The built mppd with a helper that cannot be run: exit 78, with the
// reason on stderr (TestPAMHelperAtStartUp has the other cases).
func TestPAMHelperMissingAtStartUp(t *testing.T) {
	svc := testlib.AnyPAMService(t)
	dir := t.TempDir()
	bin := testlib.Mppd(t)
	out, err := exec.Command(bin, "-log", "stderr", "-auth", "pam:"+svc, "-pam-helper", filepath.Join(dir, "missing")).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitConfig {
		t.Fatalf("mppd with a missing helper: %v, want exit %d\n%s", err, exitConfig, out)
	}
	if !strings.Contains(string(out), "-pam-helper") {
		t.Errorf("message %q does not name -pam-helper", out)
	}
}
