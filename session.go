package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sirupsen/logrus"
)

// Conn is one client connection: a net.Conn, or stdin/stdout wrapped by
// newPipeConn when they are not a socket.
type Conn interface {
	io.Reader
	io.Writer
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

// Authenticator checks a name and password. It returns nil when the password
// is right, and otherwise a *replyError: 530 when the user may not post
// (wrong password, unknown or locked user: the client cannot tell which), 451
// when the check could not be made. The client's IP address, for backends
// that pass it on (PAM's PAM_RHOST), is in ctx: clientAddr.
type Authenticator interface {
	Authenticate(ctx context.Context, user, password string) error
}

// clientAddrKey is the context key of the client's IP address. A context
// value rather than a further argument of Authenticate: only pam:SERVICE
// uses it, and every other backend, the chain and the tests' fakes keep
// their signature; the chain hands ctx on as it is.
type clientAddrKey struct{}

// withClientAddr is ctx carrying the client's IP address taken from peer
// (an address, or "address:port"), without port or zone, an IPv4 address
// mapped into IPv6 written as IPv4 (as pam_unix and fail2ban expect to see
// it). A peer that is no IP address ("unknown", a Unix socket's name)
// carries nothing: a backend sends no address rather than a wrong one.
func withClientAddr(ctx context.Context, peer string) context.Context {
	a, err := netip.ParseAddr(peer)
	if err != nil {
		ap, err := netip.ParseAddrPort(peer)
		if err != nil {
			return ctx
		}
		a = ap.Addr()
	}
	return context.WithValue(ctx, clientAddrKey{}, a.Unmap().WithZone("").String())
}

// clientAddr is the client's IP address carried by ctx, or "" if unknown.
func clientAddr(ctx context.Context) string {
	s, _ := ctx.Value(clientAddrKey{}).(string)
	return s
}

// Envelope is what the session knows about a message besides its text.
type Envelope struct {
	User      string // the name proven by USER and PASS
	Sender    string // the envelope sender: User qualified by Identity (User if none)
	Peer      string // client address, for logs and trace headers
	SessionID string // also in every log line of the session
	Size      int64  // bytes of text in the spool
}

// Deliverer hands one complete message to the mail system. It returns nil
// only when the mail system has taken responsibility for the message
// (RFC 1204 §2.3: 250 means queued); otherwise a *replyError (451).
type Deliverer interface {
	Deliver(ctx context.Context, env Envelope, msg *os.File) error
}

// Config is everything a session needs; it is shared by all sessions of a
// process and never modified after start-up.
type Config struct {
	Hostname       string
	Auth           Authenticator
	Deliver        Deliverer
	Identity       *Identity     // envelope sender, From:/Sender: policy, Received:; nil: text passes unchanged (protocol tests)
	SpoolDir       string        // where message texts wait for the final dot
	MaxLine        int           // command line limit in bytes, CRLF included
	MaxMessage     int64         // message size limit in bytes; 0: none
	IdleTimeout    time.Duration // RFC 1204 §3.3: end sessions idle too long
	SessionTimeout time.Duration // whole-session limit
	LoginTimeout   time.Duration // from the greeting to a PASS that got 250; 0: none
	WriteTimeout   time.Duration // a client that stops reading replies
	MaxErrors      int           // protocol errors before the session is ended
	ReadBuffer     int           // bytes of a session's read buffer; 0: readBufferSize
	Shutdown       *shutdown     // the process's stop: sessions end at their next read; nil: none
	Log            *logrus.Logger
}

// sessionState says which commands RFC 1204 §2.3 allows next. A command is
// allowed "right after" another; NOOP, and commands answered 500 or 503,
// change nothing, so they never break such a chain (docs/protocol.md §4).
type sessionState int

const (
	stateStart           sessionState = iota // nothing yet: USER
	stateUserRejected                        // last USER got 501: USER again
	stateAwaitingPass                        // last USER got 250: PASS
	statePassRejected                        // last PASS got 501: PASS again
	stateAuthFailed                          // a PASS got 530 or 451: only NOOP and QUIT, ever
	stateAuthenticated                       // PASS got 250: DATA
	stateMessageAccepted                     // a text got 250: USER or DATA
	stateMessageFailed                       // a text got 451: DATA again (docs/protocol.md §4)
)

var stateNames = [...]string{"start", "user-rejected", "awaiting-pass", "pass-rejected",
	"auth-failed", "authenticated", "message-accepted", "message-failed"}

func (s sessionState) String() string { return stateNames[s] }

// readBufferSize is the size of a session's read buffer (see Serve) in a
// server of many sessions (-listen, Accept=no).
const readBufferSize = 256 << 10

// oneConnReadBuffer is the read buffer of a process that serves one
// connection (inetd, Accept=yes): a fast text then reaches the spool in
// large writes, which cost ext4 less CPU per byte (BENCHMARKS.md). A server
// of many sessions keeps the smaller one: a buffer the Go heap reuses is
// cleared, and so resident, whole.
const oneConnReadBuffer = 2 << 20

// msgCannotStore is the reply to every failure of the spool file.
const msgCannotStore = "Local error encountered: cannot store the message, try again later"

// maxUserLen bounds user names; real ones are far shorter (Linux: 32).
const maxUserLen = 256

// errEndSession is returned by a handler whose reply must be the last.
var errEndSession = errors.New("end of session")

type session struct {
	cfg      *Config
	conn     Conn
	r        *bufio.Reader
	w        *bufio.Writer
	log      *logrus.Entry
	id       string
	peer     string
	start    time.Time
	end      time.Time // session time limit
	loginEnd time.Time // login time limit; zero once PASS got 250, or when there is none

	state         sessionState
	user          string   // from the last USER that got 250
	authUser      string   // the user proven by PASS; "" until then
	internalError bool     // a local error happened: NOOP says 451 (RFC 1204 §2.3)
	errors        int      // replies 500, 501, 503, 530, counted against MaxErrors
	closed        bool     // the connection failed inside a handler: no more replies
	spool         *os.File // the spool file of the text being answered; closed after the reply

	// for the log line that sums up the session
	messages int
	bytes    int64
	ended    sessionEnd
}

// sessionEnd is how a session ended; its name is the log line's result.
type sessionEnd int

const (
	endDisconnected       sessionEnd = iota // the client went away between commands
	endDisconnectedInText                   // the client went away in a message text
	endQuit
	endIdleTimeout
	endLoginTimeout
	endSessionTimeout
	endTooManyErrors
	endInternalError
	endRefused  // the connection refused what the client sent (proxy.go)
	endShutdown // the process was asked to stop (shutdown.go)
)

var sessionEndNames = [...]string{
	endDisconnected:       "disconnected",
	endDisconnectedInText: "disconnected-in-text",
	endQuit:               "quit",
	endIdleTimeout:        "idle-timeout",
	endLoginTimeout:       "login-timeout",
	endSessionTimeout:     "session-timeout",
	endTooManyErrors:      "too-many-errors",
	endInternalError:      "internal-error",
	endRefused:            "refused",
	endShutdown:           "shutdown",
}

func (e sessionEnd) String() string { return sessionEndNames[e] }

// byServer says whether mppd ended the session (a limit, an error) rather
// than the client (QUIT, or its end of input): then the client may still
// be sending.
func (e sessionEnd) byServer() bool {
	return e != endQuit && e != endDisconnected && e != endDisconnectedInText
}

// command is a handler: it gets the argument (everything after the one
// space after the command word, docs/protocol.md §2) and whether there was one, and
// returns the reply.
type command func(s *session, arg string, hasArg bool) (int, string)

var commands = map[string]command{
	"USER": (*session).cmdUSER,
	"PASS": (*session).cmdPASS,
	"DATA": (*session).cmdDATA,
	"NOOP": (*session).cmdNOOP,
	"QUIT": (*session).cmdQUIT,
}

// Serve runs one MPP session on conn until QUIT, end of input, a timeout or a
// limit. It never panics and never writes anything but replies on conn. It
// returns whether mppd, not the client, ended the session (sessionEnd.byServer).
func Serve(cfg *Config, conn Conn, peer string) (endedByServer bool) {
	s := &session{
		cfg:   cfg,
		conn:  conn,
		w:     bufio.NewWriterSize(conn, 4<<10),
		id:    newSessionID(),
		peer:  peer,
		start: time.Now(),
	}
	if cfg.SessionTimeout > 0 {
		s.end = s.start.Add(cfg.SessionTimeout)
	}
	if cfg.LoginTimeout > 0 {
		s.loginEnd = s.start.Add(cfg.LoginTimeout)
	}
	// The buffer is also where a message text is rewritten on its way to the
	// spool (readText): a text arrives in reads of up to this size, and the
	// spool file is written in pieces as large, which costs the file system
	// less per byte than small ones. Its pages are touched only by a text
	// that large.
	size := cfg.ReadBuffer
	if size <= 0 {
		size = readBufferSize
	}
	defer cfg.Shutdown.track(conn)()
	s.r = bufio.NewReaderSize(readerWithDeadline{conn: conn, idle: cfg.IdleTimeout, limit: s.limit, stop: cfg.Shutdown}, size)
	s.log = cfg.Log.WithFields(logrus.Fields{"session": s.id, "rip": peer})
	s.run()
	fields := logrus.Fields{"result": s.ended.String(), "messages": s.messages, "bytes": s.bytes,
		"duration": time.Since(s.start).Round(time.Millisecond).String()}
	if u := s.loggedUser(); u != "" {
		fields["user"] = u
	}
	s.log.WithFields(fields).Info("session ended")
	return s.ended.byServer()
}

// loggedUser is the name to put in the log: the proven one, else the claimed one.
func (s *session) loggedUser() string {
	if s.authUser != "" {
		return s.authUser
	}
	return s.user
}

func (s *session) run() {
	defer func() {
		// A bug must never put a trace on the connection (or kill the other
		// sessions of a -listen server): it becomes a 451 and a log line.
		if p := recover(); p != nil {
			s.log.WithField("panic", fmt.Sprint(p)).Error("internal error: " + strings.ReplaceAll(string(debug.Stack()), "\n", " | "))
			s.reply(codeLocalError, "Local error encountered, closing connection")
			s.ended = endInternalError
		}
	}()
	s.ended = endDisconnected
	if err := s.reply(codeReady, s.cfg.Hostname+" Message Posting Service Ready"); err != nil {
		return
	}
	// A line at the start (after the greeting, which must not wait for
	// it), as Postfix's "connect from". journald takes a sender's unit and
	// slice from /proc when a line arrives, and keeps them per process: a
	// process that has exited by then (a client that sent PASS and hung up
	// at once) would leave its last lines without them, and the fail2ban
	// filter, which matches on them (packaging/fail2ban), would miss the
	// failed login. After this line journald knows them for the session.
	s.log.Info("session started")
	for {
		line, err := readCommandLine(s.r, s.cfg.MaxLine)
		if errors.Is(err, errLineTooLong) {
			if s.replyCounted(codeUnrecognized, "Command line too long") != nil {
				return
			}
			continue
		}
		if err != nil {
			s.readFailed(err)
			return
		}
		if err := s.handle(line); err != nil {
			return
		}
	}
}

// handle runs one command line and writes its reply. A non-nil error ends
// the session.
func (s *session) handle(line string) error {
	word, arg, hasArg := strings.Cut(line, " ")
	word = strings.ToUpper(word)
	cmd := commands[word]
	if cmd == nil {
		return s.replyCounted(codeUnrecognized, "Command unrecognized")
	}
	defer s.closeSpool()
	// After a failed PASS only NOOP and QUIT remain, and NOOP then only
	// keeps the session (and a -max-sessions slot) going: it counts against
	// -max-errors as a refused command does.
	afterFailedLogin := word == "NOOP" && s.state == stateAuthFailed
	code, msg := cmd(s, arg, hasArg)
	if s.closed {
		return errEndSession
	}
	if code == codeClosing {
		s.reply(code, msg)
		s.ended = endQuit
		return errEndSession
	}
	if err := s.reply(code, msg); err != nil {
		return err
	}
	if code >= 500 || afterFailedLogin {
		return s.countError()
	}
	return nil
}

// limit is the earliest of the session's hard time limits that still
// holds (the session limit; the login limit until PASS got 250), and
// whether it is the login limit; zero if none.
func (s *session) limit() (time.Time, bool) {
	if !s.loginEnd.IsZero() && (s.end.IsZero() || s.loginEnd.Before(s.end)) {
		return s.loginEnd, true
	}
	return s.end, false
}

// readFailed ends the session after a failed read: a timeout gets a last
// reply saying so; a client that went away gets nothing.
func (s *session) readFailed(err error) {
	if errors.Is(err, errShuttingDown) {
		s.ended = endShutdown
		s.reply(codeLocalError, "Server shutting down, closing connection")
		return
	}
	// A connection that refuses what the client sent says which last
	// reply that is (proxy.go: a PROXY header from a client not trusted to
	// send one).
	var refused *replyError
	if errors.As(err, &refused) {
		s.ended = endRefused
		s.log.WithError(refused.err).Warn("input refused")
		s.reply(refused.code, refused.msg)
		return
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		end, login := s.limit()
		switch {
		case end.IsZero() || time.Now().Before(end):
			s.ended = endIdleTimeout
			s.reply(codeLocalError, "Idle timeout, closing connection")
		case login:
			s.ended = endLoginTimeout
			s.reply(codeLocalError, "Login time limit exceeded, closing connection")
		default:
			s.ended = endSessionTimeout
			s.reply(codeLocalError, "Session time limit exceeded, closing connection")
		}
		return
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed) {
		s.log.WithError(err).Debug("read failed")
	}
}

// reply writes one reply of the session and flushes it.
func (s *session) reply(code int, msg string) error {
	if s.cfg.WriteTimeout > 0 {
		s.conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	}
	writeReply(s.w, code, msg)
	return s.w.Flush()
}

// writeReply writes one reply line, "NNN text" and CRLF (RFC 1204 §2.4).
// Every byte mppd sends to a client goes through here.
func writeReply(w io.Writer, code int, msg string) error {
	_, err := fmt.Fprintf(w, "%03d %s\r\n", code, msg)
	return err
}

// replyCounted writes a reply and counts it against MaxErrors if it is a
// refusal. When the limit is reached, the session ends with one more 451, as
// Postfix ends an SMTP session with 421 after smtpd_hard_error_limit.
func (s *session) replyCounted(code int, msg string) error {
	if err := s.reply(code, msg); err != nil {
		return err
	}
	if code >= 500 {
		return s.countError()
	}
	return nil
}

// countError counts one refusal against MaxErrors and, at the limit, ends
// the session with a last 451.
func (s *session) countError() error {
	s.errors++
	if s.cfg.MaxErrors > 0 && s.errors >= s.cfg.MaxErrors {
		s.ended = endTooManyErrors
		s.reply(codeLocalError, "Too many errors, closing connection")
		return errEndSession
	}
	return nil
}

// cmdUSER names who is about to post (RFC 1204 §2.3). It is allowed at the
// start, after a text got 250 (a new identity for the next messages), and
// after a USER that got 501. Every well-formed name gets 250, known or not,
// so that USER cannot be used to find out which users exist.
func (s *session) cmdUSER(arg string, hasArg bool) (int, string) {
	switch s.state {
	case stateStart, stateUserRejected, stateMessageAccepted:
	default:
		return codeBadSequence, "Illegal command sequence"
	}
	if reason := checkUserName(arg); reason != "" {
		s.state = stateUserRejected
		s.user, s.authUser = "", ""
		return codeSyntax, "Argument syntax error: " + reason
	}
	s.state = stateAwaitingPass
	s.user, s.authUser = arg, ""
	return codeOK, "Command OK, send PASS"
}

// checkUserName says what is wrong with a user name, or "" if nothing is.
// Refused: the empty name, control characters and spaces, ":" (the password
// file separator), a leading "-" (it could pass for an option of sendmail),
// invalid UTF-8 and absurd lengths.
func checkUserName(name string) string {
	switch {
	case name == "":
		return "user name required"
	case len(name) > maxUserLen:
		return "user name too long"
	case name[0] == '-':
		return "user name may not start with -"
	case !utf8.ValidString(name):
		return "user name is not valid UTF-8"
	}
	for _, r := range name {
		if r == ':' || unicode.IsControl(r) || unicode.IsSpace(r) {
			return "invalid character in user name"
		}
	}
	return ""
}

// cmdPASS proves the user named by USER (RFC 1204 §2.3). It is allowed right
// after a USER that got 250 or a PASS that got 501. After 530 the client must
// reconnect to try again.
func (s *session) cmdPASS(arg string, hasArg bool) (int, string) {
	switch s.state {
	case stateAwaitingPass, statePassRejected:
	default:
		return codeBadSequence, "Illegal command sequence"
	}
	if arg == "" {
		s.state = statePassRejected
		return codeSyntax, "Argument syntax error: password required"
	}
	if strings.IndexByte(arg, 0) >= 0 {
		s.state = statePassRejected
		return codeSyntax, "Argument syntax error: NUL in password"
	}
	ctx, cancel := s.context()
	defer cancel()
	err := s.cfg.Auth.Authenticate(withClientAddr(ctx, s.peer), s.user, arg)
	if err == nil {
		s.state = stateAuthenticated
		s.authUser = s.user
		s.loginEnd = time.Time{} // a proven user is not held to it again
		s.log.WithField("user", s.user).Info("authenticated")
		return codeOK, "Command OK, " + s.user + " authenticated"
	}
	re := asReplyError(err)
	if re.code == codeAuthFailed {
		s.state = stateAuthFailed
		// The reason (unknown user, wrong password, locked...) goes to the
		// log for the administrator; the client gets the same reply for all.
		// This line is what fail2ban matches (packaging/fail2ban).
		s.log.WithFields(logrus.Fields{"user": s.user, "reason": causeText(re)}).Warn("authentication failed")
		return re.code, re.msg
	}
	// RFC 1204 §2.3 allows PASS only right after USER 250 or PASS 501, so
	// after a 451 the client must reconnect, as after a 530: a password
	// database that is down must not become a loop for guessing passwords.
	s.state = stateAuthFailed
	s.internalError = true
	s.log.WithField("user", s.user).WithError(re).Error("authentication unavailable")
	return re.code, re.msg
}

// cmdDATA takes one message text (RFC 1204 §2.3). It is allowed after a PASS
// that got 250 and after a text that got 250 or 451. The text goes to an
// unlinked spool file and reaches the mail system only once the final dot
// has arrived: a client that goes away, or a killed mppd, delivers nothing.
func (s *session) cmdDATA(arg string, hasArg bool) (int, string) {
	switch s.state {
	case stateAuthenticated, stateMessageAccepted, stateMessageFailed:
	default:
		return codeBadSequence, "Illegal command sequence"
	}
	if hasArg {
		// 501 is not among DATA's replies in RFC 1204 §2.3; "DATA x" is
		// not the DATA command, so it is unrecognized.
		return codeUnrecognized, "Command unrecognized: DATA takes no argument"
	}
	spool, err := createSpool(s.cfg.SpoolDir)
	if err != nil {
		s.internalError = true
		s.log.WithError(err).Error("cannot create spool file")
		return codeLocalError, msgCannotStore
	}
	s.spool = spool
	if err := s.reply(codeStartMail, `Enter mail, end with "." on a line by itself`); err != nil {
		return s.connectionLost()
	}
	env := s.envelope()
	w := bufio.NewWriterSize(spool, 64<<10)
	var text io.Writer = w
	var hdr *headerFilter
	if s.cfg.Identity != nil {
		// The header block is checked and amended as it streams in; the
		// body goes straight through to the spool (header.go).
		hdr = s.cfg.Identity.newHeaderFilter(w, env, func(msg, addr string) {
			s.log.WithFields(logrus.Fields{"user": s.authUser, "address": addr}).Info(msg)
		})
		text = hdr
	}
	sink := &textSink{w: text, max: s.cfg.MaxMessage}
	if err := readText(s.r, sink); err != nil {
		s.readFailed(err)
		if s.ended == endDisconnected {
			s.ended = endDisconnectedInText
		}
		s.log.WithField("bytes", sink.n).Info("message text not complete; nothing delivered")
		return s.connectionLost()
	}
	if sink.writeErr == nil && hdr != nil {
		sink.writeErr = hdr.Close()
	}
	if sink.writeErr == nil {
		sink.writeErr = w.Flush()
	}
	env.Size = sink.n
	code, msg := s.deliver(spool, sink, env, hdr)
	if code == codeOK {
		s.state = stateMessageAccepted
	} else {
		s.state = stateMessageFailed
	}
	return code, msg
}

// envelope is what the deliverer learns about the message besides its text.
func (s *session) envelope() Envelope {
	env := Envelope{User: s.authUser, Sender: s.authUser, Peer: s.peer, SessionID: s.id}
	if s.cfg.Identity != nil {
		env.Sender = s.cfg.Identity.Address(s.authUser)
	}
	return env
}

func (s *session) deliver(spool *os.File, sink *textSink, env Envelope, hdr *headerFilter) (int, string) {
	log := s.log.WithFields(logrus.Fields{"user": s.authUser, "bytes": sink.n})
	if sink.tooBig {
		log.WithField("limit", s.cfg.MaxMessage).Warn("message refused: too large")
		return codeLocalError, fmt.Sprintf("Local error encountered: message too large (limit %d bytes)", s.cfg.MaxMessage)
	}
	if sink.writeErr != nil {
		s.internalError = true
		log.WithError(sink.writeErr).Error("cannot write spool file")
		return codeLocalError, msgCannotStore
	}
	if hdr != nil && hdr.refusal != nil {
		// -from-policy reject, or a second From:: the client's doing, not
		// a local error, so NOOP stays 250.
		log.WithField("reason", hdr.refusal.msg).Warn("message refused: sender identity")
		return hdr.refusal.code, hdr.refusal.msg
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		s.internalError = true
		log.WithError(err).Error("cannot rewind spool file")
		return codeLocalError, msgCannotStore
	}
	ctx, cancel := s.context()
	defer cancel()
	if err := s.cfg.Deliver.Deliver(ctx, env, spool); err != nil {
		re := asReplyError(err)
		s.internalError = true
		log.WithError(re).Error("message not delivered")
		return re.code, re.msg
	}
	s.messages++
	s.bytes += sink.n
	log.WithField("sender", env.Sender).Info("message queued")
	return codeOK, "Command OK, message queued for delivery"
}

// closeSpool closes the spool file of the text just answered. handle calls
// it once the reply is out: the file system takes a while to free the
// pages of a large file, and the client need not wait for that.
func (s *session) closeSpool() {
	if s.spool != nil {
		s.spool.Close()
		s.spool = nil
	}
}

// connectionLost is the result of a handler whose connection has failed or
// timed out: the session is over, and handle writes no reply.
func (s *session) connectionLost() (int, string) {
	s.closed = true
	return 0, ""
}

// cmdNOOP says whether the server is healthy (RFC 1204 §2.3): 451 once a
// local error has happened in this session. It is allowed at any time and
// changes no state.
func (s *session) cmdNOOP(arg string, hasArg bool) (int, string) {
	if s.internalError {
		return codeLocalError, "Local error encountered earlier in this session"
	}
	return codeOK, "Command OK"
}

// cmdQUIT ends the session; it is always allowed and always answers 221.
func (s *session) cmdQUIT(arg string, hasArg bool) (int, string) {
	return codeClosing, s.cfg.Hostname + " Closing Connection"
}

// context bounds the work of a handler by the session time limit.
func (s *session) context() (context.Context, context.CancelFunc) {
	if s.end.IsZero() {
		return context.WithCancel(context.Background())
	}
	return context.WithDeadline(context.Background(), s.end)
}

// asReplyError turns any error into the reply it becomes: a *replyError as
// it is, anything else a generic 451.
func asReplyError(err error) *replyError {
	var re *replyError
	if errors.As(err, &re) {
		return re
	}
	return tempError("Local error encountered", err)
}

func causeText(re *replyError) string {
	if re.err != nil {
		return re.err.Error()
	}
	return re.msg
}

// readerWithDeadline sets the read deadline before each read from the
// connection, so idle time is measured between arrivals of data and the
// session and login limits hold while a client trickles. The buffered
// reader on top calls it only when its buffer is empty. Once shutdown has
// begun, reads fail with errShuttingDown; it is looked at after the
// deadline is set, so that shutdown.begin's deadline, set after it began,
// cannot be replaced by this one.
type readerWithDeadline struct {
	conn  Conn
	idle  time.Duration
	limit func() (time.Time, bool) // the session's hard limit now (session.limit)
	stop  *shutdown
}

func (r readerWithDeadline) Read(p []byte) (int, error) {
	var d time.Time
	if r.idle > 0 {
		d = time.Now().Add(r.idle)
	}
	if end, _ := r.limit(); !end.IsZero() && (d.IsZero() || end.Before(d)) {
		d = end
	}
	if err := r.conn.SetReadDeadline(d); err != nil {
		return 0, err
	}
	if r.stop.requested() {
		return 0, errShuttingDown
	}
	n, err := r.conn.Read(p)
	if err != nil && r.stop.requested() {
		return n, errShuttingDown
	}
	return n, err
}

func newSessionID() string {
	var b [6]byte
	// getrandom(2) itself (sysrand.go): crypto/rand sets up state on its
	// first use, which takes more than twice as long and, under inetd,
	// delays the greeting.
	if !getrandom(b[:]) {
		rand.Read(b[:])
	}
	return hex.EncodeToString(b[:])
}
