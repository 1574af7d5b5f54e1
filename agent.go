package main

// Privilege separation for delivery, as Postfix (postdrop) and OpenSMTPD
// (smtpctl) do it. Under no_new_privs (the hardened session units) the
// kernel ignores the set-id bits every MTA's submission program but
// Postfix's sendmail relies on, so a session hands the finished message,
// as a descriptor over a SOCK_SEQPACKET socket checked with SO_PEERCRED, to
// "mppd -delivery-agent", which runs its own -sendmail where set-id works.
// The session chooses only what it already chose: the sender and the text.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// defaultAgentSocket is where mppd-deliver.socket listens.
const defaultAgentSocket = "/run/mppd/deliver.sock"

// The wire format: one datagram each way. A request is agentMagic, then the
// sender, user, session id and client address, each ending in NUL, with the
// spool file's descriptor attached (SCM_RIGHTS). The reply is the code
// ("250" or "451"), the client's reply text and the detail for the log,
// separated by NUL.
const (
	agentMagic       = "mppd-deliver/1"
	maxAgentRequest  = 2048
	maxAgentReply    = maxSendmailOutput + 1024
	agentReadTimeout = 10 * time.Second
	// agentGrace is how much longer than -delivery-timeout a session waits
	// for the agent's reply: the agent kills the command at its own timeout
	// and waits up to cmd.WaitDelay for its output.
	agentGrace = 30 * time.Second
)

type agentRequest struct {
	env Envelope
}

func (r agentRequest) marshal() []byte {
	var b bytes.Buffer
	for _, s := range []string{agentMagic, r.env.Sender, r.env.User, r.env.SessionID, r.env.Peer} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	return b.Bytes()
}

func parseAgentRequest(p []byte) (agentRequest, error) {
	f := strings.Split(string(p), "\x00")
	if len(f) != 6 || f[0] != agentMagic || f[5] != "" {
		return agentRequest{}, errors.New("malformed request")
	}
	env := Envelope{Sender: f[1], User: f[2], SessionID: f[3], Peer: f[4]}
	if err := checkAgentSender(env.Sender); err != nil {
		return agentRequest{}, err
	}
	return agentRequest{env: env}, nil
}

// checkAgentSender is the agent's own check of the envelope sender: the
// session's address is trusted no further than that it is one word that
// cannot be an option (sendmail.args checks the leading "-" too).
func checkAgentSender(s string) error {
	if s == "" || len(s) > 512 || s[0] == '-' {
		return fmt.Errorf("refusing envelope sender %q", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return fmt.Errorf("refusing envelope sender %q", s)
		}
	}
	return nil
}

// agentClient is the session's end: a Deliverer that hands each message to
// the agent at path.
type agentClient struct {
	path string
	wait time.Duration // for the reply, at most
}

func (a *agentClient) Deliver(ctx context.Context, env Envelope, msg *os.File) error {
	ctx, cancel := context.WithTimeout(ctx, a.wait)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unixpacket", a.path)
	if err != nil {
		return tempError("Local error encountered: mail system unavailable, try again later",
			fmt.Errorf("cannot reach the delivery agent: %v; %s", err, agentFix))
	}
	defer c.Close()
	uc := c.(*net.UnixConn)
	if dl, ok := ctx.Deadline(); ok {
		uc.SetDeadline(dl)
	}
	if _, _, err := uc.WriteMsgUnix(agentRequest{env}.marshal(), unix.UnixRights(int(msg.Fd())), nil); err != nil {
		return tempError("Local error encountered: mail system unavailable, try again later",
			fmt.Errorf("delivery agent %s: sending the message: %v", a.path, err))
	}
	buf := make([]byte, maxAgentReply)
	n, err := uc.Read(buf)
	if err != nil || n == 0 {
		// The message may or may not have been queued: 451 is the honest
		// answer (the client sends it again; a duplicate, never a loss).
		if err == nil {
			err = errors.New("connection closed")
		}
		return tempError("Local error encountered: mail system did not answer, try again later",
			fmt.Errorf("delivery agent %s: no reply: %v", a.path, err))
	}
	return parseAgentReply(buf[:n])
}

// agentFix is what the log says when the agent cannot be reached.
const agentFix = "start it with `systemctl enable --now mppd-deliver.socket` (see mppd(8), PRIVILEGES)"

func agentReply(err error) []byte {
	if err == nil {
		return []byte("250\x00\x00")
	}
	re := asReplyError(err)
	detail := ""
	if re.err != nil {
		detail = re.err.Error()
	}
	return []byte(strconv.Itoa(codeLocalError) + "\x00" + re.msg + "\x00" + detail)
}

func parseAgentReply(p []byte) error {
	f := strings.SplitN(string(p), "\x00", 3)
	if len(f) == 3 && f[0] == "250" {
		return nil
	}
	if len(f) == 3 && f[0] == "451" && f[1] != "" && !strings.ContainsAny(f[1], "\r\n") {
		return tempError(f[1], fmt.Errorf("delivery agent: %s", f[2]))
	}
	return tempError("Local error encountered: mail system did not answer, try again later",
		fmt.Errorf("delivery agent: malformed reply %q", p))
}

// autoDeliverer is -delivery-socket auto: a session that runs with
// no_new_privs (the hardened systemd unit), on a host where the agent's
// socket exists, hands messages to the agent; any other (inetd, xinetd,
// -listen, no agent) runs the delivery command itself. Decided per message:
// a prctl and a stat, nothing at start-up.
type autoDeliverer struct {
	direct     *sendmail
	agent      *agentClient
	noNewPrivs func() bool
}

func (a *autoDeliverer) Deliver(ctx context.Context, env Envelope, msg *os.File) error {
	if a.noNewPrivs() {
		if _, err := os.Stat(a.agent.path); err == nil {
			return a.agent.Deliver(ctx, env, msg)
		}
		err := a.direct.Deliver(ctx, env, msg)
		if err != nil {
			re := asReplyError(err)
			return &replyError{code: re.code, msg: re.msg, err: fmt.Errorf("%w; mppd runs with no_new_privs, under which most MTAs' set-id programs fail, and the delivery agent's socket %s is missing: %s", re.err, a.agent.path, agentFix)}
		}
		return nil
	}
	return a.direct.Deliver(ctx, env, msg)
}

// commandOf is the delivery command a Deliverer runs in this process, if
// any: an agentClient runs none.
func commandOf(d Deliverer) *sendmail {
	switch d := d.(type) {
	case *sendmail:
		return d
	case *autoDeliverer:
		return d.direct
	}
	return nil
}

func noNewPrivs() bool {
	v, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	return err == nil && v == 1
}

// newDeliverer is the -delivery-socket setting: "auto", "" (always run the
// command), or a socket path (always hand over to the agent there).
func newDeliverer(socket string, sm *sendmail) Deliverer {
	wait := sm.timeout + agentGrace
	if sm.timeout <= 0 {
		wait = 24 * time.Hour
	}
	switch socket {
	case "":
		return sm
	case "auto":
		return &autoDeliverer{direct: sm, agent: &agentClient{path: defaultAgentSocket, wait: wait}, noNewPrivs: noNewPrivs}
	default:
		return &agentClient{path: socket, wait: wait}
	}
}

// deliveryAgent is the agent's end: it serves the listening sockets systemd
// passes (mppd-deliver.socket, Accept=no).
type deliveryAgent struct {
	sm       *sendmail
	peerUIDs map[uint32]bool // who may hand over mail: the session user and root
	slots    chan struct{}   // deliveries at a time
	log      *logrus.Logger
}

// newDeliveryAgent resolves -session-user, the user whose sessions may
// hand over mail.
func newDeliveryAgent(sm *sendmail, sessionUser string, maxDeliveries int, log *logrus.Logger) (*deliveryAgent, error) {
	// Root, and the agent's own user (which could ptrace it anyway).
	uids := map[uint32]bool{0: true, uint32(os.Geteuid()): true}
	if sessionUser != "" {
		u, err := user.Lookup(sessionUser)
		if err != nil {
			return nil, fmt.Errorf("-session-user %s: %v", sessionUser, err)
		}
		uid, err := strconv.ParseUint(u.Uid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("-session-user %s: uid %q", sessionUser, u.Uid)
		}
		uids[uint32(uid)] = true
	}
	return &deliveryAgent{sm: sm, peerUIDs: uids, slots: make(chan struct{}, maxDeliveries), log: log}, nil
}

// serve accepts on every listener until SIGTERM, then lets the deliveries
// under way finish: a message being handed to sendmail is not cut off (a
// second SIGTERM does).
func (a *deliveryAgent) serve(listeners []net.Listener) {
	serveUntilSignal(listeners, a.log, "delivery agent stopping", newShutdown(), func(l net.Listener, wg *sync.WaitGroup) {
		ul, ok := l.(*net.UnixListener)
		if !ok {
			a.log.WithField("address", l.Addr().String()).Error("delivery agent: not a Unix socket, ignored")
			return
		}
		a.acceptLoop(ul, wg)
	})
}

func (a *deliveryAgent) acceptLoop(l *net.UnixListener, wg *sync.WaitGroup) {
	var retry acceptRetry
	for {
		// A slot before accepting: sessions beyond the limit wait in the
		// socket's backlog, in order, costing the agent nothing.
		a.slots <- struct{}{}
		c, err := l.AcceptUnix()
		if err != nil {
			<-a.slots
			if errors.Is(err, net.ErrClosed) {
				return
			}
			a.log.WithError(err).Warn("delivery agent: accept failed")
			retry.wait()
			continue
		}
		retry.reset()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-a.slots }()
			defer c.Close()
			a.handle(c)
		}()
	}
}

// handle serves one hand-over: check the peer, read the request and its
// descriptor, deliver, reply.
func (a *deliveryAgent) handle(c *net.UnixConn) {
	uid, pid, err := peerCred(c)
	log := a.log.WithFields(logrus.Fields{"peer_uid": uid, "peer_pid": pid})
	if err != nil || !a.peerUIDs[uid] {
		log.WithError(err).Warn("delivery agent: refused a connection from a process that is not an mppd session")
		return
	}
	c.SetReadDeadline(time.Now().Add(agentReadTimeout))
	req, msg, err := readAgentRequest(c)
	if err != nil {
		log.WithError(err).Warn("delivery agent: bad request")
		c.Write(agentReply(tempError("Local error encountered", err)))
		return
	}
	defer msg.Close()
	log = log.WithFields(logrus.Fields{"session": req.env.SessionID, "user": req.env.User,
		"rip": req.env.Peer, "sender": req.env.Sender})
	err = a.sm.Deliver(context.Background(), req.env, msg)
	if err != nil {
		log.WithError(err).Error("message not delivered")
	} else {
		log.Info("message handed to the mail system")
	}
	c.SetWriteDeadline(time.Now().Add(agentReadTimeout))
	if _, werr := c.Write(agentReply(err)); werr != nil {
		log.WithError(werr).Warn("delivery agent: the session did not take the reply")
	}
}

// readAgentRequest reads one request datagram with exactly one descriptor,
// which must be a readable regular file (the spool file); any other
// descriptors that came along are closed.
func readAgentRequest(c *net.UnixConn) (agentRequest, *os.File, error) {
	buf := make([]byte, maxAgentRequest)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return agentRequest{}, nil, err
	}
	var fds []int
	if msgs, perr := unix.ParseSocketControlMessage(oob[:oobn]); perr == nil {
		for _, m := range msgs {
			if got, rerr := unix.ParseUnixRights(&m); rerr == nil {
				fds = append(fds, got...)
			}
		}
	}
	closeAll := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 || len(fds) != 1 {
		closeAll()
		return agentRequest{}, nil, fmt.Errorf("request of %d bytes with %d descriptors (flags %#x): want one spool file", n, len(fds), flags)
	}
	req, err := parseAgentRequest(buf[:n])
	if err != nil {
		closeAll()
		return agentRequest{}, nil, err
	}
	fd := fds[0]
	unix.CloseOnExec(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return agentRequest{}, nil, errors.New("the descriptor is not a regular file")
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil || fl&unix.O_ACCMODE == unix.O_WRONLY {
		unix.Close(fd)
		return agentRequest{}, nil, errors.New("the descriptor is not readable")
	}
	f := os.NewFile(uintptr(fd), "(spool of session "+req.env.SessionID+")")
	if _, err := f.Seek(0, 0); err != nil {
		f.Close()
		return agentRequest{}, nil, err
	}
	return req, f, nil
}

func peerCred(c *net.UnixConn) (uid uint32, pid int32, err error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, 0, err
	}
	if cerr != nil {
		return 0, 0, cerr
	}
	return cred.Uid, cred.Pid, nil
}
