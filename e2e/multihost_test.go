package e2e

// TestMultihost: the deployment of docs/deployment.md, built on this
// machine out of network namespaces (ip netns, veth pairs on one bridge),
// every address inside them:
//
//	clients c1..c4 (198.18.0.101-104)  mpp, with failover
//	lb      (198.18.0.10)              HAProxy, send-proxy-v2 / send-proxy
//	m1..m3  (198.18.0.11-13)           mppd -listen, -proxy-trusted-networks
//	                                   198.18.0.10, -auth pop3s://central;
//	                                   each with its own Postfix, a null
//	                                   client relaying to central
//	central (198.18.0.20)              Postfix (the site's MTA) and Dovecot
//	                                   (pop3s, the passwords; LMTP and
//	                                   Sieve, the test's mailbox)
//
// Each host runs two mppd, plain on 218 and TLS on 1218; the balancer's
// configuration is the one docs/deployment.md shows. c1 and c2 name the
// posting servers as one name with three addresses (DNS round robin, no
// balancer); c3 goes through the balancer first and falls back on that
// name, c4 the same over TLS. While they post 300 messages, each with its
// own Message-ID, the test kills one mppd host at a time (SIGKILL to
// every process in its namespace, both mppd, its Postfix and what they
// run, then its link down) and brings it back; around the third kill
// central's Postfix is stopped, so that the hosts hold mail and the one
// killed must hand on its queue. mpp exiting 75 is retried, as a caller
// of sendmail would, with the same Message-ID. At the end, in the
// mailbox central's Dovecot delivers to: every message that got 250 is
// there exactly once, none lost, and a message that got 75 once when
// retried. Central's Postfix itself may have taken a second copy, in the
// two windows no hand-off can close (mhDuplicate tells them apart from a
// bug, and the test reports them); Sieve's duplicate test at the delivery
// discards it (docs/deployment.md). Every Received: field of mppd's and
// every login in mppd's logs names the client's own address, never the
// balancer's; a forged PROXY header from a client is refused, directly and
// through the balancer.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/GehirnInc/crypt/sha512_crypt"
	"github.com/mppd/mppd/internal/testlib"
	"golang.org/x/sys/unix"
)

const (
	mhMessages    = 300
	mhClients     = 4
	mhKillEvery   = 1500 * time.Millisecond // from one host's return to the next kill
	mhDownFor     = 2 * time.Second         // how long a killed host stays down
	mhPace        = 50 * time.Millisecond   // between one client's messages
	mhBodyLines   = 10                      // each message's body, written to mpp a line at a time
	mhLineEvery   = 20 * time.Millisecond   // so that a text takes about 200 ms to send
	mhRetryAfter  = 300 * time.Millisecond  // after an exit 75
	mhOutageLead  = 1500 * time.Millisecond // central's Postfix down before the kill it spans
	mhMaxAttempts = 40
	mhNet         = "198.18.0." // RFC 2544's benchmarking range, only inside the namespaces
	mhLB          = mhNet + "10"
	mhCentral     = mhNet + "20"
)

// lab is the namespaces of one run, their names prefixed so that runs
// never meet.
type lab struct {
	t      *testing.T
	prefix string
	dir    string
	sw     string // the namespace holding the bridge
	hosts  []string
}

func newLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{t: t, prefix: "mh" + testlib.RandomHex(2), dir: testlib.ShortTempDir(t, "mppd-mh-")}
	l.sw = l.prefix + "-sw"
	if out, err := exec.Command("ip", "netns", "add", l.sw).CombinedOutput(); err != nil {
		testlib.NeedReal(t, false, "cannot make network namespaces: "+strings.TrimSpace(string(out)))
	}
	t.Cleanup(l.remove)
	l.must(l.sw, "ip", "link", "set", "lo", "up")
	l.must(l.sw, "ip", "link", "add", "br0", "type", "bridge")
	l.must(l.sw, "ip", "link", "set", "br0", "up")
	return l
}

// host makes namespace name with address addr on the bridge (its link
// eth0), and /etc/netns/NS/hosts from hosts lines, which ip netns exec
// puts in place of /etc/hosts for what runs in it.
func (l *lab) host(name, addr string, hosts ...string) string {
	l.t.Helper()
	ns := l.prefix + "-" + name
	run := func(args ...string) {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			l.t.Fatalf("%q: %v\n%s", args, err, out)
		}
	}
	run("ip", "netns", "add", ns)
	l.hosts = append(l.hosts, ns)
	sw, in := ns+"s", ns+"h" // at most 15 bytes: "mhXXXX-central" is 14
	if len(sw) > 15 {
		l.t.Fatalf("interface name %s too long", sw)
	}
	run("ip", "link", "add", sw, "type", "veth", "peer", "name", in)
	run("ip", "link", "set", sw, "netns", l.sw)
	run("ip", "link", "set", in, "netns", ns)
	l.must(l.sw, "ip", "link", "set", sw, "master", "br0", "up")
	l.must(ns, "ip", "link", "set", "lo", "up")
	l.must(ns, "ip", "link", "set", in, "name", "eth0")
	l.must(ns, "ip", "addr", "add", addr+"/24", "dev", "eth0")
	l.must(ns, "ip", "link", "set", "eth0", "up")
	etc := filepath.Join("/etc/netns", ns)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		l.t.Fatal(err)
	}
	h := "127.0.0.1 localhost\n" + strings.Join(hosts, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(etc, "hosts"), []byte(h), 0o644); err != nil {
		l.t.Fatal(err)
	}
	return ns
}

// remove ends every process in the namespaces and removes them.
func (l *lab) remove() {
	for _, ns := range append(append([]string{}, l.hosts...), l.sw) {
		l.killAll(ns)
		exec.Command("ip", "netns", "del", ns).Run()
		os.RemoveAll(filepath.Join("/etc/netns", ns))
	}
}

// killAll sends SIGKILL to every process in namespace ns until none is
// left (one may be forking as the list is read), and reaps none: those
// the test started are reaped by their exec.Cmd.
func (l *lab) killAll(ns string) int {
	killed := 0
	for i := 0; i < 50; i++ {
		out, _ := exec.Command("ip", "netns", "pids", ns).Output()
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			return killed
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil && pid != os.Getpid() {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					killed++
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	l.t.Errorf("processes left in %s", ns)
	return killed
}

func (l *lab) cmd(ns string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
}

// must runs a command in namespace ns and fails the test if it fails.
func (l *lab) must(ns string, args ...string) string {
	l.t.Helper()
	out, err := l.cmd(ns, args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("in %s: %q: %v\n%s", ns, args, err, out)
	}
	return string(out)
}

// daemon starts a long-running program in namespace ns, its output
// appended to logFile; the returned channel is closed when it exits.
func (l *lab) daemon(ns, logFile string, args ...string) <-chan struct{} {
	l.t.Helper()
	out, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		l.t.Fatal(err)
	}
	c := l.cmd(ns, args...)
	c.Stdout, c.Stderr = out, out
	if err := c.Start(); err != nil {
		l.t.Fatal(err)
	}
	out.Close()
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	return done
}

// dialIn connects to addr from inside namespace ns: the socket is made
// while this goroutine's thread is in ns, and stays there.
func dialIn(ns, addr string) (net.Conn, error) {
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer self.Close()
	target, err := os.Open(filepath.Join("/run/netns", ns))
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
		// Back in the test's own namespace; a thread that could not go
		// back stays locked and ends with the goroutine.
		runtime.UnlockOSThread()
	}
	return c, err
}

// mhWaitLog waits until file holds n lines containing s.
func mhWaitLog(t *testing.T, file, s string, n int) {
	t.Helper()
	if !testlib.WaitFor(15*time.Second, func() bool {
		b, _ := os.ReadFile(file)
		return bytes.Count(b, []byte(s)) >= n
	}) {
		b, _ := os.ReadFile(file)
		t.Fatalf("%s: %d lines with %q, want %d:\n%s", file, bytes.Count(b, []byte(s)), s, n, b)
	}
}

// postfixInstance writes the configuration of a Postfix instance of its
// own (postfix -c DIR): its own queue, data directory and log, no chroot
// (the queue directory holds no copy of /etc), and main.cf lines extra.
func postfixInstance(t *testing.T, dir string, extra ...string) string {
	t.Helper()
	etc := filepath.Join(dir, "etc")
	for _, d := range []string{etc, filepath.Join(dir, "queue"), filepath.Join(dir, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chown(filepath.Join(dir, "data"), postfixUID(t), -1)
	// The log file is postlogd's; but a program that finds postlogd gone
	// (killed with its host) writes it itself, and postsuper, cleaning up
	// after a crash at "postfix start", does so as postfix, and gives up
	// if it cannot.
	if f, err := os.OpenFile(filepath.Join(dir, "log"), os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
		f.Close()
		os.Chown(filepath.Join(dir, "log"), postfixUID(t), -1)
	}
	master, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(etc, "master.cf"), master, 0o644)
	main := []string{
		"compatibility_level = 3.6",
		"queue_directory = " + filepath.Join(dir, "queue"),
		"data_directory = " + filepath.Join(dir, "data"),
		"maillog_file = " + filepath.Join(dir, "log"),
		"maillog_file_prefixes = " + dir,
		"inet_protocols = ipv4",
		"alias_maps =",
		"alias_database =",
		"biff = no",
		"smtp_dns_support_level = disabled",
		// A message that meets a host or central being down is tried
		// again within seconds, not Postfix's minutes.
		"queue_run_delay = 1s",
		"minimal_backoff_time = 1s",
		"maximal_backoff_time = 2s",
		"smtp_connect_timeout = 3s",
	}
	os.WriteFile(filepath.Join(etc, "main.cf"), []byte(strings.Join(append(main, extra...), "\n")+"\n"), 0o644)
	if out, err := exec.Command("postconf", "-c", etc, "-F", "*/*/chroot = n").CombinedOutput(); err != nil {
		t.Fatalf("postconf: %v\n%s", err, out)
	}
	return etc
}

func postfixUID(t *testing.T) int {
	out, err := exec.Command("id", "-u", "postfix").Output()
	if err != nil {
		t.Fatalf("no postfix user: %v", err)
	}
	uid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return uid
}

// mppdHost is one posting server: its namespace, mppd and its Postfix.
type mppdHost struct {
	name, ns, addr string
	pfEtc          string
	log            string     // the log lines (stderr) of its mppds
	args           [][]string // its mppds: plain on 218, TLS on 1218
	starts         int
	exited         []<-chan struct{}
}

func (h *mppdHost) start(l *lab) {
	l.t.Helper()
	l.must(h.ns, "postfix", "-c", h.pfEtc, "start")
	h.exited = nil
	for _, args := range h.args {
		h.exited = append(h.exited, l.daemon(h.ns, h.log, args...))
	}
	h.starts++
	mhWaitLog(l.t, h.log, "mppd: listening on", h.starts*len(h.args))
}

// kill is the host's crash: every process in its namespace gets SIGKILL
// (mppd, the sessions' sendmail and postdrop, Postfix's master and
// daemons), then its link goes down.
func (h *mppdHost) kill(l *lab) int {
	n := l.killAll(h.ns)
	for _, e := range h.exited {
		<-e
	}
	l.must(h.ns, "ip", "link", "set", "eth0", "down")
	return n
}

func (h *mppdHost) up(l *lab) {
	l.must(h.ns, "ip", "link", "set", "eth0", "up")
	h.start(l)
}

// mhAttempt is one run of mpp for a message.
type mhAttempt struct {
	code       int
	server     string // the last server mpp tried, from -v
	errMsg     string // mpp's line on stderr
	start, end time.Time
}

type mhMessage struct {
	n, client int
	attempts  []mhAttempt
	posted    int // the attempt that got 250, from 1; 0: none
}

func (m *mhMessage) id() string { return fmt.Sprintf("<mh-%d@clients.test>", m.n) }

func TestMultihost(t *testing.T) {
	testlib.NeedRoot(t)
	for _, p := range []string{"ip", "haproxy", "postfix", "postconf", "postqueue", "dovecot", "/usr/sbin/sendmail"} {
		testlib.NeedProgram(t, p)
	}
	l := newLab(t)
	mppdBin, mppBin := testlib.Mppd(t), testlib.Mpp(t)
	start := time.Now()

	// The addresses of the posting servers under one name, in another
	// order for each client (DNS round robin, as a resolver would give it).
	servers := []string{mhNet + "11", mhNet + "12", mhNet + "13"}
	mppName := func(k int) []string {
		var lines []string
		for i := range servers {
			lines = append(lines, servers[(i+k)%3]+" mpp.test")
		}
		return lines
	}
	central := l.host("central", mhCentral)
	lb := l.host("lb", mhLB)
	var hosts []*mppdHost
	for i, addr := range servers {
		hosts = append(hosts, &mppdHost{name: fmt.Sprintf("m%d", i+1), ns: l.host(fmt.Sprintf("m%d", i+1), addr), addr: addr})
	}
	clients := make([]string, mhClients)
	clientAddr := make([]string, mhClients)
	for k := range clients {
		clientAddr[k] = mhNet + strconv.Itoa(101+k)
		clients[k] = l.host(fmt.Sprintf("c%d", k+1), clientAddr[k], append(mppName(k), mhLB+" lb.test")...)
	}

	// Central: Dovecot for the passwords (pop3s), Postfix for the mail.
	ca := testlib.NewCA(t)
	dvDir := filepath.Join(l.dir, "dovecot")
	for _, d := range []string{"run", "state", "home", "mail"} {
		os.MkdirAll(filepath.Join(dvDir, d), 0o755)
	}
	os.Chown(filepath.Join(dvDir, "home"), 65534, 65534)
	os.Chown(filepath.Join(dvDir, "mail"), 65534, 65534)
	cert, key := filepath.Join(dvDir, "cert.pem"), filepath.Join(dvDir, "key.pem")
	ca.Issue(t, cert, key, 2, "central.test", mhCentral)
	os.Chmod(key, 0o644) // read by dovecot's unprivileged processes
	passwords := make([]string, mhClients)
	var users strings.Builder
	for k := range passwords {
		passwords[k] = "pw " + testlib.RandomHex(6)
		h, err := sha512_crypt.New().Generate([]byte(passwords[k]), nil)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&users, "user%d:%s:65534:65534::%s\n", k+1, h, filepath.Join(dvDir, "home"))
	}
	os.WriteFile(filepath.Join(dvDir, "users"), []byte(users.String()), 0o644)
	// The mailbox the test's mail goes to, delivered by Dovecot over LMTP:
	// a user of the userdb only, with no password to log in with.
	mailbox := filepath.Join(dvDir, "mail", "sink")
	sinkHome := filepath.Join(dvDir, "sink")
	os.MkdirAll(sinkHome, 0o755)
	os.Chown(sinkHome, 65534, 65534)
	fmt.Fprintf(&users, "sink@example.test::65534:65534::%s::userdb_mail=maildir:%s\n", sinkHome, mailbox)
	os.WriteFile(filepath.Join(dvDir, "userdb"), []byte(users.String()), 0o644)
	dvConf := filepath.Join(dvDir, "dovecot.conf")
	os.WriteFile(dvConf, []byte(fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/log
instance_name = mppd-mh-%[2]s
protocols = pop3 lmtp
listen = %[3]s
ssl = required
ssl_cert = <%[1]s/cert.pem
ssl_key = <%[1]s/key.pem
disable_plaintext_auth = no
auth_failure_delay = 0
mail_location = mbox:~/mail:INBOX=%[1]s/mail/%%u.mbox
first_valid_uid = 0
login_trusted_networks = %[4]s11 %[4]s12 %[4]s13
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
  inet_listener pop3s {
    port = 995
    ssl = yes
  }
}
passdb {
  driver = passwd-file
  args = scheme=CRYPT username_format=%%u %[1]s/users
}
`, dvDir, l.prefix, mhCentral, mhNet)+mhDovecotDelivery(t, dvDir)), 0o644)
	dovecotExited := l.daemon(central, filepath.Join(dvDir, "out"), "dovecot", "-F", "-c", dvConf)
	// Central's Postfix hands example.test to Dovecot over LMTP, and keeps
	// a copy of each message it takes (always_bcc, delivered by its own
	// virtual(8)) in vmail/archive: what reached central, counted apart
	// from what the mailbox holds.
	vmail := filepath.Join(l.dir, "central", "vmail")
	archive := filepath.Join(vmail, "archive")
	centralEtc := postfixInstance(t, filepath.Join(l.dir, "central"), append([]string{
		"myhostname = central.test", "inet_interfaces = all", "mydestination =",
		"virtual_mailbox_domains = example.test", "virtual_mailbox_base = " + vmail,
		"virtual_mailbox_maps = inline:{ sink@example.test=sink/, archive@example.test=archive/ }",
		"virtual_transport = lmtp:unix:" + filepath.Join(dvDir, "run", "lmtp"),
		"transport_maps = inline:{ archive@example.test=virtual: }",
		"always_bcc = archive@example.test",
		"virtual_uid_maps = static:65534", "virtual_gid_maps = static:65534", "mynetworks = 127.0.0.0/8",
	}, mhDedupLimits(t)...)...)
	os.MkdirAll(vmail, 0o755)
	os.Chown(vmail, 65534, 65534)
	l.must(central, "postfix", "-c", centralEtc, "start")

	// The posting servers, all with one certificate, for the names clients
	// know them by.
	hostCert, hostKey := filepath.Join(l.dir, "host-cert.pem"), filepath.Join(l.dir, "host-key.pem")
	ca.Issue(t, hostCert, hostKey, 3, "lb.test", "mpp.test")
	for _, h := range hosts {
		dir := filepath.Join(l.dir, h.name)
		h.pfEtc = postfixInstance(t, filepath.Join(dir, "postfix"),
			"myhostname = "+h.name+".test", "inet_interfaces = loopback-only", "mydestination =",
			"relayhost = ["+mhCentral+"]", "local_transport = error:local delivery disabled")
		spool := filepath.Join(dir, "spool")
		os.MkdirAll(spool, 0o700)
		h.log = filepath.Join(dir, "mppd.log")
		flags := []string{"-config", "", "-log", "stderr",
			"-hostname", h.name + ".test", "-domain", "example.test", "-spool-dir", spool,
			"-auth", "pop3s://" + mhCentral + ":995", "-auth-ca-file", ca.PEM,
			"-sendmail", "/usr/sbin/sendmail -C " + h.pfEtc + " -t -oi",
			"-proxy-trusted-networks", mhLB}
		h.args = [][]string{
			append([]string{mppdBin, "-listen", h.addr + ":218"}, flags...),
			append([]string{mppdBin, "-listen", h.addr + ":1218", "-tls-cert", hostCert, "-tls-key", hostKey}, flags...),
		}
		h.start(l)
	}

	// The balancer, configured as docs/deployment.md shows it; m2 gets
	// version 1 of the PROXY protocol, the others version 2.
	hapConf := filepath.Join(l.dir, "haproxy.cfg")
	hapLog := filepath.Join(l.dir, "haproxy.log")
	os.WriteFile(hapConf, []byte(mhHAProxyConfig(t, l.dir, servers)), 0o644)
	if out, err := exec.Command("haproxy", "-c", "-f", hapConf).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	haproxyExited := l.daemon(lb, hapLog, "haproxy", "-db", "-f", hapConf)
	if !testlib.WaitFor(15*time.Second, func() bool {
		c, err := dialIn(clients[2], mhLB+":218")
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.HasPrefix(line, "220 ")
	}) {
		b, _ := os.ReadFile(hapLog)
		t.Fatalf("no greeting through the balancer:\n%s", b)
	}
	for _, d := range []struct {
		name string
		done <-chan struct{}
	}{{"dovecot", dovecotExited}, {"haproxy", haproxyExited}} {
		select {
		case <-d.done:
			t.Fatalf("%s exited", d.name)
		default:
		}
	}
	t.Logf("set up in %v", time.Since(start).Round(time.Millisecond))

	mhForgedHeaders(t, l, hosts, clients)

	// The clients' configurations.
	confs := make([]string, mhClients)
	for k := range confs {
		dir := filepath.Join(l.dir, fmt.Sprintf("c%d", k+1))
		os.MkdirAll(dir, 0o755)
		pw := filepath.Join(dir, "pw")
		os.WriteFile(pw, []byte(passwords[k]+"\n"), 0o600)
		// c1, c2: one name, three addresses; c3, c4: the balancer, then
		// the servers; c4 over TLS, through the balancer's port 1218.
		conf := "host mpp.test\nport 218\n"
		switch k {
		case 2:
			conf = "host lb.test, mpp.test\nport 218\n"
		case 3:
			conf = "host lb.test, mpp.test\nport 1218\ntls on\ntls_trust_file " + ca.PEM + "\n"
		}
		confs[k] = filepath.Join(dir, "config")
		os.WriteFile(confs[k], []byte(fmt.Sprintf("%suser user%d\npasswordeval \"cat %s\"\ntimeout 3s\n", conf, k+1, pw)), 0o644)
	}

	// The load, and the kills while it runs.
	msgs := make([]*mhMessage, mhMessages)
	for n := range msgs {
		msgs[n] = &mhMessage{n: n, client: n % mhClients}
	}
	var wg sync.WaitGroup
	loadStart := time.Now()
	for k := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, m := range msgs {
				if m.client == k {
					mhPost(l, clients[k], mppBin, confs[k], m)
					time.Sleep(mhPace)
				}
			}
		}()
	}
	loadDone := make(chan struct{})
	go func() { wg.Wait(); close(loadDone) }()
	var kills []mhKill
	var centralDown, centralUp time.Time
	for i := 0; ; i++ {
		select {
		case <-loadDone:
		case <-time.After(mhKillEvery):
		}
		if isClosed(loadDone) {
			break
		}
		// Around the third kill central's Postfix is stopped: the hosts
		// queue what they take, and the one killed meanwhile must hand on
		// its queue once it is back.
		outage := i == 2
		if outage {
			centralDown = time.Now()
			l.must(central, "postfix", "-c", centralEtc, "stop")
			time.Sleep(mhOutageLead)
		}
		h := hosts[i%len(hosts)]
		k := mhKill{host: h.name, when: time.Now()}
		k.processes = h.kill(l)
		time.Sleep(mhDownFor)
		k.restart = time.Now()
		h.up(l)
		k.back = time.Now()
		kills = append(kills, k)
		if outage {
			l.must(central, "postfix", "-c", centralEtc, "start")
			centralUp = time.Now()
		}
	}
	loadTook := time.Since(loadStart)

	// Every host's Postfix hands on what it holds; then count at central.
	for _, h := range hosts {
		l.cmd(h.ns, "postqueue", "-c", h.pfEtc, "-f").Run()
	}
	posted := 0
	for _, m := range msgs {
		if m.posted > 0 {
			posted++
		}
	}
	var arrived, inMailbox map[string][]mhArrival
	drained := testlib.WaitFor(60*time.Second, func() bool {
		arrived, inMailbox = mhArrivals(t, archive), mhArrivals(t, mailbox)
		if len(arrived) < posted || len(inMailbox) < len(arrived) {
			return false
		}
		for _, h := range hosts {
			if out, _ := l.cmd(h.ns, "postqueue", "-c", h.pfEtc, "-p").Output(); !strings.Contains(string(out), "Mail queue is empty") {
				return false
			}
		}
		return true
	})
	time.Sleep(time.Second) // anything more than once arrives now too
	arrived, inMailbox = mhArrivals(t, archive), mhArrivals(t, mailbox)

	// The counts.
	attempts, retried, tempfails, afterText, other, viaLB, failovers := 0, 0, 0, 0, 0, 0, 0
	duplicates, mppWindow, smtpWindow, lost, files, heldAcross := 0, 0, 0, 0, 0, 0
	mailboxFiles, mailboxLost, mailboxDuplicates := 0, 0, 0
	clientViaLB := make([]int, mhClients)
	for _, a := range arrived {
		files += len(a)
	}
	for _, a := range inMailbox {
		mailboxFiles += len(a)
	}
	for _, m := range msgs {
		attempts += len(m.attempts)
		if len(m.attempts) > 1 {
			retried++
		}
		for i, a := range m.attempts {
			switch a.code {
			case 0:
				if strings.HasPrefix(a.server, "lb.test:") {
					viaLB++
					clientViaLB[m.client]++
				}
			case 75:
				tempfails++
				if strings.Contains(a.errMsg, "mpp: message text: ") {
					afterText++
				}
				t.Logf("message %d attempt %d: exit 75 after %v (%s): %s", m.n, i+1, a.end.Sub(a.start).Round(time.Millisecond), a.server, mhKillDuring(a, kills))
			default:
				other++
				t.Errorf("message %d: exit %d: %s", m.n, a.code, a.errMsg)
			}
			if strings.Contains(a.errMsg, "trying the next server") {
				failovers++
			}
		}
		got := arrived[m.id()]
		switch {
		case m.posted == 0:
			t.Errorf("message %d never got 250 in %d attempts: %+v", m.n, len(m.attempts), m.attempts)
		case len(got) == 0:
			lost++
			t.Errorf("message %d got 250 (attempt %d) and did not arrive", m.n, m.posted)
		case len(got) > 1:
			duplicates += len(got) - 1
			mppDups, smtpDups, why, ok := mhDuplicate(m, got, kills)
			if !ok {
				t.Errorf("message %d arrived %d times: %+v (its attempts: %+v)", m.n, len(got), got, m.attempts)
			} else {
				mppWindow += mppDups
				smtpWindow += smtpDups
				t.Logf("message %d arrived %d times: %s", m.n, len(got), why)
			}
		case got[0].attempt == m.posted:
			// Taken with 250 by a host that was killed before its Postfix
			// had handed the message on: it came out of that host's queue
			// after the host came back.
			for _, k := range kills {
				if k.host+".test" == got[0].by && k.when.After(m.attempts[m.posted-1].end) && got[0].at.After(k.restart) {
					heldAcross++
					break
				}
			}
		}
		switch {
		case m.posted == 0 || len(got) != 1:
		case got[0].attempt != m.posted:
			t.Errorf("message %d: attempt %d arrived, attempt %d got 250", m.n, got[0].attempt, m.posted)
		}
		// In the mailbox, after the duplicate test: exactly once, what
		// central's Postfix took however many times.
		box := inMailbox[m.id()]
		switch {
		case len(box) == 0 && len(got) > 0:
			mailboxLost++
			t.Errorf("message %d reached central %d times and is not in the mailbox", m.n, len(got))
		case len(box) > 1:
			mailboxDuplicates += len(box) - 1
			t.Errorf("message %d is in the mailbox %d times: %+v", m.n, len(box), box)
		}
		for _, a := range append(got, box...) {
			if a.from != clientAddr[m.client] {
				t.Errorf("message %d from %s (%s) arrived with Received: from %q by %s", m.n, clients[m.client], clientAddr[m.client], a.from, a.by)
			}
		}
	}
	if len(inMailbox) != len(arrived) {
		t.Errorf("%d Message-IDs in the mailbox, %d reached central", len(inMailbox), len(arrived))
	}
	// Each copy central took and the mailbox has not was discarded by the
	// duplicate test, none lost on the way. Dovecot may discard more: a
	// delivery over LMTP that central's Postfix repeated, not knowing the
	// first had ended (its lmtp(8) stopped with it), is the same window
	// once more, between Postfix and Dovecot.
	dvLog, _ := os.ReadFile(filepath.Join(dvDir, "log"))
	discards := mhDiscard.FindAllSubmatch(dvLog, -1)
	for _, d := range discards {
		if id := string(d[1]); len(inMailbox[id]) != 1 {
			t.Errorf("Dovecot discarded %s as a duplicate, and the mailbox has it %d times", id, len(inMailbox[id]))
		}
	}
	redelivered := len(discards) - (files - mailboxFiles)
	if redelivered < 0 {
		t.Errorf("central took %d copies, the mailbox has %d, Dovecot discarded %d", files, mailboxFiles, len(discards))
	} else if redelivered > 0 {
		for _, d := range discards {
			if id := string(d[1]); len(arrived[id]) == 1 {
				pfLog, _ := os.ReadFile(filepath.Join(l.dir, "central", "log"))
				qid := "(no message-id= line)"
				if m := regexp.MustCompile(`(\w+): message-id=` + regexp.QuoteMeta(id)).FindSubmatch(pfLog); m != nil {
					qid = string(m[1]) + ":"
				}
				t.Logf("%s: central took it once, and Dovecot discarded a second delivery of it:\n%s\n%s", id, mhLines(dvLog, id), mhLines(pfLog, qid))
			}
		}
	}
	// c3 and c4 go through the balancer first; they post elsewhere only
	// when a session through it was cut before the text (a few per kill).
	for k := 2; k < mhClients; k++ {
		if clientViaLB[k] < mhMessages/mhClients*8/10 {
			t.Errorf("c%d: %d of its %d messages through the balancer", k+1, clientViaLB[k], mhMessages/mhClients)
		}
	}
	if len(arrived) != mhMessages {
		t.Errorf("%d Message-IDs arrived, %d sent", len(arrived), mhMessages)
	}
	if !drained {
		t.Errorf("the hosts' queues did not drain, or not every posted message arrived, within 60s")
	}
	var schedule []string
	for _, k := range kills {
		schedule = append(schedule, fmt.Sprintf("%s killed at %.1fs (%d processes), back at %.1fs",
			k.host, k.when.Sub(loadStart).Seconds(), k.processes, k.back.Sub(loadStart).Seconds()))
	}
	if len(kills) < 3 {
		t.Errorf("only %d kills during the load", len(kills))
	} else if heldAcross == 0 {
		t.Errorf("no message held in a killed host's queue while central was down (%s killed at %.1fs)", kills[2].host, kills[2].when.Sub(loadStart).Seconds())
	}
	t.Logf("sent %d messages in %d attempts over %v from %d clients; 250: %d (%d through the balancer); exit 75: %d attempts (%d after the text had started); messages retried: %d; failovers: %d; other exits: %d",
		mhMessages, attempts, loadTook.Round(time.Millisecond), mhClients, posted, viaLB, tempfails, afterText, retried, failovers, other)
	t.Logf("arrived at central: %d messages in %d files; duplicates: %d (%d a host killed after queueing and before its 250, %d a host's Postfix killed after central's 250 and before it noted it); lost: %d; held in a killed host's queue and delivered after it came back: %d",
		len(arrived), files, duplicates, mppWindow, smtpWindow, lost, heldAcross)
	t.Logf("in the mailbox, after Dovecot's duplicate test: %d messages in %d files; discarded as duplicates: %d (%d of central's second copies, %d deliveries central's Postfix repeated); duplicates: %d; lost: %d",
		len(inMailbox), mailboxFiles, len(discards), files-mailboxFiles, redelivered, mailboxDuplicates, mailboxLost)
	t.Logf("kills: %s", strings.Join(schedule, "; "))
	if !centralDown.IsZero() {
		t.Logf("central's Postfix stopped from %.1fs to %.1fs", centralDown.Sub(loadStart).Seconds(), centralUp.Sub(loadStart).Seconds())
	}

	mhCheckLogs(t, hosts, clientAddr)
	t.Logf("whole test %v", time.Since(start).Round(time.Millisecond))
	if t.Failed() {
		for _, f := range []string{hapLog, hosts[0].log, filepath.Join(l.dir, "central", "log"), filepath.Join(dvDir, "log")} {
			b, _ := os.ReadFile(f)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("%s, its end:\n%s", f, b)
		}
	}
}

// mhHAProxyConfig is the HAProxy configuration of docs/deployment.md,
// with the test's addresses, its log on stdout, checks every 500 ms, and
// m2 sent version 1 of the PROXY protocol.
func mhHAProxyConfig(t *testing.T, dir string, servers []string) string {
	t.Helper()
	b, err := os.ReadFile("docs/deployment.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n```\nglobal\n")
	conf, _, ok2 := strings.Cut(rest, "\n```\n")
	if !ok || !ok2 {
		t.Fatal("docs/deployment.md: no HAProxy configuration (a code block starting with \"global\")")
	}
	conf = "global\n" + conf + "\n"
	for _, r := range [][2]string{
		{"log /dev/log local0", "log stdout format raw local0"},
		{"/run/haproxy/admin.sock", filepath.Join(dir, "haproxy.sock")},
		{"inter 2s fall 2 rise 2", "inter 500ms fall 1 rise 2"},
		{"192.0.2.10:", mhLB + ":"},
		{"192.0.2.11:", servers[0] + ":"},
		{"server mpp2 192.0.2.12:218 check", "server mpp2 " + servers[1] + ":218 check no-send-proxy-v2 send-proxy"},
		{"server mpp2 192.0.2.12:1218", "server mpp2 " + servers[1] + ":1218 no-send-proxy-v2 send-proxy"},
		{"192.0.2.13:", servers[2] + ":"},
	} {
		if !strings.Contains(conf, r[0]) {
			t.Fatalf("docs/deployment.md's HAProxy configuration lacks %q:\n%s", r[0], conf)
		}
		conf = strings.ReplaceAll(conf, r[0], r[1])
	}
	if strings.Contains(conf, "192.0.2.") {
		t.Fatalf("an address of docs/deployment.md is left:\n%s", conf)
	}
	return conf
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// mhPost posts message m from client namespace ns until it gets 250,
// retrying after each 75 as a caller of sendmail does, with the same
// Message-ID (the body says which attempt it was). The header goes to
// mpp at once, the body a line at a time, as a slow program writes it:
// mpp connects once it has the header and sends the body as it comes, so
// a text takes a while, and a host killed meanwhile cuts it off.
func mhPost(l *lab, ns, mpp, conf string, m *mhMessage) {
	for len(m.attempts) < mhMaxAttempts {
		header := fmt.Sprintf("From: user%d@example.test\nTo: sink@example.test\nSubject: multihost %d\nMessage-ID: %s\n\n",
			m.client+1, m.n, m.id())
		body := fmt.Sprintf("message %d attempt %d\n", m.n, len(m.attempts)+1)
		c := l.cmd(ns, mpp, "-C", conf, "-t", "-v")
		stdin, _ := c.StdinPipe()
		var stderr bytes.Buffer
		c.Stderr = &stderr
		a := mhAttempt{start: time.Now()}
		if err := c.Start(); err != nil {
			a.code, a.errMsg = -1, err.Error()
		} else {
			go func() {
				defer stdin.Close()
				io.WriteString(stdin, header+body)
				for i := 0; i < mhBodyLines; i++ {
					time.Sleep(mhLineEvery)
					if _, err := fmt.Fprintf(stdin, "line %d of the body\n", i); err != nil {
						return
					}
				}
			}()
			err := c.Wait()
			a.code = c.ProcessState.ExitCode()
			if err != nil && a.code <= 0 {
				a.code = -1
			}
		}
		a.end = time.Now()
		for _, line := range strings.Split(stderr.String(), "\n") {
			if s, ok := strings.CutPrefix(line, "=== Trying "); ok {
				a.server = strings.TrimSuffix(s, "...")
			}
			if strings.HasPrefix(line, "mpp: ") || strings.Contains(line, "trying the next server") {
				a.errMsg += line + " | "
			}
		}
		m.attempts = append(m.attempts, a)
		if a.code == 0 {
			m.posted = len(m.attempts)
			return
		}
		time.Sleep(mhRetryAfter + time.Duration(rand.IntN(200))*time.Millisecond)
	}
}

// mhKillDuring says which kill fell while attempt a ran, and when.
func mhKillDuring(a mhAttempt, kills []mhKill) string {
	for _, k := range kills {
		if !k.when.Before(a.start) && !k.when.After(a.end) {
			return fmt.Sprintf("%s killed %v after it started", k.host, k.when.Sub(a.start).Round(time.Millisecond))
		}
	}
	return "no kill meanwhile"
}

// mhKill is one host's crash: killed at when; at restart its link goes
// up and its Postfix starts, which sends its queue at once; back once its
// mppds listen again.
type mhKill struct {
	host                string
	when, restart, back time.Time
	processes           int
}

// mhDuplicate says why message m arrived more than once, if the reason is
// one that a hand-off between two machines leaves open whatever the
// protocol, and returns how many copies each explains:
//   - mppWindow: the host that had the text was killed after its Postfix
//     queued the message and before mppd's 250 went out. The attempt got
//     no reply (exit 75, "connection lost" after the text), its copy came
//     from that host, killed while the attempt ran; the retry that got
//     250 arrived too.
//   - smtpWindow: one session's copy arrived twice, the second after its
//     host came back from a kill that fell after that session began: the
//     host's Postfix had central's 250 and was killed before it noted it
//     in its queue, so it sent the message again (SMTP's own duplicate,
//     RFC 1047). Not "after the first copy arrived": a copy's time is
//     when central wrote its file, which on a loaded machine came more
//     than a second after central's 250 and after the kill.
//
// ok is false when a copy has neither reason: a bug.
func mhDuplicate(m *mhMessage, got []mhArrival, kills []mhKill) (mppWindow, smtpWindow int, why string, ok bool) {
	var reasons []string
	first := map[string]mhArrival{}
	for _, a := range got {
		if f, seen := first[a.session]; seen {
			explained := false
			began := m.attempts[f.attempt-1].start
			for _, k := range kills {
				if k.host+".test" == a.by && k.when.After(began) && a.at.After(k.restart) {
					explained = true
					break
				}
			}
			if !explained {
				return 0, 0, "", false
			}
			smtpWindow++
			reasons = append(reasons, fmt.Sprintf("session %s's copy twice: %s, killed after central took it, relayed it again", a.session, a.by))
			continue
		}
		first[a.session] = a
		if a.attempt == m.posted {
			continue
		}
		at := m.attempts[a.attempt-1]
		killed := false
		for _, k := range kills {
			killed = killed || k.host+".test" == a.by && !k.when.Before(at.start) && !k.when.After(at.end)
		}
		if at.code != 75 || !strings.Contains(at.errMsg, "message text: connection lost") || !killed {
			return 0, 0, "", false
		}
		mppWindow++
		reasons = append(reasons, fmt.Sprintf("attempt %d, cut off by the kill of %s after it queued the message, and attempt %d, which got 250", a.attempt, a.by, m.posted))
	}
	return mppWindow, smtpWindow, strings.Join(reasons, "; "), len(reasons) > 0
}

// mhArrival is one message in central's Maildir.
type mhArrival struct {
	attempt           int
	from, by, session string    // mppd's Received: field: the client's address, the host, the session id
	at                time.Time // when central delivered it (the file's time)
}

var (
	mhReceived = regexp.MustCompile(`(?m)^Received: from \[([0-9.]+)\]\n\tby (m[0-9]\.test) \(mppd\) with MPP id ([0-9a-f]+)`)
	mhBody     = regexp.MustCompile(`(?m)^message ([0-9]+) attempt ([0-9]+)$`)
	mhID       = regexp.MustCompile(`(?m)^Message-ID: (<mh-[0-9]+@clients\.test>)$`)
)

// mhDovecotDelivery is the delivering part of a test Dovecot's
// configuration: users from dir/userdb, LMTP on dir/run/lmtp, and before
// each delivery the guide's duplicate test, written and compiled here.
func mhDovecotDelivery(t *testing.T, dir string) string {
	t.Helper()
	dedup := filepath.Join(dir, "dedup.sieve")
	os.WriteFile(dedup, []byte(mhDedupSieve), 0o644)
	if out, err := exec.Command("sievec", dedup).CombinedOutput(); err != nil {
		t.Fatalf("sievec: %v\n%s", err, out)
	}
	return fmt.Sprintf(`userdb {
  driver = passwd-file
  args = username_format=%%u %[1]s/userdb
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
protocol lmtp {
  mail_plugins = $mail_plugins sieve
}
plugin {
  sieve_before = %[1]s/dedup.sieve
}
`, dir)
}

// mhDedupSieve is the duplicate test of docs/deployment.md: Sieve's
// duplicate extension (RFC 7352) remembers each Message-ID delivered to
// the mailbox, for sieve_duplicate_default_period (12h), and a copy of one
// it has seen is discarded.
const mhDedupSieve = `require "duplicate";
if duplicate {
  discard;
  stop;
}
`

// mhDiscard is Dovecot's log line for a copy the duplicate test dropped.
var mhDiscard = regexp.MustCompile(`sieve: msgid=(<[^>]*>): discard action`)

// mhLines is the lines of log that hold s.
func mhLines(log []byte, s string) string {
	var out []string
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// mhArrivals reads a Maildir at central (the archive of what its Postfix
// took, or the mailbox): by Message-ID, each copy that arrived.
func mhArrivals(t *testing.T, maildir string) map[string][]mhArrival {
	out := map[string][]mhArrival{}
	for _, sub := range []string{"new", "cur"} {
		files, _ := filepath.Glob(filepath.Join(maildir, sub, "*"))
		sort.Strings(files)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			id, body, rcv := mhID.FindSubmatch(b), mhBody.FindSubmatch(b), mhReceived.FindSubmatch(b)
			if id == nil || body == nil || rcv == nil {
				t.Errorf("%s: not a message of the test's, or without mppd's Received:\n%s", f, b)
				continue
			}
			attempt, _ := strconv.Atoi(string(body[2]))
			var at time.Time
			if st, err := os.Stat(f); err == nil {
				at = st.ModTime()
			}
			out[string(id[1])] = append(out[string(id[1])], mhArrival{attempt: attempt, from: string(rcv[1]), by: string(rcv[2]), session: string(rcv[3]), at: at})
		}
	}
	return out
}

// mhForgedHeaders: a client's own PROXY header is refused, sent straight
// to a posting server and through the balancer (behind the balancer's
// header); the balancer's address without a header gets no session.
func mhForgedHeaders(t *testing.T, l *lab, hosts []*mppdHost, clients []string) {
	t.Helper()
	forged := "PROXY TCP4 203.0.113.9 " + hosts[0].addr + " 4242 218\r\nUSER user1\r\n"
	for _, c := range []struct{ name, ns, addr string }{
		{"straight to m1", clients[0], hosts[0].addr + ":218"},
		{"through the balancer", clients[2], mhLB + ":218"},
	} {
		conn, err := dialIn(c.ns, c.addr)
		if err != nil {
			t.Fatalf("forged header %s: %v", c.name, err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, forged)
		got, _ := io.ReadAll(conn)
		conn.Close()
		if !regexp.MustCompile(`^220 m[123]\.test Message Posting Service Ready\r\n451 Local error encountered: PROXY header not accepted from your address, closing connection\r\n$`).Match(got) {
			t.Errorf("forged header %s: %q", c.name, got)
		}
	}
	conn, err := dialIn(l.prefix+"-lb", hosts[0].addr+":218")
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "USER user1\r\nPASS x\r\n")
	if got, _ := io.ReadAll(conn); len(got) != 0 {
		t.Errorf("the balancer's address without a header: %q", got)
	}
	conn.Close()
	mhWaitLog(t, hosts[0].log, `PROXY header refused, connection closed error="no PROXY header: the connection began `, 1)
	if b, _ := os.ReadFile(hosts[0].log); !regexp.MustCompile(`(?m) warning: PROXY header refused, connection closed error=.* rip=` + regexp.QuoteMeta(mhLB) + `$`).Match(b) {
		t.Errorf("no refusal of the balancer's connection without a header in the log:\n%s", b)
	}
	refused := 0
	for _, h := range hosts {
		b, _ := os.ReadFile(h.log)
		refused += strings.Count(string(b), "input refused error=")
		if strings.Contains(string(b), "203.0.113.9") {
			t.Errorf("%s's log believes the forged header:\n%s", h.name, b)
		}
	}
	if refused != 2 {
		t.Errorf("%d forged headers refused in the logs, want 2", refused)
	}
	all := ""
	for _, h := range hosts {
		b, _ := os.ReadFile(h.log)
		all += string(b)
	}
	for _, c := range []string{"101", "103"} {
		if !strings.Contains(all, "input refused error=\"PROXY header from an address not in -proxy-trusted-networks: refused, not believed\" rip="+mhNet+c+" ") {
			t.Errorf("no refusal of %s%s's forged header in the logs", mhNet, c)
		}
	}
}

// mhCheckLogs: every login in mppd's logs is a client's address, never
// the balancer's; the balancer's own connections are its health checks.
func mhCheckLogs(t *testing.T, hosts []*mppdHost, clientAddr []string) {
	t.Helper()
	byAddr := map[string]int{}
	checks := 0
	re := regexp.MustCompile(` info: authenticated rip=([^ ]+) `)
	for _, h := range hosts {
		b, _ := os.ReadFile(h.log)
		for _, line := range strings.Split(string(b), "\n") {
			if m := re.FindStringSubmatch(line); m != nil {
				byAddr[m[1]]++
			}
			if strings.Contains(line, " info: session started rip="+mhLB+" ") {
				checks++
			}
		}
	}
	for _, a := range clientAddr {
		if byAddr[a] == 0 {
			t.Errorf("no login from %s in mppd's logs: %v", a, byAddr)
		}
		delete(byAddr, a)
	}
	if len(byAddr) != 0 {
		t.Errorf("logins from addresses that are not the clients': %v", byAddr)
	}
	if checks == 0 {
		t.Errorf("no health check of the balancer's in mppd's logs")
	}
}

// TestMultihostDuplicateReasons: which second copies mhDuplicate takes for
// a window no protocol closes, and which for a bug. The first case is from
// a CI run: central wrote the first copy's file 1.3 s after m2's kill.
func TestMultihostDuplicateReasons(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 2, 45, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	cut := mhAttempt{code: 75, errMsg: "mpp: message text: connection lost: unexpected EOF; nothing was posted", start: at(31.27), end: at(31.54)}
	ok250 := mhAttempt{code: 0, start: at(31.92), end: at(34.02)}
	kills := []mhKill{{host: "m2", when: at(31.5), restart: at(33.3), back: at(33.8)}}
	for _, c := range []struct {
		name      string
		attempts  []mhAttempt
		got       []mhArrival
		mpp, smtp int
		ok        bool
	}{
		{"cut off, relayed again after the restart, and the retry", []mhAttempt{cut, ok250}, []mhArrival{
			{attempt: 1, by: "m2.test", session: "s1", at: at(32.8)},
			{attempt: 1, by: "m2.test", session: "s1", at: at(33.79)},
			{attempt: 2, by: "m2.test", session: "s2", at: at(33.81)},
		}, 1, 1, true},
		{"relayed again with no kill after its session began", []mhAttempt{ok250}, []mhArrival{
			{attempt: 1, by: "m2.test", session: "s2", at: at(33.81)},
			{attempt: 1, by: "m2.test", session: "s2", at: at(34.5)},
		}, 0, 0, false},
		{"relayed again before its host came back", []mhAttempt{cut, ok250}, []mhArrival{
			{attempt: 1, by: "m2.test", session: "s1", at: at(31.4)},
			{attempt: 1, by: "m2.test", session: "s1", at: at(32.0)},
		}, 0, 0, false},
		{"the copy of an attempt that was not cut off", []mhAttempt{{code: 75, errMsg: "mpp: greeting: 451", start: at(31.27), end: at(31.54)}, ok250}, []mhArrival{
			{attempt: 1, by: "m2.test", session: "s1", at: at(32.8)},
			{attempt: 2, by: "m2.test", session: "s2", at: at(33.81)},
		}, 0, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &mhMessage{n: 237, attempts: c.attempts, posted: len(c.attempts)}
			mpp, smtp, why, ok := mhDuplicate(m, c.got, kills)
			if ok != c.ok || ok && (mpp != c.mpp || smtp != c.smtp) {
				t.Errorf("mhDuplicate = %d, %d, %v (%s); want %d, %d, %v", mpp, smtp, ok, why, c.mpp, c.smtp, c.ok)
			}
		})
	}
}
