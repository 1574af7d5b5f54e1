package main

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// openPlain opens a regular file for reading as the files a session reads
// (the password file, /etc/mailname, the sender login map) are opened: in
// blocking mode, outside Go's network poller.
//
// os.Open offers every file to the poller: two fcntl calls to make it
// non-blocking, an epoll_ctl that a regular file refuses, two more to undo
// the first; and the first file opened in a process sets the poller itself
// up (epoll_create1, an eventfd, an epoll_ctl). A process that serves one
// connection did that before its greeting for /etc/mailname
// (BENCHMARKS.md, "Start"). os.NewFile leaves a blocking descriptor out of
// the poller, and a regular file's read(2) does not wait for anyone anyway.
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
