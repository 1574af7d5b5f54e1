package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The -auth flag: where PASS is checked (RFC 1204 §3.4 names the host's
// password database, a remote POP3 or FTP server, or a file of the
// administrator's). Several may be given; they are tried in order.
const authSpecHelp = "password `backend`, repeatable, tried in order until one accepts:\n" +
	"shadow (default: the -passwd file), pop3://HOST[:PORT], pop3://HOST[:PORT]?starttls (STLS),\n" +
	"pop3s://HOST[:PORT] (TLS from the first byte), ftp://HOST[:PORT], ftps://HOST[:PORT]\n" +
	"(explicit FTPS: AUTH TLS on the FTP port), pam:SERVICE (through -pam-helper).\n" +
	"pop3:// and pop3s:// take ?in-use-ok (joined to ?starttls by &): a maildrop in use\n" +
	"([IN-USE] after PASS) proves the password; only for servers that check it first.\n" +
	"A backend that says no passes the check on; if none accepts, PASS gets 530, or 451\n" +
	"when one of them could not be asked (down, timed out, nonsense)"

// authOptions is what building the backends needs from the flags.
type authOptions struct {
	passwd         string        // -passwd, for the shadow backend
	caFile         string        // -auth-ca-file; "": the system roots
	connectTimeout time.Duration // -auth-connect-timeout
	timeout        time.Duration // -auth-timeout: one backend's whole check
	failFloor      time.Duration // -fail-delay: no failed check (530 or 451) is answered sooner
	pamHelper      string        // -pam-helper, for pam:SERVICE
	hashes         *hashGate     // bounds the shadow backend's hashes in progress; nil: one per CPU
}

// remoteOptions is what the POP3 and FTP backends share.
type remoteOptions struct {
	connectTimeout time.Duration
	timeout        time.Duration
	roots          *x509.CertPool // nil: the system roots
}

// authBackend is one -auth entry: its spec, as the log names it, and its
// checker.
type authBackend struct {
	name string
	auth Authenticator
}

// authChain tries its backends in order until one accepts. A refusal (530)
// and a backend that cannot be asked (451) both pass the check on. When none
// accepts, the reply is 451 if any could not be asked: it might have
// accepted, and a 530 would have fail2ban ban a user for an outage (as
// Dovecot's passdb chains end). No answer but 250 comes sooner than
// failFloor after the check began, so its time does not tell which
// backend refused or why.
type authChain struct {
	backends  []authBackend
	failFloor time.Duration
	sleep     func(ctx context.Context, until time.Time) // for tests; nil: sleepUntil
}

// newAuthChain builds the backends of specs (["shadow"] when empty). A spec
// that cannot work is an error at start-up, never a surprise at PASS.
func newAuthChain(specs []string, o authOptions) (*authChain, error) {
	if len(specs) == 0 {
		specs = []string{"shadow"}
	}
	if o.connectTimeout <= 0 || o.timeout <= 0 {
		return nil, errors.New("-auth-connect-timeout and -auth-timeout must be positive")
	}
	ro := remoteOptions{connectTimeout: min(o.connectTimeout, o.timeout), timeout: o.timeout}
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, fmt.Errorf("-auth-ca-file: %w", err)
		}
		ro.roots = x509.NewCertPool()
		if !ro.roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-auth-ca-file %s: no PEM certificate in it", o.caFile)
		}
	}
	if o.hashes == nil {
		o.hashes = newHashGate(0)
	}
	c := &authChain{failFloor: o.failFloor}
	seen := map[string]bool{}
	for _, spec := range specs {
		b, err := newAuthBackend(spec, o, ro)
		if err != nil {
			return nil, fmt.Errorf("-auth %q: %w", spec, err)
		}
		if seen[b.name] {
			return nil, fmt.Errorf("-auth %q: given twice", spec)
		}
		seen[b.name] = true
		c.backends = append(c.backends, b)
	}
	return c, nil
}

// newAuthBackend parses one -auth spec.
func newAuthBackend(spec string, o authOptions, ro remoteOptions) (authBackend, error) {
	if spec == "shadow" {
		// The hash is computed here, in mppd's memory: through the gate
		// (hashgate.go). Only the check waits there, not -fail-delay.
		return authBackend{name: spec, auth: gatedAuth{o.hashes, &shadowAuth{path: o.passwd}}}, nil
	}
	if service, ok := strings.CutPrefix(spec, "pam:"); ok {
		a, err := newPAMAuth(service, o.pamHelper, o.timeout)
		return authBackend{name: spec, auth: a}, err
	}
	u, err := url.Parse(spec)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return authBackend{}, errors.New("want shadow, pam:SERVICE, or pop3, pop3s, ftp or ftps://HOST[:PORT]")
	}
	scheme, ok := remoteSchemes[u.Scheme]
	if !ok {
		return authBackend{}, fmt.Errorf("unknown scheme %q: want pop3, pop3s, ftp or ftps", u.Scheme)
	}
	switch {
	case u.Hostname() == "":
		return authBackend{}, errors.New("no host")
	case u.User != nil:
		return authBackend{}, errors.New("no user or password in the URL: the client's are used")
	case u.Path != "" && u.Path != "/", u.Fragment != "":
		return authBackend{}, errors.New("no path or fragment after the host")
	}
	opts, err := parseRemoteOptions(u.Scheme, u.RawQuery)
	if err != nil {
		return authBackend{}, err
	}
	tls := scheme.tls
	if opts["starttls"] {
		tls = tlsUpgrade
	}
	host, port := u.Hostname(), u.Port()
	if strings.Contains(host, ":") && !strings.HasPrefix(u.Host, "[") {
		return authBackend{}, fmt.Errorf("bad host %q (an IPv6 address goes in brackets)", u.Host)
	}
	if port == "" {
		port = scheme.port
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return authBackend{}, fmt.Errorf("bad port %q", port)
	}
	addr := net.JoinHostPort(host, port)
	name := u.Scheme + "://" + addr
	// The options in one order, so that a server is named (in the log, and
	// for "given twice") the same however the spec lists them.
	var given []string
	for _, o := range remoteOptionNames {
		if opts[o] {
			given = append(given, o)
		}
	}
	if len(given) > 0 {
		name += "?" + strings.Join(given, "&")
	}
	r := remote{name: name, addr: addr, host: host, tls: tls, opts: ro}
	if scheme.pop3 {
		return authBackend{name: name, auth: &pop3Auth{remote: r, inUseOK: opts["in-use-ok"]}}, nil
	}
	return authBackend{name: name, auth: &ftpAuth{r}}, nil
}

// remoteOptionNames are the words a remote spec may end with, after "?"
// and joined by "&": pop3://HOST?starttls (STLS) and, for pop3:// and
// pop3s://, in-use-ok (take POP3's [IN-USE] after PASS as proof of the
// password; see pop3Auth).
var remoteOptionNames = []string{"starttls", "in-use-ok"}

// parseRemoteOptions reads a remote spec's options (the URL's raw query):
// each a word of remoteOptionNames, once, and only for the schemes it is
// for. Anything else is an error at start-up, never ignored.
func parseRemoteOptions(scheme, query string) (map[string]bool, error) {
	opts := map[string]bool{}
	if query == "" {
		return opts, nil
	}
	for _, o := range strings.Split(query, "&") {
		switch {
		case !slices.Contains(remoteOptionNames, o):
			return nil, fmt.Errorf("unknown option %q (the options are pop3://HOST?starttls and ?in-use-ok for pop3:// and pop3s://, joined by &)", o)
		case opts[o]:
			return nil, fmt.Errorf("option %q given twice", o)
		case o == "starttls" && scheme != "pop3":
			return nil, errors.New("?starttls is for pop3:// (ftps:// always upgrades with AUTH TLS; pop3s:// is TLS from the start)")
		case o == "in-use-ok" && scheme != "pop3" && scheme != "pop3s":
			return nil, errors.New("?in-use-ok is for pop3:// and pop3s:// (POP3's [IN-USE] response code)")
		}
		opts[o] = true
	}
	return opts, nil
}

// remoteSchemes are the -auth URL schemes of the POP3 and FTP backends: the
// default port, the protocol, and how the password is protected
// (pop3://HOST?starttls upgrades too).
var remoteSchemes = map[string]struct {
	port string
	pop3 bool // else FTP
	tls  tlsMode
}{
	"pop3":  {"110", true, tlsNone},
	"pop3s": {"995", true, tlsImplicit}, // RFC 8314 §7.3
	"ftp":   {"21", false, tlsNone},
	"ftps":  {"21", false, tlsUpgrade}, // explicit FTPS (RFC 4217) on the FTP port
}

// Authenticate implements Authenticator.
func (c *authChain) Authenticate(ctx context.Context, user, password string) error {
	start := time.Now()
	var refused, failed []string
	for _, b := range c.backends {
		err := b.auth.Authenticate(ctx, user, password)
		if err == nil {
			return nil
		}
		re := asReplyError(err)
		why := causeText(re)
		if !(len(c.backends) == 1 && b.name == "shadow") {
			// Name the backend, except for the default alone, whose
			// reasons ("wrong password") read as they always have.
			why = b.name + ": " + why
		}
		if re.code == codeAuthFailed {
			refused = append(refused, why)
		} else {
			failed = append(failed, why)
		}
	}
	c.waitFloor(ctx, start)
	if len(failed) > 0 {
		return tempAuthError(errors.New(strings.Join(append(failed, refused...), "; ")))
	}
	return errAuthFailed(strings.Join(refused, "; "))
}

// waitFloor waits until failFloor has passed since start, or ctx ends.
func (c *authChain) waitFloor(ctx context.Context, start time.Time) {
	if c.failFloor <= 0 {
		return
	}
	sleep := c.sleep
	if sleep == nil {
		sleep = sleepUntil
	}
	sleep(ctx, start.Add(c.failFloor))
}

func sleepUntil(ctx context.Context, until time.Time) {
	t := time.NewTimer(time.Until(until))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
