package e2e

import (
	"crypto/tls"
	"net/smtp"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/mpp"
	"github.com/mppd/mppd/internal/testlib"
)

// BenchmarkBridgeMessage: one message of 4 KiB into the same mppd
// (-listen, TLS, sha512crypt, a delivery command that drops it), four
// ways: the mpp binary a message; mpp smtpd with an SMTP connection a
// message, and with one for all; and, the floor, one MPP session without
// the bridge. BENCHMARKS.md says what each way does, and has the figures.
func BenchmarkBridgeMessage(b *testing.B) {
	passwd := testlib.TempFile(b, "passwd", "alice:"+testlib.FixtureHashes["sha512crypt"]+"\n", 0o600)
	sink, _ := testlib.Script(b, "sink", "exec cat >/dev/null\n")
	ca := testlib.NewCA(b)
	cert, key := ca.Server(b, b.TempDir())
	mppdAddr := start(b, "-listen", "-config", "", "-log", "none", "-passwd", passwd, "-sendmail", sink,
		"-fail-delay", "0", "-tls-cert", cert, "-tls-key", key, "-domain", "example.org").addr
	testlib.DialRetry(b, mppdAddr).Close()
	conf := mppConfig(b, mppdAddr, ca.PEM, testlib.FixturePassword)
	bridge := testlib.FreePort(b)
	runLauncher(b, testlib.Mpp(b), "smtpd", "-listen", bridge, "-C", conf)
	testlib.DialRetry(b, bridge).Close()

	body := strings.Repeat(strings.Repeat("x", 78)+"\r\n", 4096/80)
	msg := "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: bench\r\n\r\n" + body

	b.Run("mpp", func(b *testing.B) {
		for b.Loop() {
			cmd := exec.Command(testlib.Mpp(b), "-C", conf, "-t", "-i")
			cmd.Stdin = strings.NewReader(msg)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("mpp: %v: %s", err, out)
			}
		}
	})
	auth := smtp.PlainAuth("", "alice", testlib.FixturePassword, "127.0.0.1")
	b.Run("smtpd, a connection a message", func(b *testing.B) {
		for b.Loop() {
			if err := smtp.SendMail(bridge, auth, "alice@example.org", []string{"bob@example.org"}, []byte(msg)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("MPP, one session", func(b *testing.B) {
		conn, err := testlib.DialTLS(mppdAddr, &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1"})
		if err != nil {
			b.Fatal(err)
		}
		c := mpp.NewClient(conn, 20*time.Second, nil)
		defer c.Close()
		c.ReadReply()
		c.Cmd("USER", "alice", false)
		if r, err := c.Cmd("PASS", testlib.FixturePassword, true); err != nil || r.Code != 250 {
			b.Fatalf("PASS: %v %v", r, err)
		}
		for b.Loop() {
			c.Cmd("DATA", "", false)
			if r, err := c.SendText(strings.NewReader(msg)); err != nil || r.Code != 250 {
				b.Fatalf("text: %v %v", r, err)
			}
		}
	})
	b.Run("smtpd, one connection", func(b *testing.B) {
		c, err := smtp.Dial(bridge)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Quit()
		if err := c.Auth(auth); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			c.Mail("alice@example.org")
			c.Rcpt("bob@example.org")
			w, err := c.Data()
			if err != nil {
				b.Fatal(err)
			}
			w.Write([]byte(msg))
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
