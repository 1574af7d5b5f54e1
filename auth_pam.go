package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/mppd/mppd/internal/pamhelper"
	"golang.org/x/sys/unix"
)

// defaultPAMHelper is where the packages install mppd-pam (cmd/mppd-pam):
// a program run by mppd, not by people, goes under /usr/libexec (FHS 3.0,
// Debian and Fedora alike).
const defaultPAMHelper = "/usr/libexec/mppd/mppd-pam"

// pamHelperEnv is the helper's whole environment: nothing of mppd's own
// (LISTEN_FDS, REMOTE_ADDR, ...). GOMAXPROCS=1 because it is a Go program
// that does one thing and exits, as mppd@.service sets it for mppd.
var pamHelperEnv = []string{"PATH=" + sendmailPath, "GOMAXPROCS=1"}

// maxPAMHelperOutput bounds what is kept of the helper's standard output
// and error for the log; the rest is read and dropped.
const maxPAMHelperOutput = 1 << 10

// pamAuth checks a name and password through PAM by running the helper
// mppd-pam, which links libpam: mppd itself is a static program without
// cgo, and connections that never reach PASS (or check it elsewhere) do not
// pay for libc and libpam at start (BENCHMARKS.md). The helper runs the
// service's auth stack, then its account stack, so that whatever the host
// uses for logins (pam_unix and /etc/shadow, sssd, LDAP...) decides, with
// its lockouts and expiry rules.
type pamAuth struct {
	service string
	helper  string // absolute path of mppd-pam
	timeout time.Duration
}

func newPAMAuth(service, helper string, timeout time.Duration) (Authenticator, error) {
	if err := checkPAMService(service); err != nil {
		return nil, err
	}
	path, err := checkPAMHelper(helper)
	if err != nil {
		return nil, err
	}
	return &pamAuth{service: service, helper: path, timeout: timeout}, nil
}

// checkPAMHelper makes sure -pam-helper names a program mppd can run, so
// that a missing helper stops mppd at start-up (exit 78) rather than
// answering every PASS with 451. It returns the absolute path: inetd and
// systemd start mppd in /, and the helper is never looked up in PATH.
func checkPAMHelper(helper string) (string, error) {
	if helper == "" {
		return "", errors.New("-pam-helper is empty: pam:SERVICE needs mppd-pam")
	}
	path, err := filepath.Abs(helper)
	if err != nil {
		return "", fmt.Errorf("-pam-helper %s: %w", helper, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("-pam-helper: %w (pam:SERVICE needs mppd-pam: make build builds it where the PAM headers are installed)", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("-pam-helper %s: not a regular file", path)
	}
	// access(2) as mppd's own user and groups, who will run it.
	if err := unix.Access(path, unix.X_OK); err != nil {
		return "", fmt.Errorf("-pam-helper %s: not executable by mppd: %w", path, err)
	}
	return path, nil
}

// Authenticate implements Authenticator: one run of the helper, the request
// on its standard input (never its arguments or environment, which other
// users can see in /proc), the answer in its exit status. The request
// carries the client's address from ctx, which the helper sets as
// PAM_RHOST (empty when unknown: left unset). A helper that
// outlasts -auth-timeout (a module waiting on a dead LDAP server) is killed
// with all it started (its process group), and the answer is 451; what it
// leaves running when it exits is killed too.
func (a *pamAuth) Authenticate(ctx context.Context, user, password string) error {
	req, err := pamhelper.Encode(a.service, user, password, clientAddr(ctx))
	if err != nil {
		// PAM takes C strings: such a name or password cannot be right.
		// (The address is an IP address by construction: withClientAddr.)
		return errAuthFailed("not asked: " + err.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	// Room for the password past the bound, so that logSafe finds it whole
	// wherever it starts within what is kept.
	out := &limitedBuffer{max: maxPAMHelperOutput + len(password)}
	cmd := exec.Command(a.helper)
	cmd.Stdin = bytes.NewReader(req)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.Env = pamHelperEnv
	cmd.Dir = "/"
	// Its own process group, killed at the timeout and when it exits. And
	// killed if mppd dies first (a signal under inetd): the helper has no
	// time limit of its own, and a module waiting on a dead server would
	// wait on for ever. (The signal comes when the thread that started it
	// ends; the Go runtime ends a thread only under LockOSThread, which
	// mppd does not use.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// A module's child that outlives the helper and keeps its output open
	// must not hold the session.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return tempAuthError(fmt.Errorf("cannot run the PAM helper: %w", err))
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
		// What a module started and left running (still in the
		// helper's process group) ends with the check, as at the
		// timeout: a server that lives for days must not collect it.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return tempAuthError(fmt.Errorf("PAM did not answer within %v: helper killed%s", a.timeout, helperSaid(out, password)))
	}
	st := cmd.ProcessState
	if st == nil {
		return tempAuthError(fmt.Errorf("PAM helper: %w%s", err, helperSaid(out, password)))
	}
	switch st.ExitCode() {
	case pamhelper.ExitAccepted:
		return nil
	case pamhelper.ExitRefused:
		return errAuthFailed(helperWords(out, password, "refused"))
	case pamhelper.ExitTempFail:
		return tempAuthError(errors.New(helperWords(out, password, "PAM could not decide")))
	case pamhelper.ExitUsage:
		// Also the status of a Go program that panics (a crash in a
		// module is a signal): what the helper said tells which.
		return tempAuthError(fmt.Errorf("the PAM helper could not read mppd's request (another version of mppd-pam?) or panicked: exit status 2%s", helperSaid(out, password)))
	}
	return tempAuthError(fmt.Errorf("PAM helper: %s%s", st, helperSaid(out, password)))
}

// helperWords is what the helper said, fit for the log, or def if nothing.
func helperWords(out *limitedBuffer, password, def string) string {
	if s := logSafe(out.String(), password); s != "" {
		return s
	}
	return def
}

// helperSaid is ": " and what the helper said, if anything.
func helperSaid(out *limitedBuffer, password string) string {
	if s := logSafe(out.String(), password); s != "" {
		return ": " + s
	}
	return ""
}

// logSafe makes a program's output one printable line for the log, of at
// most maxPAMHelperOutput bytes: the password, should a module have echoed
// it, becomes "[password]", line breaks "; ", other control characters and
// invalid bytes "?".
func logSafe(s, password string) string {
	if password != "" {
		s = strings.ReplaceAll(s, password, "[password]")
	}
	if len(s) > maxPAMHelperOutput {
		s = s[:maxPAMHelperOutput]
	}
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i, l := range lines {
		lines[i] = strings.Map(func(r rune) rune {
			if r == utf8.RuneError || r < 0x20 || r == 0x7f {
				return '?'
			}
			return r
		}, strings.TrimSpace(l))
	}
	return strings.Join(lines, "; ")
}
