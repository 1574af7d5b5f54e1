package main

import (
	"net"
	"sync"
	"testing"
)

// listenServer serves sessions with transport tr and limits on a loopback
// listener, as -listen does, until the test ends.
func listenServer(t *testing.T, cfg *Config, tr *transport, limits *sessionLimits) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	go func() {
		acceptLoop(&reloader{cfg: cfg, tr: tr, log: cfg.Log}, l, limits, &wg)
		close(done)
	}()
	t.Cleanup(func() { l.Close(); <-done; wg.Wait() })
	return l.Addr().String()
}

// TestSourceKey: sessions are counted per IPv4 address and per IPv6 /64
// (one host usually holds a whole /64); a connection with no IP address is
// not counted.
func TestSourceKey(t *testing.T) {
	for addr, want := range map[net.Addr]string{
		&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 4000}:                          "192.0.2.7",
		&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 4000}:                   "192.0.2.7",
		&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:aaaa::1"), Port: 4000}:               "2001:db8:1:2::/64",
		&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::9"), Port: 4000, Zone: "eth0"}: "2001:db8:1:2::/64",
		&net.UnixAddr{Name: "@", Net: "unix"}:                                           "",
	} {
		if got := sourceKey(fakeAddrConn{addr}); got != want {
			t.Errorf("%v: %q, want %q", addr, got, want)
		}
	}
}

type fakeAddrConn struct{ remote net.Addr }

func (c fakeAddrConn) RemoteAddr() net.Addr { return c.remote }

// TestSessionLimits: the total and the per-source limit, each slot given
// back on release; sources that are not counted only count in the total.
func TestSessionLimits(t *testing.T) {
	l := newSessionLimits(3, 2)
	for i, tc := range []struct{ source, want string }{
		{"a", ""}, {"a", ""}, {"a", "Too many sessions from your address"},
		{"", ""}, {"b", "Too many sessions"},
	} {
		if got := l.take(tc.source); got != tc.want {
			t.Fatalf("take %d (%q): %q, want %q", i, tc.source, got, tc.want)
		}
	}
	l.release("a")
	if got := l.take("a"); got != "" {
		t.Errorf("after a release: %q", got)
	}
	l.release("a")
	l.release("a")
	l.release("")
	if l.total != 0 || len(l.perSource) != 0 {
		t.Errorf("after releasing all: total %d, per source %v", l.total, l.perSource)
	}
}
