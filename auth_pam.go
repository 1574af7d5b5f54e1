package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

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
var pamHelperEnv = []string{"PATH=" + childPath, "GOMAXPROCS=1"}

// pamHelperHead is how much of the helper's standard output and error is
// kept: enough to tell a Go panic, never logged (see pamhelper.Report).
const pamHelperHead = 64

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
// (with the client's address for PAM_RHOST) on its standard input, never
// its arguments or environment, which others can read in /proc; the answer
// in its exit status. A helper that outlasts -auth-timeout is killed with
// its process group (451), and so is what it leaves running.
func (a *pamAuth) Authenticate(ctx context.Context, user, password string) error {
	req, err := pamhelper.Encode(a.service, user, password, clientAddr(ctx))
	if err != nil {
		// PAM takes C strings: such a name or password cannot be right.
		// (The address is an IP address by construction: withClientAddr.)
		return errAuthFailed("not asked: " + err.Error())
	}
	st, why, head, err := a.runHelper(ctx, req)
	if err != nil {
		return err
	}
	switch st.ExitCode() {
	case pamhelper.ExitAccepted:
		return nil
	case pamhelper.ExitRefused:
		return errAuthFailed(cmp.Or(why, "refused"))
	case pamhelper.ExitTempFail:
		return tempAuthError(errors.New(cmp.Or(why, "PAM could not decide")))
	case pamhelper.ExitUsage:
		// Also the status of a Go program that panics (a crash in a
		// module is a signal): the report tells which.
		if why == "" && isGoCrash(head) {
			why = "the PAM helper crashed (a Go panic or runtime error): exit status 2"
		}
		return tempAuthError(errors.New(cmp.Or(why, "the PAM helper could not read mppd's request (another version of mppd-pam?) or crashed: exit status 2")))
	}
	return tempAuthError(fmt.Errorf("PAM helper: %s%s", st, saidOrNot(why)))
}

// runHelper runs the helper on req and returns how it ended, its report
// in mppd's words ("" if none), and the start of what it wrote on standard
// output and error. The error is a 451 for a helper that could not be run
// or did not answer in time.
func (a *pamAuth) runHelper(ctx context.Context, req []byte) (*os.ProcessState, string, string, error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	// The helper's report comes on a pipe of its own (pamhelper.ReportFD);
	// what it and its modules write on standard output and error is not
	// logged, only looked at for a crash.
	reportR, reportW, err := os.Pipe()
	if err != nil {
		return nil, "", "", tempAuthError(fmt.Errorf("cannot run the PAM helper: %w", err))
	}
	defer reportR.Close()
	out := &limitedBuffer{max: pamHelperHead}
	cmd := exec.Command(a.helper)
	cmd.Stdin = bytes.NewReader(req)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.ExtraFiles = []*os.File{reportW} // pamhelper.ReportFD
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
	err = cmd.Start()
	reportW.Close()
	if err != nil {
		return nil, "", "", tempAuthError(fmt.Errorf("cannot run the PAM helper: %w", err))
	}
	report := make(chan string, 1)
	go func() { report <- readReport(reportR) }()
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
		return nil, "", "", tempAuthError(fmt.Errorf("PAM did not answer within %v: helper killed", a.timeout))
	}
	// The report was written before the helper exited; a child that
	// escaped its process group and holds the pipe gets a second more, as
	// WaitDelay gives it for the output.
	reportR.SetReadDeadline(time.Now().Add(time.Second))
	why := <-report
	if cmd.ProcessState == nil {
		return nil, "", "", tempAuthError(fmt.Errorf("PAM helper: %w%s", err, saidOrNot(why)))
	}
	return cmd.ProcessState, why, out.String(), nil
}

// readReport reads the helper's report, at most pamhelper.MaxReport bytes
// and one line, and returns it in mppd's words (pamhelper.Report.Describe),
// or "" if there is none. A report that is not one of the vocabulary's is
// not logged: the helper is not the only one who could have written it.
func readReport(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, pamhelper.MaxReport+1))
	// The rest is read and dropped, so that a helper writing more is not
	// stopped by a full pipe.
	io.Copy(io.Discard, r)
	if len(b) == 0 {
		return ""
	}
	line, _, _ := strings.Cut(string(b), "\n")
	rep, ok := pamhelper.ParseReport(line)
	if !ok || len(b) > pamhelper.MaxReport || len(line)+1 < len(b) {
		return "the PAM helper's report is not one mppd can read (not logged)"
	}
	return rep.Describe()
}

// isGoCrash says whether a program's output starts as the Go runtime's
// message for a panic or a fatal error does.
func isGoCrash(head string) bool {
	return strings.HasPrefix(head, "panic: ") || strings.HasPrefix(head, "fatal error: ")
}

// saidOrNot is ": " and the report, if there was one.
func saidOrNot(why string) string {
	if why != "" {
		return ": " + why
	}
	return ""
}
