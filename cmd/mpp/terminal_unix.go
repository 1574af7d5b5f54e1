//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// systemConfig is read first, then the user's file, then the command line:
// each overrides what came before, key by key (as msmtp reads its system
// and user files).
const systemConfig = "/etc/mpp.conf"

// shellCommand runs a passwordeval command with /bin/sh -c.
func shellCommand(ctx context.Context, command string) *exec.Cmd {
	return exec.CommandContext(ctx, "/bin/sh", "-c", command)
}

// promptPassword asks on the controlling terminal, not on stdin (which holds
// the message), with echo off.
func promptPassword(prompt string) (string, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", configErrorf("no password: set passwordeval in the config file, or run mpp where it can ask on a terminal")
	}
	defer tty.Close()
	fd := int(tty.Fd())
	old, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return "", configErrorf("no password: /dev/tty: %v", err)
	}
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	noEcho.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, &noEcho); err != nil {
		return "", configErrorf("no password: /dev/tty: %v", err)
	}
	defer unix.IoctlSetTermios(fd, ioctlSetTermios, old)
	// Interrupted at the prompt, the terminal must get its echo back before
	// mpp dies of the signal.
	sigs := make(chan os.Signal, 1)
	defer close(sigs) // after Stop (defers run last first): no send on a closed channel
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	go func() {
		sig, ok := <-sigs
		if !ok {
			return
		}
		unix.IoctlSetTermios(fd, ioctlSetTermios, old)
		fmt.Fprintln(tty)
		signal.Reset(sig)
		syscall.Kill(os.Getpid(), sig.(syscall.Signal))
	}()
	return readPasswordLine(tty, tty, prompt)
}
