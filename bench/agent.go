package main

import (
	"os/exec"
	"path/filepath"
	"slices"
)

// startAgent runs mppd's delivery agent (mppd -delivery-agent, as
// mppd-deliver.service runs it) on a socket in o.dir with the same sink as
// every other mppd here, and returns it and the mppd arguments of a session
// that hands its messages to it: what a message costs under the systemd
// units, against a session that runs the command itself.
func startAgent(o *options, mppdArgs []string) (*launcher, []string, error) {
	sock := filepath.Join(o.dir, "deliver.sock")
	l := &launcher{name: "mppd -delivery-agent", addr: sock, out: &lockedBuffer{},
		cmd: exec.Command(o.mppd, "-delivery-agent", "-session-user", "", "-listen", sock, "-sendmail", mppdSink, "-log", "stderr")}
	l.cmd.Stdout, l.cmd.Stderr = l.out, l.out
	if err := l.cmd.Start(); err != nil {
		return nil, nil, err
	}
	if err := l.waitFor("delivery agent listening"); err != nil {
		return nil, nil, err
	}
	return l, append(slices.Clone(mppdArgs), "-delivery-socket", sock), nil
}
