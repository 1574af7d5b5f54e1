package testlib

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/mpp"
)

func DialTLS(addr string, conf *tls.Config) (*tls.Conn, error) {
	return tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, conf)
}

// PostWith runs a whole posting as alice with the mpp client library.
func PostWith(t testing.TB, conn net.Conn, password, text string) {
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

// ServedSerial is the serial number of the certificate the TLS server at
// addr presents to a client that trusts ca and asks for mpp.test.
func ServedSerial(t testing.TB, addr string, ca *CA) int64 {
	t.Helper()
	conn, err := DialTLS(addr, &tls.Config{RootCAs: ca.Pool, ServerName: "mpp.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}
