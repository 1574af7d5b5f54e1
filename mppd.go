// Command mppd is a Message Posting Protocol server (RFC 1204): a client
// proves who its user is with USER and PASS, then hands over mail with DATA,
// which mppd gives to the host's mail system under that identity only.
//
// It runs one session per process, started by inetd, xinetd or a systemd
// socket unit, or serves a port itself with -listen. See mppd(8).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

// version is set at build time with -ldflags "-X main.version=..."; else it
// comes from the module's build information.
var version = ""

// Exit statuses, from sysexits(3) as mail programs use them.
const (
	exitOK     = 0
	exitUsage  = 64 // EX_USAGE: bad flags
	exitOSErr  = 71 // EX_OSERR: cannot get the connection or listen
	exitConfig = 78 // EX_CONFIG: a flag's value cannot work
)

type options struct {
	// Passwords and delivery
	passwd          string
	sendmail        string
	deliveryTimeout time.Duration
	spoolDir        string
	hostname        string
	deliverySocket  string // agent.go
	deliveryAgent   bool
	sessionUser     string

	// Sender identity (sender.go)
	domain     string
	fromPolicy string
	loginMap   string

	// Limits (RFC 1204 §3.3 asks for the idle timeout; the rest bound what a
	// client can make a session cost)
	idleTimeout    time.Duration
	sessionTimeout time.Duration
	loginTimeout   time.Duration
	maxMessage     int64
	maxLine        int
	maxErrors      int
	failDelay      time.Duration

	// TLS (tls.go)
	tlsCert    string
	tlsKey     string
	requireTLS bool

	// Password backends (RFC 1204 §3.4): auth_chain.go
	auth               []string
	authCAFile         string
	authConnectTimeout time.Duration
	authTimeout        time.Duration
	pamHelper          string

	// Activation and logging
	listen        string
	configPath    string // config.go
	printConfig   bool
	proxyNetworks []string // proxy.go
	maxSessions   int
	maxPerAddress int
	logTarget     string
	showVersion   bool
}

func newFlagSet(o *options, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("mppd", flag.ContinueOnError)
	fs.SetOutput(out)

	fs.StringVar(&o.passwd, "passwd", "/etc/shadow", "password `file`: /etc/shadow format, or name:hash lines")
	fs.StringVar(&o.sendmail, "sendmail", "/usr/sbin/sendmail -t -oi", "delivery `command` and arguments; mppd adds -f USER")
	fs.DurationVar(&o.deliveryTimeout, "delivery-timeout", 2*time.Minute, "kill the delivery command after this `duration` and answer 451")
	fs.StringVar(&o.deliverySocket, "delivery-socket", "auto", "hand messages to the delivery agent at this `socket`; auto: when mppd runs with no_new_privs and "+defaultAgentSocket+" exists; \"\": never")
	fs.BoolVar(&o.deliveryAgent, "delivery-agent", false, "run as the delivery agent on the sockets systemd passes (mppd-deliver.socket), or on the Unix socket -listen names")
	fs.StringVar(&o.sessionUser, "session-user", "mppd", "delivery agent: the `user` whose sessions may hand over mail (root always may)")
	fs.StringVar(&o.spoolDir, "spool-dir", os.TempDir(), "`directory` for message texts until their final dot (unlinked files)")
	fs.StringVar(&o.hostname, "hostname", "", "`name` in the greeting (default: the host name)")
	fs.StringVar(&o.domain, "domain", "", "`domain` of the envelope sender USER@DOMAIN (default: /etc/mailname, else the host name)")
	fs.StringVar(&o.fromPolicy, "from-policy", "sender", "what to do with a From: or Resent-From: that is not the user's: sender, rewrite or reject (`policy`)")
	fs.StringVar(&o.loginMap, "sender-login-map", "", "`file` of addresses users may send as besides their own (\"ADDRESS LOGIN,...\" lines)")

	fs.DurationVar(&o.idleTimeout, "idle-timeout", 5*time.Minute, "end a session idle this long (`duration`)")
	fs.DurationVar(&o.sessionTimeout, "session-timeout", 30*time.Minute, "end any session after this `duration`; 0: no limit")
	fs.DurationVar(&o.loginTimeout, "login-timeout", time.Minute, "end a session that has no PASS answered 250 this `duration` after the greeting; 0: no limit")
	fs.Int64Var(&o.maxMessage, "max-message-size", 10240000, "largest message in `bytes` (Postfix's default); 0: no limit")
	fs.IntVar(&o.maxLine, "max-line-length", 2048, "longest command line in `bytes`, CRLF included")
	fs.IntVar(&o.maxErrors, "max-errors", 10, "end a session after this many refused commands (`count`)")
	fs.DurationVar(&o.failDelay, "fail-delay", 2*time.Second, "answer a failed PASS (530, or 451 from the backends) no sooner than this `duration` after it came")

	fs.Func("auth", authSpecHelp, func(spec string) error {
		o.auth = append(o.auth, spec)
		return nil
	})
	fs.StringVar(&o.authCAFile, "auth-ca-file", "", "PEM `file` of the CA certificates that pop3s, STLS and ftps servers are verified against (default: the system roots)")
	fs.DurationVar(&o.authConnectTimeout, "auth-connect-timeout", 10*time.Second, "give up connecting to a POP3 or FTP server after this `duration` (451)")
	fs.DurationVar(&o.authTimeout, "auth-timeout", 20*time.Second, "give up one backend's whole check (connect, TLS, login; PAM) after this `duration` (451)")
	fs.StringVar(&o.pamHelper, "pam-helper", defaultPAMHelper, "the `program` that checks passwords for -auth pam:SERVICE (mppd-pam)")

	fs.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate chain `file` (PEM): sessions are TLS from the first byte; reread for every connection")
	fs.StringVar(&o.tlsKey, "tls-key", "", "TLS private key `file` (PEM) for -tls-cert")
	fs.BoolVar(&o.requireTLS, "require-tls", false, "refuse PASS with 530 on a plain connection (for the plain port of a site that also serves TLS)")

	fs.StringVar(&o.listen, "listen", "", "serve `address` (host:port) as a standalone server instead of one inherited connection")
	fs.Var((*listFlag)(&o.proxyNetworks), "proxy-trusted-networks", "addresses or `networks` (CIDR, comma-separated; repeatable) of load balancers whose connections begin with a PROXY header (v1 or v2); from anyone else a PROXY header is refused")
	fs.IntVar(&o.maxSessions, "max-sessions", 100, "concurrent sessions of a -listen or Accept=no server (`count`)")
	fs.IntVar(&o.maxPerAddress, "max-sessions-per-address", 10, "concurrent sessions of a -listen or Accept=no server from one client address, an IPv6 /64 counting as one (`count`); 0: no limit")
	fs.StringVar(&o.logTarget, "log", logAuto, "log `target`: auto, journal, syslog, stderr or none")
	fs.BoolVar(&o.showVersion, "version", false, "print the version and exit")
	fs.StringVar(&o.configPath, "config", defaultConfigPath, "settings `file`, \"name = value\" lines with the flags' names; a flag given here wins; \"\": none")
	fs.BoolVar(&o.printConfig, "print-config", false, "check the settings, print them with where each came from, and exit")

	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: mppd [flags]\n\n"+
			"Message Posting Protocol server (RFC 1204). Serves one connection given by\n"+
			"inetd, xinetd or systemd (fd 0, or fd 3 with LISTEN_FDS), stdin/stdout, or\n"+
			"a port with -listen. See mppd(8).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	// Under inetd and xinetd fd 2 is the client's connection: nothing may be
	// written there, not even a usage message. Whatever still writes to fd 2
	// (logrus when a hook fails, a library, the Go runtime dying) writes to
	// /dev/null instead.
	stderrFree := !isSocket(2)
	silenceStderrIfClient()
	var diag io.Writer = io.Discard
	if stderrFree {
		diag = os.Stderr
	}
	s, cmdLog, err := loadSettings(args, diag)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	case err != nil && !errors.As(err, new(*configError)):
		return exitUsage // the flag package said why
	case err != nil:
		// Logged where the command line (or the default) says: nothing of
		// a file that cannot be used is used, its log setting neither.
		if log, _, lerr := newLogger(cmdLog, stderrFree); lerr == nil {
			log.WithError(err).Error("bad configuration file: not started")
		}
		fmt.Fprintln(diag, "mppd:", err)
		return exitConfig
	}
	if s.o.showVersion {
		fmt.Println("mppd", mppdVersion())
		return exitOK
	}
	o := &s.o

	log, logUsed, err := newLogger(o.logTarget, stderrFree)
	if err != nil {
		fmt.Fprintln(diag, "mppd:", err)
		return exitConfig
	}
	// fail is the one way start-up gives up: a log line, a line on stderr
	// where that is not the client, and the exit status.
	fail := func(status int, what string, err error) int {
		log.WithError(err).Error(what)
		fmt.Fprintln(diag, "mppd:", err)
		return status
	}
	if o.deliveryAgent || agentSocketsPassed() {
		return runDeliveryAgent(o, log, fail)
	}
	cfg, tr, err := o.build(log)
	if err != nil {
		return fail(exitConfig, "bad configuration", err)
	}
	if o.printConfig {
		s.print(os.Stdout)
		return exitOK
	}

	st, err := activate(o.listen)
	if err != nil {
		return fail(exitOSErr, "cannot get a connection", err)
	}
	closeInheritedFDs()
	cfg.Shutdown = newShutdown()
	if st.conn != nil {
		cfg.ReadBuffer = oneConnReadBuffer
		cfg.Shutdown.onSignal(log, "stopping: session ends", nil)
		// The settings were read at the start; a session has nothing to
		// reload, and "pkill -HUP mppd" for the -listen servers must not
		// cut it off.
		signal.Ignore(syscall.SIGHUP)
		log.WithFields(logrus.Fields{"mode": st.mode, "log": logUsed}).Debug("session start")
		if conn, peer, ok := tr.proxy.resolve(st.conn, st.peer, log); ok {
			tr.serve(cfg, conn, peer)
		}
		return exitOK
	}
	log.WithFields(logrus.Fields{"mode": st.mode, "version": mppdVersion()}).Info("listening")
	warnIfMissing(commandOf(cfg.Deliver), log, o.listen != "", diag)
	for _, l := range st.listeners {
		log.WithField("address", l.Addr().String()).Info("listening on")
		if o.listen != "" {
			fmt.Fprintf(diag, "mppd: listening on %s\n", l.Addr())
		}
	}
	r := newReloader(args, s, cfg, tr, log)
	r.onHangup()
	serveListeners(r, cfg.Shutdown, st.listeners, newSessionLimits(o.maxSessions, o.maxPerAddress))
	return exitOK
}

// build checks the options and makes what sessions share: the Config and
// the transport (plain or TLS).
func (o *options) build(log *logrus.Logger) (*Config, *transport, error) {
	cfg, err := o.config(log)
	if err != nil {
		return nil, nil, err
	}
	tr, err := newTransport(o.tlsCert, o.tlsKey, o.requireTLS, log)
	if err != nil {
		return nil, nil, err
	}
	if tr.proxy, err = newProxyTrust(o.proxyNetworks); err != nil { // proxy.go
		return nil, nil, err
	}
	return cfg, tr, nil
}

// config checks the options and builds what sessions share.
func (o *options) config(log *logrus.Logger) (*Config, error) {
	if o.hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			h = "localhost"
		}
		o.hostname = h
	}
	if o.maxLine < 64 {
		return nil, fmt.Errorf("-max-line-length %d: at least 64", o.maxLine)
	}
	if o.maxMessage < 0 || o.maxErrors < 0 || o.maxPerAddress < 0 || o.maxSessions < 1 {
		return nil, errors.New("-max-message-size, -max-errors and -max-sessions-per-address may not be negative, -max-sessions must be at least 1")
	}
	sm, err := newSendmail(o.sendmail, o.deliveryTimeout)
	if err != nil {
		return nil, err
	}
	// The chain applies -fail-delay itself, counted from when PASS came,
	// so that the session adds none on top (auth_chain.go).
	auth, err := newAuthChain(o.auth, authOptions{passwd: o.passwd, caFile: o.authCAFile,
		connectTimeout: o.authConnectTimeout, timeout: o.authTimeout, failFloor: o.failDelay,
		pamHelper: o.pamHelper})
	if err != nil {
		return nil, err
	}
	id, err := o.identity()
	if err != nil {
		return nil, err
	}
	return &Config{
		Hostname:       o.hostname,
		Auth:           auth,
		Deliver:        newDeliverer(o.deliverySocket, sm),
		Identity:       id,
		SpoolDir:       o.spoolDir,
		MaxLine:        o.maxLine,
		MaxMessage:     o.maxMessage,
		IdleTimeout:    o.idleTimeout,
		SessionTimeout: o.sessionTimeout,
		LoginTimeout:   o.loginTimeout,
		WriteTimeout:   o.idleTimeout,
		MaxErrors:      o.maxErrors,
		Log:            log,
	}, nil
}

// identity checks the sender identity flags.
func (o *options) identity() (*Identity, error) {
	if o.domain == "" {
		o.domain = defaultDomain("/etc/mailname", o.hostname)
	}
	if err := checkDomain(o.domain); err != nil {
		return nil, err
	}
	policy, err := parseFromPolicy(o.fromPolicy)
	if err != nil {
		return nil, err
	}
	if o.loginMap != "" {
		// Read once now so a mistake stops start-up; it is read again for
		// every message, so edits need no restart.
		if _, err := readLoginMap(o.loginMap); err != nil {
			return nil, fmt.Errorf("-sender-login-map: %v", err)
		}
	}
	return &Identity{Domain: o.domain, Policy: policy, LoginMap: o.loginMap, Hostname: o.hostname}, nil
}

// serveListeners accepts on every listener and runs each session in its own
// goroutine, with the same code as a single inherited connection. SIGTERM or
// SIGINT stop accepting and begin d: each session ends at its next read,
// after the delivery it may be making.
func serveListeners(r *reloader, d *shutdown, listeners []net.Listener, limits *sessionLimits) {
	serveUntilSignal(listeners, r.log, "stopping: no new sessions", d, func(l net.Listener, wg *sync.WaitGroup) {
		acceptLoop(r, l, limits, wg)
	})
}

// serveUntilSignal runs accept on every listener until SIGTERM or SIGINT
// closes them and begins d, then waits for the work under way, which
// accept counts in wg: sessions of a server, deliveries of the agent.
func serveUntilSignal(listeners []net.Listener, log *logrus.Logger, stopping string, d *shutdown, accept func(net.Listener, *sync.WaitGroup)) {
	var wg sync.WaitGroup
	d.onSignal(log, stopping, func() {
		for _, l := range listeners {
			l.Close()
		}
	})
	var accepting sync.WaitGroup
	for _, l := range listeners {
		accepting.Add(1)
		go func() {
			defer accepting.Done()
			accept(l, &wg)
		}()
	}
	accepting.Wait()
	wg.Wait()
}

// acceptRetry is the pause after a failed accept (EMFILE and the like)
// before the next, as net/http has it: 5 ms, doubling up to 1 s, and 5 ms
// again once an accept succeeds.
type acceptRetry struct{ last time.Duration }

func (a *acceptRetry) wait() {
	a.last = min(max(2*a.last, 5*time.Millisecond), time.Second)
	time.Sleep(a.last)
}

func (a *acceptRetry) reset() { a.last = 0 }

func acceptLoop(r *reloader, l net.Listener, limits *sessionLimits, wg *sync.WaitGroup) {
	var retry acceptRetry
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			r.log.WithError(err).Warn("accept failed")
			retry.wait()
			continue
		}
		retry.reset()
		// The settings as the file has them now (reread if it changed).
		cfg, tr := r.get()
		if tr.proxy.trusts(c.RemoteAddr()) {
			// A balancer's connection: the client, whom the limits count,
			// is known once its PROXY header is read, in a goroutine of
			// its own, not here, where a slow one would hold up the others.
			wg.Add(1)
			go func() {
				defer wg.Done()
				if pc := tr.proxy.accept(c, cfg.Log); pc != nil {
					startSession(cfg, tr, pc, limits, wg)
				}
			}()
			continue
		}
		startSession(cfg, tr, c, limits, wg)
	}
}

// startSession runs a session on c in a goroutine of its own if the limits
// allow one more from its client, and otherwise answers 451 and closes it.
func startSession(cfg *Config, tr *transport, c net.Conn, limits *sessionLimits, wg *sync.WaitGroup) {
	source := sourceKey(c)
	if refusal := limits.take(source); refusal != "" {
		cfg.Log.WithField("rip", peerAddr(c)).Warn("refused: " + strings.ToLower(refusal))
		c.SetWriteDeadline(time.Now().Add(time.Second))
		writeReply(c, codeLocalError, refusal+", try again later")
		c.Close()
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer limits.release(source)
		defer c.Close()
		tr.serve(cfg, c, peerAddr(c))
	}()
}

// sessionLimits bounds the sessions of a server of many: in all
// (-max-sessions) and from one client (-max-sessions-per-address), so that
// one client that never logs in cannot take every slot and lock the others
// out, as the socket unit's MaxConnectionsPerSource= does for Accept=yes.
type sessionLimits struct {
	mu        sync.Mutex
	total     int
	max       int
	perSource map[string]int
	maxSource int // 0: no limit
}

func newSessionLimits(max, maxPerSource int) *sessionLimits {
	return &sessionLimits{max: max, maxSource: maxPerSource, perSource: map[string]int{}}
}

// take counts a new session from source (sourceKey) and returns "", or
// why it may not start (the start of the client's 451).
func (l *sessionLimits) take(source string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max {
		return "Too many sessions"
	}
	if source != "" && l.maxSource > 0 {
		if l.perSource[source] >= l.maxSource {
			return "Too many sessions from your address"
		}
		l.perSource[source]++
	}
	l.total++
	return ""
}

// release uncounts a session that take counted.
func (l *sessionLimits) release(source string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if source != "" && l.maxSource > 0 {
		if l.perSource[source]--; l.perSource[source] <= 0 {
			delete(l.perSource, source)
		}
	}
}

// sourceKey is what -max-sessions-per-address counts a connection by: the
// client's IPv4 address, or the /64 its IPv6 address is in, since one host
// is usually given a whole /64 and could otherwise take every slot alone;
// "" for a connection without an IP address, which is not counted.
func sourceKey(c interface{ RemoteAddr() net.Addr }) string {
	a, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return ""
	}
	ip, ok := netip.AddrFromSlice(a.IP)
	if !ok {
		return ""
	}
	if ip = ip.Unmap(); ip.Is4() {
		return ip.String()
	}
	p, _ := ip.WithZone("").Prefix(64)
	return p.String()
}

// warnIfMissing: not fatal, as for one session (deliver.go), but a server
// that would answer every text 451 says so once, where its administrator
// looks (and on stderr too, for -listen).
func warnIfMissing(sm *sendmail, log *logrus.Logger, toStderr bool, diag io.Writer) {
	if sm == nil {
		return
	}
	if err := sm.missing(); err != nil {
		log.WithError(err).Warn("delivery command missing: every message will be answered 451 until it is there")
		if toStderr {
			fmt.Fprintf(diag, "mppd: warning: %v: every message will be answered 451 until it is there\n", err)
		}
	}
}

// runDeliveryAgent is -delivery-agent (agent.go): no sessions, only the
// hand-over socket.
func runDeliveryAgent(o *options, log *logrus.Logger, fail func(int, string, error) int) int {
	sm, err := newSendmail(o.sendmail, o.deliveryTimeout)
	if err != nil {
		return fail(exitConfig, "bad configuration", err)
	}
	if o.maxSessions < 1 {
		return fail(exitConfig, "bad configuration", errors.New("-max-sessions must be at least 1"))
	}
	a, err := newDeliveryAgent(sm, o.sessionUser, o.maxSessions, log)
	if err != nil {
		return fail(exitConfig, "bad configuration", err)
	}
	var listeners []net.Listener
	if o.listen != "" {
		l, err := net.Listen("unixpacket", o.listen)
		if err != nil {
			return fail(exitOSErr, "cannot listen", err)
		}
		listeners = append(listeners, l)
	} else {
		st, err := activate("")
		if err != nil || st.listeners == nil {
			if err == nil {
				err = errors.New("-delivery-agent: no listening socket: run it from mppd-deliver.socket, or give -listen PATH")
			}
			return fail(exitOSErr, "cannot get a socket", err)
		}
		listeners = st.listeners
	}
	closeInheritedFDs()
	log.WithFields(logrus.Fields{"version": mppdVersion(), "sendmail": o.sendmail}).Info("delivery agent listening")
	warnIfMissing(sm, log, false, nil)
	a.serve(listeners)
	return exitOK
}

func mppdVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}
