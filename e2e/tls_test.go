package e2e

import (
	"bytes"
	"crypto/tls"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

// TestTLSEndWithUnreadInput: as TestEndWithUnreadInput, through TLS, with
// the built mppd as -listen runs it: the session's 451 is followed by
// close_notify and FIN, and what the client is still sending is read and
// dropped, not answered with a reset.
func TestTLSEndWithUnreadInput(t *testing.T) {
	ca := testlib.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.Issue(t, certFile, keyFile, 100, "mpp.test", "127.0.0.1")
	raw := launch(t, "-listen", "", "-log", "stderr", "-max-errors", "3", "-tls-cert", certFile, "-tls-key", keyFile).conn(t).Conn
	conn := tls.Client(raw, &tls.Config{RootCAs: ca.Pool, ServerName: "mpp.test"})
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

// TestTLSFlags: mppd refuses to start with TLS flags that cannot work, with
// EX_CONFIG and a message saying which.
func TestTLSFlags(t *testing.T) {
	ca := testlib.NewCA(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	ca.Issue(t, cert, key, 5, "mpp.test")
	other := filepath.Join(dir, "other")
	ca.Issue(t, other+".c", other+".k", 6, "mpp.test")
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
		cmd := exec.Command(testlib.Mppd(t), append(tc.args, "-listen", "127.0.0.1:0", "-log", "none")...)
		out, err := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 78 || !strings.Contains(string(out), tc.want) {
			t.Errorf("%q: exit %d (%v), output %q; want 78 and %q", tc.args, code, err, out, tc.want)
		}
	}
}

// TestTLSOverPipes: mppd started with the connection on pipes (not a
// socket), as some launchers and wrappers do, speaks TLS there too.
func TestTLSOverPipes(t *testing.T) {
	ca := testlib.NewCA(t)
	certDir := t.TempDir()
	cert, key := filepath.Join(certDir, "cert.pem"), filepath.Join(certDir, "key.pem")
	ca.Issue(t, cert, key, 3, "mpp.test")
	m := launch(t, "pipe", "", "-log", "none", "-tls-cert", cert, "-tls-key", key)
	dir := m.dir
	c := m.conn(t)
	cmd := c.cmd
	testlib.PostWith(t, tls.Client(c.Conn, &tls.Config{RootCAs: ca.Pool, ServerName: "mpp.test"}), testlib.FixturePassword, e2eDelivered)
	waitExit(t, cmd)
	checkDelivered(t, dir)
}
