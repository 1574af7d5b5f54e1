package main

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// sockConn is the one connection of a process started by inetd, xinetd or
// Accept=yes, read and written in blocking mode outside Go's network
// poller: such a process has nothing else to do while it waits, and the
// poller's parking costs CPU (BENCHMARKS.md). Deadlines become SO_RCVTIMEO
// and SO_SNDTIMEO (socket(7)); a call ending in EAGAIN or EINTR is retried
// with the time left, then os.ErrDeadlineExceeded. A read blocks for at
// most readWake at a time, so that a deadline moved during it (shutdown.go)
// applies within that; Close ends one from elsewhere at once.
type sockConn struct {
	fd     int
	remote net.Addr
	local  net.Addr

	// use is held (shared) by Read and Write around their system calls and
	// taken by Close, so that the descriptor is never closed, and its
	// number reused, under a call still using it.
	use    sync.RWMutex
	closed atomic.Bool // Close has begun: no more calls, and no second shutdown

	mu            sync.Mutex // the deadlines: a net.Conn's methods may be called from any goroutine
	readDeadline  time.Time
	writeDeadline time.Time

	rcvTimeo time.Duration // SO_RCVTIMEO in place; 0: none (block for ever)
	sndTimeo time.Duration // SO_SNDTIMEO in place
}

// timeoutSlack is how far the socket's timeout may lie from the time left
// to the deadline before it is set again: a deadline that is met that late
// is still met (the kernel rounds timeouts up to a clock tick, 1 to 10 ms,
// anyway), and the session sets a new one before every read.
const timeoutSlack = 2 * time.Millisecond

// readWake is the longest a read blocks before it looks at its deadline
// again: an idle session costs one wake-up a second, and a shutdown is
// seen within a second.
const readWake = time.Second

// newSockConn takes over the connected stream socket fd (a duplicate is
// made: fd itself stays as it is, for fds 0 and 1 of inetd). The duplicate
// is put in blocking mode; O_NONBLOCK belongs to the open file, shared by
// every descriptor of the socket, and mppd is its only user.
func newSockConn(fd int) (*sockConn, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("fcntl", err)
	}
	if err := unix.SetNonblock(nfd, false); err != nil {
		unix.Close(nfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	c := &sockConn{fd: nfd}
	// Start from the timeouts in place: one a launcher left on the socket
	// would otherwise make a read or write without a deadline fail with
	// EAGAIN instead of blocking; known, it is cleared like any other.
	c.rcvTimeo = sockTimeout(nfd, unix.SO_RCVTIMEO)
	c.sndTimeo = sockTimeout(nfd, unix.SO_SNDTIMEO)
	if sa, err := unix.Getpeername(nfd); err == nil {
		c.remote = sockaddrToAddr(sa)
	}
	if _, ok := c.remote.(*net.TCPAddr); ok {
		setTCPOptions(nfd)
	}
	if sa, err := unix.Getsockname(nfd); err == nil {
		c.local = sockaddrToAddr(sa)
	}
	return c, nil
}

// sockTimeout is the socket's timeout opt (SO_RCVTIMEO or SO_SNDTIMEO);
// 0 when there is none or it cannot be read.
func sockTimeout(fd, opt int) time.Duration {
	tv, err := unix.GetsockoptTimeval(fd, unix.SOL_SOCKET, opt)
	if err != nil {
		return 0
	}
	return time.Duration(tv.Nano())
}

// setTCPOptions sets what net.FileConn sets on a TCP connection, so that
// the session behaves as it did through it: no Nagle delay for the replies
// of a pipelining client, and keepalives (15 s, Go's default) that find a
// peer gone from the network while mppd waits on the mail system.
func setTCPOptions(fd int) {
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 15)
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 15)
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 9)
}

func sockaddrToAddr(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
	case *unix.SockaddrInet6:
		ip := make(net.IP, net.IPv6len)
		copy(ip, a.Addr[:])
		var zone string
		if a.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				zone = ifi.Name
			}
		}
		return &net.TCPAddr{IP: ip, Port: a.Port, Zone: zone}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	}
	return nil
}

func (c *sockConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.use.RLock()
	defer c.use.RUnlock()
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	for {
		if err := c.setTimeout(unix.SO_RCVTIMEO, &c.rcvTimeo, c.deadline(&c.readDeadline), readWake); err != nil {
			return 0, err
		}
		n, err := unix.Read(c.fd, p)
		switch {
		case c.closed.Load():
			return 0, net.ErrClosed
		case err == nil && n == 0:
			return 0, io.EOF
		case err == nil:
			return n, nil
		case err == unix.EAGAIN && nonblocking(c.fd):
			// A read always has a timeout in place (readWake), so the
			// check retry makes for writes is made here: an error, not
			// a spin.
			return 0, c.opError("read", err)
		case retry(err, c.rcvTimeo):
			continue // setTimeout says whether the deadline has passed
		}
		return 0, c.opError("read", err)
	}
}

func (c *sockConn) Write(p []byte) (int, error) {
	c.use.RLock()
	defer c.use.RUnlock()
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	written := 0
	for written < len(p) {
		if err := c.setTimeout(unix.SO_SNDTIMEO, &c.sndTimeo, c.deadline(&c.writeDeadline), 0); err != nil {
			return written, err
		}
		n, err := unix.Write(c.fd, p[written:])
		if n > 0 {
			written += n
		}
		switch {
		case c.closed.Load():
			return written, net.ErrClosed
		case err == nil, retry(err, c.sndTimeo):
			continue
		}
		return written, c.opError("write", err)
	}
	return written, nil
}

// retry says whether a read or write that failed with err is tried again:
// after a signal (EINTR), or when the timeout in place, timeo, ran out
// (EAGAIN). EAGAIN with no timeout in place comes only from O_NONBLOCK,
// set by someone else on the shared open file: an error, not a spin.
func retry(err error, timeo time.Duration) bool {
	return err == unix.EINTR || err == unix.EAGAIN && timeo != 0
}

// nonblocking says whether someone set O_NONBLOCK on fd's open file. It is
// asked only after EAGAIN: at most once per readWake when idle.
func nonblocking(fd int) bool {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	return err == nil && fl&unix.O_NONBLOCK != 0
}

func (c *sockConn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: c.network(), Source: c.local, Addr: c.remote, Err: os.NewSyscallError(op, err)}
}

func (c *sockConn) deadline(d *time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return *d
}

// setTimeout puts the time left to deadline in the socket option opt
// (SO_RCVTIMEO or SO_SNDTIMEO) whose value in place is *cur, unless it is
// already within timeoutSlack of it; no more than most, unless that is 0.
// It returns os.ErrDeadlineExceeded once the deadline has passed.
func (c *sockConn) setTimeout(opt int, cur *time.Duration, deadline time.Time, most time.Duration) error {
	var left time.Duration // 0: no deadline, block for ever
	if !deadline.IsZero() {
		left = time.Until(deadline)
		if left <= 0 {
			return os.ErrDeadlineExceeded
		}
	}
	if most > 0 && (left == 0 || left > most) {
		left = most
	}
	if (left == 0) == (*cur == 0) && (left-*cur).Abs() <= timeoutSlack {
		return nil
	}
	// What is left, rounded up to the microsecond (a zero timeval would be
	// no timeout at all) and by the kernel to a clock tick: Read and Write
	// fail only once the deadline has passed, as on a net.Conn. A timeout
	// that ends early, within timeoutSlack, only means one more turn of the
	// loop.
	tv := unix.NsecToTimeval(left.Nanoseconds())
	if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, opt, &tv); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	*cur = left
	return nil
}

func (c *sockConn) network() string {
	if _, ok := c.remote.(*net.UnixAddr); ok {
		return "unix"
	}
	return "tcp"
}

// Close shuts the connection down before closing the descriptor: close(2)
// alone would neither wake a read blocked in another goroutine (TLS's
// handshake timeout closes the connection under a pending read) nor end
// the connection, which fds 0 and 1 hold open too.
func (c *sockConn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return net.ErrClosed
	}
	unix.Shutdown(c.fd, unix.SHUT_RDWR) // wakes them; the descriptor is still ours
	c.use.Lock()
	defer c.use.Unlock()
	return unix.Close(c.fd)
}

// CloseWrite shuts the sending side down, as *net.TCPConn's does: the
// client reads what was written, then the end (FIN).
func (c *sockConn) CloseWrite() error {
	c.use.RLock()
	defer c.use.RUnlock()
	if c.closed.Load() {
		return net.ErrClosed
	}
	return os.NewSyscallError("shutdown", unix.Shutdown(c.fd, unix.SHUT_WR))
}

func (c *sockConn) LocalAddr() net.Addr  { return c.local }
func (c *sockConn) RemoteAddr() net.Addr { return c.remote }

func (c *sockConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *sockConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return nil
}

func (c *sockConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDeadline = t
	c.mu.Unlock()
	return nil
}

var _ net.Conn = (*sockConn)(nil)
