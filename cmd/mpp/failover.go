package main

// Failover across several servers: the host setting may name several,
// and a name may resolve to several addresses (DNS round robin, or the
// addresses of a site's posting servers). mpp tries them in order, and
// goes on to the next only while nothing of the message has been sent:
//   - it cannot connect, or TLS fails, or the server refuses its greeting
//     (exit 69 for that server);
//   - the server answers 451, or the connection breaks or times out,
//     before DATA was answered 354 (75).
//
// Once the text has started, mpp stays with that server whatever comes:
// 250 is posted (0), anything else is final for this run, 451 or a lost
// connection being 75. A connection that breaks after the final dot
// leaves mpp not knowing whether the server queued the message; sending
// it to another server could deliver it twice, so mpp says it was not
// posted (75) and leaves the retry to its caller, who keeps the message
// (sendmail's callers do: cron, mail(1), an MTA's pipe). The text is also
// read from standard input as it is sent, so there is none left to send
// again.
//
// The SMTP bridge (bridge.go) opens its MPP sessions through eachServer
// by the same rules; its SMTP client is the caller that retries.

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// server is one address to try.
type server struct {
	name string // as configured: the certificate must be for it
	addr string // IP:port, or name:port before it is resolved
}

// label names the server in messages: the address as configured, and
// the one it resolved to if that is another.
func (s server) label() string {
	host, port, _ := net.SplitHostPort(s.addr)
	if host == s.name || "["+host+"]" == s.name {
		return s.addr
	}
	return net.JoinHostPort(s.name, port) + " (" + host + ")"
}

// hostEntry is one entry of the host setting.
type hostEntry struct {
	host string // a name or an IP address, without brackets
	port int
}

// parseHosts splits the host setting: names or IP addresses, each with an
// optional :port (an IPv6 address with one in brackets), separated by
// commas or white space; port is that of the entries without one.
func parseHosts(hosts string, port int) ([]hostEntry, error) {
	var out []hostEntry
	for _, f := range strings.FieldsFunc(hosts, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		e := hostEntry{host: strings.TrimSuffix(strings.TrimPrefix(f, "["), "]"), port: port}
		if _, err := netip.ParseAddr(e.host); err != nil && strings.Contains(f, ":") {
			h, p, err := net.SplitHostPort(f)
			n, perr := strconv.Atoi(p)
			if err != nil || perr != nil || n < 1 || n > 65535 || h == "" {
				return nil, configErrorf("host %q: not a name or address with a port number", f)
			}
			e = hostEntry{host: h, port: n}
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, configErrorf("no server: \"host\" is empty")
	}
	return out, nil
}

// serverList names the servers of the host setting, for a log line.
func serverList(entries []hostEntry) string {
	var list []string
	for _, e := range entries {
		list = append(list, net.JoinHostPort(e.host, strconv.Itoa(e.port)))
	}
	return strings.Join(list, ", ")
}

// lookupNetIP resolves names (the tests give names addresses of their own).
var lookupNetIP = net.DefaultResolver.LookupNetIP

// resolve turns an entry into the servers to try: an address as it is,
// a name as every address it resolves to, in the resolver's order.
func (e hostEntry) resolve(ctx context.Context) ([]server, error) {
	port := strconv.Itoa(e.port)
	if a, err := netip.ParseAddr(e.host); err == nil {
		return []server{{name: e.host, addr: net.JoinHostPort(a.String(), port)}}, nil
	}
	addrs, err := lookupNetIP(ctx, "ip", e.host)
	if err == nil && len(addrs) == 0 {
		err = errors.New("no address")
	}
	if err != nil {
		return nil, fail(exUnavailable, "cannot reach %s: %v", net.JoinHostPort(e.host, port), unwrapOp(err))
	}
	var out []server
	for _, a := range addrs {
		out = append(out, server{name: e.host, addr: net.JoinHostPort(a.Unmap().String(), port)})
	}
	return out, nil
}

// postAny posts text through the first server that takes it (see the top
// of this file). With one server to try, its failure is returned as it
// is; with several, one error that names each server and what it said,
// temporary (75) if any of them was.
func postAny(cfg *config, pw string, text io.Reader, trace func(string)) error {
	watched := &startedReader{r: text}
	code := exUnavailable
	failed, err := eachServer(cfg, trace, func(s server) (bool, error) {
		err := postTo(cfg, s, pw, watched, trace)
		var ee *exitError
		if errors.As(err, &ee) && ee.code == exTempFail {
			code = exTempFail
		}
		return err != nil && !watched.started && worthAnother(err), err
	})
	if len(failed) < 2 {
		return err
	}
	return fail(code, "no server took the message (%d tried, nothing was posted): %s", len(failed), strings.Join(failed, "; "))
}

// eachServer calls try with each server of the host setting in turn, each
// address once, until try succeeds or fails with next false: the outcome
// it returns. When every server failed and was passed over, it returns
// the last one's error, and what each said, named with its server (the
// bridge's logins go through here too).
func eachServer(cfg *config, trace func(string), try func(server) (next bool, err error)) (failed []string, err error) {
	tried := map[string]bool{}
	note := func(label string, err error) {
		msg := err.Error()
		if !strings.Contains(msg, label) {
			msg = label + ": " + msg
		}
		failed = append(failed, msg)
		if trace != nil {
			trace("=== " + msg + "; trying the next server")
		}
	}
	for _, e := range cfg.servers {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
		servers, rerr := e.resolve(ctx)
		cancel()
		if rerr != nil {
			err = rerr
			note(net.JoinHostPort(e.host, strconv.Itoa(e.port)), err)
			continue
		}
		for _, s := range servers {
			if tried[s.addr] {
				continue
			}
			tried[s.addr] = true
			var next bool
			if next, err = try(s); !next {
				return nil, err
			}
			note(s.label(), err)
		}
	}
	return failed, err
}

// postTo runs one whole session with s.
func postTo(cfg *config, s server, pw string, text io.Reader, trace func(string)) error {
	c, err := dial(cfg, s, trace)
	if err != nil {
		return err
	}
	defer c.Close()
	return session(c, cfg, pw, text)
}

// worthAnother says whether a failure before the text lets another server
// be tried: this one could not be reached or refused its greeting (69),
// or failed for now (75). A refused login (77), a bad message, a protocol
// error, a configuration mpp cannot work with are the same everywhere.
func worthAnother(err error) bool {
	var ee *exitError
	return errors.As(err, &ee) && (ee.code == exTempFail || ee.code == exUnavailable)
}

// startedReader notes whether the text has begun to be read: the client
// reads it only to send it, after DATA got 354.
type startedReader struct {
	r       io.Reader
	started bool
}

func (s *startedReader) Read(p []byte) (int, error) {
	s.started = true
	return s.r.Read(p)
}
