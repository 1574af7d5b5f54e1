package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/mppd/mppd/internal/testlib"
	"github.com/sirupsen/logrus/hooks/test"
)

// v2Header builds a version 2 header: signature, version 2 and cmd, fam,
// the length, addrs, then each TLV (type, 2-byte length, value).
func v2Header(verCmd, fam byte, addrs []byte, tlvs ...[]byte) []byte {
	b := append([]byte{}, proxyV2Signature...)
	b = append(b, verCmd, fam, 0, 0)
	b = append(b, addrs...)
	for _, t := range tlvs {
		b = append(b, t[0], byte((len(t)-1)>>8), byte(len(t)-1))
		b = append(b, t[1:]...)
	}
	binary.BigEndian.PutUint16(b[14:16], uint16(len(b)-16))
	return b
}

// v2Addrs4 is the address block of TCP over IPv4: 192.0.2.7:4242 to
// 198.51.100.1:218.
var v2Addrs4 = []byte{192, 0, 2, 7, 198, 51, 100, 1, 0x10, 0x92, 0, 218}

func v2Addrs6() []byte {
	src := netip.MustParseAddr("2001:db8::7").As16()
	dst := netip.MustParseAddr("2001:db8::1").As16()
	return append(append(src[:], dst[:]...), 0x10, 0x92, 0, 218)
}

// withCRC adds a CRC32c TLV to h with the right sum (§2.2.3), or a wrong
// one.
func withCRC(h []byte, right bool) []byte {
	h = append(bytes.Clone(h), proxyV2TLVCRC32C, 0, 4, 0, 0, 0, 0)
	binary.BigEndian.PutUint16(h[14:16], uint16(len(h)-16))
	sum := crc32.Checksum(h, crc32.MakeTable(crc32.Castagnoli))
	if !right {
		sum++
	}
	binary.BigEndian.PutUint32(h[len(h)-4:], sum)
	return h
}

func TestParseProxyV1(t *testing.T) {
	ok := []struct {
		line  string
		local bool
		src   string
	}{
		{"PROXY TCP4 192.0.2.7 198.51.100.1 4242 218\r\n", false, "192.0.2.7:4242"},
		{"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", false, "255.255.255.255:65535"},
		{"PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n", false, "0.0.0.0:0"},
		{"PROXY TCP6 2001:db8::7 2001:db8::1 4242 218\r\n", false, "[2001:db8::7]:4242"},
		{"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n", false, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"},
		// an IPv4 client of a dual-stack balancer: the address as IPv4
		{"PROXY TCP6 ::ffff:192.0.2.7 ::ffff:198.51.100.1 4242 218\r\n", false, "192.0.2.7:4242"},
		{"PROXY UNKNOWN\r\n", true, ""},
		{"PROXY UNKNOWN ffff:f...f:ffff anything at all 1 2\r\n", true, ""},
	}
	for _, c := range ok {
		h, err := parseProxyV1([]byte(c.line))
		if err != nil {
			t.Errorf("%q: %v", c.line, err)
			continue
		}
		if h.local != c.local || !c.local && h.src.String() != c.src {
			t.Errorf("%q: local %v src %v, want %v %s", c.line, h.local, h.src, c.local, c.src)
		}
	}
	bad := []struct{ name, line string }{
		{"no CRLF", "PROXY TCP4 192.0.2.7 198.51.100.1 4242 218"},
		{"LF alone", "PROXY TCP4 192.0.2.7 198.51.100.1 4242 218\n"},
		{"CR alone", "PROXY TCP4 192.0.2.7 198.51.100.1 4242 218\r"},
		{"CR inside", "PROXY TCP4 192.0.2.7\r198.51.100.1 4242 218\r\n"},
		{"two spaces", "PROXY TCP4  192.0.2.7 198.51.100.1 4242 218\r\n"},
		{"trailing space", "PROXY TCP4 192.0.2.7 198.51.100.1 4242 218 \r\n"},
		{"tab", "PROXY TCP4\t192.0.2.7 198.51.100.1 4242 218\r\n"},
		{"missing port", "PROXY TCP4 192.0.2.7 198.51.100.1 4242\r\n"},
		{"extra field", "PROXY TCP4 192.0.2.7 198.51.100.1 4242 218 x\r\n"},
		{"lower case", "proxy TCP4 192.0.2.7 198.51.100.1 4242 218\r\n"},
		{"no protocol", "PROXY \r\n"},
		{"UDP4", "PROXY UDP4 192.0.2.7 198.51.100.1 4242 218\r\n"},
		{"tcp4", "PROXY tcp4 192.0.2.7 198.51.100.1 4242 218\r\n"},
		{"octal-looking address", "PROXY TCP4 192.0.2.07 198.51.100.1 4242 218\r\n"},
		{"short address", "PROXY TCP4 192.0.2 198.51.100.1 4242 218\r\n"},
		{"IPv6 as TCP4", "PROXY TCP4 2001:db8::7 2001:db8::1 4242 218\r\n"},
		{"IPv4 as TCP6", "PROXY TCP6 192.0.2.7 198.51.100.1 4242 218\r\n"},
		{"zone", "PROXY TCP6 fe80::1%eth0 fe80::2 4242 218\r\n"},
		{"name", "PROXY TCP4 localhost 198.51.100.1 4242 218\r\n"},
		{"port 65536", "PROXY TCP4 192.0.2.7 198.51.100.1 65536 218\r\n"},
		{"leading zero port", "PROXY TCP4 192.0.2.7 198.51.100.1 04242 218\r\n"},
		{"signed port", "PROXY TCP4 192.0.2.7 198.51.100.1 +4242 218\r\n"},
		{"negative port", "PROXY TCP4 192.0.2.7 198.51.100.1 -1 218\r\n"},
		{"hex port", "PROXY TCP4 192.0.2.7 198.51.100.1 0x10 218\r\n"},
		{"108 bytes", "PROXY UNKNOWN " + strings.Repeat("x", 92) + "\r\n"},
		{"NUL", "PROXY TCP4 192.0.2.7\x00 198.51.100.1 4242 218\r\n"},
	}
	for _, c := range bad {
		if h, err := parseProxyV1([]byte(c.line)); err == nil {
			t.Errorf("%s: %q accepted: %+v", c.name, c.line, h)
		}
	}
}

func TestParseProxyV2(t *testing.T) {
	unix := make([]byte, 216)
	copy(unix, "/run/balancer.sock")
	ok := []struct {
		name  string
		h     []byte
		local bool
		src   string
	}{
		{"TCP4", v2Header(0x21, 0x11, v2Addrs4), false, "192.0.2.7:4242"},
		{"TCP6", v2Header(0x21, 0x21, v2Addrs6()), false, "[2001:db8::7]:4242"},
		{"TCP4 with TLVs", v2Header(0x21, 0x11, v2Addrs4, []byte{0x04, 0, 0, 0}, []byte{0x05, 'i', 'd'}), false, "192.0.2.7:4242"},
		{"TCP4 with a right CRC32c", withCRC(v2Header(0x21, 0x11, v2Addrs4), true), false, "192.0.2.7:4242"},
		{"LOCAL (a health check)", v2Header(0x20, 0x00, nil), true, ""},
		{"LOCAL with addresses", v2Header(0x20, 0x11, v2Addrs4), true, ""},
		{"PROXY UNSPEC", v2Header(0x21, 0x00, nil), true, ""},
		{"UDP over IPv4: the real addresses", v2Header(0x21, 0x12, v2Addrs4), true, ""},
		{"UNIX stream: the real addresses", v2Header(0x21, 0x31, unix), true, ""},
	}
	for _, c := range ok {
		h, err := parseProxyV2(c.h)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if h.local != c.local || !c.local && h.src.String() != c.src {
			t.Errorf("%s: local %v src %v, want %v %s", c.name, h.local, h.src, c.local, c.src)
		}
	}
	lengthOff := v2Header(0x21, 0x11, v2Addrs4)
	lengthOff[15]++
	oversized := v2Header(0x21, 0x11, v2Addrs4, append([]byte{0x04}, make([]byte, 600)...))
	bad := []struct {
		name string
		h    []byte
	}{
		{"short", proxyV2Signature},
		{"version 1", v2Header(0x11, 0x11, v2Addrs4)},
		{"version 3", v2Header(0x31, 0x11, v2Addrs4)},
		{"command 2", v2Header(0x22, 0x11, v2Addrs4)},
		{"family 4", v2Header(0x21, 0x41, v2Addrs4)},
		{"protocol 3", v2Header(0x21, 0x13, v2Addrs4)},
		{"IPv4 addresses cut short", v2Header(0x21, 0x11, v2Addrs4[:11])},
		{"IPv6 addresses cut short", v2Header(0x21, 0x21, v2Addrs4)},
		{"UNIX addresses cut short", v2Header(0x21, 0x31, v2Addrs4)},
		{"length does not match", lengthOff},
		{"TLV cut short", v2Header(0x21, 0x11, append(bytes.Clone(v2Addrs4), 0x04, 0))},
		{"TLV longer than the header", v2Header(0x21, 0x11, append(bytes.Clone(v2Addrs4), 0x04, 0, 9, 1))},
		{"wrong CRC32c", withCRC(v2Header(0x21, 0x11, v2Addrs4), false)},
		{"CRC32c of 3 bytes", v2Header(0x21, 0x11, v2Addrs4, []byte{proxyV2TLVCRC32C, 1, 2, 3})},
		{"oversized", oversized},
		{"no signature", append([]byte("\r\n\r\n\x00\r\nQUIT!"), v2Header(0x21, 0x11, v2Addrs4)[12:]...)},
	}
	for _, c := range bad {
		if h, err := parseProxyV2(c.h); err == nil {
			t.Errorf("%s: accepted: %+v", c.name, h)
		}
	}
}

// TestReadProxyHeader: a header is read exactly, so that the client's
// bytes after it stay for the session, in pieces as well as at once; a
// connection that does not begin with one, or one too long, is refused
// without waiting for more than the header could be.
func TestReadProxyHeader(t *testing.T) {
	const after = "USER alice\r\n"
	for _, c := range []struct {
		name, in, src string
	}{
		{"v1", "PROXY TCP4 192.0.2.7 198.51.100.1 4242 218\r\n", "192.0.2.7:4242"},
		{"v1 shortest", "PROXY UNKNOWN\r\n", ""},
		{"v1 longest", "PROXY UNKNOWN " + strings.Repeat("x", 90) + "\r\n", ""},
		{"v2", string(v2Header(0x21, 0x11, v2Addrs4)), "192.0.2.7:4242"},
		{"v2 LOCAL", string(v2Header(0x20, 0x00, nil)), ""},
	} {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = strings.NewReader(c.in + after)
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			h, err := readProxyHeader(r)
			if err != nil {
				t.Errorf("%s (one byte at a time: %v): %v", c.name, oneByte, err)
				continue
			}
			if c.src != "" && h.src.String() != c.src || c.src == "" && !h.local {
				t.Errorf("%s: %+v", c.name, h)
			}
			if rest, _ := io.ReadAll(r); string(rest) != after {
				t.Errorf("%s (one byte at a time: %v): left %q for the session", c.name, oneByte, rest)
			}
		}
	}
	for _, c := range []struct{ name, in, want string }{
		{"nothing", "", "no PROXY header"},
		{"a client's command", "USER alice\r\nPASS secret\r\n", "no PROXY header"},
		{"TLS", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03abcdefgh", "no PROXY header"},
		{"v1 cut short", "PROXY TCP4 192.0.2.7 1", "cut short"},
		{"v1 without CRLF in 107 bytes", "PROXY UNKNOWN " + strings.Repeat("x", 200), "without CRLF"},
		{"v1 LF early", "PROXY TCP4\nUSER alice\r\n", "CRLF alone"},
		{"v1 malformed", "PROXY TCP4 192.0.2.7 198.51.100.1 4242 99999\r\n", "port"},
		{"v2 cut short", string(v2Header(0x21, 0x11, v2Addrs4)[:20]), "cut short"},
		{"v2 oversized", string(v2Header(0x21, 0x11, v2Addrs4, append([]byte{0x04}, make([]byte, 60000)...))), "over 536"},
		{"v2 malformed", string(v2Header(0x21, 0x41, v2Addrs4)), "family"},
	} {
		r := &countingReader{r: strings.NewReader(c.in)}
		_, err := readProxyHeader(r)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
		if r.n > proxyV2MaxTotal {
			t.Errorf("%s: read %d bytes", c.name, r.n)
		}
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestProxyTrustedNetworks(t *testing.T) {
	p, err := newProxyTrust([]string{"192.0.2.10, 198.51.100.0/24", "2001:db8:1::/48 10.1.2.3/8", "::ffff:203.0.113.0/120"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"192.0.2.10": true, "192.0.2.11": false, "198.51.100.200": true, "198.51.101.1": false,
		"2001:db8:1:ffff::1": true, "2001:db8:2::1": false, "10.200.0.1": true, "11.0.0.1": false,
		"::ffff:192.0.2.10": true, "203.0.113.9": true,
	} {
		a := &net.TCPAddr{IP: net.ParseIP(addr), Port: 40000}
		if got := p.trusts(a); got != want {
			t.Errorf("%s trusted: %v, want %v", addr, got, want)
		}
	}
	if p.trusts(&net.UnixAddr{Name: "/run/x", Net: "unix"}) || p.trusts(pipeAddr{}) {
		t.Error("a connection without an IP address is trusted")
	}
	if none, err := newProxyTrust(nil); none != nil || err != nil || none.trusts(&net.TCPAddr{IP: net.IPv4(192, 0, 2, 10)}) {
		t.Errorf("no networks: %v %v", none, err)
	}
	for _, bad := range []string{"0.0.0.0/0", "::/0", "::ffff:0.0.0.0/96", "mail.example.org", "192.0.2.0/33", "192.0.2.300", "fe80::1%eth0", "192.0.2.0/24;"} {
		if _, err := newProxyTrust([]string{bad}); err == nil {
			t.Errorf("-proxy-trusted-networks %q accepted", bad)
		}
	}
}

// TestProxyHeaderFromUntrusted: a client that is not trusted to send a
// PROXY header (no -proxy-trusted-networks, or a client behind a trusted
// balancer) and sends one gets a last 451, its header is not believed
// (nothing is posted, the log names the connection's own address), and
// the session ends; other first bytes pass as they were.
func TestProxyHeaderFromUntrusted(t *testing.T) {
	post := login + "DATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n"
	for _, c := range []struct {
		name, in string
		oneByte  bool
		refused  bool
	}{
		{"v1", "PROXY TCP4 203.0.113.9 198.51.100.1 4242 218\r\n" + post, false, true},
		{"v1 a byte at a time", "PROXY TCP4 203.0.113.9 198.51.100.1 4242 218\r\n" + post, true, true},
		{"v1 UNKNOWN", "PROXY UNKNOWN\r\n" + post, false, true},
		{"v2", string(v2Header(0x21, 0x11, v2Addrs4)) + post, false, true},
		{"v2 a byte at a time", string(v2Header(0x21, 0x11, v2Addrs4)) + post, true, true},
		{"not a header: PROXY alone", "PROXY\r\n" + post, false, false},
		{"not a header: PROXYX", "PROXYX a\r\n" + post, false, false},
		{"a session", post, true, false},
		{"a session starting with P", "PASS x\r\n" + post, true, false},
		{"a session starting with a blank line", "\r\n" + post, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, d, hook := testConfig(t)
			var in io.Reader = strings.NewReader(c.in)
			if c.oneByte {
				in = iotest.OneByteReader(in)
			}
			conn := &scriptConn{in: in}
			(&transport{}).serve(cfg, conn, "192.0.2.1")
			out := conn.out.String()
			lines := strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n")
			last := lines[len(lines)-1]
			if !c.refused {
				if last != "221 mpp.test Closing Connection" || len(d.messages()) != 1 {
					t.Fatalf("session: %q, %d posted", out, len(d.messages()))
				}
				return
			}
			if last != "451 "+errProxyNotTrusted.msg || !strings.HasPrefix(out, "220 ") || len(d.messages()) != 0 {
				t.Fatalf("refused: %q, %d posted", out, len(d.messages()))
			}
			e := hook.LastEntry()
			if e.Message != "session ended" || e.Data["rip"] != "192.0.2.1" || e.Data["result"] != "refused" {
				t.Errorf("last log line: %s %v", e.Message, e.Data)
			}
			found := false
			for _, e := range hook.AllEntries() {
				if e.Message == "input refused" && e.Data["rip"] == "192.0.2.1" {
					found = true
				}
				for _, v := range e.Data {
					if s, ok := v.(string); ok && strings.Contains(s, "203.0.113.9") {
						t.Errorf("the forged address is in the log: %s %v", e.Message, e.Data)
					}
				}
			}
			if !found {
				t.Errorf("no \"input refused\" line: %v", hook.AllEntries())
			}
		})
	}
}

// recordingAuth is fakeAuth that keeps the client address each check was
// given (PAM_RHOST, for pam:SERVICE).
type recordingAuth struct {
	fakeAuth
	mu    sync.Mutex
	addrs []string
}

func (a *recordingAuth) Authenticate(ctx context.Context, user, pw string) error {
	a.mu.Lock()
	a.addrs = append(a.addrs, clientAddr(ctx))
	a.mu.Unlock()
	return a.fakeAuth.Authenticate(ctx, user, pw)
}

// proxyServer serves sessions on a loopback listener as -listen does,
// trusting trusted to send PROXY headers, with at most perAddress sessions
// from one client.
func proxyServer(t *testing.T, trusted string, perAddress int) (addr string, limits *sessionLimits, d *fakeDeliver, auth *recordingAuth, logs *test.Hook) {
	t.Helper()
	cfg, d, logs := testConfig(t)
	auth = &recordingAuth{fakeAuth: fakeAuth{"alice": "secret"}}
	cfg.Auth = auth
	cfg.Identity = testIdentity(t, PolicySender, "")
	trust, err := newProxyTrust([]string{trusted})
	if err != nil {
		t.Fatal(err)
	}
	limits = newSessionLimits(100, perAddress)
	addr = listenServer(t, cfg, &transport{proxy: trust}, limits)
	return addr, limits, d, auth, logs
}

// dialFrom connects to addr from the loopback address local.
func dialFrom(t *testing.T, local, addr string) *testlib.Client {
	t.Helper()
	dl := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := dl.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return testlib.NewClient(t, c)
}

// TestProxyBehindBalancer: behind a trusted balancer, a session's client
// is the one its header names, in every place mppd uses the client's
// address: the log (rip=), the Received: field, the envelope handed to the
// delivery, the authentication (PAM_RHOST) and -max-sessions-per-address.
func TestProxyBehindBalancer(t *testing.T) {
	addr, limits, d, auth, logs := proxyServer(t, "127.0.0.1", 1)
	headers := map[string]string{
		"v1": "PROXY TCP4 192.0.2.7 127.0.0.1 4242 218\r\n",
		"v2": string(v2Header(0x21, 0x11, v2Addrs4)),
	}
	for _, v := range []string{"v1", "v2"} {
		c := dialFrom(t, "127.0.0.1", addr)
		c.Conn.SetDeadline(time.Now().Add(10 * time.Second))
		c.Send(headers[v])
		c.Expect("220")
		c.Cmd("USER alice", "250")
		c.Cmd("PASS secret", "250")
		c.Cmd("DATA", "354")
		c.Send("From: alice@example.org\r\nTo: bob@example.org\r\n\r\nbehind a balancer\r\n.\r\n")
		c.Expect("250")
		// The same client through the balancer again, while the first
		// session lasts: one session per address (-max-sessions-per-address 1).
		again := dialFrom(t, "127.0.0.1", addr)
		again.Send(headers[v])
		if got := again.Rest(); got != "451 Too many sessions from your address, try again later\r\n" {
			t.Errorf("%s: a second session from 192.0.2.7: %q", v, got)
		}
		// Another client through the same balancer is served.
		other := dialFrom(t, "127.0.0.1", addr)
		other.Send("PROXY TCP6 2001:db8::9 ::1 4242 218\r\n")
		other.Expect("220")
		other.Cmd("QUIT", "221")
		c.Cmd("QUIT", "221")
		// The session's slot is given back after its 221, as it ends:
		// the next round's first session must not find it still taken.
		if !testlib.WaitFor(5*time.Second, func() bool {
			limits.mu.Lock()
			defer limits.mu.Unlock()
			return limits.total == 0
		}) {
			t.Fatalf("%s: sessions still counted after QUIT", v)
		}
	}
	msgs := d.messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	for _, m := range msgs {
		if m.env.Peer != "192.0.2.7" || !strings.HasPrefix(m.text, "Received: from [192.0.2.7]\n") {
			t.Errorf("posted with peer %q:\n%s", m.env.Peer, m.text)
		}
	}
	auth.mu.Lock()
	if len(auth.addrs) != 2 || auth.addrs[0] != "192.0.2.7" || auth.addrs[1] != "192.0.2.7" {
		t.Errorf("PAM_RHOST: %q", auth.addrs)
	}
	auth.mu.Unlock()
	rips := map[string]int{}
	for _, e := range logs.AllEntries() {
		if rip, ok := e.Data["rip"].(string); ok {
			rips[rip]++
		}
	}
	if rips["127.0.0.1"] != 0 || rips["192.0.2.7"] == 0 || rips["2001:db8::9"] == 0 {
		t.Errorf("rip= in the log: %v", rips)
	}
}

// TestProxyHeaderRefused: from a trusted balancer a connection without a
// valid header, or whose header comes too late, ends without a session
// (not even a greeting) and with a log line; from an address that is not
// trusted the header is refused, as in TestProxyHeaderFromUntrusted.
func TestProxyHeaderRefused(t *testing.T) {
	defer func(d time.Duration) { proxyHeaderTimeout = d }(proxyHeaderTimeout)
	proxyHeaderTimeout = 300 * time.Millisecond
	addr, _, d, _, logs := proxyServer(t, "127.0.0.1", 10)
	for _, c := range []struct{ name, send string }{
		{"no header", "USER alice\r\n"},
		{"malformed v1", "PROXY TCP4 192.0.2.7 127.0.0.1 4242\r\n"},
		{"oversized v1", "PROXY UNKNOWN " + strings.Repeat("x", 120) + "\r\n"},
		{"malformed v2", string(v2Header(0x21, 0x41, v2Addrs4))},
		{"oversized v2", string(v2Header(0x21, 0x11, v2Addrs4, append([]byte{0x04}, make([]byte, 1000)...)))},
		{"too late", "PROXY TCP4 192.0.2.7"},
		{"nothing", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := dialFrom(t, "127.0.0.1", addr)
			cl.Conn.SetDeadline(time.Now().Add(10 * time.Second))
			cl.Send(c.send)
			start := time.Now()
			got, err := io.ReadAll(cl.R)
			if len(got) != 0 || err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
				t.Errorf("got %q, %v: want the connection closed with nothing said", got, err)
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("closed after %v", time.Since(start))
			}
		})
	}
	if n := len(d.messages()); n != 0 {
		t.Errorf("%d posted", n)
	}
	refused := 0
	for _, e := range logs.AllEntries() {
		if e.Message == "PROXY header refused, connection closed" && e.Data["rip"] == "127.0.0.1" {
			refused++
		}
		if e.Message == "session started" {
			t.Errorf("a session started: %v", e.Data)
		}
	}
	if refused != 7 {
		t.Errorf("%d refusals logged, want 7", refused)
	}

	// 127.0.0.2 is not trusted: its header is the client's first command.
	cl := dialFrom(t, "127.0.0.2", addr)
	cl.Send("PROXY TCP4 203.0.113.9 127.0.0.1 4242 218\r\n")
	cl.Expect("220")
	if got := cl.Rest(); got != "451 "+errProxyNotTrusted.msg+"\r\n" {
		t.Errorf("untrusted: %q", got)
	}
}

// FuzzProxyHeader reads arbitrary bytes as a balancer's header and checks
// what must hold whatever it sends: no panic; nothing read past the header
// (the client's bytes after it are the session's); never more than 536
// bytes, or 107 for a version 1 line; and a header that is accepted
// parses the same again and names a client only with a valid address.
//
// go test -run '^$' -fuzz FuzzProxyHeader -fuzztime 60s .
func FuzzProxyHeader(f *testing.F) {
	for _, seed := range [][]byte{
		[]byte("PROXY TCP4 192.0.2.7 198.51.100.1 4242 218\r\nUSER alice\r\n"),
		[]byte("PROXY TCP6 2001:db8::7 2001:db8::1 4242 218\r\n"),
		[]byte("PROXY UNKNOWN\r\n"),
		[]byte("PROXY TCP4 192.0.2.07 198.51.100.1 4242 218\r\n"),
		[]byte("USER alice\r\n"),
		v2Header(0x21, 0x11, v2Addrs4),
		v2Header(0x21, 0x21, v2Addrs6()),
		v2Header(0x20, 0x00, nil),
		withCRC(v2Header(0x21, 0x11, v2Addrs4), true),
		v2Header(0x21, 0x11, v2Addrs4, []byte{0x04, 0, 0}),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		r := &countingReader{r: bytes.NewReader(input)}
		h, err := readProxyHeader(r)
		if r.n > proxyV2MaxTotal {
			t.Fatalf("read %d bytes", r.n)
		}
		if err != nil {
			return
		}
		consumed := input[:r.n]
		var again proxyHeader
		var err2 error
		switch h.version {
		case 1:
			if r.n > proxyV1MaxLine || !bytes.HasSuffix(consumed, []byte("\r\n")) {
				t.Fatalf("version 1 header of %d bytes: %q", r.n, consumed)
			}
			again, err2 = parseProxyV1(consumed)
		case 2:
			if int(binary.BigEndian.Uint16(consumed[14:16])) != r.n-16 {
				t.Fatalf("read %d bytes of a version 2 header of %d", r.n, 16+binary.BigEndian.Uint16(consumed[14:16]))
			}
			again, err2 = parseProxyV2(consumed)
		default:
			t.Fatalf("version %d", h.version)
		}
		if err2 != nil || again != h {
			t.Fatalf("parsed again: %+v %v, first %+v", again, err2, h)
		}
		if !h.local && (!h.src.Addr().IsValid() || h.src.Addr().Is4In6() || h.src.Addr().Zone() != "") {
			t.Fatalf("client address %v", h.src)
		}
	})
}

// TestProxyTLS: behind a balancer that passes TLS through (HAProxy in TCP
// mode, as docs/deployment.md has it for port 1218), the header comes
// before the handshake, and the session inside TLS is the client's.
func TestProxyTLS(t *testing.T) {
	cfg, d, logs := testConfig(t)
	ca := testlib.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.Issue(t, certFile, keyFile, 100, "mpp.test", "127.0.0.1")
	tr, err := newTransport(certFile, keyFile, false, cfg.Log)
	if err != nil {
		t.Fatal(err)
	}
	if tr.proxy, err = newProxyTrust([]string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	addr := listenServer(t, cfg, tr, newSessionLimits(10, 0))
	raw, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.Write(v2Header(0x21, 0x21, v2Addrs6()))
	conn := tls.Client(raw, &tls.Config{RootCAs: ca.Pool, ServerName: "mpp.test"})
	testlib.PostWith(t, conn, "secret", "Subject: over TLS\r\n\r\nhi\r\n")
	if m := d.messages(); len(m) != 1 || m[0].env.Peer != "2001:db8::7" {
		t.Fatalf("posted: %+v", m)
	}
	for _, e := range logs.AllEntries() {
		if rip, ok := e.Data["rip"]; ok && rip != "2001:db8::7" {
			t.Errorf("log line %q with rip=%v", e.Message, rip)
		}
	}
}

// TestProxyFlagDocumented: -proxy-trusted-networks is in mppd -h and has
// its entry in mppd(8) with LOAD BALANCERS; the shipped mppd.conf shows it
// (TestShippedConfig); a value that would trust everyone, or is no
// address, is refused when the settings are built (exit 78 at start-up).
func TestProxyFlagDocumented(t *testing.T) {
	var help strings.Builder
	newFlagSet(&options{}, &help).Usage()
	man, err := os.ReadFile("docs/mppd.8.md")
	if err != nil {
		t.Fatal(err)
	}
	const f = "-proxy-trusted-networks"
	if !strings.Contains(help.String(), "\n  "+f+" ") {
		t.Errorf("mppd -h lacks %s:\n%s", f, help.String())
	}
	if !strings.Contains(string(man), "\n**"+f+"**") || !strings.Contains(string(man), "\n# LOAD BALANCERS\n") {
		t.Errorf("mppd(8) lacks %s or LOAD BALANCERS", f)
	}
	for _, bad := range []string{"0.0.0.0/0", "not-an-address"} {
		o := options{proxyNetworks: []string{bad}}
		if _, err := newProxyTrust(o.proxyNetworks); err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("%s %s: %v", f, bad, err)
		}
	}
}
