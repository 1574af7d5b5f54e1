package main

// The PROXY protocol (HAProxy's doc/proxy-protocol.txt, versions 1 and 2):
// behind a TCP load balancer every connection comes from the balancer, and
// the client's address (for rip=, the Received: field, PAM_RHOST, fail2ban
// and -max-sessions-per-address) would be lost. A balancer that speaks the
// protocol sends one header before the client's first byte, naming the
// client.
//
// Trust is by the connection's own address, never by what it sends, as
// Postfix (smtpd_upstream_proxy_protocol), Dovecot (haproxy_trusted_networks)
// and Haraka (haproxy_hosts) have it:
//   - from -proxy-trusted-networks a connection must begin with a valid
//     header (spec §2: "MUST not try to guess whether the protocol header is
//     present"); one that is missing, malformed, oversized or late ends the
//     connection with a log line and no session;
//   - from anywhere else a header is never read: a client whose first bytes
//     are one gets a last 451 and is closed (proxyHeaderGuard), as Haraka
//     answers DENYSOFTDISCONNECT, so that neither a forger nor a balancer
//     missing from the list goes unnoticed.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// proxyHeaderTimeout bounds the wait for a trusted balancer's header. The
// spec (§2) asks for "at least 3 seconds to cover a TCP retransmit";
// Postfix's smtpd_upstream_proxy_timeout is 5s. A balancer sends the
// header at once on connecting. (A variable for the tests.)
var proxyHeaderTimeout = 5 * time.Second

// Sizes from the spec: a version 1 line is at most 107 bytes with its CRLF
// (§2.1); both versions are made to fit the smallest TCP segment every host
// must take, 536 bytes (§2), which bounds version 2's addresses and TLVs.
const (
	proxyV1MaxLine  = 107
	proxyV2MaxTotal = 536
	proxyMinHeader  = 15 // "PROXY UNKNOWN\r\n"; version 2 has at least 16
)

// proxyV2Signature starts every version 2 header (§2.2). It holds NUL, CR,
// LF and "QUIT\n", so that a server not expecting it ends the connection.
var proxyV2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

var proxyV1Prefix = []byte("PROXY ")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// listFlag is a flag each of whose values adds to a list, shown joined
// (-proxy-trusted-networks; newProxyTrust checks the values).
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ", ") }
func (l *listFlag) Set(v string) error {
	if v != "" { // "": none (a file's "name = \"\"")
		*l = append(*l, v)
	}
	return nil
}

// proxyTrust is -proxy-trusted-networks: the balancers whose connections
// carry a PROXY header. A nil *proxyTrust trusts nobody.
type proxyTrust struct {
	nets []netip.Prefix
}

// newProxyTrust parses the flag's values: addresses or networks in CIDR
// form, separated by commas or white space. None at all is nil. A network
// of every address (0.0.0.0/0, ::/0) is refused: it would believe any
// client that claims to be someone else.
func newProxyTrust(specs []string) (*proxyTrust, error) {
	var p proxyTrust
	for _, spec := range specs {
		for _, f := range strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			pfx, err := parseTrustedNet(f)
			if err != nil {
				return nil, fmt.Errorf("-proxy-trusted-networks %q: %v", f, err)
			}
			p.nets = append(p.nets, pfx)
		}
	}
	if len(p.nets) == 0 {
		return nil, nil
	}
	return &p, nil
}

func parseTrustedNet(s string) (netip.Prefix, error) {
	var pfx netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if pfx, err = netip.ParsePrefix(s); err != nil {
			return pfx, errors.New("not an address or a network such as 192.0.2.0/24")
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return pfx, errors.New("not an address or a network such as 192.0.2.0/24")
		}
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	if pfx.Addr().Is4In6() {
		pfx = netip.PrefixFrom(pfx.Addr().Unmap(), max(pfx.Bits()-96, 0))
	}
	if pfx.Bits() == 0 {
		return pfx, errors.New("every address: anyone could claim to be anyone; name the balancers")
	}
	return pfx.Masked(), nil
}

// trusts says whether a connection from a must begin with a PROXY header:
// its own address, from the socket, is in one of the networks.
func (p *proxyTrust) trusts(a net.Addr) bool {
	if p == nil {
		return false
	}
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	for _, n := range p.nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// accept reads the header of a connection from a trusted balancer and
// returns the connection as the client's: its RemoteAddr is the client's
// address (or the balancer's own for a health check: LOCAL, UNKNOWN). On
// any failure it logs why, closes c and returns nil: no session, no reply,
// since the peer is a balancer, not an MPP client.
func (p *proxyTrust) accept(c net.Conn, log *logrus.Logger) net.Conn {
	c.SetReadDeadline(time.Now().Add(proxyHeaderTimeout))
	h, err := readProxyHeader(c)
	c.SetReadDeadline(time.Time{})
	if err != nil {
		log.WithError(err).WithField("rip", peerAddr(c)).Warn("PROXY header refused, connection closed")
		c.Close()
		return nil
	}
	if h.local {
		return c
	}
	return &proxiedConn{Conn: c, client: net.TCPAddrFromAddrPort(h.src)}
}

// resolve is accept for a process given one connection (inetd, systemd
// Accept=yes): c and its peer as they are when c is not from a trusted
// balancer, the client's when it is; ok false when the header was refused.
func (p *proxyTrust) resolve(c Conn, peer string, log *logrus.Logger) (Conn, string, bool) {
	nc, isNet := c.(net.Conn)
	if !isNet || !p.trusts(nc.RemoteAddr()) {
		return c, peer, true
	}
	pc := p.accept(nc, log)
	if pc == nil {
		return nil, "", false
	}
	return pc, peerAddr(pc), true
}

// proxiedConn is a balancer's connection seen as its client's.
type proxiedConn struct {
	net.Conn
	client net.Addr
}

func (c *proxiedConn) RemoteAddr() net.Addr { return c.client }

// CloseWrite passes closeGently's half-close on to the socket.
func (c *proxiedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// proxyHeader is what a header says. local: the connection's own
// addresses stand (a health check's LOCAL, version 1's UNKNOWN, a family
// other than TCP), and src and dst are not set.
type proxyHeader struct {
	version  int
	local    bool
	src, dst netip.AddrPort
}

// readProxyHeader reads one header from r, byte-exact: nothing of what
// follows it is read (the client's first command may come right after).
// Version 1's line is read a byte at a time after its first 15, since only
// its CRLF says where it ends; version 2 says its length.
func readProxyHeader(r io.Reader) (proxyHeader, error) {
	buf := make([]byte, proxyMinHeader, proxyV2MaxTotal)
	if _, err := io.ReadFull(r, buf); err != nil {
		return proxyHeader{}, fmt.Errorf("no PROXY header: %v", err)
	}
	switch {
	case bytes.HasPrefix(buf, proxyV2Signature):
		buf = buf[:16]
		if _, err := io.ReadFull(r, buf[proxyMinHeader:]); err != nil {
			return proxyHeader{}, fmt.Errorf("PROXY v2 header cut short: %v", err)
		}
		n := int(binary.BigEndian.Uint16(buf[14:16]))
		if 16+n > proxyV2MaxTotal {
			return proxyHeader{}, fmt.Errorf("PROXY v2 header of %d bytes, over %d", 16+n, proxyV2MaxTotal)
		}
		buf = buf[:16+n]
		if _, err := io.ReadFull(r, buf[16:]); err != nil {
			return proxyHeader{}, fmt.Errorf("PROXY v2 header cut short: %v", err)
		}
		return parseProxyV2(buf)
	case bytes.HasPrefix(buf, proxyV1Prefix):
		b := make([]byte, 1)
		for bytes.IndexByte(buf, '\n') < 0 {
			if len(buf) == proxyV1MaxLine {
				return proxyHeader{}, fmt.Errorf("PROXY line without CRLF in its first %d bytes", proxyV1MaxLine)
			}
			if _, err := io.ReadFull(r, b); err != nil {
				return proxyHeader{}, fmt.Errorf("PROXY line cut short: %v", err)
			}
			buf = append(buf, b[0])
		}
		return parseProxyV1(buf)
	}
	return proxyHeader{}, fmt.Errorf("no PROXY header: the connection began %q", buf)
}

// parseProxyV1 parses a whole version 1 line, CRLF included (§2.1): exactly
// one space between fields, addresses of the family named, IPv4 dotted
// decimal without leading zeros, ports 0 to 65535 without leading zeros,
// and nothing else. "UNKNOWN" may be followed by anything up to the CRLF.
func parseProxyV1(line []byte) (proxyHeader, error) {
	h := proxyHeader{version: 1}
	if len(line) > proxyV1MaxLine {
		return h, fmt.Errorf("PROXY line of %d bytes, over %d", len(line), proxyV1MaxLine)
	}
	s, ok := strings.CutSuffix(string(line), "\r\n")
	if !ok || strings.ContainsAny(s, "\r\n") {
		return h, errors.New("PROXY line not ended by CRLF alone")
	}
	rest, ok := strings.CutPrefix(s, "PROXY ")
	if !ok {
		return h, errors.New("not a PROXY line")
	}
	if rest == "UNKNOWN" || strings.HasPrefix(rest, "UNKNOWN ") {
		h.local = true
		return h, nil
	}
	f := strings.Split(rest, " ")
	if len(f) != 5 {
		return h, fmt.Errorf("PROXY line of %d fields, not 6", len(f)+1)
	}
	var want6 bool
	switch f[0] {
	case "TCP4":
	case "TCP6":
		want6 = true
	default:
		return h, fmt.Errorf("PROXY line: protocol %q, not TCP4, TCP6 or UNKNOWN", printable(f[0]))
	}
	src, err := proxyV1Addr(f[1], want6)
	if err != nil {
		return h, fmt.Errorf("PROXY line: source address: %v", err)
	}
	dst, err := proxyV1Addr(f[2], want6)
	if err != nil {
		return h, fmt.Errorf("PROXY line: destination address: %v", err)
	}
	sport, err := proxyV1Port(f[3])
	if err != nil {
		return h, fmt.Errorf("PROXY line: source port: %v", err)
	}
	dport, err := proxyV1Port(f[4])
	if err != nil {
		return h, fmt.Errorf("PROXY line: destination port: %v", err)
	}
	h.src, h.dst = netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)
	return h, nil
}

func proxyV1Addr(s string, want6 bool) (netip.Addr, error) {
	a, err := netip.ParseAddr(s) // refuses IPv4 with leading zeros
	switch {
	case err != nil:
		return a, fmt.Errorf("%q is not an address", printable(s))
	case a.Zone() != "":
		return a, fmt.Errorf("%q has a zone", printable(s))
	case want6 != a.Is6():
		return a, fmt.Errorf("%q is not of the family named", printable(s))
	}
	return a.Unmap(), nil
}

func proxyV1Port(s string) (uint16, error) {
	if s == "" || len(s) > 5 || len(s) > 1 && s[0] == '0' || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a port number", printable(s))
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > 65535 {
		return 0, fmt.Errorf("%q is not a port number", printable(s))
	}
	return uint16(n), nil
}

// Version 2's commands, address families and TLV types (§2.2).
const (
	proxyV2Local     = 0x0
	proxyV2Proxy     = 0x1
	proxyV2TCP4      = 0x11
	proxyV2TCP6      = 0x21
	proxyV2TLVCRC32C = 0x03
)

// parseProxyV2 parses a whole version 2 header (§2.2): signature, version
// 2, a known command, a known family and protocol, an address block as
// long as the family's, and TLVs that fill the rest exactly; a CRC32c TLV
// must match (§2.2.3). LOCAL, and a family or protocol other than TCP over
// IPv4 or IPv6, leave the connection's own addresses standing, as the spec
// asks.
func parseProxyV2(b []byte) (proxyHeader, error) {
	h := proxyHeader{version: 2}
	if len(b) < 16 || !bytes.HasPrefix(b, proxyV2Signature) {
		return h, errors.New("not a PROXY v2 header")
	}
	if len(b) > proxyV2MaxTotal {
		return h, fmt.Errorf("PROXY v2 header of %d bytes, over %d", len(b), proxyV2MaxTotal)
	}
	if int(binary.BigEndian.Uint16(b[14:16])) != len(b)-16 {
		return h, errors.New("PROXY v2 header: length field does not match")
	}
	if v := b[12] >> 4; v != 2 {
		return h, fmt.Errorf("PROXY v2 header: version %d", v)
	}
	cmd, fam := b[12]&0xf, b[13]
	if cmd != proxyV2Local && cmd != proxyV2Proxy {
		return h, fmt.Errorf("PROXY v2 header: command %#x", cmd)
	}
	if fam>>4 > 3 || fam&0xf > 2 {
		return h, fmt.Errorf("PROXY v2 header: address family and protocol %#02x", fam)
	}
	body := b[16:]
	addrLen := map[byte]int{1: 12, 2: 36, 3: 216}[fam>>4]
	if len(body) < addrLen {
		return h, fmt.Errorf("PROXY v2 header: %d bytes of addresses, %d wanted", len(body), addrLen)
	}
	if err := checkProxyTLVs(b, 16+addrLen); err != nil {
		return h, err
	}
	switch {
	case cmd == proxyV2Local, fam != proxyV2TCP4 && fam != proxyV2TCP6:
		h.local = true
	case fam == proxyV2TCP4:
		src, _ := netip.AddrFromSlice(body[0:4])
		dst, _ := netip.AddrFromSlice(body[4:8])
		h.src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[8:10]))
		h.dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(body[10:12]))
	default:
		src, _ := netip.AddrFromSlice(body[0:16])
		dst, _ := netip.AddrFromSlice(body[16:32])
		h.src = netip.AddrPortFrom(src.Unmap(), binary.BigEndian.Uint16(body[32:34]))
		h.dst = netip.AddrPortFrom(dst.Unmap(), binary.BigEndian.Uint16(body[34:36]))
	}
	return h, nil
}

// checkProxyTLVs checks that the TLVs from offset at to the end of header
// b fill it exactly (type, 2-byte length, value), and a CRC32c TLV's sum:
// that of the whole header with the sum's own four bytes zero.
func checkProxyTLVs(b []byte, at int) error {
	for at < len(b) {
		if len(b)-at < 3 {
			return errors.New("PROXY v2 header: TLV cut short")
		}
		typ, n := b[at], int(binary.BigEndian.Uint16(b[at+1:at+3]))
		val := at + 3
		if len(b)-val < n {
			return errors.New("PROXY v2 header: TLV longer than the header")
		}
		if typ == proxyV2TLVCRC32C {
			if n != 4 {
				return errors.New("PROXY v2 header: CRC32c TLV not of 4 bytes")
			}
			zeroed := bytes.Clone(b)
			clear(zeroed[val : val+4])
			if crc32.Checksum(zeroed, castagnoli) != binary.BigEndian.Uint32(b[val:val+4]) {
				return errors.New("PROXY v2 header: CRC32c does not match")
			}
		}
		at = val + n
	}
	return nil
}

// printable is s for a log line: at most 40 bytes, every byte that is not
// printable ASCII as "?". A header is a balancer's, but a broken one must
// not write what it likes into the log.
func printable(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// errProxyNotTrusted is the last reply to a client that is not trusted to
// send a PROXY header and sent one: a forger, or a balancer missing from
// -proxy-trusted-networks. 451, as Haraka's DENYSOFTDISCONNECT: the
// client (through a misconfigured balancer, a real one) tries again
// later, or elsewhere.
var errProxyNotTrusted = &replyError{code: codeLocalError,
	msg: "Local error encountered: PROXY header not accepted from your address, closing connection",
	err: errors.New("PROXY header from an address not in -proxy-trusted-networks: refused, not believed")}

// proxyHeaderGuard is a session's connection that watches the client's
// first bytes: if they are a PROXY header (version 1's "PROXY " or version
// 2's signature), the next read fails with errProxyNotTrusted and the
// session ends with its 451. Bytes pass through as they come: a version 1
// line holds no LF before its sixth byte, so the session has not taken a
// command from it by then; only a version 2 header that arrives in pieces
// could get 500 to an empty line first, and is refused all the same.
type proxyHeaderGuard struct {
	Conn
	first []byte // the client's first bytes, while they may still begin a header
	done  bool   // they cannot: reads pass straight through
}

func refuseProxyHeader(c Conn) Conn {
	return &proxyHeaderGuard{Conn: c}
}

func (g *proxyHeaderGuard) Read(p []byte) (int, error) {
	if g.done {
		return g.Conn.Read(p)
	}
	n, err := g.Conn.Read(p)
	g.first = append(g.first, p[:min(n, len(proxyV2Signature)-len(g.first))]...)
	switch {
	case bytes.HasPrefix(g.first, proxyV1Prefix), bytes.Equal(g.first, proxyV2Signature):
		g.done = true
		return 0, errProxyNotTrusted
	case !bytes.HasPrefix(proxyV1Prefix, g.first[:min(len(g.first), len(proxyV1Prefix))]) &&
		!bytes.HasPrefix(proxyV2Signature, g.first),
		len(g.first) == len(proxyV2Signature):
		g.done, g.first = true, nil
	}
	return n, err
}
