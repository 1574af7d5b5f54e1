package main

// mpp smtpd and mpp -bs: the bridge that lets a mail program speaking SMTP
// submission (Thunderbird, Outlook, mutt, git send-email, smtplib) post
// through an MPP server. mpp smtpd listens on a port (loopback unless told
// otherwise); mpp -bs speaks SMTP on stdin and stdout, as sendmail -bs
// does for alpine and the like.

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
)

// The bridge's limits default to mppd's: the same line, size and idle
// limits on both sides of it.
const (
	defaultListen      = "127.0.0.1:2525"
	defaultMaxSize     = 10240000 // mppd's -max-message-size (Postfix's message_size_limit)
	defaultMaxLine     = 2048     // mppd's -max-line-length
	defaultIdle        = 5 * time.Minute
	defaultMaxSessions = 100
	maxRecipients      = 1000 // Postfix's smtpd_recipient_limit
)

const smtpdUsage = `Usage: mpp smtpd [-listen ADDR] [-tls-cert FILE -tls-key FILE] [-v]
           [-max-message-size N] [-max-line-length N] [-idle-timeout D]
           [-max-sessions N] [-hostname NAME] [-C FILE] [--host HOST] [--port N]
           [--tls on|off] [--tls-trust-file FILE] [--tls-host-override NAME]
           [--timeout D]

Listens for SMTP submission (ESMTP: AUTH PLAIN and LOGIN, STARTTLS with
-tls-cert, SIZE, 8BITMIME, PIPELINING) and posts each message through the
MPP server of mpp's config, logged in with the client's AUTH name and
password. Only the MPP server's 250 becomes 250. See mpp(1), SMTP BRIDGE.
`

// smtpdOptions is mpp smtpd's command line.
type smtpdOptions struct {
	listen      string
	tlsCert     string
	tlsKey      string
	maxSize     int64
	maxLine     int
	idle        time.Duration
	maxSessions int
	hostname    string
	verbose     bool
	o           options // -C and the config settings, as mpp's
}

// bridgeSettings are the config settings mpp smtpd takes as flags: those
// that say how to reach the MPP server. user and passwordeval are the
// client's to give, with AUTH.
var bridgeSettings = []string{"host", "port", "tls", "tls-trust-file", "tls-host-override", "timeout"}

// smtpdUsagef is a command line mpp smtpd cannot run: exit 64.
func smtpdUsagef(format string, a ...any) error {
	return fail(exUsage, "smtpd: "+format+" (mpp smtpd --help for usage)", a...)
}

// smtpdFlags is mpp smtpd's flag set, filling so.
func smtpdFlags(so *smtpdOptions, help *bool) *flag.FlagSet {
	fs := flag.NewFlagSet("mpp smtpd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&so.listen, "listen", defaultListen, "")
	fs.StringVar(&so.tlsCert, "tls-cert", "", "")
	fs.StringVar(&so.tlsKey, "tls-key", "", "")
	fs.Int64Var(&so.maxSize, "max-message-size", defaultMaxSize, "")
	fs.IntVar(&so.maxLine, "max-line-length", defaultMaxLine, "")
	fs.DurationVar(&so.idle, "idle-timeout", defaultIdle, "")
	fs.IntVar(&so.maxSessions, "max-sessions", defaultMaxSessions, "")
	fs.StringVar(&so.hostname, "hostname", "", "")
	fs.BoolVar(&so.verbose, "v", false, "")
	fs.StringVar(&so.o.configFile, "C", "", "")
	fs.BoolVar(help, "help", false, "")
	for _, name := range bridgeSettings {
		key := strings.ReplaceAll(name, "-", "_")
		fs.Func(name, "", func(v string) error { so.o.settings[key] = v; return nil })
	}
	return fs
}

func parseSmtpdArgs(args []string, stdout io.Writer) (*smtpdOptions, error) {
	so := &smtpdOptions{o: options{settings: map[string]string{}}}
	var help bool
	fs := smtpdFlags(so, &help)
	if err := fs.Parse(args); err != nil {
		return nil, smtpdUsagef("%v", err)
	}
	if help {
		fmt.Fprint(stdout, smtpdUsage)
		return nil, nil
	}
	if fs.NArg() > 0 {
		return nil, smtpdUsagef("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case so.maxLine < 512:
		// RFC 5321 §4.5.3.1.4: a command line of 512 octets must be accepted
		return nil, smtpdUsagef("-max-line-length %d: at least 512", so.maxLine)
	case so.maxSize < 0, so.idle <= 0, so.maxSessions < 1:
		return nil, smtpdUsagef("-max-message-size, -idle-timeout and -max-sessions must be positive")
	case (so.tlsCert == "") != (so.tlsKey == ""):
		return nil, smtpdUsagef("-tls-cert and -tls-key go together")
	}
	return so, nil
}

// newSMTPServer is the go-smtp server with the bridge's limits.
func newSMTPServer(b *bridge, hostname string, maxSize int64, maxLine int, idle time.Duration, errLog *log.Logger) *smtp.Server {
	s := smtp.NewServer(b)
	s.Domain = hostname
	s.MaxMessageBytes = maxSize
	s.MaxLineLength = maxLine
	s.MaxRecipients = maxRecipients
	s.ReadTimeout = idle
	s.WriteTimeout = idle
	s.ErrorLog = errLog
	return s
}

// smtpd runs mpp smtpd until SIGINT or SIGTERM.
func smtpd(args []string, stdout, stderr io.Writer) error {
	so, err := parseSmtpdArgs(args, stdout)
	if so == nil {
		return err
	}
	cfg, err := loadConfig(&so.o, defaultConfigFiles())
	if err != nil {
		return err
	}
	logger := log.New(stderr, "mpp smtpd: ", log.LstdFlags)
	host, _, err := net.SplitHostPort(so.listen)
	if err != nil {
		return smtpdUsagef("-listen %s: %v", so.listen, err)
	}
	loopback := isLoopback(host)
	if !loopback && so.tlsCert == "" {
		// AUTH over the network in the clear would hand out the MPP
		// password to anyone listening: go-smtp refuses it without TLS.
		return configErrorf("smtpd: -listen %s is not a loopback address: give -tls-cert and -tls-key, so that AUTH is offered only after STARTTLS", so.listen)
	}
	b := &bridge{cfg: cfg, logf: logger.Printf, maxLine: so.maxLine}
	if so.verbose {
		b.trace = func(id, line string) { logger.Printf("%s: %s", id, oneLine(line)) }
	}
	if so.hostname == "" {
		so.hostname, _ = os.Hostname()
	}
	s := newSMTPServer(b, so.hostname, so.maxSize, so.maxLine, so.idle, logger)
	s.AllowInsecureAuth = loopback
	if so.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(so.tlsCert, so.tlsKey)
		if err != nil {
			return configErrorf("smtpd: -tls-cert/-tls-key: %v", err)
		}
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	l, err := net.Listen("tcp", so.listen)
	if err != nil {
		return fail(exUnavailable, "smtpd: %v", unwrapOp(err))
	}
	if loopback {
		logger.Printf("listening on %s (loopback only), posting through %s", l.Addr(), serverList(cfg.servers))
	} else {
		logger.Printf("warning: listening on %s, which is not loopback: other machines can connect; AUTH only after STARTTLS", l.Addr())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		s.Close()
	}()
	err = s.Serve(&limitListener{Listener: l, max: int64(so.maxSessions), logf: logger.Printf})
	if ctx.Err() != nil {
		logger.Printf("stopped")
		return nil
	}
	return fail(exUnavailable, "smtpd: %v", err)
}

// isLoopback says whether a -listen host is a loopback address or a name
// that is one.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// limitListener bounds the connections open at once: one more gets 421
// and is closed.
type limitListener struct {
	net.Listener
	max  int64
	open atomic.Int64
	logf func(string, ...any)
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			l.logf("%s: refused: %d connections open", c.RemoteAddr(), l.max)
			c.SetWriteDeadline(time.Now().Add(time.Second))
			io.WriteString(c, "421 4.3.2 Too many connections, try again later\r\n")
			c.Close()
			continue
		}
		return &bridgeConn{Conn: c, onClose: func() { l.open.Add(-1) }}, nil
	}
}

// bridgeConn is an SMTP connection that the bridge can end right after the
// next reply: go-smtp writes a 421 but does not close (RFC 5321 §3.8 says
// the server closes), and each reply is one Write, TLS record or not.
type bridgeConn struct {
	net.Conn
	closeNext atomic.Bool
	once      sync.Once
	onClose   func()
}

func (c *bridgeConn) closeAfterNextWrite() { c.closeNext.Store(true) }

func (c *bridgeConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.closeNext.Load() {
		c.Close()
	}
	return n, err
}

func (c *bridgeConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		if c.onClose != nil {
			c.onClose()
		}
	})
	return err
}

// smtpOnStdio is mpp -bs: one SMTP session on stdin and stdout, as
// sendmail -bs gives one to alpine and other mail programs. The user is
// the one of mpp's config (the person running mpp, as for mpp -t) unless
// the client logs in with AUTH; the password comes from passwordeval or
// the terminal, as for mpp. A configuration mpp cannot work with is said
// as a 421 before the exit, so that the mail program shows why.
func smtpOnStdio(o *options, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(o, defaultConfigFiles())
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			fmt.Fprintf(stdout, "421 4.3.5 mpp: %s\r\n", oneLine(ee.msg))
		}
		return err
	}
	logger := log.New(io.Discard, "", 0)
	if o.verbose {
		logger = log.New(stderr, "mpp -bs: ", 0)
	}
	b := &bridge{cfg: cfg, logf: logger.Printf, maxLine: defaultMaxLine, implicitLogin: true}
	if o.verbose {
		b.trace = func(_, line string) { logger.Print(oneLine(line)) }
	}
	host, _ := os.Hostname()
	s := newSMTPServer(b, host, defaultMaxSize, defaultMaxLine, defaultIdle, logger)
	s.AllowInsecureAuth = true // a pipe to the program that started mpp

	conn := &bridgeConn{Conn: newStdioConn(stdin, stdout)}
	l := &oneConnListener{conn: conn, closed: make(chan struct{})}
	conn.onClose = func() { close(l.closed) }
	s.Serve(l)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.Shutdown(ctx) // waits for the session to end
	return nil
}

// stdioConn is stdin and stdout as the net.Conn go-smtp wants, with the
// read deadline its idle timeout needs: stdin may be a pipe, which has
// none. The end of stdin is the end of input, and replies can still be
// written after it (a client that sends QUIT and closes its side at
// once still gets 221).
type stdioConn struct {
	chunks   chan []byte // from stdin; closed at its end
	pending  []byte
	out      io.Writer
	mu       sync.Mutex
	deadline time.Time
	closed   chan struct{}
	once     sync.Once
}

func newStdioConn(stdin io.Reader, stdout io.Writer) *stdioConn {
	c := &stdioConn{chunks: make(chan []byte), out: stdout, closed: make(chan struct{})}
	go func() {
		defer close(c.chunks)
		for {
			buf := make([]byte, 32<<10)
			n, err := stdin.Read(buf)
			if n > 0 {
				select {
				case c.chunks <- buf[:n]:
				case <-c.closed:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return c
}

func (c *stdioConn) Read(p []byte) (int, error) {
	if len(c.pending) == 0 {
		c.mu.Lock()
		d := c.deadline
		c.mu.Unlock()
		var timeout <-chan time.Time
		if !d.IsZero() {
			t := time.NewTimer(time.Until(d))
			defer t.Stop()
			timeout = t.C
		}
		select {
		case b, ok := <-c.chunks:
			if !ok {
				return 0, io.EOF
			}
			c.pending = b
		case <-timeout:
			return 0, os.ErrDeadlineExceeded
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

func (c *stdioConn) Write(p []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	return c.out.Write(p)
}

func (c *stdioConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *stdioConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }
func (c *stdioConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return nil
}
func (c *stdioConn) SetWriteDeadline(time.Time) error { return nil }
func (c *stdioConn) LocalAddr() net.Addr              { return stdioAddr{} }
func (c *stdioConn) RemoteAddr() net.Addr             { return stdioAddr{} }

type stdioAddr struct{}

func (stdioAddr) Network() string { return "stdio" }
func (stdioAddr) String() string  { return "stdin" }

// oneConnListener hands go-smtp one connection, then reports itself closed
// once that connection is.
type oneConnListener struct {
	conn   net.Conn
	given  bool
	closed chan struct{}
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if !l.given {
		l.given = true
		return l.conn, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }
