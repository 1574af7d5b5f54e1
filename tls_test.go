package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
	"github.com/sirupsen/logrus/hooks/test"
)

// tlsFixture is a server with a certificate from a fresh CA for 127.0.0.1
// and mpp.test. adjust, if not nil, changes its config before it starts.
func tlsFixture(t *testing.T, adjust func(*Config)) (cfg *Config, d *fakeDeliver, logs *test.Hook, ca *testlib.CA, certFile, keyFile, addr string) {
	t.Helper()
	cfg, d, logs = testConfig(t)
	if adjust != nil {
		adjust(cfg)
	}
	ca = testlib.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.Issue(t, certFile, keyFile, 100, "mpp.test", "127.0.0.1")
	tr, err := newTransport(certFile, keyFile, false, cfg.Log)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, d, logs, ca, certFile, keyFile, listenServer(t, cfg, tr, newSessionLimits(10, 0))
}

// waitLog waits for a log entry containing what, and returns it with its
// fields.
func waitLog(t *testing.T, logs *test.Hook, what string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, e := range logs.AllEntries() {
			if strings.Contains(e.Message, what) {
				s, _ := e.String()
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log entry %q", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTLSSession(t *testing.T) {
	_, d, _, ca, _, _, addr := tlsFixture(t, nil)
	conn, err := testlib.DialTLS(addr, &tls.Config{RootCAs: ca.Pool, ServerName: "mpp.test"})
	if err != nil {
		t.Fatal(err)
	}
	if v := conn.ConnectionState().Version; v < tls.VersionTLS12 {
		t.Errorf("TLS version %x", v)
	}
	testlib.PostWith(t, conn, "secret", "To: bob\n\n.leading dot\nline\r\n")
	msgs := d.messages()
	if len(msgs) != 1 || msgs[0].text != "To: bob\n\n.leading dot\nline\n" || msgs[0].env.User != "alice" {
		t.Fatalf("delivered %+v", msgs)
	}
}

// TestTLSOldVersionsRefused: TLS 1.0 and 1.1 get no session.
func TestTLSOldVersionsRefused(t *testing.T) {
	_, _, logs, ca, _, _, addr := tlsFixture(t, nil)
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		conn, err := testlib.DialTLS(addr, &tls.Config{RootCAs: ca.Pool, ServerName: "mpp.test", MinVersion: v, MaxVersion: v})
		if err == nil {
			conn.Close()
			t.Fatalf("%s: handshake succeeded", tls.VersionName(v))
		}
	}
	if e := waitLog(t, logs, "TLS handshake failed"); !strings.Contains(e, "version") {
		t.Errorf("log: %s", e)
	}
}

// TestTLSPlainTextOnTLSPort: someone types MPP in the clear at the TLS port.
// One plain reply says why, the session ends, the log says so, and the
// server goes on serving.
func TestTLSPlainTextOnTLSPort(t *testing.T) {
	_, d, logs, ca, _, _, addr := tlsFixture(t, nil)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "USER alice\r\nPASS secret\r\n")
	got, _ := io.ReadAll(conn)
	conn.Close()
	if string(got) != "451 This port speaks MPP over TLS only, closing connection\r\n" {
		t.Errorf("got %q", got)
	}
	waitLog(t, logs, "the client sent plain text")
	for _, e := range logs.AllEntries() {
		if s, _ := e.String(); strings.Contains(s, "secret") {
			t.Errorf("password in the log: %s", s)
		}
	}

	// Garbage that looks like a TLS record, then a client that hangs up
	// at once: log lines, no crash.
	conn, _ = net.Dial("tcp", addr)
	conn.Write([]byte("\x16\x03\x01\x00\x05hello"))
	io.ReadAll(conn)
	conn.Close()
	conn, _ = net.Dial("tcp", addr)
	conn.Close()
	waitLog(t, logs, "the client closed the connection")

	tc, err := testlib.DialTLS(addr, &tls.Config{RootCAs: ca.Pool, ServerName: "mpp.test"})
	if err != nil {
		t.Fatal(err)
	}
	testlib.PostWith(t, tc, "secret", "To: bob\n\nstill serving\n")
	if len(d.messages()) != 1 {
		t.Errorf("delivered %d", len(d.messages()))
	}
}

// TestTLSHandshakeTimeout: a client that connects to the TLS port and says
// nothing is dropped after the handshake limit (here the idle timeout).
func TestTLSHandshakeTimeout(t *testing.T) {
	_, _, logs, _, _, _, addr := tlsFixture(t, func(c *Config) { c.IdleTimeout = 200 * time.Millisecond })
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); err == nil {
		t.Errorf("read %d bytes from a server waiting for a handshake", n)
	}
	if e := waitLog(t, logs, "TLS handshake failed: timed out"); !strings.Contains(e, "limit=200ms") {
		t.Errorf("log: %s", e)
	}
}

// TestTLSCertificateReread: a renewed certificate is used from the next
// connection on, with no restart; a broken one fails handshakes (with a log
// line) until it is fixed.
func TestTLSCertificateReread(t *testing.T) {
	_, _, logs, ca, certFile, keyFile, addr := tlsFixture(t, nil)
	if s := testlib.ServedSerial(t, addr, ca); s != 100 {
		t.Fatalf("serial %d, want 100", s)
	}
	ca.Issue(t, certFile, keyFile, 101, "mpp.test", "127.0.0.1")
	if s := testlib.ServedSerial(t, addr, ca); s != 101 {
		t.Fatalf("after renewal: serial %d, want 101", s)
	}
	os.WriteFile(certFile, []byte("not a certificate"), 0o600)
	conn, err := testlib.DialTLS(addr, &tls.Config{RootCAs: ca.Pool, ServerName: "mpp.test"})
	if err == nil {
		conn.Close()
		t.Fatal("handshake with a broken certificate file succeeded")
	}
	waitLog(t, logs, "cannot load the TLS certificate")
	ca.Issue(t, certFile, keyFile, 102, "mpp.test", "127.0.0.1")
	if s := testlib.ServedSerial(t, addr, ca); s != 102 {
		t.Fatalf("after repair: serial %d, want 102", s)
	}
}

// TestRequireTLS: on a plain connection of a -require-tls server, PASS is
// 530 saying TLS is required, and the password is not even looked at.
func TestRequireTLS(t *testing.T) {
	cfg, _, logs := testConfig(t)
	checked := 0
	cfg.Auth = countingAuth{&checked, cfg.Auth}
	tr, err := newTransport("", "", true, cfg.Log)
	if err != nil {
		t.Fatal(err)
	}
	addr := listenServer(t, cfg, tr, newSessionLimits(10, 0))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	var replies []string
	for _, line := range []string{"", "USER alice", "PASS secret", "NOOP", "USER alice", "QUIT"} {
		if line != "" {
			io.WriteString(conn, line+"\r\n")
		}
		s, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", line, err)
		}
		replies = append(replies, strings.TrimSpace(s))
	}
	if !strings.HasPrefix(replies[2], "530 ") || !strings.Contains(replies[2], "TLS required") {
		t.Errorf("PASS on a plain connection: %q", replies[2])
	}
	var codes []string
	for _, s := range replies {
		codes = append(codes, s[:3])
	}
	if got := strings.Join(codes, " "); got != "220 250 530 250 503 221" {
		t.Errorf("replies %q", replies)
	}
	if checked != 0 {
		t.Errorf("the password was checked %d times", checked)
	}
	if e := waitLog(t, logs, "authentication failed"); !strings.Contains(e, "TLS required") {
		t.Errorf("log: %s", e)
	}
}

type countingAuth struct {
	n    *int
	next Authenticator
}

func (a countingAuth) Authenticate(ctx context.Context, user, pw string) error {
	*a.n++
	return a.next.Authenticate(ctx, user, pw)
}

// BenchmarkTLSCertificateReread measures what reading the certificate and
// key anew costs each connection (tlsFiles.load), against a whole
// handshake over loopback with that certificate: the price of renewals
// without restarts. Compare the two ns/op: the handshake includes one load.
func BenchmarkTLSCertificateReread(b *testing.B) {
	ca := testlib.NewCA(b)
	dir := b.TempDir()
	f := &tlsFiles{cert: filepath.Join(dir, "c.pem"), key: filepath.Join(dir, "k.pem")}
	ca.Issue(b, f.cert, f.key, 1, "mpp.test", "127.0.0.1")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	conf := f.config()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				tc := tls.Server(c, conf)
				tc.Handshake()
				tc.Close()
			}()
		}
	}()
	client := &tls.Config{RootCAs: ca.Pool, ServerName: "mpp.test"}

	b.Run("load", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.load(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("handshake", func(b *testing.B) {
		for b.Loop() {
			c, err := tls.Dial("tcp", l.Addr().String(), client)
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
}
