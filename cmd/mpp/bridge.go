package main

// The SMTP side of the bridge (mpp smtpd, mpp -bs): one go-smtp session per
// SMTP connection, and behind it one MPP session, opened by AUTH and used
// for every message of the connection. Each method returns the SMTP reply a
// failure becomes (an *smtp.SMTPError); go-smtp writes it.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mppd/mppd/internal/mpp"
)

// bridge is what every session of one mpp smtpd (or mpp -bs) shares.
type bridge struct {
	cfg     *config // the MPP server, as mpp reads it
	logf    func(format string, a ...any)
	trace   func(id, line string) // -v: the MPP dialogue; nil without
	maxLine int                   // the SMTP server's line limit, for the reply that names it
	// implicitLogin (mpp -bs): a client that does not AUTH posts as the
	// config's user, with the password from passwordeval or the
	// terminal, as mpp itself does. Without it (mpp smtpd) AUTH is
	// required: any local user can connect to a port.
	implicitLogin bool
	ids           atomic.Uint64
}

// idleCheck: an MPP session unused this long gets a NOOP before DATA, so
// that one the server has ended (its idle timeout) is opened anew instead
// of failing the message.
var idleCheck = 30 * time.Second

// smtpSession is one SMTP connection's state.
type smtpSession struct {
	b    *bridge
	id   string
	conn *bridgeConn // to end the connection after a 421

	// mu is held by every method that uses the MPP session: go-smtp may
	// call Logout from another goroutine (Server.Close at SIGTERM), and
	// Data runs in one of its own under BDAT.
	mu             sync.Mutex
	user, password string // the MPP login, once proven
	mpp            *mpp.Client
	server         server                     // mpp's
	live           atomic.Pointer[mpp.Client] // mpp, for a Logout that finds mu held
	lastUsed       time.Time

	from  string
	rcpts []string
}

// NewSession is called at EHLO (and again after STARTTLS).
func (b *bridge) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s := &smtpSession{b: b, id: fmt.Sprintf("%d", b.ids.Add(1))}
	nc := c.Conn()
	if tc, ok := nc.(interface{ NetConn() net.Conn }); ok {
		nc = tc.NetConn() // under STARTTLS
	}
	s.conn, _ = nc.(*bridgeConn)
	return s, nil
}

// smtpErr is an SMTP reply with an enhanced status code (RFC 3463).
func smtpErr(code int, ec smtp.EnhancedCode, format string, a ...any) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: ec, Message: oneLine(fmt.Sprintf(format, a...))}
}

// unavailable is 421: the MPP side is gone (unreachable, broken, not
// speaking MPP). RFC 5321 §3.8: the server closes the connection after
// it; the client keeps the message and tries again later.
func (s *smtpSession) unavailable(ec smtp.EnhancedCode, format string, a ...any) *smtp.SMTPError {
	s.dropMPP()
	if s.conn != nil {
		s.conn.closeAfterNextWrite()
	}
	return smtpErr(421, ec, format, a...)
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

// Auth checks the name and password with the MPP server (USER, PASS) and
// keeps that session for the messages. PLAIN's authorization identity, if
// given, must be the user: MPP posts as the one who logged in.
func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, password string) error {
			if identity != "" && identity != user {
				return smtpErr(535, smtp.EnhancedCode{5, 7, 8}, "cannot act as %s: MPP posts as the user who logs in", identity)
			}
			return s.auth(user, password)
		}), nil
	case sasl.Login:
		return &loginServer{authenticate: s.auth}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *smtpSession) auth(user, password string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropMPP()
	if err := s.login(user, password, true); err != nil {
		s.b.logf("%s: AUTH %s: %d %s", s.id, user, err.Code, err.Message)
		return err
	}
	s.b.logf("%s: AUTH %s: authenticated by the MPP server %s", s.id, user, s.server.label())
	return nil
}

// Mail starts a message. MPP has no envelope sender: the server posts as
// the user who logged in, and its sender policy decides what becomes of a
// From: that is someone else's, so the address is only logged.
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.user == "" {
		if !s.b.implicitLogin {
			return smtpErr(530, smtp.EnhancedCode{5, 7, 0}, "Authentication required: AUTH with your MPP user name and password")
		}
		pw, err := password(s.b.cfg)
		if err != nil {
			return smtpErr(451, smtp.EnhancedCode{4, 3, 5}, "%v", err)
		}
		if err := s.login(s.b.cfg.user, pw, false); err != nil {
			return err
		}
	}
	if s.from = from; !strings.EqualFold(from, s.user) && !strings.HasPrefix(strings.ToLower(from), strings.ToLower(s.user)+"@") {
		s.b.logf("%s: MAIL FROM <%s>: posted as %s all the same, under the MPP server's sender policy", s.id, from, s.user)
	}
	return nil
}

// Rcpt adds a recipient. It must be an address that a header field can
// carry, since that is where the MPP server's mail system will find it.
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !headerSafe(to) {
		return smtpErr(501, smtp.EnhancedCode{5, 1, 3}, "<%s> cannot be written in a header field, where the MPP server's mail system reads recipients", to)
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

// headerSafe says whether an address of RCPT TO reads back the same from a
// header field.
func headerSafe(addr string) bool {
	a, err := mail.ParseAddress(headerForm(addr))
	return err == nil && a.Address == addr
}

func (s *smtpSession) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.from, s.rcpts = "", nil
}

// Logout ends the MPP session with QUIT. Called while a command is still
// using it (the server stopping), it closes the connection instead, and
// that command fails: a text cut off so is not posted.
func (s *smtpSession) Logout() error {
	if !s.mu.TryLock() {
		if c := s.live.Load(); c != nil {
			c.Close()
		}
		return nil
	}
	defer s.mu.Unlock()
	if s.mpp != nil {
		s.mpp.Cmd("QUIT", "", false)
	}
	s.dropMPP()
	return nil
}

func (s *smtpSession) dropMPP() {
	if s.mpp != nil {
		s.mpp.Close()
		s.mpp = nil
		s.live.Store(nil)
	}
}

// Data posts the message. The MPP server's mail system delivers to the
// header's recipients (sendmail -t) and nobody else, so the header is
// checked against the envelope first: a header recipient not among RCPT TO
// gets the message refused (554), never posted; a RCPT TO recipient the
// header lacks (a Bcc) is added in a Bcc: field, which the mail system
// removes. Only the MPP server's 250 after the text becomes 250.
func (s *smtpSession) Data(r io.Reader) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := readMessage(bufio.NewReaderSize(r, 64<<10))
	if err != nil {
		return s.textError(err)
	}
	if extra := missing(m.recipients, s.rcpts); len(extra) > 0 {
		return smtpErr(554, smtp.EnhancedCode{5, 7, 1}, "the header names %s, not among the RCPT TO recipients: the MPP server's mail system would deliver to them too; not posted",
			strings.Join(extra, ", "))
	}
	text := withBcc(m, missing(s.rcpts, m.recipients))
	if err := s.startText(); err != nil {
		return err
	}
	reply, err := s.mpp.SendText(text)
	s.lastUsed = time.Now()
	var se *mpp.SourceError
	var pe *mpp.ProtocolError
	switch {
	case errors.As(err, &se):
		// The SMTP side failed mid-text: the final dot was not sent, so
		// the MPP server posts nothing. That session cannot go on.
		s.dropMPP()
		return s.textError(se.Err)
	case errors.As(err, &pe):
		return s.unavailable(smtp.EnhancedCode{4, 5, 0}, "the MPP server's reply to the text is not MPP (%v); not posted", pe)
	case err != nil:
		return s.unavailable(smtp.EnhancedCode{4, 4, 2}, "connection to the MPP server lost before its reply to the text (%v); not posted", unwrapOp(err))
	case reply.Code == mpp.CodeOK:
		s.b.logf("%s: %s: posted for %d recipients at %s: MPP %s", s.id, s.user, len(s.rcpts), s.server.label(), reply)
		return nil
	case reply.Code == mpp.CodeLocalError:
		// MPP 451 after the text leaves the session able to post again.
		s.b.logf("%s: %s: not posted: MPP %s", s.id, s.user, reply)
		return smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "MPP server: %s; not posted, try again later", reply)
	default:
		s.b.logf("%s: %s: refused: MPP %s", s.id, s.user, reply)
		s.dropMPP()
		return smtpErr(554, smtp.EnhancedCode{5, 0, 0}, "MPP server refused the message: %s", reply)
	}
}

// textError is the reply to a message whose text could not be read from
// the SMTP client, or that mpp will not send.
func (s *smtpSession) textError(err error) error {
	var ee *exitError
	var se *smtp.SMTPError
	switch {
	case errors.As(err, &ee):
		return smtpErr(554, smtp.EnhancedCode{5, 6, 0}, "%s; not posted", ee.msg)
	case errors.As(err, &se):
		return se // over SIZE: go-smtp's 552
	case errors.Is(err, smtp.ErrTooLongLine):
		return smtpErr(500, smtp.EnhancedCode{5, 5, 2}, "a line of the text is longer than %d bytes; not posted", s.b.maxLine)
	}
	return err
}

// startText makes sure there is a logged-in MPP session and sends DATA.
// A session the server may have ended while it was unused (its idle
// timeout) is checked with NOOP first. One whose DATA gets no reply or 451
// is given up for a new one, opened through the host setting with DATA as
// its last step, as mpp goes on to the next server before the text
// (failover.go); the server that answered 451 is passed over. Nothing of
// the text has been sent yet, so nothing can be posted twice.
func (s *smtpSession) startText() error {
	if s.mpp != nil && time.Since(s.lastUsed) > idleCheck {
		if r, err := s.mpp.Cmd("NOOP", "", false); err != nil || r.Code != mpp.CodeOK {
			s.dropMPP()
		}
	}
	var refused *serverReply
	if s.mpp != nil {
		e, next := s.data()
		switch {
		case e == nil:
			return nil
		case !next:
			return s.failed(e)
		case e.Code == 451:
			refused = &serverReply{s.server.addr, e}
		}
		s.dropMPP()
	}
	if e := s.open(s.user, s.password, false, true, refused); e != nil {
		return e
	}
	return nil
}

// data sends DATA. It returns the SMTP reply a failure becomes (nil at
// 354), and whether another server is worth trying: no reply, or 451.
func (s *smtpSession) data() (*smtp.SMTPError, bool) {
	r, err := s.mpp.Cmd("DATA", "", false)
	s.lastUsed = time.Now()
	var pe *mpp.ProtocolError
	switch {
	case errors.As(err, &pe):
		return smtpErr(421, smtp.EnhancedCode{4, 5, 0}, "the MPP server's reply to DATA is not MPP (%v)", pe), false
	case err != nil:
		return smtpErr(421, smtp.EnhancedCode{4, 4, 2}, "connection to the MPP server lost at DATA (%v); not posted", unwrapOp(err)), true
	case r.Code == mpp.CodeStartMail:
		return nil, false
	case r.Code == mpp.CodeLocalError:
		return smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "MPP server: %s; not posted, try again later", r), true
	}
	return smtpErr(421, smtp.EnhancedCode{4, 5, 0}, "unexpected MPP reply to DATA: %s; not posted", r), false
}

// serverReply is what one server answered, for a server passed over.
type serverReply struct {
	addr  string
	reply *smtp.SMTPError
}

// login opens an MPP session as user (see open).
func (s *smtpSession) login(user, password string, inAuth bool) *smtp.SMTPError {
	return s.open(user, password, inAuth, false, nil)
}

// open opens an MPP session as user with the first server of the host
// setting that takes it (eachServer, failover.go): connect (over TLS as
// configured), greeting, USER, PASS, and with data DATA. As mpp before the
// text, it goes on to the next server past one that cannot be reached, is
// not ready, breaks the connection or answers 451, and past refused, whose
// 451 to DATA was just given; a refused login, or a reply that is not
// MPP, is final. Each failure becomes the SMTP reply for it: 530 (or 501)
// is 535, MPP's 451 is temporary (454 in reply to AUTH, else 451), a
// server that cannot be reached or does not speak MPP is 421. When several
// servers failed, the last one's reply names them all.
func (s *smtpSession) open(user, password string, inAuth, data bool, refused *serverReply) *smtp.SMTPError {
	var trace func(string)
	if s.b.trace != nil {
		trace = func(line string) { s.b.trace(s.id, line) }
	}
	failed, err := eachServer(s.b.cfg, trace, func(srv server) (bool, error) {
		if refused != nil && srv.addr == refused.addr {
			return true, openError{refused.reply}
		}
		c, err := dial(s.b.cfg, srv, trace)
		if err != nil {
			return worthAnother(err), err
		}
		s.mpp, s.server = c, srv
		s.live.Store(c)
		e, next := mppLogin(c, user, password, inAuth)
		if e == nil && data {
			e, next = s.data()
		}
		if e != nil {
			s.dropMPP()
			return next, openError{e}
		}
		return false, nil
	})
	if err == nil {
		s.user, s.password, s.lastUsed = user, password, time.Now()
		return nil
	}
	// Not a openError: a server that could not be reached (dial's error,
	// or the resolver's).
	reply := smtpErr(421, smtp.EnhancedCode{4, 4, 1}, "%v", err)
	var le openError
	if errors.As(err, &le) {
		reply = le.reply
	}
	if len(failed) > 1 {
		reply = smtpErr(reply.Code, reply.EnhancedCode, "no MPP server took the session (%d tried): %s", len(failed), strings.Join(failed, "; "))
	}
	return s.failed(reply)
}

// failed gives the reply e, and after a 421 ends the SMTP connection.
func (s *smtpSession) failed(e *smtp.SMTPError) *smtp.SMTPError {
	if e.Code == 421 {
		return s.unavailable(e.EnhancedCode, "%s", e.Message)
	}
	return e
}

// openError is a session that one server did not open: the SMTP reply it
// becomes; as an error only its text, for eachServer's list of what each
// said.
type openError struct{ reply *smtp.SMTPError }

func (e openError) Error() string { return e.reply.Message }

// mppLogin reads the greeting and logs in. It returns the SMTP reply a
// failure becomes, and whether another server is worth trying.
func mppLogin(c *mpp.Client, user, password string, inAuth bool) (*smtp.SMTPError, bool) {
	r, err := c.ReadReply()
	if e, next := loginReply("greeting", mpp.CodeReady, r, err, inAuth); e != nil {
		return e, next
	}
	r, err = c.Cmd("USER", user, false)
	if e, next := loginReply("USER", mpp.CodeOK, r, err, inAuth); e != nil {
		return e, next
	}
	r, err = c.Cmd("PASS", password, true)
	return loginReply("PASS", mpp.CodeOK, r, err, inAuth)
}

// loginReply is the SMTP reply to a login step that did not get want (nil
// when it did), and whether another server is worth trying after it.
func loginReply(step string, want int, r mpp.Reply, err error, inAuth bool) (*smtp.SMTPError, bool) {
	var pe *mpp.ProtocolError
	switch {
	case errors.As(err, &pe):
		return smtpErr(421, smtp.EnhancedCode{4, 5, 0}, "MPP server, %s: %v", step, pe), false
	case err != nil:
		return smtpErr(421, smtp.EnhancedCode{4, 4, 2}, "connection to the MPP server lost at %s (%v)", step, unwrapOp(err)), true
	case r.Code == want:
		return nil, false
	case step == "greeting":
		return smtpErr(421, smtp.EnhancedCode{4, 3, 0}, "MPP server not ready: %s", r), true
	case r.Code == mpp.CodeAuthFailed, r.Code == mpp.CodeSyntax:
		// RFC 4954 §6: 535 5.7.8, the credentials are invalid.
		return smtpErr(535, smtp.EnhancedCode{5, 7, 8}, "MPP server refused the login: %s", r), false
	case r.Code == mpp.CodeLocalError && inAuth:
		// RFC 4954 §6: 454 4.7.0, a temporary authentication failure.
		return smtpErr(454, smtp.EnhancedCode{4, 7, 0}, "MPP server: %s; try again later", r), true
	case r.Code == mpp.CodeLocalError:
		return smtpErr(451, smtp.EnhancedCode{4, 7, 0}, "MPP server: %s; try again later", r), true
	}
	return smtpErr(421, smtp.EnhancedCode{4, 5, 0}, "unexpected MPP reply to %s: %s", step, r), false
}

// loginServer is SASL LOGIN (draft-murchison-sasl-login), which go-sasl
// offers only as a client: the user name, then the password, each asked
// for by a challenge. Outlook and older Thunderbirds use it.
type loginServer struct {
	authenticate func(user, password string) error
	user         string
	state        int // 0: nothing yet; 1: awaiting the name; 2: the password; 3: done
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.state {
	case 0:
		l.state = 1
		if response == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough // AUTH LOGIN with the name as its initial response
	case 1:
		l.user, l.state = string(response), 2
		return []byte("Password:"), false, nil
	case 2:
		l.state = 3
		return nil, true, l.authenticate(l.user, string(response))
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}
