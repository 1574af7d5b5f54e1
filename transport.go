package main

import (
	"io"
	"time"
)

// transport is how sessions get onto the wire: plain, or TLS from the first
// byte (-tls-cert, -tls-key), as SMTP on port 465 is (RFC 8314 §3.3).
type transport struct {
	tls        *tlsFiles   // nil: plain
	requireTLS bool        // plain connections may not authenticate (-require-tls)
	proxy      *proxyTrust // balancers that send a PROXY header first (proxy.go); nil: none
}

// A lingering close, as Apache's and nginx's, is bounded so: what a
// client still sends after the end is read and dropped for this long at
// most, and this much.
const (
	lingerTime  = 2 * time.Second
	lingerBytes = 8 << 20
)

// closeGently ends a connection after a session mppd ended (a limit, an
// error) so that the last reply arrives: closed with input unread, a socket
// sends RST (RFC 1122 §4.2.2.13), and many TCP stacks, Windows's among them,
// then drop what the client had not yet read. So it shuts the sending side
// and drops the client's input until it closes, within the bounds above.
// After QUIT "the server closes" at once (RFC 1204 §2.3, docs/protocol.md).
func closeGently(c Conn) {
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	c.SetReadDeadline(time.Now().Add(lingerTime))
	io.CopyN(io.Discard, c, lingerBytes)
}

// serve runs one session on c: on a TLS port after a handshake, on a plain
// one as it is. With -require-tls a plain session cannot authenticate.
func (t *transport) serve(cfg *Config, c Conn, peer string) {
	if t.tls == nil {
		if t.requireTLS {
			cfg = plainRefused(cfg)
		}
		if Serve(cfg, refuseProxyHeader(c), peer) {
			closeGently(c)
		}
		return
	}
	tc, err := t.handshake(cfg, c, peer)
	if err != nil {
		return
	}
	endedByServer := Serve(cfg, refuseProxyHeader(tc), peer)
	// close_notify, so the client can tell the end of the session from a
	// cut connection; then, after a session mppd ended, the same lingering
	// close as a plain connection's, on the TCP connection beneath (the
	// client's TLS records are dropped unread).
	tc.SetWriteDeadline(time.Now().Add(time.Second))
	if endedByServer && tc.CloseWrite() == nil {
		closeGently(c)
	}
	tc.Close()
}
