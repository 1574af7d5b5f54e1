package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/windows"
)

// systemConfig is read first, then the user's file, then the command line:
// each overrides what came before, key by key. On Windows it is
// %ProgramData%\mpp\mpp.conf.
var systemConfig = filepath.Join(programData(), "mpp", "mpp.conf")

func programData() string {
	if d := os.Getenv("ProgramData"); filepath.IsAbs(d) {
		return d
	}
	return `C:\ProgramData`
}

// shellCommand runs a passwordeval command with cmd.exe /c, the command
// line passed as it is written: cmd.exe does its own quoting.
func shellCommand(ctx context.Context, command string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "cmd.exe")
	cmd.SysProcAttr = &syscall.SysProcAttr{CmdLine: `cmd.exe /d /s /c "` + command + `"`}
	return cmd
}

// promptPassword asks on the console (CONIN$ and CONOUT$, not standard
// input, which holds the message), with echo off.
func promptPassword(prompt string) (string, error) {
	in, err := os.OpenFile("CONIN$", os.O_RDWR, 0)
	if err != nil {
		return "", configErrorf("no password: set passwordeval in the config file, or run mpp where it can ask on a console")
	}
	defer in.Close()
	out, err := os.OpenFile("CONOUT$", os.O_WRONLY, 0)
	if err != nil {
		return "", configErrorf("no password: CONOUT$: %v", err)
	}
	defer out.Close()
	h := windows.Handle(in.Fd())
	var mode uint32
	if err := windows.GetConsoleMode(h, &mode); err != nil {
		return "", configErrorf("no password: console: %v", err)
	}
	if err := windows.SetConsoleMode(h, (mode&^windows.ENABLE_ECHO_INPUT)|windows.ENABLE_LINE_INPUT|windows.ENABLE_PROCESSED_INPUT); err != nil {
		return "", configErrorf("no password: console: %v", err)
	}
	defer windows.SetConsoleMode(h, mode)
	return readPasswordLine(in, out, prompt)
}
