package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseHosts(t *testing.T) {
	got, err := parseHosts("a.example.org, b.example.org:1218 [2001:db8::1]:5 2001:db8::2,192.0.2.1:7\t[2001:db8::3]", 218)
	if err != nil {
		t.Fatal(err)
	}
	want := []hostEntry{{"a.example.org", 218}, {"b.example.org", 1218}, {"2001:db8::1", 5},
		{"2001:db8::2", 218}, {"192.0.2.1", 7}, {"2001:db8::3", 218}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	for _, bad := range []string{"a.example.org:x", "a.example.org:0", "a.example.org:70000", ":218", "a:b:c", " , "} {
		if e, err := parseHosts(bad, 218); err == nil {
			t.Errorf("%q accepted: %v", bad, e)
		}
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// runWithHosts runs mpp -t on a small message with host set to hosts.
func runWithHosts(t *testing.T, hosts string) (int, string) {
	t.Helper()
	conf := writeFile(t, t.TempDir(), "config", fmt.Sprintf("host %s\nuser alice\npasswordeval \"echo '%s'\"\ntimeout 5s\n", hosts, fakePassword))
	var stdout, stderr strings.Builder
	code := run([]string{"-C", conf, "-t", "-v"}, strings.NewReader("To: bob\n\nhi\n"), &stdout, &stderr)
	return code, stderr.String()
}

// lastLine is mpp's one line of error, after the -v transcript.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestFailover: mpp goes on to the next server while nothing of the
// message has been sent (unreachable, 451, a connection lost before the
// text) and never after (no reply to the text, 451 to it): then it exits
// 75 and no other server gets the message. A refused login is final.
func TestFailover(t *testing.T) {
	for _, c := range []struct {
		name      string
		first     func(*fakeMPP) // nil: nothing listens
		code      int
		say       string
		nextTried bool
	}{
		{"unreachable", nil, 0, "", true},
		{"451 greeting", func(f *fakeMPP) { f.greeting = "451 Too many sessions, try again later" }, 0, "", true},
		{"no greeting", func(f *fakeMPP) { f.greeting = "close" }, 0, "", true},
		{"451 to USER", func(f *fakeMPP) { f.user = "451 later" }, 0, "", true},
		{"451 to PASS", func(f *fakeMPP) { f.pass = "451 cannot check passwords now" }, 0, "", true},
		{"451 to DATA", func(f *fakeMPP) { f.data = "451 later" }, 0, "", true},
		{"lost after PASS", func(f *fakeMPP) { f.dropOne = true }, 0, "", true},
		{"5xx greeting", func(f *fakeMPP) { f.greeting = "554 no service here" }, 0, "", true},
		{"530", func(f *fakeMPP) { f.pass = "530 Authentication Failure" }, 77, "login refused", false},
		{"not MPP", func(f *fakeMPP) { f.greeting = "SSH-2.0-OpenSSH_9.2" }, 76, "not a reply", false},
		{"no reply to the text", func(f *fakeMPP) { f.text = "close" }, 75, "message text: connection lost", false},
		{"451 to the text", func(f *fakeMPP) { f.text = "451 not queued" }, 75, "message text: 451 not queued", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			first := closedAddr(t)
			if c.first != nil {
				first = newFakeMPP(t, c.first).addr
			}
			next := newFakeMPP(t)
			code, stderr := runWithHosts(t, first+", "+next.addr)
			if code != c.code || c.say != "" && !strings.Contains(lastLine(stderr), c.say) {
				t.Errorf("exit %d, want %d saying %q:\n%s", code, c.code, c.say, stderr)
			}
			if tried := next.connections() > 0; tried != c.nextTried {
				t.Errorf("next server tried: %v, want %v:\n%s", tried, c.nextTried, stderr)
			}
			if c.nextTried && len(next.posted()) != 1 {
				t.Errorf("the next server got %d texts", len(next.posted()))
			}
			if c.nextTried && !strings.Contains(stderr, "; trying the next server") {
				t.Errorf("-v does not say it tries the next server:\n%s", stderr)
			}
		})
	}
}

// TestFailoverAllFail: when no server takes the message, the one line
// names each and what it said; 75 if any failure was temporary, else 69.
func TestFailoverAllFail(t *testing.T) {
	a, b := closedAddr(t), newFakeMPP(t, func(f *fakeMPP) { f.greeting = "451 busy" })
	code, stderr := runWithHosts(t, a+" "+b.addr)
	line := lastLine(stderr)
	if code != 75 || !strings.Contains(line, "no server took the message (2 tried, nothing was posted): cannot reach "+a) ||
		!strings.Contains(line, b.addr+": greeting: 451 busy") {
		t.Errorf("exit %d: %s", code, line)
	}
	code, stderr = runWithHosts(t, closedAddr(t)+","+closedAddr(t))
	if code != 69 || !strings.Contains(lastLine(stderr), "(2 tried") {
		t.Errorf("exit %d: %s", code, lastLine(stderr))
	}
	// One server: its own error, as without failover.
	code, stderr = runWithHosts(t, b.addr)
	if code != 75 || lastLine(stderr) != "mpp: greeting: 451 busy" {
		t.Errorf("exit %d: %s", code, lastLine(stderr))
	}
}

// TestFailoverEveryAddress: a name is every address it resolves to, tried
// in order, each once however often it is named; a name that does not
// resolve is one more server that cannot be reached.
func TestFailoverEveryAddress(t *testing.T) {
	down := newFakeMPP(t, func(f *fakeMPP) { f.greeting = "451 down" })
	up := newFakeMPP(t)
	_, downPort, _ := net.SplitHostPort(down.addr)
	_, upPort, _ := net.SplitHostPort(up.addr)
	if downPort == upPort {
		t.Skip("both on one port")
	}
	defer func(f func(context.Context, string, string) ([]netip.Addr, error)) { lookupNetIP = f }(lookupNetIP)
	var asked []string
	lookupNetIP = func(_ context.Context, _, host string) ([]netip.Addr, error) {
		asked = append(asked, host)
		switch host {
		case "mpp.test":
			return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::ffff:127.0.0.2")}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	// 127.0.0.2 on down's port: nothing listens there, so the name's two
	// addresses are one that answers 451 and one that cannot be reached;
	// then up, by address.
	code, stderr := runWithHosts(t, fmt.Sprintf("nowhere.test:%s mpp.test:%s 127.0.0.1:%s %s", upPort, downPort, downPort, up.addr))
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	for _, want := range []string{
		"=== cannot reach nowhere.test:" + upPort + ": lookup nowhere.test: no such host; trying the next server",
		"=== Trying mpp.test:" + downPort + " (127.0.0.1)...",
		"=== mpp.test:" + downPort + " (127.0.0.1): greeting: 451 down; trying the next server",
		"=== Trying mpp.test:" + downPort + " (127.0.0.2)...",
		"=== Trying " + up.addr + "...",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("-v lacks %q:\n%s", want, stderr)
		}
	}
	if down.connections() != 1 || len(up.posted()) != 1 {
		t.Errorf("the 451 server had %d connections (127.0.0.1 named twice), the good one %d texts", down.connections(), len(up.posted()))
	}
	if !reflect.DeepEqual(asked, []string{"nowhere.test", "mpp.test"}) {
		t.Errorf("names resolved: %q", asked)
	}
}
