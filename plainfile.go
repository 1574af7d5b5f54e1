package main

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// openPlain opens a regular file for reading in blocking mode, outside Go's
// network poller, for the files a session reads (the password file,
// /etc/mailname, the login map): os.Open would offer it to the poller
// (fcntl and epoll calls a regular file refuses, and the poller's set-up
// on first use), work a process serving one connection does before its
// greeting for nothing (BENCHMARKS.md, "Start").
func openPlain(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		// As os.Open does: CIFS interrupts an open for a signal even
		// with SA_RESTART, and the runtime signals its threads
		// (preemption); golang/go#39237.
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// readPlain is os.ReadFile with openPlain, for small files: at most max
// bytes are read.
func readPlain(path string, max int64) ([]byte, error) {
	f, err := openPlain(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max))
}
