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
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// sendmailEnv is the whole environment of the delivery command: nothing of
// mppd's own (LISTEN_FDS, REMOTE_ADDR, ...) leaks into it.
var sendmailEnv = []string{"PATH=" + childPath}

// maxSendmailOutput bounds what is kept of the delivery command's output
// for the log.
const maxSendmailOutput = 4 << 10

// sendmail delivers by running a sendmail-compatible command with the
// message on its standard input (RFC 1204 §3.5: hand it to the host's mail
// system at once; retries and bounces are the mail system's business).
type sendmail struct {
	argv    []string // command and its own arguments, from -sendmail
	timeout time.Duration
}

// newSendmail parses the -sendmail flag: a command and arguments split at
// white space (no shell is involved, so nothing in it is interpreted).
func newSendmail(cmdline string, timeout time.Duration) (*sendmail, error) {
	argv := strings.Fields(cmdline)
	if len(argv) == 0 {
		return nil, errors.New("-sendmail: empty command")
	}
	if !strings.Contains(argv[0], "/") {
		for _, dir := range filepath.SplitList(childPath) {
			if p := filepath.Join(dir, argv[0]); isExecutable(p) {
				argv[0] = p
				break
			}
		}
	}
	if !filepath.IsAbs(argv[0]) {
		return nil, fmt.Errorf("-sendmail: %s: not found in %s; give an absolute path", argv[0], childPath)
	}
	return &sendmail{argv: argv, timeout: timeout}, nil
}

// missing says why the delivery command cannot be started now, or nil. An
// absolute path is not required to exist at start-up: under inetd or
// Accept=yes a refusal to start would close the client's connection with
// no reply at all, where a session answers each text 451 and the client
// tries again later (and the command may be installed by then). A server
// of many sessions warns about it once, at start (mppd.go).
func (d *sendmail) missing() error {
	fi, err := os.Stat(d.argv[0])
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("-sendmail: %s does not exist", d.argv[0])
	case err != nil:
		return fmt.Errorf("-sendmail: %w", err)
	case !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0:
		return fmt.Errorf("-sendmail: %s is not an executable file", d.argv[0])
	}
	return nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// args is the delivery command line for a message: the administrator's
// command, then "-f SENDER" as two words. SENDER is the proven user's
// address (Identity.Address): it starts with the user name, which
// checkUserName keeps from starting with "-", or with a quote, and being a
// separate argument after the administrator's it cannot carry options of
// its own.
func (d *sendmail) args(env Envelope) ([]string, error) {
	if env.Sender == "" || env.Sender[0] == '-' {
		return nil, fmt.Errorf("refusing envelope sender %q", env.Sender)
	}
	return append(append([]string(nil), d.argv...), "-f", env.Sender), nil
}

// Deliver runs the command with msg, already complete, as its standard input:
// the command reads the spool file itself, and sees the message only after
// its final dot has arrived. The message counts as taken only if the command
// exits 0 (sendmail(8): queued); anything else is a 451 and the log gets the
// command's own words.
func (d *sendmail) Deliver(ctx context.Context, env Envelope, msg *os.File) error {
	if d.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.timeout)
		defer cancel()
	}
	argv, err := d.args(env)
	if err != nil {
		return tempError("Local error encountered", err)
	}
	out := newCommandOutput()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = msg
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.Env = sendmailEnv
	cmd.Dir = "/"
	// Its own process group, so a timeout kills what it started too
	// (Postfix's sendmail runs postdrop).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A child that outlives the command and keeps its output open must not
	// hold the session forever.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("%w: no mail system: install an MTA that provides it (Debian: apt-get install default-mta), or set -sendmail", err)
		}
		return tempError("Local error encountered: mail system unavailable, try again later", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-out.refused:
		// postdrop retries for ever; nothing will change until the
		// administrator does something, so stop it now.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return tempError("Local error encountered: mail system refused the message, try again later",
			fmt.Errorf("%s: %s; output: %q", argv[0], postdropFix, out.String()))
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return tempError("Local error encountered: mail system did not answer in time, try again later",
			fmt.Errorf("%s: killed after %v: %w; output: %q", argv[0], d.timeout, ctx.Err(), out.String()))
	}
	if err != nil {
		msg := "Local error encountered: mail system did not accept the message, try again later"
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == exitTempFail && out.noRecipients() {
			msg = "Local error encountered: no recipients: the message has no To:, Cc: or Bcc: address"
		}
		return tempError(msg, fmt.Errorf("%s: %v; output: %q", argv[0], err, out.String()))
	}
	return nil
}

// exitTempFail is EX_TEMPFAIL (sysexits.h), Postfix's sendmail's status for
// a message it will not queue, "No recipient addresses found in message
// header" among others.
const exitTempFail = 75

// postdropFix is what the log says when Postfix's postdrop cannot create its
// queue file: it then retries every ten seconds for ever.
const postdropFix = "postdrop cannot create its queue file in Postfix's maildrop directory: " +
	"give mppd the supplementary group postdrop (systemd: SupplementaryGroups=postdrop) " +
	"and write access to /var/spool/postfix/maildrop (ReadWritePaths= under ProtectSystem=strict), " +
	"or run it without NoNewPrivileges so that postdrop's set-group-ID bit works; see README, Privileges"

// commandOutput keeps the first maxSendmailOutput bytes of the delivery
// command's output for the log, and watches them, as they arrive, for the
// words of a mail system that can never take the message as things stand:
// the command does not exit then, so its output is all there is to go by.
// Words that come only after that much other output are not seen, and the
// delivery timeout ends the command instead.
type commandOutput struct {
	limitedBuffer
	refused     chan struct{} // closed when postdrop says it cannot write
	refusedOnce sync.Once
}

func newCommandOutput() *commandOutput {
	o := &commandOutput{refused: make(chan struct{})}
	o.max = maxSendmailOutput
	return o
}

// Write is called by one goroutine at a time (os/exec: Stdout and Stderr
// are the same writer).
func (o *commandOutput) Write(p []byte) (int, error) {
	o.limitedBuffer.Write(p)
	// Postfix 3.x: "postdrop: warning: mail_queue_enter: create file
	// maildrop/NNN.PID: Permission denied" (or "Read-only file system").
	if bytes.Contains(o.buf.Bytes(), []byte("mail_queue_enter: create file")) {
		o.refusedOnce.Do(func() { close(o.refused) })
	}
	return len(p), nil
}

// noRecipients recognizes the sendmail -t of Postfix ("No recipient
// addresses found in message header") and of Sendmail and Exim, which say
// much the same.
func (o *commandOutput) noRecipients() bool {
	s := strings.ToLower(o.String())
	return strings.Contains(s, "no recipient")
}

// createSpool opens a file for one message text that has no name: nothing is
// left on disk if mppd is killed, and nobody else can open it. O_TMPFILE
// where the file system has it, else a named file unlinked at once.
func createSpool(dir string) (*os.File, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err == nil {
		return os.NewFile(uintptr(fd), filepath.Join(dir, "(mppd spool)")), nil
	}
	f, err := os.CreateTemp(dir, "mppd-spool-*")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
