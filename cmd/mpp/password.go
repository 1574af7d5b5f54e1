package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// maxPassword bounds what is read of a password, from a command or a
// terminal.
const maxPassword = 4096

// passwordTimeout bounds a passwordeval command: long enough for a gpg
// agent to ask for its passphrase, short enough that a hung command does not
// keep a mail program waiting forever.
const passwordTimeout = 2 * time.Minute

// password gets the password: from the passwordeval command (its first line
// of output, as msmtp reads it), else from the terminal with echo off. It is
// never taken from the command line, where every user could read it in ps.
func password(c *config) (string, error) {
	if c.passwordeval != "" {
		return evalPassword(c.passwordeval)
	}
	return promptPassword(fmt.Sprintf("Password for %s at %s: ", c.user, c.host))
}

func evalPassword(command string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), passwordTimeout)
	defer cancel()
	cmd := shellCommand(ctx, command)
	var out, errOut limited
	out.max, errOut.max = maxPassword, 512
	cmd.Stdout, cmd.Stderr = &out, &errOut
	// The command may ask on the terminal itself (gpg's pinentry); the
	// message on mpp's stdin is not for it.
	cmd.Stdin = nil
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errOut.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		if msg != "" {
			return "", configErrorf("passwordeval: %v: %s", err, msg)
		}
		return "", configErrorf("passwordeval: %v", err)
	}
	pw, _, _ := strings.Cut(out.String(), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", configErrorf("passwordeval: the command printed no password")
	}
	return pw, nil
}

// limited keeps the first max bytes written to it. The buffer is a field,
// not embedded: an embedded bytes.Buffer would lend it ReadFrom, and the
// io.Copy that os/exec runs for the command's output would then fill it
// past max without calling Write.
type limited struct {
	buf bytes.Buffer
	max int
}

func (l *limited) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limited) String() string { return l.buf.String() }

// readPasswordLine prompts on out and reads one line from in, the
// terminal with its echo off (terminal_unix.go, terminal_windows.go): at
// most maxPassword bytes of it, without its line end.
func readPasswordLine(in io.Reader, out io.Writer, prompt string) (string, error) {
	fmt.Fprint(out, prompt)
	line, err := bufio.NewReaderSize(in, maxPassword).ReadSlice('\n')
	fmt.Fprintln(out)
	if err != nil && !errors.Is(err, bufio.ErrBufferFull) && len(line) == 0 {
		return "", configErrorf("no password: %v", err)
	}
	pw := strings.TrimRight(string(line), "\r\n")
	if pw == "" {
		return "", configErrorf("no password given")
	}
	return pw, nil
}
