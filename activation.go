package main

import (
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"golang.org/x/sys/unix"
)

// started is how this process got its connection or connections.
type started struct {
	mode      string         // for the log: inetd, systemd-accept, systemd-listen, listen, pipe
	conn      Conn           // one session: inetd, systemd Accept=yes, a pipe
	peer      string         // the client's address for conn
	listeners []net.Listener // a server: systemd Accept=no, -listen, inetd "wait"
}

// activate finds the connection without being told how mppd was started
// (mppd(8) ACTIVATION): -listen; LISTEN_FDS from fd 3, connected
// (Accept=yes) or listening (Accept=no), as SO_ACCEPTCONN says
// (activation.Listeners would wrap a connected socket as a listener); a
// socket on fd 0 (inetd, xinetd, StandardInput=socket); else one session
// on stdin and stdout, its idle timeout kept by a timer.
func activate(listenAddr string) (*started, error) {
	if listenAddr != "" {
		l, err := net.Listen("tcp", listenAddr)
		if err != nil {
			return nil, err
		}
		return &started{mode: "listen", listeners: []net.Listener{l}}, nil
	}
	if files := activation.Files(true); len(files) > 0 {
		return fromSystemd(files)
	}
	if isSocket(0) {
		if isListening(0) {
			l, err := net.FileListener(os.Stdin)
			if err != nil {
				return nil, err
			}
			return &started{mode: "inetd-wait", listeners: []net.Listener{l}}, nil
		}
		c, err := inheritedConn(os.Stdin)
		if err != nil {
			return nil, err
		}
		return &started{mode: "inetd", conn: c, peer: peerAddr(c)}, nil
	}
	return &started{mode: "pipe", conn: newPipeConn(os.Stdin, os.Stdout), peer: peerAddr(nil)}, nil
}

func fromSystemd(files []*os.File) (*started, error) {
	defer func() {
		// inheritedConn and net.FileListener dup; the originals are done with.
		for _, f := range files {
			f.Close()
		}
	}()
	if len(files) == 1 && !isListening(int(files[0].Fd())) {
		c, err := inheritedConn(files[0])
		if err != nil {
			return nil, fmt.Errorf("LISTEN_FDS: fd 3: %v", err)
		}
		return &started{mode: "systemd-accept", conn: c, peer: peerAddr(c)}, nil
	}
	s := &started{mode: "systemd-listen"}
	for _, f := range files {
		if !isListening(int(f.Fd())) {
			return nil, fmt.Errorf("LISTEN_FDS: %s: a connected socket among several; use Accept=yes with one socket", f.Name())
		}
		l, err := net.FileListener(f)
		if err != nil {
			return nil, fmt.Errorf("LISTEN_FDS: %s: %v", f.Name(), err)
		}
		s.listeners = append(s.listeners, l)
	}
	return s, nil
}

// inheritedConn is the one connection of a process that serves one: a
// stream socket is used in blocking mode, outside the network poller
// (sockConn); anything else as net.FileConn makes it.
func inheritedConn(f *os.File) (net.Conn, error) {
	fd := int(f.Fd())
	if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err == nil && typ == unix.SOCK_STREAM {
		return newSockConn(fd)
	}
	return net.FileConn(f)
}

func isSocket(fd int) bool {
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFSOCK
}

// silenceStderrIfClient points fd 2 at /dev/null when it is the client's
// connection (the same socket as fd 0 or 1, as inetd and xinetd hand it
// over), so that no byte but a reply can ever reach the client.
func silenceStderrIfClient() {
	var st2 unix.Stat_t
	if unix.Fstat(2, &st2) != nil || st2.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return
	}
	for _, fd := range []int{0, 1} {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && st.Dev == st2.Dev && st.Ino == st2.Ino {
			if null, err := unix.Open("/dev/null", unix.O_WRONLY|unix.O_CLOEXEC, 0); err == nil {
				unix.Dup3(null, 2, 0)
				unix.Close(null)
			}
			return
		}
	}
}

func isListening(fd int) bool {
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	return err == nil && v == 1
}

// peerAddr is the client's IP address for logs and trace headers: from the
// socket itself (getpeername), else from what the launcher says: systemd's
// REMOTE_ADDR, tcpserver's TCPREMOTEIP, xinetd's REMOTE_HOST.
func peerAddr(c net.Conn) string {
	if c != nil {
		if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			return a.IP.String()
		}
	}
	for _, v := range []string{"REMOTE_ADDR", "TCPREMOTEIP", "REMOTE_HOST"} {
		if s := os.Getenv(v); s != "" && net.ParseIP(s) != nil {
			return s
		}
	}
	if c != nil {
		if a := c.RemoteAddr(); a != nil && a.String() != "" && a.String() != "@" {
			return a.String()
		}
	}
	return "unknown"
}

// closeInheritedFDs marks every descriptor from 3 up close-on-exec, so the
// delivery command inherits none of what the launcher left open (the
// listening socket of a systemd unit among them). Go opens its own that way.
func closeInheritedFDs() {
	if unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
}

// pipeConn is a session on stdin and stdout when they are not a socket
// (tests, "mppd < transcript"). Pipes have no read deadlines, so a goroutine
// does the reading and Read waits for it with a timer: at the deadline the
// session ends, and the blocked read ends with the process.
type pipeConn struct {
	out      io.Writer
	chunks   chan pipeChunk
	next     chan struct{} // the reader may reuse its buffer
	pending  []byte
	err      error
	mu       sync.Mutex
	deadline time.Time
}

type pipeChunk struct {
	data []byte
	err  error
}

func newPipeConn(in io.Reader, out io.Writer) *pipeConn {
	c := &pipeConn{out: out, chunks: make(chan pipeChunk), next: make(chan struct{})}
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := in.Read(buf)
			c.chunks <- pipeChunk{buf[:n], err}
			if err != nil {
				return
			}
			<-c.next
		}
	}()
	return c
}

func (c *pipeConn) Read(p []byte) (int, error) {
	// Waits of at most readWake, as sockConn's: a deadline moved meanwhile
	// (shutdown.go) applies within a second.
	var t *time.Timer
	for len(c.pending) == 0 && c.err == nil {
		c.mu.Lock()
		d := c.deadline
		c.mu.Unlock()
		wait := readWake
		if !d.IsZero() {
			if wait = time.Until(d); wait <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			wait = min(wait, readWake)
		}
		if t == nil {
			t = time.NewTimer(wait)
			defer t.Stop()
		} else {
			t.Reset(wait)
		}
		select {
		case ch := <-c.chunks:
			c.pending, c.err = ch.data, ch.err
		case <-t.C:
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	if len(c.pending) == 0 {
		if c.err != nil {
			err := c.err
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		c.next <- struct{}{}
	}
	return n, nil
}

func (c *pipeConn) Write(p []byte) (int, error) { return c.out.Write(p) }

func (c *pipeConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return nil
}

// SetWriteDeadline does nothing: a pipe's reader is the process that started
// mppd, not a remote client.
func (c *pipeConn) SetWriteDeadline(time.Time) error { return nil }

// agentSocketsPassed says whether systemd passed the delivery agent's
// socket (mppd-deliver.socket: a listening SOCK_SEQPACKET Unix socket,
// which no session is ever given): then this process is the agent, and
// the unit needs no flag to say so.
func agentSocketsPassed() bool {
	if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) || os.Getenv("LISTEN_FDS") == "" {
		return false
	}
	const fd = 3 // SD_LISTEN_FDS_START
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil || typ != unix.SOCK_SEQPACKET {
		return false
	}
	dom, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	return err == nil && dom == unix.AF_UNIX && isListening(fd)
}
