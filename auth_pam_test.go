//go:build pam && cgo

package main

// -auth pam:SERVICE against the real libpam and pam_unix, with users made
// by useradd and chpasswd, through the service file the package ships
// (packaging/pam.d/mpp) and through small stacks that make PAM fail,
// hang, or talk.

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msteinert/pam/v2"
)

// installPAMService writes a service file into /etc/pam.d under a unique
// name and removes it at the end of the test.
func installPAMService(t testing.TB, content string) string {
	t.Helper()
	needRoot(t)
	name := "mppd-test-" + randomHex(6)
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
	const pw = "pam Secret-3"
	user := addSystemUser(t, pw)
	spec := "pam:" + shippedPAMService(t)

	t.Run("right password", func(t *testing.T) {
		code, _, err := checkAuth(t, authOptions{}, []string{spec}, user, pw)
		wantCode(t, code, err, codeOK, spec, pw)
	})
	t.Run("wrong password, after the PAM delay", func(t *testing.T) {
		code, took, err := checkAuth(t, authOptions{}, []string{spec}, user, "not it")
		wantCode(t, code, err, codeAuthFailed, spec, "not it")
		// pam_unix asks for 2 s (pam_fail_delay), which libpam applies
		// with up to 25% off; mppd must not cut it short.
		if took < 1400*time.Millisecond {
			t.Errorf("refused after %v: the PAM delay was not honoured", took)
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		code, _, err := checkAuth(t, authOptions{}, []string{spec}, "mppdnosuchuser", pw)
		wantCode(t, code, err, codeAuthFailed, spec, pw)
	})
	t.Run("password must be changed", func(t *testing.T) {
		u := addSystemUser(t, pw)
		runCmd(t, "", "chage", "-d", "0", u)
		code, _, err := checkAuth(t, authOptions{}, []string{spec}, u, pw)
		wantCode(t, code, err, codeAuthFailed, spec, pw)
		if !strings.Contains(err.Error(), "account") {
			t.Errorf("reason %q: want the account stack's refusal", err)
		}
	})
	t.Run("account expired", func(t *testing.T) {
		u := addSystemUser(t, pw)
		runCmd(t, "", "chage", "-E", "1", u)
		code, _, err := checkAuth(t, authOptions{}, []string{spec}, u, pw)
		wantCode(t, code, err, codeAuthFailed, spec, pw)
		if !strings.Contains(err.Error(), "account") {
			t.Errorf("reason %q: want the account stack's refusal", err)
		}
	})
	t.Run("account locked", func(t *testing.T) {
		u := addSystemUser(t, pw)
		runCmd(t, "", "usermod", "-L", u)
		code, _, err := checkAuth(t, authOptions{}, []string{spec}, u, pw)
		wantCode(t, code, err, codeAuthFailed, spec, pw)
	})
	t.Run("PAM cannot reach its database: 451", func(t *testing.T) {
		// pam_debug answers what it is told: here, what pam_sss or
		// pam_ldap answer when their server is down.
		svc := installPAMService(t, "auth required pam_debug.so auth=authinfo_unavail\naccount required pam_permit.so\n")
		code, _, err := checkAuth(t, authOptions{}, []string{"pam:" + svc}, user, pw)
		wantCode(t, code, err, codeLocalError, "pam:"+svc, pw)
	})
	t.Run("PAM hanging: 451 after -auth-timeout", func(t *testing.T) {
		svc := installPAMService(t, "auth required pam_exec.so quiet /bin/sleep 5\naccount required pam_permit.so\n")
		o := authOptions{timeout: 500 * time.Millisecond}
		code, took, err := checkAuth(t, o, []string{"pam:" + svc}, user, pw)
		wantCode(t, code, err, codeLocalError, "pam:"+svc, pw)
		if took < 450*time.Millisecond || took > 3*time.Second {
			t.Errorf("gave up after %v, want about the 500ms -auth-timeout", took)
		}
	})
	t.Run("messages from PAM are not answers", func(t *testing.T) {
		// pam_echo shows a text (PAM_TEXT_INFO) before the password prompt.
		svc := installPAMService(t, "auth required pam_echo.so Hello %u\nauth required pam_unix.so nodelay\naccount required pam_unix.so\n")
		code, _, err := checkAuth(t, authOptions{}, []string{"pam:" + svc}, user, pw)
		wantCode(t, code, err, codeOK, "", pw)
	})
	t.Run("chain: PAM after a refusing shadow file", func(t *testing.T) {
		code, _, err := checkAuth(t, authOptions{passwd: "examples/demo.passwd"}, []string{"shadow", spec}, user, pw)
		wantCode(t, code, err, codeOK, "", pw)
	})
	t.Run("service that does not exist: refused at start-up", func(t *testing.T) {
		_, err := newAuthChain([]string{"pam:mppd-no-such-service"}, authOptions{connectTimeout: time.Second, timeout: time.Second})
		if err == nil || !strings.Contains(err.Error(), "no PAM service") {
			t.Fatalf("got %v, want a start-up error", err)
		}
	})
}

// The conversation answers the first password prompt and nothing else.
func TestPAMConversation(t *testing.T) {
	conv, unexpected := pamConversation("pw")
	if r, err := conv(pam.TextInfo, "hello"); err != nil || r != "" {
		t.Errorf("text info: %q %v", r, err)
	}
	if r, err := conv(pam.PromptEchoOff, "Password: "); err != nil || r != "pw" {
		t.Errorf("first password prompt: %q %v", r, err)
	}
	if r, err := conv(pam.PromptEchoOff, "Verification code: "); err == nil || r != "" {
		t.Errorf("second password prompt answered: %q", r)
	}
	if !strings.Contains(*unexpected, "second password prompt") {
		t.Errorf("unexpected = %q", *unexpected)
	}
	conv, unexpected = pamConversation("pw")
	if _, err := conv(pam.PromptEchoOn, "login: "); err == nil || *unexpected == "" {
		t.Errorf("echo-on prompt answered")
	}
	err := pamError("auth", pam.ErrConv, "a question (echo on)")
	if asReplyError(err).code != codeAuthFailed || !strings.Contains(err.Error(), "echo on") {
		t.Errorf("conversation error: %v", err)
	}
	if asReplyError(pamError("auth", pam.ErrSystem, "")).code != codeLocalError {
		t.Errorf("system error is not a 451")
	}
	if asReplyError(pamError("auth", errors.New("odd"), "")).code != codeLocalError {
		t.Errorf("a non-PAM error is not a 451")
	}
}

// BenchmarkAuthPAM is BenchmarkAuthBackends for pam:SERVICE, through the shipped
// service file (pam_unix, which asks for a 2 s delay after a failure) and
// through pam_unix with nodelay.
func BenchmarkAuthPAM(b *testing.B) {
	user := addSystemUser(b, "bench-pw")
	b.Run("shipped", func(b *testing.B) {
		benchOutcomes(b, authOptions{}, "pam:"+shippedPAMService(b), user, "bench-pw")
	})
	b.Run("nodelay", func(b *testing.B) {
		svc := installPAMService(b, "auth required pam_unix.so nodelay\naccount required pam_unix.so\n")
		benchOutcomes(b, authOptions{}, "pam:"+svc, user, "bench-pw")
	})
}

// TestAuthPAMLeastPrivilege runs the PAM build as the packaged unit runs
// it: an unprivileged user whose only extra group is shadow, no_new_privs,
// no capabilities. pam_unix then reads /etc/shadow itself (its setgid
// helper is powerless under no_new_privs). Without the group, Debian's
// common-auth refuses every password: a 530, as for any PAM service.
func TestAuthPAMLeastPrivilege(t *testing.T) {
	setpriv := needProgram(t, "setpriv")
	const pw = "pam Secret-5"
	user := addSystemUser(t, pw)
	svc := shippedPAMService(t)
	runAs := newDaemonUser(t)
	dir := shortTempDir(t, "mppd-pam-")
	bin := filepath.Join(dir, "mppd")
	if out, err := exec.Command("go", "build", "-tags", "pam", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -tags pam: %v\n%s", err, out)
	}
	pass := func(groups, pw string) (string, string) {
		cmd := exec.Command(setpriv, "--reuid", runAs, "--regid", runAs, "--groups", groups,
			"--no-new-privs", "--inh-caps=-all", "--bounding-set=-all",
			bin, "-log", "stderr", "-fail-delay", "0", "-auth", "pam:"+svc)
		cmd.Stdin = strings.NewReader("USER " + user + "\r\nPASS " + pw + "\r\nQUIT\r\n")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("mppd: %v\n%s", err, stderr.String())
		}
		lines := strings.Split(string(out), "\r\n")
		if len(lines) < 3 {
			t.Fatalf("replies %q\n%s", out, stderr.String())
		}
		mustNotLeak(t, stderr.String(), pw)
		return lines[2], stderr.String()
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
