package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/sirupsen/logrus"
)

// maxHandshakeTime bounds a TLS handshake, whatever -idle-timeout says: a
// client that opens the TLS port and says nothing costs at most this long.
const maxHandshakeTime = 30 * time.Second

// tlsFiles is the server's certificate and key, read anew for every
// handshake, so a renewed certificate counts from the next connection on
// without a restart. A process that serves one connection reads them twice
// (newTransport's check, the handshake): cheap (BenchmarkTLSCertificateReread),
// and a renewal could have made a kept copy stale.
type tlsFiles struct {
	cert, key string
	log       *logrus.Logger
}

// newTransport checks the TLS flags. The files are loaded once here so that
// a wrong path or a key that does not match fails at start-up, not at the
// first client.
func newTransport(certFile, keyFile string, requireTLS bool, log *logrus.Logger) (*transport, error) {
	t := &transport{requireTLS: requireTLS}
	if certFile == "" && keyFile == "" {
		return t, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("-tls-cert and -tls-key go together")
	}
	t.tls = &tlsFiles{cert: certFile, key: keyFile, log: log}
	if _, err := t.tls.load(); err != nil {
		return nil, err
	}
	return t, nil
}

func (f *tlsFiles) load() (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return nil, fmt.Errorf("-tls-cert %s -tls-key %s: %w", f.cert, f.key, err)
	}
	return &c, nil
}

func (f *tlsFiles) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			c, err := f.load()
			if err != nil {
				f.log.WithError(err).Error("cannot load the TLS certificate")
				// The client sees a handshake failure (an alert), never
				// the reason.
				return nil, errors.New("no certificate")
			}
			return c, nil
		},
	}
}

// handshake runs the server side of the TLS handshake within a time limit.
// A failure ends the session with a log line; a client that sent plain text
// (someone at the TLS port with telnet, or a client with TLS off) gets one
// plain reply saying what is wrong, as net/http does for HTTP on an HTTPS
// port.
func (t *transport) handshake(cfg *Config, c Conn, peer string) (*tls.Conn, error) {
	nc, ok := c.(net.Conn)
	if !ok {
		nc = pipeNetConn{c}
	}
	tc := tls.Server(nc, t.tls.config())
	limit := maxHandshakeTime
	if cfg.IdleTimeout > 0 && cfg.IdleTimeout < limit {
		limit = cfg.IdleTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	err := tc.HandshakeContext(ctx)
	log := cfg.Log.WithField("rip", peer)
	if err == nil {
		st := tc.ConnectionState()
		log.WithFields(logrus.Fields{"version": tls.VersionName(st.Version),
			"cipher": tls.CipherSuiteName(st.CipherSuite)}).Debug("TLS established")
		return tc, nil
	}
	var rhe tls.RecordHeaderError
	switch {
	case errors.As(err, &rhe) && rhe.Conn != nil:
		log.WithError(err).Warn("TLS handshake failed: the client sent plain text")
		rhe.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		writeReply(rhe.Conn, codeLocalError, "This port speaks MPP over TLS only, closing connection")
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		log.Info("TLS handshake failed: the client closed the connection")
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		log.WithField("limit", limit.String()).Info("TLS handshake failed: timed out")
	default:
		log.WithError(err).Warn("TLS handshake failed")
	}
	return nil, err
}

// plainRefused is cfg for a plain connection under -require-tls: PASS
// answers 530 without looking at the password, which has just crossed the
// network in the clear and must not be checked (a right guess would be
// confirmed to whoever listens).
func plainRefused(cfg *Config) *Config {
	c := *cfg
	c.Auth = tlsRequiredAuth{}
	return &c
}

type tlsRequiredAuth struct{}

func (tlsRequiredAuth) Authenticate(context.Context, string, string) error {
	return &replyError{code: codeAuthFailed,
		msg: "Authentication Failure: TLS required, connect to the TLS port",
		err: errors.New("TLS required: plain connection, password not checked")}
}

// pipeNetConn lets TLS run on stdin and stdout when they are not a socket
// (a pipe, as some launchers and tests give them).
type pipeNetConn struct{ Conn }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

func (p pipeNetConn) Close() error {
	if c, ok := p.Conn.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
func (pipeNetConn) LocalAddr() net.Addr  { return pipeAddr{} }
func (pipeNetConn) RemoteAddr() net.Addr { return pipeAddr{} }
func (p pipeNetConn) SetDeadline(t time.Time) error {
	p.Conn.SetWriteDeadline(t)
	return p.Conn.SetReadDeadline(t)
}
