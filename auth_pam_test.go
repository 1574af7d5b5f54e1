package main

// mppd's side of -auth pam:SERVICE against fake helpers (shell scripts in
// place of mppd-pam): what it sends, how it reads exit statuses, and that a
// helper that hangs, babbles or dies cannot hold up or mislead a session.
// e2e/pam_test.go runs the real helper against the real PAM.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

// fakePAMCheck runs one check of pam:SERVICE through helper, SERVICE being
// a service file that exists on any PAM system.
func fakePAMCheck(t *testing.T, helper string, timeout time.Duration, user, pw string) (int, time.Duration, error) {
	t.Helper()
	a, err := newPAMAuth(testlib.AnyPAMService(t), helper, timeout)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = a.Authenticate(context.Background(), user, pw)
	return replyCode(err), time.Since(start), err
}

func TestPAMHelperRequest(t *testing.T) {
	// What the helper gets: the request on stdin, no arguments, and an
	// environment of mppd's choosing, nothing of mppd's own.
	t.Setenv("MPPD_TEST_CANARY", "inherited")
	svc := testlib.AnyPAMService(t)
	a, err := newPAMAuth(svc, "/bin/true", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	const pw = "pw s3cret caf\u00e9"
	// The session's peer becomes the request's last field: an IP address
	// with no port, or nothing.
	for _, c := range []struct{ peer, rhost string }{
		{"192.0.2.7", "192.0.2.7"},
		{"192.0.2.7:40123", "192.0.2.7"},
		{"[2001:db8::1]:40123", "2001:db8::1"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"fe80::1%eth0", "fe80::1"},
		{"unknown", ""},
		{"@", ""},
		{"client.example:40123", ""},
		{"", ""},
	} {
		helper, dir := testlib.Script(t, "mppd-pam", `cat >"$0.stdin"; echo "$# $*" >"$0.args"; env >"$0.env"; exit 0`)
		a.(*pamAuth).helper = helper
		ctx := context.Background()
		if c.peer != "" {
			ctx = withClientAddr(ctx, c.peer)
		}
		if err := a.Authenticate(ctx, "alice", pw); replyCode(err) != codeOK {
			t.Fatalf("exit 0: got %d (%v), want 250", replyCode(err), err)
		}
		read := func(name string) string {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		if got, want := read("mppd-pam.stdin"), svc+"\x00alice\x00"+pw+"\x00"+c.rhost+"\x00"; got != want {
			t.Errorf("peer %q: stdin %q, want %q", c.peer, got, want)
		}
		if got := read("mppd-pam.args"); got != "0 \n" {
			t.Errorf("arguments %q, want none", got)
		}
		env := read("mppd-pam.env")
		mustNotLeak(t, env, pw)
		if strings.Contains(env, "MPPD_TEST_CANARY") {
			t.Errorf("mppd's environment reached the helper:\n%s", env)
		}
		if !strings.Contains(env, "GOMAXPROCS=1") {
			t.Errorf("environment without GOMAXPROCS=1:\n%s", env)
		}
	}
}

// The session hands its peer to the backend in PASS's context, through the
// chain: what pam:SERVICE sends as the client's address.
func TestPAMHelperRequestFromSession(t *testing.T) {
	helper, dir := testlib.Script(t, "mppd-pam", `cat >"$0.stdin"; exit 0`)
	svc := testlib.AnyPAMService(t)
	cfg, _, _ := testConfig(t)
	cfg.Auth = testChain(t, authOptions{pamHelper: helper}, "pam:"+svc)
	for peer, rhost := range map[string]string{"198.51.100.9:1234": "198.51.100.9", "unknown": ""} {
		c := &scriptConn{in: strings.NewReader("USER alice\r\nPASS pw\r\nQUIT\r\n")}
		Serve(cfg, c, peer)
		if !strings.Contains(c.out.String(), "250 Command OK, alice authenticated") {
			t.Fatalf("peer %q: replies %q", peer, c.out.String())
		}
		b, err := os.ReadFile(filepath.Join(dir, "mppd-pam.stdin"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(b), svc+"\x00alice\x00pw\x00"+rhost+"\x00"; got != want {
			t.Errorf("peer %q: stdin %q, want %q", peer, got, want)
		}
	}
}

func TestPAMHelperExitStatus(t *testing.T) {
	for _, c := range []struct {
		name, script string
		want         int
		reason       string // in the error, for the log
	}{
		{"accepted", "exit 0", codeOK, ""},
		{"refused", `echo "auth 7" >&3; exit 1`, codeAuthFailed, "auth: PAM_AUTH_ERR (authentication failure)"},
		{"refused, silent", "exit 1", codeAuthFailed, "refused"},
		{"must change", `echo "account 12" >&3; exit 1`, codeAuthFailed, "account: PAM_NEW_AUTHTOK_REQD (the password must be changed first)"},
		{"PAM cannot decide", `echo "auth 9" >&3; exit 111`, codeLocalError, "auth: PAM_AUTHINFO_UNAVAIL"},
		{"bad request", `echo "mppd-pam: bad request: x" >&2; echo request >&3; exit 2`, codeLocalError, "could not read mppd's request"},
		{"exit 2, no report", `exit 2`, codeLocalError, "could not read mppd's request (another version of mppd-pam?) or crashed"},
		{"Go panic", `echo "panic: runtime error: index out of range" >&2; exit 2`, codeLocalError, "crashed (a Go panic"},
		{"built without PAM", `echo build >&3; exit 111`, codeLocalError, "built without PAM"},
		{"unknown status", "exit 7", codeLocalError, "exit status 7"},
		{"unknown status, with a report", `echo "auth 4" >&3; exit 7`, codeLocalError, "exit status 7: auth: PAM_SYSTEM_ERR"},
		{"killed", "kill -9 $$", codeLocalError, "signal: killed"},
		{"reads nothing, refuses", `exec <&-; exit 1`, codeAuthFailed, "refused"},
		{"not a program", "", codeLocalError, "exec format error"},
	} {
		t.Run(c.name, func(t *testing.T) {
			helper, _ := testlib.Script(t, "mppd-pam", c.script)
			if c.script == "" {
				os.WriteFile(helper, []byte("\x7fELF not really"), 0o755)
			}
			code, _, err := fakePAMCheck(t, helper, 5*time.Second, "alice", "pw")
			if code != c.want {
				t.Fatalf("got %d (%v), want %d", code, err, c.want)
			}
			if c.reason != "" && !strings.Contains(err.Error(), c.reason) {
				t.Errorf("error %q, want it to say %q", err, c.reason)
			}
		})
	}
}

// A helper that hangs (a module waiting on a dead server) is killed at
// -auth-timeout with what it started, and the answer is 451.
func TestPAMHelperTimeout(t *testing.T) {
	helper, dir := testlib.Script(t, "mppd-pam", `sleep 60 & echo $! >"$0.child"; wait`)
	code, took, err := fakePAMCheck(t, helper, 300*time.Millisecond, "alice", "pw")
	if code != codeLocalError || !strings.Contains(err.Error(), "did not answer within 300ms") {
		t.Fatalf("got %d (%v), want 451 for the timeout", code, err)
	}
	if took < 300*time.Millisecond || took > 2*time.Second {
		t.Errorf("answered after %v, want about 300ms", took)
	}
	pid := testlib.PIDFrom(t, filepath.Join(dir, "mppd-pam.child"))
	testlib.MustBeGone(t, pid, "the timeout")
}

// A helper whose child keeps its output open after it has answered does not
// hold the session past a second, and the child does not outlive the check.
func TestPAMHelperLeftoverChild(t *testing.T) {
	helper, dir := testlib.Script(t, "mppd-pam", `sleep 30 & echo $! >"$0.child"; exit 1`)
	code, took, err := fakePAMCheck(t, helper, 20*time.Second, "alice", "pw")
	pid := testlib.PIDFrom(t, filepath.Join(dir, "mppd-pam.child"))
	if code != codeAuthFailed {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("got %d (%v), want 530", code, err)
	}
	if took > 3*time.Second {
		t.Errorf("answered after %v: a leftover child held the session", took)
	}
	testlib.MustBeGone(t, pid, "the helper")
}

// Nothing the helper or its modules write on standard output or error is
// logged, nor a report that is not of the vocabulary: the password, a piece
// of it, or words that are the password never reach the log. A babbling
// helper holds nothing up.
func TestPAMHelperOutput(t *testing.T) {
	const pw = "Echoed-Secret-77"
	piece := pw[:6]
	for _, c := range []struct {
		name, script string
		want         int
		reason       string // the whole of the logged reason, after the code's text
	}{
		{"echo on stdout and stderr", `echo "said ` + pw + `"; echo "` + piece + `" >&2; exit 1`, codeAuthFailed, "refused"},
		{"echo with a report", `echo "Login incorrect for ` + pw + `" >&2; echo "auth 7" >&3; exit 1`, codeAuthFailed,
			"auth: PAM_AUTH_ERR (authentication failure)"},
		{"the password as the report", `echo "` + pw + `" >&3; exit 1`, codeAuthFailed,
			"the PAM helper's report is not one mppd can read (not logged)"},
		{"the password in a report", `echo "auth 7 ` + piece + `" >&3; exit 111`, codeLocalError,
			"the PAM helper's report is not one mppd can read (not logged)"},
		{"two lines of report", `printf 'auth 7\n%s\n' "` + piece + `" >&3; exit 1`, codeAuthFailed,
			"the PAM helper's report is not one mppd can read (not logged)"},
		{"huge report", `head -c 20000000 /dev/zero | tr '\0' x >&3; exit 1`, codeAuthFailed,
			"the PAM helper's report is not one mppd can read (not logged)"},
		{"huge output", `head -c 20000000 /dev/zero | tr '\0' x >&2; exit 1`, codeAuthFailed, "refused"},
	} {
		t.Run(c.name, func(t *testing.T) {
			helper, _ := testlib.Script(t, "mppd-pam", c.script)
			code, took, err := fakePAMCheck(t, helper, 20*time.Second, "alice", pw)
			if code != c.want {
				t.Fatalf("got %d (%v), want %d", code, err, c.want)
			}
			if got := causeText(asReplyError(err)); got != c.reason {
				t.Errorf("logged %q, want %q", got, c.reason)
			}
			mustNotLeak(t, err.Error(), piece)
			if took > 10*time.Second {
				t.Errorf("took %v", took)
			}
		})
	}
}

// Names and passwords PAM could never be given are refused without running
// the helper.
func TestPAMHelperNotAsked(t *testing.T) {
	helper, dir := testlib.Script(t, "mppd-pam", `touch "$0.ran"; exit 0`)
	for _, c := range [][2]string{{"al\x00ice", "pw"}, {"alice", "p\x00w"}, {"alice", strings.Repeat("p", 5000)}} {
		code, _, err := fakePAMCheck(t, helper, 5*time.Second, c[0], c[1])
		if code != codeAuthFailed {
			t.Errorf("%.20q: got %d (%v), want 530", c, code, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "mppd-pam.ran")); err == nil {
		t.Errorf("the helper ran")
	}
}

// A helper that cannot be run stops mppd at start-up (exit 78), not at PASS.
func TestPAMHelperAtStartUp(t *testing.T) {
	svc := testlib.AnyPAMService(t)
	dir := t.TempDir()
	notExec := filepath.Join(dir, "not-exec")
	os.WriteFile(notExec, []byte("#!/bin/sh\nexit 0\n"), 0o644)
	for _, c := range []struct{ helper, want string }{
		{filepath.Join(dir, "missing"), "no such file"},
		{dir, "not a regular file"},
		{notExec, "not executable"},
		{"", "-pam-helper is empty"},
	} {
		_, err := newAuthChain([]string{"pam:" + svc}, authOptions{connectTimeout: time.Second, timeout: time.Second, pamHelper: c.helper})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "-pam-helper") {
			t.Errorf("-pam-helper %q: %v, want an error saying %q", c.helper, err, c.want)
		}
	}

	// A relative -pam-helper is resolved at start-up, not against the
	// directory of each check.
	helper, _ := testlib.Script(t, "mppd-pam", "exit 0")
	t.Chdir(filepath.Dir(helper))
	a, err := newPAMAuth(svc, "./mppd-pam", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.(*pamAuth).helper; got != helper {
		t.Errorf("helper %q, want %q", got, helper)
	}
}
