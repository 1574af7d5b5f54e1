package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// What the POP3 and FTP backends share: the connection, its TLS, the
// deadlines, and bounded reading of the server's replies.

// tlsMode says how a remote backend protects the password on the wire.
type tlsMode int

const (
	tlsNone     tlsMode = iota // pop3://, ftp://: plaintext, as the administrator chose
	tlsImplicit                // pop3s://: TLS from the first byte (RFC 8314)
	tlsUpgrade                 // pop3://?starttls (STLS, RFC 2595), ftps:// (AUTH TLS, RFC 4217)
)

// Bounds on what a remote server may send: RFC 1939 §3 keeps POP3 replies
// to 512 bytes; FTP sets no limit, and its multi-line replies (RFC 959
// §4.2) are bounded in lines too. More is nonsense, never buffered.
const (
	maxRemoteLine  = 1024
	maxRemoteLines = 64
	// maxReasonLen bounds how much of a server's reply goes to the log.
	maxReasonLen = 120
)

// remote is one POP3 or FTP server named by -auth.
type remote struct {
	name string // the spec, for logs: pop3://127.0.0.1:110?starttls
	addr string // host:port to dial
	host string // for TLS verification (a name or an IP address)
	tls  tlsMode
	opts remoteOptions
}

// remoteConn is one check's connection to a remote server.
type remoteConn struct {
	rm    *remote
	conn  net.Conn
	r     *bufio.Reader
	phase string // what we are waiting for, for the log
	// replyCode is the protocol's code of a reply line ("530", "-ERR
	// [AUTH]"), or "" for a line that has none: all of a reply that is
	// logged once the server has the password (see describe).
	replyCode    func(line string) string
	passwordSent bool
}

// dial connects within the connect timeout and sets one deadline for the
// whole check: the -auth-timeout, or the session's end if sooner. A ctx
// that ends early (the session is over) ends the check at once.
func (rm *remote) dial(ctx context.Context, replyCode func(string) string) (*remoteConn, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(ctx, rm.opts.timeout)
	d := net.Dialer{Timeout: rm.opts.connectTimeout}
	conn, err := d.DialContext(ctx, "tcp", rm.addr)
	if err != nil {
		cancel()
		if errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err) {
			return nil, nil, tempAuthError(fmt.Errorf("cannot connect: no answer within %v", rm.opts.connectTimeout))
		}
		return nil, nil, tempAuthError(fmt.Errorf("cannot connect: %w", err))
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	rc := &remoteConn{rm: rm, conn: conn, r: bufio.NewReaderSize(conn, maxRemoteLine), phase: "greeting",
		replyCode: replyCode}
	done := func() { stop(); rc.conn.Close(); cancel() }
	if rm.tls == tlsImplicit {
		if err := rc.startTLS(ctx); err != nil {
			done()
			return nil, nil, err
		}
	}
	return rc, done, nil
}

// startTLS runs the TLS handshake, verifying the server's certificate for
// its host against the system roots or -auth-ca-file. There is no
// fallback: a failed handshake is a 451, never a plaintext password.
func (rc *remoteConn) startTLS(ctx context.Context) error {
	// Anything the server sent before the handshake would be read as if it
	// came after, over TLS: the STARTTLS command injection of CVE-2011-0411.
	if rc.r.Buffered() > 0 {
		return tempAuthError(errors.New("server sent data before the TLS handshake"))
	}
	tc := tls.Client(rc.conn, &tls.Config{
		ServerName: rc.rm.host,
		RootCAs:    rc.rm.opts.roots,
		MinVersion: tls.VersionTLS12,
	})
	rc.phase = "TLS handshake"
	if err := tc.HandshakeContext(ctx); err != nil {
		return rc.ioError(err)
	}
	rc.conn = tc
	rc.r = bufio.NewReaderSize(tc, maxRemoteLine)
	return nil
}

// sendPassword is send for the command that carries the password: from
// now on, the server's replies may hold it.
func (rc *remoteConn) sendPassword(phase, line string) error {
	rc.passwordSent = true
	return rc.send(phase, line)
}

// send writes one command line. The caller has checked it for CR, LF, NUL.
func (rc *remoteConn) send(phase, line string) error {
	rc.phase = phase
	if _, err := io.WriteString(rc.conn, line+"\r\n"); err != nil {
		return rc.ioError(err)
	}
	return nil
}

// readLine reads one reply line of at most maxRemoteLine bytes.
func (rc *remoteConn) readLine() (string, error) {
	line, err := rc.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", tempAuthError(fmt.Errorf("nonsense in %s: line longer than %d bytes", rc.phase, maxRemoteLine))
	}
	if err != nil {
		return "", rc.ioError(err)
	}
	return string(trimEOL(line)), nil
}

// quit ends the dialogue politely; its reply is not waited for.
func (rc *remoteConn) quit() {
	rc.conn.SetWriteDeadline(time.Now().Add(time.Second))
	io.WriteString(rc.conn, "QUIT\r\n")
}

// ioError turns a failed read, write or handshake into a 451 that says
// what was being waited for.
func (rc *remoteConn) ioError(err error) error {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return tempAuthError(fmt.Errorf("no %s within %v", rc.phase, rc.rm.opts.timeout))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return tempAuthError(fmt.Errorf("server closed the connection (expecting %s)", rc.phase))
	}
	return tempAuthError(fmt.Errorf("expecting %s: %w", rc.phase, err))
}

// refused is the 530 of a server that said no to the name or the password.
func (rc *remoteConn) refused(line string) error {
	return errAuthFailed("refused: " + rc.phase + ": " + rc.describe(line))
}

// notNow is the 451 for a reply that neither accepts nor refuses.
func (rc *remoteConn) notNow(line string) error {
	return tempAuthError(fmt.Errorf("%s: %s", rc.phase, rc.describe(line)))
}

// nonsense is a 451 for a reply the protocol does not allow.
func (rc *remoteConn) nonsense(line string) error {
	return tempAuthError(fmt.Errorf("nonsense in %s: %s", rc.phase, rc.describe(line)))
}

// describe is what of a server's reply goes to the log. Before the server
// has the password, its text, bounded and made printable ASCII: it cannot
// hold what the server was never sent, and says what a greeting or a
// refused STLS meant. After, only the reply's code, in mppd's words: a
// server may echo the password, or a piece of it, or a text (say, "Login
// incorrect") whose words are the password, and no mask can hide all of
// that without telling what it hid.
func (rc *remoteConn) describe(line string) string {
	if !rc.passwordSent {
		return strconv.Quote(logText(line, maxReasonLen))
	}
	if code := rc.replyCode(line); code != "" {
		return code
	}
	return "no reply code (the text, sent after the password, is not logged)"
}

// logText is s for the log: at most max bytes, each byte that is not
// printable ASCII a "?" (control characters, and the bytes of anything
// else: a server's text is not trusted to be UTF-8).
func logText(s string, max int) string {
	cut := len(s) > max
	if cut {
		s = s[:max]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	if cut {
		return string(b) + "..."
	}
	return string(b)
}

// checkSendable refuses a name or password that would break a line-based
// remote protocol (RFC 1939 §3, RFC 959 §4.1.1: commands end at CRLF, and
// NUL ends C strings on the other side) before anything is sent: a
// password with CR LF in it could otherwise smuggle a command to the server.
// Such a password cannot be right at that server, so this is a refusal.
func checkSendable(user, password string, maxLine int) error {
	if strings.ContainsAny(user, "\r\n\x00") {
		return errAuthFailed("user name holds CR, LF or NUL: not sent")
	}
	if strings.ContainsAny(password, "\r\n\x00") {
		return errAuthFailed("password holds CR, LF or NUL: not sent")
	}
	if maxLine > 0 && (len("USER ")+len(user)+2 > maxLine || len("PASS ")+len(password)+2 > maxLine) {
		return errAuthFailed(fmt.Sprintf("user name or password longer than the protocol's %d-byte command line: not sent", maxLine))
	}
	return nil
}
