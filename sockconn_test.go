package main

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
	"golang.org/x/sys/unix"
)

// sockPair is a connected pair: mppd's end as sockConn makes it from an
// inherited descriptor, and the client's end as a net.Conn.
type sockPair struct {
	server *sockConn
	client net.Conn
}

// newSockPairs returns a pair on a Unix socketpair (what inetd's tests and
// some launchers use) and one on loopback TCP (what inetd and systemd pass
// for a network service).
func newSockPairs(t *testing.T) map[string]sockPair {
	t.Helper()
	pairs := map[string]sockPair{}

	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	clientFile := os.NewFile(uintptr(fds[1]), "client")
	client, err := net.FileConn(clientFile)
	clientFile.Close()
	if err != nil {
		t.Fatal(err)
	}
	server, err := newSockConn(fds[0])
	unix.Close(fds[0]) // newSockConn made its own descriptor, as from inetd's fd 0
	if err != nil {
		t.Fatal(err)
	}
	pairs["socketpair"] = sockPair{server, client}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	accepted, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	f, err := accepted.(*net.TCPConn).File()
	accepted.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Go's Accept set Nagle off and keepalives on; inetd and systemd
	// leave the kernel's defaults.
	unix.SetsockoptInt(int(f.Fd()), unix.IPPROTO_TCP, unix.TCP_NODELAY, 0)
	unix.SetsockoptInt(int(f.Fd()), unix.SOL_SOCKET, unix.SO_KEEPALIVE, 0)
	unix.SetsockoptInt(int(f.Fd()), unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 7200)
	server, err = newSockConn(int(f.Fd()))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pairs["tcp"] = sockPair{server, client}

	t.Cleanup(func() {
		// The client's end first: that wakes a read of the server's end
		// even if Close is broken.
		for _, p := range pairs {
			p.client.Close()
			p.server.Close()
		}
	})
	return pairs
}

// within runs f and fails the test if it has not returned after limit: a
// read that ignores its deadline would otherwise hang the test.
func within(t *testing.T, limit time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("%s: still blocked after %v", what, limit)
	}
}

// TestSockConnBlocking: the socket is in blocking mode, so its reads and
// writes sleep in the kernel and never go through the network poller.
func TestSockConnBlocking(t *testing.T) {
	for name, p := range newSockPairs(t) {
		t.Run(name, func(t *testing.T) {
			fl, err := unix.FcntlInt(uintptr(p.server.fd), unix.F_GETFL, 0)
			if err != nil {
				t.Fatal(err)
			}
			if fl&unix.O_NONBLOCK != 0 {
				t.Error("socket left in non-blocking mode")
			}
			io.WriteString(p.client, "hello")
			buf := make([]byte, 16)
			n, err := p.server.Read(buf)
			if err != nil || string(buf[:n]) != "hello" {
				t.Errorf("read %q, %v", buf[:n], err)
			}
			if _, err := p.server.Write([]byte("world")); err != nil {
				t.Fatal(err)
			}
			p.client.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err = p.client.Read(buf)
			if err != nil || string(buf[:n]) != "world" {
				t.Errorf("client read %q, %v", buf[:n], err)
			}
		})
	}
}

// TestSockConnForeignNonblock: O_NONBLOCK set by someone else on the
// shared open file makes a read with no data an error, not a busy loop
// (a read always has a timeout in place: readWake).
func TestSockConnForeignNonblock(t *testing.T) {
	p := newSockPairs(t)["socketpair"]
	if err := unix.SetNonblock(p.server.fd, true); err != nil {
		t.Fatal(err)
	}
	var err error
	within(t, 10*time.Second, "read on a socket made non-blocking", func() { _, err = p.server.Read(make([]byte, 16)) })
	if !errors.Is(err, unix.EAGAIN) {
		t.Errorf("read: %v, want EAGAIN", err)
	}
}

// TestSockConnPeer: the addresses come from the socket, as net.FileConn's.
func TestSockConnPeer(t *testing.T) {
	p := newSockPairs(t)["tcp"]
	if got, want := p.server.RemoteAddr().String(), p.client.LocalAddr().String(); got != want {
		t.Errorf("RemoteAddr %s, want %s", got, want)
	}
	if got, want := p.server.LocalAddr().String(), p.client.RemoteAddr().String(); got != want {
		t.Errorf("LocalAddr %s, want %s", got, want)
	}
	if got := peerAddr(p.server); got != "127.0.0.1" {
		t.Errorf("peerAddr %q", got)
	}
	// The options net.FileConn sets on a TCP connection.
	for _, o := range []struct {
		name       string
		level, opt int
		want       int
	}{
		{"TCP_NODELAY", unix.IPPROTO_TCP, unix.TCP_NODELAY, 1},
		{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{"TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 15},
	} {
		if v, err := unix.GetsockoptInt(p.server.fd, o.level, o.opt); err != nil || v != o.want {
			t.Errorf("%s = %d (%v), want %d", o.name, v, err, o.want)
		}
	}
}

// TestSockConnReadDeadline: SO_RCVTIMEO ends a read at the deadline with
// the error a net.Conn gives, and the connection still works afterwards.
func TestSockConnReadDeadline(t *testing.T) {
	for name, p := range newSockPairs(t) {
		t.Run(name, func(t *testing.T) {
			const wait = 150 * time.Millisecond
			start := time.Now()
			p.server.SetReadDeadline(start.Add(wait))
			var n int
			var err error
			within(t, 10*time.Second, "read past its deadline", func() { n, err = p.server.Read(make([]byte, 16)) })
			if !errors.Is(err, os.ErrDeadlineExceeded) || n != 0 {
				t.Fatalf("read: %d, %v; want os.ErrDeadlineExceeded", n, err)
			}
			if d := time.Since(start); d < wait {
				t.Errorf("timed out after %v, before the deadline (%v)", d, wait)
			}
			// A deadline already past fails at once, without reading.
			if _, err := p.server.Read(make([]byte, 16)); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("read after the deadline: %v", err)
			}
			// A later deadline lets data through again; the option set
			// for the short one is replaced.
			p.server.SetReadDeadline(time.Now().Add(10 * time.Second))
			go func() {
				time.Sleep(2 * wait)
				io.WriteString(p.client, "late")
			}()
			buf := make([]byte, 16)
			within(t, 10*time.Second, "read", func() { n, err = p.server.Read(buf) })
			if err != nil || string(buf[:n]) != "late" {
				t.Errorf("read %q, %v", buf[:n], err)
			}
			// No deadline: no timeout.
			p.server.SetReadDeadline(time.Time{})
			go func() {
				time.Sleep(2 * wait)
				io.WriteString(p.client, "later")
			}()
			within(t, 10*time.Second, "read", func() { n, err = p.server.Read(buf) })
			if err != nil || string(buf[:n]) != "later" {
				t.Errorf("read %q, %v", buf[:n], err)
			}
		})
	}
}

// TestSockConnInheritedTimeout: a receive timeout left on the socket by
// whoever passed it does not end a read that has no deadline.
func TestSockConnInheritedTimeout(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fds[0], unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	server, err := newSockConn(fds[0])
	unix.Close(fds[0])
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	go func() {
		time.Sleep(300 * time.Millisecond) // six of the inherited timeouts
		unix.Write(fds[1], []byte("late"))
	}()
	buf := make([]byte, 16)
	var n int
	within(t, 10*time.Second, "read", func() { n, err = server.Read(buf) })
	if err != nil || string(buf[:n]) != "late" {
		t.Errorf("read %q, %v; want the data, however late", buf[:n], err)
	}
}

// TestSockConnSignals: a read with a timeout is not restarted by the
// kernel after a signal (socket(7)); sockConn carries on to its deadline.
// The Go runtime itself interrupts threads so (SIGURG, preemption), which
// is what is sent here, to the very thread that is blocked in read(2).
func TestSockConnSignals(t *testing.T) {
	p := newSockPairs(t)["tcp"]
	tid := make(chan int, 1)
	var err error
	var n int
	var start time.Time
	const wait = 400 * time.Millisecond
	var stop atomic.Bool
	defer stop.Store(true)
	go func() {
		target := <-tid
		for !stop.Load() {
			unix.Tgkill(unix.Getpid(), target, syscall.SIGURG)
			time.Sleep(10 * time.Millisecond)
		}
	}()
	within(t, 10*time.Second, "read", func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid <- unix.Gettid()
		start = time.Now()
		p.server.SetReadDeadline(start.Add(wait))
		n, err = p.server.Read(make([]byte, 16))
	})
	if !errors.Is(err, os.ErrDeadlineExceeded) || n != 0 {
		t.Fatalf("read interrupted by signals: %d, %v; want os.ErrDeadlineExceeded", n, err)
	}
	if d := time.Since(start); d < wait {
		t.Errorf("timed out after %v, before the deadline (%v)", d, wait)
	}
}

// TestSockConnWriteDeadline: a client that never reads cannot hold a write
// beyond its deadline (SO_SNDTIMEO).
func TestSockConnWriteDeadline(t *testing.T) {
	for name, p := range newSockPairs(t) {
		t.Run(name, func(t *testing.T) {
			p.server.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
			big := make([]byte, 64<<20) // more than any socket buffer
			var n int
			var err error
			within(t, 10*time.Second, "write to a client that does not read", func() { n, err = p.server.Write(big) })
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("write: %v; want os.ErrDeadlineExceeded", err)
			}
			if n <= 0 || n >= len(big) {
				t.Errorf("wrote %d bytes; want part of %d", n, len(big))
			}
		})
	}
}

// TestSockConnCloseWakesRead: Close ends a read blocked in another
// goroutine (the TLS handshake's time limit works so), and later calls
// fail as on a closed net.Conn.
func TestSockConnCloseWakesRead(t *testing.T) {
	for name, p := range newSockPairs(t) {
		t.Run(name, func(t *testing.T) {
			go func() {
				time.Sleep(100 * time.Millisecond)
				p.server.Close()
			}()
			var err error
			within(t, 10*time.Second, "read after Close", func() { _, err = p.server.Read(make([]byte, 16)) })
			if err == nil {
				t.Error("read on a closed connection returned no error")
			}
			if _, err := p.server.Read(make([]byte, 16)); !errors.Is(err, net.ErrClosed) {
				t.Errorf("read after Close: %v", err)
			}
			if _, err := p.server.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
				t.Errorf("write after Close: %v", err)
			}
			if err := p.server.Close(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("second Close: %v", err)
			}
			// The client sees the end of the connection.
			p.client.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := p.client.Read(make([]byte, 16)); err != io.EOF {
				t.Errorf("client read: %v, want EOF", err)
			}
		})
	}
}

// TestSockConnSessionTimeouts: the session's idle and session limits hold
// on a blocking socket: an idle client, and one that trickles text and is
// never idle, each get the 451 saying why, and nothing is delivered.
func TestSockConnSessionTimeouts(t *testing.T) {
	for _, name := range []string{"socketpair", "tcp"} {
		t.Run(name+"/idle", func(t *testing.T) {
			p := newSockPairs(t)[name]
			cfg, d, _ := testConfig(t)
			cfg.IdleTimeout = 150 * time.Millisecond
			go io.WriteString(p.client, login+"DATA\r\npart of a text\r\n")
			got := serveSock(t, cfg, p)
			if !strings.HasSuffix(got, "354 Enter mail, end with \".\" on a line by itself\r\n451 Idle timeout, closing connection\r\n") {
				t.Errorf("got %q", got)
			}
			if n := len(d.messages()); n != 0 {
				t.Errorf("%d messages delivered", n)
			}
		})
		t.Run(name+"/session", func(t *testing.T) {
			p := newSockPairs(t)[name]
			cfg, d, _ := testConfig(t)
			cfg.IdleTimeout = 200 * time.Millisecond
			cfg.SessionTimeout = 600 * time.Millisecond
			var stop atomic.Bool
			defer stop.Store(true)
			go func() {
				io.WriteString(p.client, login+"DATA\r\n")
				for !stop.Load() {
					if _, err := io.WriteString(p.client, "more text\r\n"); err != nil {
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()
			got := serveSock(t, cfg, p)
			if !strings.HasSuffix(got, "451 Session time limit exceeded, closing connection\r\n") {
				t.Errorf("got %q", got)
			}
			if n := len(d.messages()); n != 0 {
				t.Errorf("%d messages delivered", n)
			}
		})
	}
}

// serveSock runs a session on p's server end, closes it as the process's
// exit would, and returns everything the client received.
func serveSock(t *testing.T, cfg *Config, p sockPair) string {
	t.Helper()
	within(t, 20*time.Second, "session", func() {
		Serve(cfg, p.server, "192.0.2.1")
		p.server.Close()
	})
	p.client.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(p.client)
	return string(b)
}

// TestSockConnTLS: TLS runs on a blocking socket as on a net.Conn: a whole
// session, and the handshake's time limit, which closes the connection
// under the pending read.
func TestSockConnTLS(t *testing.T) {
	cfg, d, logs, ca, certFile, keyFile, _ := tlsFixture(t, func(c *Config) { c.IdleTimeout = 300 * time.Millisecond })
	tr, err := newTransport(certFile, keyFile, false, cfg.Log)
	if err != nil {
		t.Fatal(err)
	}

	p := newSockPairs(t)["tcp"]
	done := make(chan struct{})
	go func() {
		defer close(done)
		tr.serve(cfg, p.server, "127.0.0.1")
	}()
	tc := tls.Client(p.client, &tls.Config{RootCAs: ca.Pool, ServerName: "mpp.test"})
	testlib.PostWith(t, tc, "secret", "To: bob\n\nover a blocking socket\n")
	within(t, 10*time.Second, "TLS session", func() { <-done })
	if msgs := d.messages(); len(msgs) != 1 || msgs[0].text != "To: bob\n\nover a blocking socket\n" {
		t.Errorf("delivered %+v", msgs)
	}

	// The idle limit after the handshake: the timeout comes through TLS
	// as the session's 451.
	p = newSockPairs(t)["tcp"]
	done = make(chan struct{})
	go func() {
		defer close(done)
		tr.serve(cfg, p.server, "127.0.0.1")
	}()
	tc = tls.Client(p.client, &tls.Config{RootCAs: ca.Pool, ServerName: "mpp.test"})
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	got, _ := io.ReadAll(tc)
	if want := "220 mpp.test Message Posting Service Ready\r\n451 Idle timeout, closing connection\r\n"; string(got) != want {
		t.Errorf("idle TLS session: got %q, want %q", got, want)
	}
	within(t, 10*time.Second, "idle TLS session", func() { <-done })

	p = newSockPairs(t)["tcp"]
	within(t, 10*time.Second, "TLS handshake with a silent client", func() { tr.serve(cfg, p.server, "127.0.0.1") })
	if e := waitLog(t, logs, "TLS handshake failed: timed out"); !strings.Contains(e, "limit=300ms") {
		t.Errorf("log: %s", e)
	}
}
