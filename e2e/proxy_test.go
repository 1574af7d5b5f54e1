package e2e

// The PROXY protocol through the built mppd, under every launcher that
// hands it a TCP connection. The balancer is the test, on 127.0.0.1;
// 127.0.0.2 is a client that is not trusted.

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

// proxyV2 is a version 2 header (HAProxy's send-proxy-v2) naming src,
// an IPv6 client, to dst.
func proxyV2(src, dst netip.AddrPort) string {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x21\x00\x24")
	s, d := src.Addr().As16(), dst.Addr().As16()
	b = append(append(b, s[:]...), d[:]...)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	return string(b)
}

const proxyRefused = "451 Local error encountered: PROXY header not accepted from your address, closing connection\r\n"

// TestProxyEveryLauncher: under each launcher, mppd trusting 127.0.0.1
// takes the client's address from a version 1 and a version 2 header into
// the Received: field and, where mppd's stderr is not the connection, the
// log; a trusted connection with a malformed header gets no session; a
// header from 127.0.0.2, not trusted, is refused and not believed.
func TestProxyEveryLauncher(t *testing.T) {
	for _, name := range []string{"openbsd-inetd", "xinetd", "systemd --accept", "systemd --inetd", "systemd Accept=no", "-listen"} {
		t.Run(name, func(t *testing.T) {
			logTo := "stderr"
			if strings.HasSuffix(name, "inetd") && !strings.HasPrefix(name, "systemd") {
				logTo = "none" // fd 2 is the connection
			}
			m := launch(t, name, "", "-log", logTo, "-proxy-trusted-networks", "127.0.0.1/32")
			_, port, _ := net.SplitHostPort(m.addr)

			c := m.conn(t)
			c.Send("PROXY TCP4 192.0.2.7 127.0.0.1 40001 " + port + "\r\n")
			c.post()
			c = m.conn(t)
			c.Send(proxyV2(netip.MustParseAddrPort("[2001:db8::7]:40002"), netip.MustParseAddrPort("[::1]:218")))
			c.post()
			var msgs []string
			testlib.WaitFor(10*time.Second, func() bool {
				msgs = testlib.Recorded(t, m.dir, "msg")
				return len(msgs) >= 2
			})
			var from []string
			for _, msg := range msgs {
				from = append(from, strings.SplitN(msg, "\n", 2)[0])
			}
			if len(from) != 2 || !strings.Contains(strings.Join(from, "|"), "Received: from [192.0.2.7]") ||
				!strings.Contains(strings.Join(from, "|"), "Received: from [IPv6:2001:db8::7]") {
				t.Errorf("Received: %q", from)
			}

			// A malformed header from the trusted balancer: no greeting, no
			// session.
			c = m.conn(t)
			c.Send("PROXY TCP4 192.0.2.7 127.0.0.1 40001\r\n")
			if got := c.Rest(); got != "" {
				t.Errorf("malformed header: %q", got)
			}

			// A forged header from a client that is not trusted.
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
			conn, err := d.Dial("tcp", m.addr)
			if err != nil {
				t.Fatal(err)
			}
			c = newClient(t, conn)
			c.Send("PROXY TCP4 203.0.113.9 127.0.0.1 40001 " + port + "\r\nUSER alice\r\n")
			c.Expect("220")
			if got := c.Rest(); got != proxyRefused {
				t.Errorf("forged header: %q", got)
			}
			if n := len(testlib.Recorded(t, m.dir, "msg")); n != 2 {
				t.Errorf("%d messages delivered, want 2", n)
			}
			if m.log == nil || logTo == "none" {
				return
			}
			for _, want := range []string{
				"session started rip=192.0.2.7 ",
				"session started rip=2001:db8::7 ",
				`PROXY header refused, connection closed error="PROXY line of 5 fields, not 6" rip=127.0.0.1`,
				`input refused error="PROXY header from an address not in -proxy-trusted-networks: refused, not believed" rip=127.0.0.2`,
			} {
				if !m.log.Contains(want) {
					t.Errorf("log lacks %q:\n%s", want, m.log)
				}
			}
			if strings.Contains(m.log.String(), "203.0.113.9") || strings.Contains(m.log.String(), "rip=127.0.0.1 session") {
				t.Errorf("the log believes a header it should not, or names the balancer as a client:\n%s", m.log)
			}
		})
	}
}

// TestProxyFlagRefused: a value of -proxy-trusted-networks that would trust
// everyone, or is no address, stops mppd at start-up with exit 78 and says
// why.
func TestProxyFlagRefused(t *testing.T) {
	for _, bad := range []string{"0.0.0.0/0", "::/0", "not-an-address"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cmd := exec.CommandContext(ctx, testlib.Mppd(t), "-config", "", "-proxy-trusted-networks", bad, "-listen", "127.0.0.1:0", "-log", "none", "-passwd", "/dev/null")
		b, _ := cmd.CombinedOutput()
		cancel()
		out, code := string(b), cmd.ProcessState.ExitCode()
		if code != exitConfig || !strings.Contains(out, "-proxy-trusted-networks") {
			t.Errorf("-proxy-trusted-networks %s: exit %d: %s", bad, code, out)
		}
	}
}
