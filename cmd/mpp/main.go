// Command mpp posts one mail message through an MPP server (RFC 1204), and
// can stand in for sendmail(8): it reads an RFC 5322 message on standard
// input, logs in with USER and PASS, and hands the message over with DATA.
// The server's mail system takes the recipients from the header, so mpp -t
// is the usual way to run it. See mpp(1).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"os"
	"runtime/debug"
	"strings"
	"unicode"

	"github.com/mppd/mppd/internal/mpp"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

// Exit statuses from sysexits(3), as sendmail's callers read them: 75 means
// "keep the message and try again", other non-zero statuses are final.
const (
	exOK          = 0
	exUsage       = 64 // EX_USAGE: bad command line
	exDataErr     = 65 // EX_DATAERR: the message cannot be sent as it is
	exUnavailable = 69 // EX_UNAVAILABLE: the server cannot be reached, or refused for good
	exSoftware    = 70 // EX_SOFTWARE: a bug in mpp
	exIOErr       = 74 // EX_IOERR: reading the message failed
	exTempFail    = 75 // EX_TEMPFAIL: 451, or the connection broke before 250
	exProtocol    = 76 // EX_PROTOCOL: the server's answer makes no sense for MPP
	exNoPerm      = 77 // EX_NOPERM: 530, the server refused the login
	exConfig      = 78 // EX_CONFIG: no server, bad config file, no password
)

// exitError carries the exit status and the one line said on stderr. Every
// failure mpp foresees is one (usagef, dataErrorf and configErrorf make the
// commonest); any other error is a bug, EX_SOFTWARE.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func fail(code int, format string, a ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, a...)}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `Usage: mpp [-t] [-i] [-v] [-C FILE] [--host HOST] [--port N] [--tls on|off]
           [--tls-trust-file FILE] [--tls-host-override NAME] [--user NAME]
           [--passwordeval CMD] [--timeout D] [sendmail options] [recipient...]

Posts the RFC 5322 message on standard input through an MPP server (RFC 1204).
The server's mail system takes the recipients from To:, Cc: and Bcc:;
recipients given here are added as Bcc: when the header lacks them.

  -t            recipients from the header (as sendmail -t)
  -i, -oi       a line holding only "." does not end the message
  -v            print the dialogue on stderr (the password masked)
  -C FILE       read this config file instead of ~/.config/mpp/config
                and /etc/mpp.conf
  --KEY VALUE   a config setting: host, port, tls, tls-trust-file,
                tls-host-override, user, passwordeval, timeout

-f, -F, -o..., -B, -N, -R, -V and other sendmail options are accepted and
ignored: the sender is the user who logs in. -bs speaks SMTP on stdin and
stdout (the bridge below); -bp, -q and the other modes are refused. Exit status: 0 posted, 64 usage, 65 bad message, 69 server
unreachable, 75 try again later, 76 protocol error, 77 login refused,
78 configuration. See mpp(1).

Also: mpp smtpd [-listen 127.0.0.1:2525] [-tls-cert FILE -tls-key FILE] [...]
      mpp -bs [-v] [-C FILE] [--KEY VALUE]
An SMTP submission server (AUTH PLAIN/LOGIN with the MPP user and password)
that posts each message through the MPP server: mpp smtpd --help, and mpp(1),
SMTP BRIDGE.
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) (status int) {
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(stderr, "mpp: internal error: %v\n", p)
			status = exSoftware
		}
	}()
	var err error
	if len(args) > 0 && args[0] == "smtpd" {
		err = smtpd(args[1:], stdout, stderr)
	} else {
		err = post(args, stdin, stdout, stderr)
	}
	if err == nil {
		return exOK
	}
	code := exSoftware
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	fmt.Fprintf(stderr, "mpp: %s\n", oneLine(err.Error()))
	return code
}

func post(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	o, err := parseArgs(args)
	if err != nil {
		return err
	}
	if o.help {
		fmt.Fprint(stdout, usage)
		return nil
	}
	if o.version {
		fmt.Fprintln(stdout, "mpp", mppVersion())
		return nil
	}
	if o.smtp {
		return smtpOnStdio(o, stdin, stdout, stderr)
	}
	var trace func(string)
	if o.verbose {
		// The server's replies are shown as oneLine shows errors: its
		// text must not reach the terminal as control sequences.
		trace = func(s string) { fmt.Fprintln(stderr, oneLine(s)) }
		for _, ig := range o.ignored {
			trace("=== ignored: " + ig)
		}
	}

	// The message first: a bad one is refused before a password is asked
	// for or a server is bothered.
	msg, err := readMessage(messageInput(stdin, o.ignoreDots))
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return err // the message is wrong, not its reading
		}
		return fail(exIOErr, "reading the message: %v", err)
	}
	text, err := prepare(msg, o)
	if err != nil {
		return err
	}

	cfg, err := loadConfig(o, defaultConfigFiles())
	if err != nil {
		return err
	}
	if trace != nil {
		if len(cfg.sources) == 0 {
			trace("=== config: no file, command line only")
		} else {
			trace("=== config: " + strings.Join(cfg.sources, ", "))
		}
	}
	pw, err := password(cfg)
	if err != nil {
		return err
	}
	return postAny(cfg, pw, text, trace) // failover.go
}

// prepare checks the recipients against the command line and returns the
// text to send. MPP has no envelope: the server's sendmail -t takes the
// recipients from the header. So without -t a header naming anyone not on
// the command line is refused, and command-line recipients the header
// lacks are added as Bcc:, which the mail system removes.
func prepare(m *message, o *options) (io.Reader, error) {
	var args []string // the command line's recipients, as addresses
	for _, r := range o.recipients {
		if strings.ContainsAny(r, "\r\n\x00") {
			return nil, usagef("recipient %q is not an address", r)
		}
		addrs, err := parseAddresses(r)
		if err != nil {
			return nil, usagef("recipient %q: %v", r, err)
		}
		if len(addrs) == 0 {
			return nil, usagef("recipient %q is not an address", r)
		}
		args = append(args, addrs...)
	}
	if !o.extract {
		if extra := missing(m.recipients, args); len(extra) > 0 {
			return nil, usagef("the header names %s, not among the recipients given; the server delivers to every recipient in the header, so use -t, or name them all", strings.Join(extra, ", "))
		}
	}
	add := missing(args, m.recipients)
	if len(m.recipients) == 0 && len(add) == 0 {
		return nil, dataErrorf("no recipients: the header has no To:, Cc: or Bcc: with an address")
	}
	return withBcc(m, add), nil
}

// withBcc is the message's text with the addresses add in a Bcc: field at
// the end of its header, which the server's mail system removes before
// delivery (Postfix's sendmail -t does), and with the empty line that ends
// a header even when the message had none.
func withBcc(m *message, add []string) io.Reader {
	header := m.header
	if len(add) > 0 {
		var list []string
		for _, a := range add {
			list = append(list, headerForm(a))
		}
		bcc := "Bcc: " + strings.Join(list, ", ") + "\n"
		if m.separated {
			// before the empty line that ends the header
			end := len(header) - 1
			if end > 0 && header[end-1] == '\r' {
				end--
			}
			header = append(append(append([]byte{}, header[:end]...), bcc...), header[end:]...)
		} else {
			header = append(append([]byte{}, header...), bcc...)
		}
	}
	if !m.separated {
		// The body began without an empty line (or there is none): the
		// header must still end with one.
		header = append(append([]byte{}, header...), '\n')
	}
	return io.MultiReader(strings.NewReader(string(header)), m.body)
}

// headerForm writes an address for a header field: as it is, unless its
// local part needs quotes ("a b"@example.org), which net/mail adds.
func headerForm(addr string) string {
	if !strings.Contains(addr, "@") {
		return addr // a bare user name, which the mail system qualifies
	}
	if q := (&mail.Address{Address: addr}).String(); q != "<"+addr+">" {
		return q
	}
	return addr
}

// dial connects to server s, over TLS if configured. Not reaching it at
// all, or a failed TLS handshake (a certificate that does not verify) is
// EX_UNAVAILABLE.
func dial(cfg *config, s server, trace func(string)) (*mpp.Client, error) {
	addr := s.label()
	if trace != nil {
		trace("=== Trying " + addr + "...")
	}
	d := net.Dialer{Timeout: cfg.timeout}
	conn, err := d.Dial("tcp", s.addr)
	if err != nil {
		return nil, fail(exUnavailable, "cannot reach %s: %v", addr, unwrapOp(err))
	}
	if trace != nil {
		trace(fmt.Sprintf("=== Connected to %s.", conn.RemoteAddr()))
	}
	if cfg.tls {
		tc, err := startTLS(conn, cfg, s.name)
		if err != nil {
			conn.Close()
			return nil, tlsFailed(addr, err)
		}
		if trace != nil {
			st := tc.ConnectionState()
			trace(fmt.Sprintf("=== TLS started with cipher %s:%s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite)))
			if len(st.PeerCertificates) > 0 {
				trace("=== TLS peer subject DN=\"" + st.PeerCertificates[0].Subject.String() + "\"")
			}
		}
		conn = tc
	}
	return mpp.NewClient(conn, cfg.timeout, trace), nil
}

// tlsFailed explains a failed handshake. A server that answered in plain
// text said something readable: its greeting (this port speaks MPP without
// TLS: a configuration to fix) or a refusal such as mppd's "451 Too many
// sessions", sent before any handshake (temporary).
func tlsFailed(addr string, err error) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return err // the trust file
	}
	var rhe tls.RecordHeaderError
	if errors.As(err, &rhe) {
		h := string(rhe.RecordHeader[:])
		if len(h) == 5 && isDigits(h[:3]) && (h[3] == ' ' || h[3] == '-') {
			if h[0] == '4' {
				return fail(exTempFail, "TLS with %s: the server answered in plain text, %q...: try again later", addr, h)
			}
			return fail(exUnavailable, "TLS with %s: the server speaks MPP without TLS there (it said %q...): set tls off, or use its TLS port", addr, h)
		}
	}
	return fail(exUnavailable, "TLS with %s failed: %v", addr, unwrapOp(err))
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func startTLS(conn net.Conn, cfg *config, host string) (*tls.Conn, error) {
	tc := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: host,
	}
	if cfg.hostOverride != "" {
		tc.ServerName = cfg.hostOverride
	}
	if cfg.trustFile != "" {
		pem, err := os.ReadFile(cfg.trustFile)
		if err != nil {
			return nil, configErrorf("tls_trust_file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, configErrorf("tls_trust_file %s: no PEM certificate in it", cfg.trustFile)
		}
		tc.RootCAs = pool
	}
	c := tls.Client(conn, tc)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	if err := c.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// session runs the dialogue of RFC 1204 §2.3 and maps each reply to an exit
// status: 451 anywhere is temporary (75), 530 a refused login (77), a
// connection that breaks before the 250 after the text is temporary (75: the
// server delivers nothing it did not acknowledge).
func session(c *mpp.Client, cfg *config, pw string, text io.Reader) error {
	r, err := c.ReadReply()
	if err := check(stepGreeting, "greeting", r, err); err != nil {
		// No greeting at all from a plain connection: perhaps a TLS port,
		// waiting for a handshake that never comes.
		var ee *exitError
		if !cfg.tls && r.Code == 0 && errors.As(err, &ee) && ee.code == exTempFail {
			ee.msg += " (if that port speaks TLS, set tls on)"
		}
		return err
	}
	r, err = c.Cmd("USER", cfg.user, false)
	if err := check(stepUser, "USER "+cfg.user, r, err); err != nil {
		return err
	}
	r, err = c.Cmd("PASS", pw, true)
	if err := check(stepPass, "PASS (login of "+cfg.user+")", r, err); err != nil {
		return err
	}
	r, err = c.Cmd("DATA", "", false)
	if err := check(stepData, "DATA", r, err); err != nil {
		return err
	}
	r, err = c.SendText(text)
	if err := check(stepText, "message text", r, err); err != nil {
		return err
	}
	// Posted. QUIT is a courtesy: whatever happens to it, the message is
	// the server's now.
	c.Cmd("QUIT", "", false)
	return nil
}

// step is a point of the dialogue of RFC 1204 §2.3, each with the reply
// that lets it go on.
type step int

const (
	stepGreeting step = iota
	stepUser
	stepPass
	stepData
	stepText
)

var wanted = [...]int{mpp.CodeReady, mpp.CodeOK, mpp.CodeOK, mpp.CodeStartMail, mpp.CodeOK}

// check turns a step's outcome into the error mpp exits with, or nil when
// the reply is the one wanted. label names the step in the message.
func check(s step, label string, r mpp.Reply, err error) error {
	var pe *mpp.ProtocolError
	var se *mpp.SourceError
	switch {
	case errors.As(err, &se):
		return fail(exIOErr, "%v; nothing was posted", se)
	case errors.As(err, &pe):
		return fail(exProtocol, "%s: %v", label, pe)
	case err != nil:
		return fail(exTempFail, "%s: connection lost: %v; nothing was posted", label, unwrapOp(err))
	case r.Code == wanted[s]:
		return nil
	case r.Code == mpp.CodeLocalError:
		// 451: the server's trouble, or a message over its size limit
		return fail(exTempFail, "%s: %s", label, r)
	case r.Code == mpp.CodeAuthFailed && s == stepPass,
		r.Code == mpp.CodeSyntax && (s == stepUser || s == stepPass):
		return fail(exNoPerm, "%s: login refused: %s", label, r)
	case r.Code >= 500 && (s == stepGreeting || s == stepText):
		return fail(exUnavailable, "%s: refused: %s", label, r)
	default:
		return fail(exProtocol, "%s: unexpected reply %s", label, r)
	}
}

// unwrapOp drops the "dial tcp 127.0.0.1:218:" prefix net puts on errors,
// as the message names the address already.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// oneLine makes a message fit one line of a terminal: line ends become
// spaces, other control characters "?" (a server's reply text could carry
// escape sequences, C1's CSI among them), bytes that are not UTF-8 U+FFFD.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\r' || r == '\n' || r == '\t':
			return ' '
		case unicode.IsControl(r):
			return '?'
		}
		return r
	}, s)
}

func mppVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}
