package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/mpp"
	"github.com/sirupsen/logrus/hooks/test"
)

// testCA is a certificate authority made for one test: the client trusts
// it, the server gets certificates it issues.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string // path of the CA certificate, for -tls-trust-file and RootCAs
	pool *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mppd test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, pem: filepath.Join(t.TempDir(), "ca.pem"), pool: x509.NewCertPool()}
	ca.pool.AddCert(cert)
	writePEM(t, ca.pem, "CERTIFICATE", der)
	return ca
}

// issue writes a server certificate for names (DNS names or IP addresses)
// with the given serial number to certFile and keyFile, replacing them
// atomically (as certbot's renewals do, through a rename).
func (ca *testCA) issue(t testing.TB, certFile, keyFile string, serial int64, names ...string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	writePEM(t, certFile, "CERTIFICATE", der)
}

func writePEM(t testing.TB, path, kind string, der []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// tlsServer serves sessions with transport tr on a loopback listener, as
// -listen does, until the test ends.
func tlsServer(t *testing.T, cfg *Config, tr *transport) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	go func() {
		acceptLoop(&reloader{cfg: cfg, tr: tr, log: cfg.Log}, l, newSessionLimits(10, 0), &wg)
		close(done)
	}()
	t.Cleanup(func() { l.Close(); <-done; wg.Wait() })
	return l.Addr().String()
}

// tlsFixture is a server with a certificate from a fresh CA for 127.0.0.1
// and mpp.test. adjust, if not nil, changes its config before it starts.
func tlsFixture(t *testing.T, adjust func(*Config)) (cfg *Config, d *fakeDeliver, logs *test.Hook, ca *testCA, certFile, keyFile, addr string) {
	t.Helper()
	cfg, d, logs = testConfig(t)
	if adjust != nil {
		adjust(cfg)
	}
	ca = newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.issue(t, certFile, keyFile, 100, "mpp.test", "127.0.0.1")
	tr, err := newTransport(certFile, keyFile, false, cfg.Log)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, d, logs, ca, certFile, keyFile, tlsServer(t, cfg, tr)
}

func dialTLS(addr string, conf *tls.Config) (*tls.Conn, error) {
	return tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, conf)
}

// postWith runs a whole posting as alice with the mpp client library.
func postWith(t *testing.T, conn net.Conn, password, text string) {
	t.Helper()
	c := mpp.NewClient(conn, 10*time.Second, nil)
	defer c.Close()
	steps := []struct {
		verb, arg string
		want      int
	}{{"USER", "alice", 250}, {"PASS", password, 250}, {"DATA", "", 354}}
	if r, err := c.ReadReply(); err != nil || r.Code != 220 {
		t.Fatalf("greeting: %v %v", r, err)
	}
	for _, s := range steps {
		if r, err := c.Cmd(s.verb, s.arg, s.verb == "PASS"); err != nil || r.Code != s.want {
			t.Fatalf("%s: %v %v", s.verb, r, err)
		}
	}
	if r, err := c.SendText(strings.NewReader(text)); err != nil || r.Code != 250 {
		t.Fatalf("text: %v %v", r, err)
	}
	if r, err := c.Cmd("QUIT", "", false); err != nil || r.Code != 221 {
		t.Fatalf("QUIT: %v %v", r, err)
	}
}

// servedSerial is the serial number of the certificate the TLS server at
// addr presents to a client that trusts ca and asks for mpp.test.
func servedSerial(t *testing.T, addr string, ca *testCA) int64 {
	t.Helper()
	conn, err := dialTLS(addr, &tls.Config{RootCAs: ca.pool, ServerName: "mpp.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
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
	conn, err := dialTLS(addr, &tls.Config{RootCAs: ca.pool, ServerName: "mpp.test"})
	if err != nil {
		t.Fatal(err)
	}
	if v := conn.ConnectionState().Version; v < tls.VersionTLS12 {
		t.Errorf("TLS version %x", v)
	}
	postWith(t, conn, "secret", "To: bob\n\n.leading dot\nline\r\n")
	msgs := d.messages()
	if len(msgs) != 1 || msgs[0].text != "To: bob\n\n.leading dot\nline\n" || msgs[0].env.User != "alice" {
		t.Fatalf("delivered %+v", msgs)
	}
}

// TestTLSEndWithUnreadInput: as TestEndWithUnreadInput, through TLS, with
// the built mppd as -listen runs it: the session's 451 is followed by
// close_notify and FIN, and what the client is still sending is read and
// dropped, not answered with a reset.
func TestTLSEndWithUnreadInput(t *testing.T) {
	_, _, _, ca, certFile, keyFile, _ := tlsFixture(t, nil)
	_, flags := e2eSetup(t, "")
	addr := freePort(t)
	startLauncher(t, mppdBinary(t), append([]string{"-listen", addr, "-log", "stderr", "-max-errors", "3",
		"-tls-cert", certFile, "-tls-key", keyFile}, flags...)...)
	raw := dialRetry(t, addr)
	defer raw.Close()
	conn := tls.Client(raw, &tls.Config{RootCAs: ca.pool, ServerName: "mpp.test"})
	if err := conn.Handshake(); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("BOGUS\r\n"), 3<<20/7)
	wrote := make(chan error, 1)
	go func() {
		n, err := conn.Write(data)
		if err == nil && n != len(data) {
			err = io.ErrShortWrite
		}
		wrote <- err
	}()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(conn) // to close_notify
	if !strings.Contains(string(got), "\r\n451 ") || err != nil {
		t.Fatalf("read %q, %v; want the final 451, then close_notify", got, err)
	}
	// What the client still sent was read and dropped, not answered with
	// a reset (which would also have thrown away the unread 451 on many
	// stacks).
	select {
	case err := <-wrote:
		if err != nil {
			t.Errorf("the client's writes after the end: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("the client's writes after the end still blocked")
	}
	// crypto/tls stops at close_notify; what follows on the TCP connection
	// is FIN, or RST when mppd closed with input unread.
	if n, err := raw.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("after close_notify: %d bytes, %v; want the end (FIN)", n, err)
	}
}

// TestTLSOldVersionsRefused: TLS 1.0 and 1.1 get no session.
func TestTLSOldVersionsRefused(t *testing.T) {
	_, _, logs, ca, _, _, addr := tlsFixture(t, nil)
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		conn, err := dialTLS(addr, &tls.Config{RootCAs: ca.pool, ServerName: "mpp.test", MinVersion: v, MaxVersion: v})
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

	tc, err := dialTLS(addr, &tls.Config{RootCAs: ca.pool, ServerName: "mpp.test"})
	if err != nil {
		t.Fatal(err)
	}
	postWith(t, tc, "secret", "To: bob\n\nstill serving\n")
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
	if s := servedSerial(t, addr, ca); s != 100 {
		t.Fatalf("serial %d, want 100", s)
	}
	ca.issue(t, certFile, keyFile, 101, "mpp.test", "127.0.0.1")
	if s := servedSerial(t, addr, ca); s != 101 {
		t.Fatalf("after renewal: serial %d, want 101", s)
	}
	os.WriteFile(certFile, []byte("not a certificate"), 0o600)
	conn, err := dialTLS(addr, &tls.Config{RootCAs: ca.pool, ServerName: "mpp.test"})
	if err == nil {
		conn.Close()
		t.Fatal("handshake with a broken certificate file succeeded")
	}
	waitLog(t, logs, "cannot load the TLS certificate")
	ca.issue(t, certFile, keyFile, 102, "mpp.test", "127.0.0.1")
	if s := servedSerial(t, addr, ca); s != 102 {
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
	addr := tlsServer(t, cfg, tr)
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

// TestTLSFlags: mppd refuses to start with TLS flags that cannot work, with
// EX_CONFIG and a message saying which.
func TestTLSFlags(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	ca.issue(t, cert, key, 5, "mpp.test")
	other := filepath.Join(dir, "other")
	ca.issue(t, other+".c", other+".k", 6, "mpp.test")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-tls-cert", cert}, "-tls-cert and -tls-key go together"},
		{[]string{"-tls-key", key}, "-tls-cert and -tls-key go together"},
		{[]string{"-tls-cert", cert, "-tls-key", filepath.Join(dir, "missing")}, "no such file"},
		{[]string{"-tls-cert", cert, "-tls-key", other + ".k"}, "private key does not match public key"},
		{[]string{"-tls-cert", key, "-tls-key", key}, "-tls-cert"},
	} {
		cmd := exec.Command(mppdBinary(t), append(tc.args, "-listen", "127.0.0.1:0", "-log", "none")...)
		out, err := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 78 || !strings.Contains(string(out), tc.want) {
			t.Errorf("%q: exit %d (%v), output %q; want 78 and %q", tc.args, code, err, out, tc.want)
		}
	}
}

// TestTLSOverPipes: mppd started with the connection on pipes (not a
// socket), as some launchers and wrappers do, speaks TLS there too.
func TestTLSOverPipes(t *testing.T) {
	dir, flags := e2eSetup(t, "")
	ca := newTestCA(t)
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.issue(t, cert, key, 3, "mpp.test")
	cmd := exec.Command(mppdBinary(t), append(flags, "-log", "none", "-tls-cert", cert, "-tls-key", key)...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	postWith(t, tls.Client(pipeClient{out, in}, &tls.Config{RootCAs: ca.pool, ServerName: "mpp.test"}), fixturePassword, e2eDelivered)
	waitExit(t, cmd)
	checkDelivered(t, dir)
}

// pipeClient is the test's end of mppd's stdin and stdout, as a net.Conn
// for crypto/tls.
type pipeClient struct {
	io.Reader
	io.WriteCloser
}

func (pipeClient) LocalAddr() net.Addr              { return pipeAddr{} }
func (pipeClient) RemoteAddr() net.Addr             { return pipeAddr{} }
func (pipeClient) SetDeadline(time.Time) error      { return nil }
func (pipeClient) SetReadDeadline(time.Time) error  { return nil }
func (pipeClient) SetWriteDeadline(time.Time) error { return nil }

// TestTLSFlagsDocumented: the TLS flags are in mppd -h and in mppd(8).
func TestTLSFlagsDocumented(t *testing.T) {
	cmd := exec.Command(mppdBinary(t), "-h")
	var help strings.Builder
	cmd.Stderr = &help
	cmd.Run()
	man, err := os.ReadFile("docs/mppd.8.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"-tls-cert", "-tls-key", "-require-tls"} {
		if !strings.Contains(help.String(), "\n  "+f+" ") && !strings.Contains(help.String(), "\n  "+f+"\n") {
			t.Errorf("mppd -h lacks %s", f)
		}
		if !strings.Contains(string(man), "\n**"+f+"**") {
			t.Errorf("mppd(8) lacks %s", f)
		}
	}
}
