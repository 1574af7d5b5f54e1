package e2e

// Delivery into a real Postfix, by real users of /etc/shadow, through mppd
// started as systemd starts it: the message must land in /var/mail/USER
// with USER's address as its envelope sender, and with its header and body
// as the client sent them, dots and 8-bit bytes included.

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

// needPostfix skips (or, under MPPD_REQUIRE_REAL=1, fails) a test that needs
// a running Postfix behind /usr/sbin/sendmail and root to make users.
func needPostfix(t testing.TB) {
	t.Helper()
	testlib.NeedRoot(t)
	testlib.NeedProgram(t, "/usr/sbin/postfix")
	testlib.NeedProgram(t, "/usr/sbin/sendmail")
	err := exec.Command("/usr/sbin/postfix", "status").Run()
	testlib.NeedReal(t, err == nil, "Postfix is not running (postfix start, or .ci/setup.d/30-postfix.sh)")
}

// mailbox waits until /var/mail/USER holds n messages and returns them,
// each without its mbox "From " line and the empty line mbox adds.
func mailbox(t testing.TB, user string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile("/var/mail/" + user)
		var msgs []string
		for _, m := range regexp.MustCompile(`(?m)^From [^\n]*\n`).Split(string(b), -1)[1:] {
			msgs = append(msgs, strings.TrimSuffix(m, "\n"))
		}
		if len(msgs) >= n {
			if len(msgs) > n {
				t.Fatalf("%d messages in /var/mail/%s, want %d", len(msgs), user, n)
			}
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages in /var/mail/%s after 30s; postfix log:\n%s", len(msgs), n, user, postfixLog(user))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// postfixLog is what Postfix logged about user, for a failure message.
func postfixLog(user string) string {
	b, _ := os.ReadFile("/var/log/postfix.log")
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, user) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// mailHeader returns the values of a header field of a delivered message.
func mailHeader(msg, name string) []string {
	head, _, _ := strings.Cut(msg, "\n\n")
	var vals []string
	lines := strings.Split(head, "\n")
	for i := 0; i < len(lines); i++ {
		k, v, ok := strings.Cut(lines[i], ":")
		if !ok || !strings.EqualFold(k, name) {
			continue
		}
		for i+1 < len(lines) && (strings.HasPrefix(lines[i+1], " ") || strings.HasPrefix(lines[i+1], "\t")) {
			i++
			v += "\n" + lines[i]
		}
		vals = append(vals, strings.TrimSpace(v))
	}
	return vals
}

func mailBody(msg string) string {
	_, b, _ := strings.Cut(msg, "\n\n")
	return b
}

// mailDomain is the domain mppd qualifies users with by default.
func mailDomain(t testing.TB) string {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	// As mppd's default (-domain): the first line of /etc/mailname, else
	// the host name.
	if b, err := os.ReadFile("/etc/mailname"); err == nil {
		first, _, _ := strings.Cut(string(b), "\n")
		if d := strings.TrimSpace(first); d != "" {
			return d
		}
	}
	return h
}

// startMppdSocket starts mppd under systemd-socket-activate --accept, as
// mppd.socket with Accept=yes starts it, and returns its address and its
// log (stderr). wrapper, if any, goes before mppd on the command line
// (setpriv).
func startMppdSocket(t testing.TB, wrapper []string, flags ...string) (string, *testlib.Log) {
	t.Helper()
	argv := append(slices.Clone(wrapper), testlib.Mppd(t), "-log", "stderr", "-fail-delay", "0", "-hostname", "mppd-e2e.test")
	m := launcherNamed(t, "systemd --accept").start(t, append(argv, flags...))
	return m.addr, m.log
}

// postfixUsers makes alice (with a full name) and bob, real users whose
// passwords are yescrypt, to post to each other through the running
// Postfix, and returns them with the domain of their addresses.
func postfixUsers(t *testing.T) (alice, bob testlib.User, domain string) {
	t.Helper()
	needPostfix(t)
	alice = testlib.NewUser(t, testlib.UserSpec{Prefix: "i3", Gecos: "Alice Example,Room 1,,", Hash: "$y$"})
	bob = testlib.NewUser(t, testlib.UserSpec{Prefix: "i3", Hash: "$y$"})
	return alice, bob, mailDomain(t)
}

// postfixMessage holds what breaks naive mail code: dot-stuffed lines, a
// line that is a lone dot once unstuffed, 8-bit bytes that are not UTF-8,
// trailing white space, an empty line inside the body, a long line.
func postfixMessage(to, from, token string) (wire, wantBody string) {
	long := strings.Repeat("0123456789", 300)
	wire = "From: " + from + "\r\nTo: " + to + "\r\nSubject: mppd " + token + " caf\xc3\xa9\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
		"..leading dot\r\n..\r\n...\r\n8-bit: caf\xc3\xa9 \xff\xfe\r\ntrailing space   \r\n\r\n" + long + "\r\nlast line\r\n.\r\n"
	wantBody = ".leading dot\n.\n..\n8-bit: caf\xc3\xa9 \xff\xfe\ntrailing space   \n\n" + long + "\nlast line\n"
	return wire, wantBody
}

func postOne(t testing.TB, addr string, u testlib.User, text string, want string) string {
	t.Helper()
	c := newClient(t, testlib.DialRetry(t, addr))
	c.Expect("220")
	c.Cmd("USER "+u.Name, "250")
	c.Cmd("PASS "+u.Password, "250")
	c.Cmd("DATA", "354")
	c.Send(text)
	reply := c.Expect(want)
	c.Cmd("QUIT", "221")
	return reply
}

// TestPostfixEndToEnd: a real user of /etc/shadow (yescrypt, set by
// chpasswd) posts through mppd under systemd-socket-activate into the real
// Postfix; the message is in their mailbox with their address as envelope
// sender, mppd's Received: field, and header and body intact.
func TestPostfixEndToEnd(t *testing.T) {
	alice, bob, domain := postfixUsers(t)
	addr, log := startMppdSocket(t, nil)

	token := testlib.RandomHex(8)
	wire, wantBody := postfixMessage(bob.Name+"@"+domain, alice.Name+"@"+domain, token)
	postOne(t, addr, alice, wire, "250")
	msg := mailbox(t, bob.Name, 1)[0]

	if rp := mailHeader(msg, "Return-Path"); len(rp) != 1 || rp[0] != "<"+alice.Name+"@"+domain+">" {
		t.Errorf("Return-Path %q, want <%s@%s>", rp, alice.Name, domain)
	}
	recv := mailHeader(msg, "Received")
	if len(recv) < 2 {
		t.Fatalf("Received: %q", recv)
	}
	// Postfix's own Received: comes first, then mppd's.
	m := regexp.MustCompile(`^from \[127\.0\.0\.1\]\n\tby mppd-e2e\.test \(mppd\) with MPP id ([0-9a-f]{12})\n\t\(authenticated user ` +
		alice.Name + `\);\n\t\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}$`).FindStringSubmatch(recv[1])
	if m == nil {
		t.Fatalf("mppd's Received: is %q", recv[1])
	}
	if !log.Contains("session=" + m[1]) {
		t.Errorf("session id %s of the Received: field not in the log:\n%s", m[1], log)
	}
	for name, want := range map[string]string{
		"From": alice.Name + "@" + domain, "To": bob.Name + "@" + domain,
		"Subject": "mppd " + token + " caf\xc3\xa9", "Content-Transfer-Encoding": "8bit",
	} {
		if got := mailHeader(msg, name); len(got) != 1 || got[0] != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if got := mailHeader(msg, "Sender"); len(got) != 0 {
		t.Errorf("Sender: %q added to the user's own message", got)
	}
	if got := mailBody(msg); got != wantBody {
		t.Errorf("body\n got %q\nwant %q", got, wantBody)
	}
}

// TestPostfixSenderIdentity: what the user cannot forge. A foreign From:
// gets a Sender: with the user's address (name from the GECOS field), a
// foreign Resent-From: a Resent-Sender:; a missing From:, and a missing
// Resent-From: in a resent message, are written by mppd, not by Postfix
// from mppd's own uid; a second From: is refused; the envelope sender is
// the user's whatever the header says; -from-policy reject refuses with 451
// and delivers nothing.
func TestPostfixSenderIdentity(t *testing.T) {
	alice, bob, domain := postfixUsers(t)
	addr, _ := startMppdSocket(t, nil)
	rejecting, _ := startMppdSocket(t, nil, "-from-policy", "reject")

	to := bob.Name + "@" + domain
	postOne(t, addr, alice, "From: The Boss <boss@example.com>\r\nSender: boss@example.com\r\nTo: "+to+"\r\nSubject: 1\r\n\r\nforged\r\n.\r\n", "250")
	postOne(t, addr, alice, "To: "+to+"\r\nSubject: 2\r\n\r\nno From\r\n.\r\n", "250")
	reply := postOne(t, rejecting, alice, "From: boss@example.com\r\nTo: "+to+"\r\nSubject: 3\r\n\r\nrefused\r\n.\r\n", "451")
	if !strings.Contains(reply, "From: address boss@example.com is not "+alice.Name+"'s") {
		t.Errorf("reject reply %q", reply)
	}
	postOne(t, rejecting, alice, "From: "+alice.Name+"@"+domain+"\r\nTo: "+to+"\r\nSubject: 4\r\n\r\nown\r\n.\r\n", "250")
	postOne(t, addr, alice, "Resent-From: The Boss <boss@example.com>\r\nResent-To: "+to+"\r\nFrom: "+alice.Name+"@"+domain+
		"\r\nTo: "+to+"\r\nSubject: 5\r\n\r\nresent by the boss\r\n.\r\n", "250")
	postOne(t, addr, alice, "Resent-To: "+to+"\r\nFrom: "+alice.Name+"@"+domain+"\r\nTo: "+to+"\r\nSubject: 6\r\n\r\nresent\r\n.\r\n", "250")
	reply = postOne(t, addr, alice, "From: "+alice.Name+"@"+domain+"\r\nFrom: boss@example.com\r\nTo: "+to+"\r\nSubject: 7\r\n\r\ntwo\r\n.\r\n", "451")
	if !strings.Contains(reply, "more than one From: field") {
		t.Errorf("reply to two From: fields %q", reply)
	}

	msgs := mailbox(t, bob.Name, 5)
	own := `"Alice Example" <` + alice.Name + "@" + domain + ">"
	bySubject := map[string]string{}
	for _, m := range msgs {
		if rp := mailHeader(m, "Return-Path"); len(rp) != 1 || rp[0] != "<"+alice.Name+"@"+domain+">" {
			t.Errorf("Return-Path %q", rp)
		}
		bySubject[mailHeader(m, "Subject")[0]] = m
	}
	if m := bySubject["1"]; mailHeader(m, "From")[0] != "The Boss <boss@example.com>" || strings.Join(mailHeader(m, "Sender"), "|") != own {
		t.Errorf("forged From: From %q Sender %q", mailHeader(m, "From"), mailHeader(m, "Sender"))
	}
	if m := bySubject["2"]; strings.Join(mailHeader(m, "From"), "|") != own {
		t.Errorf("missing From: became %q, want %q", mailHeader(m, "From"), own)
	}
	if _, ok := bySubject["3"]; ok {
		t.Error("the refused message was delivered")
	}
	if _, ok := bySubject["4"]; !ok {
		t.Error("own message not delivered under -from-policy reject")
	}
	if m := bySubject["5"]; strings.Join(mailHeader(m, "Resent-From"), "|") != "The Boss <boss@example.com>" ||
		strings.Join(mailHeader(m, "Resent-Sender"), "|") != own {
		t.Errorf("forged Resent-From: Resent-From %q Resent-Sender %q", mailHeader(m, "Resent-From"), mailHeader(m, "Resent-Sender"))
	}
	if m := bySubject["6"]; strings.Join(mailHeader(m, "Resent-From"), "|") != own {
		t.Errorf("missing Resent-From: became %q, want %q", mailHeader(m, "Resent-From"), own)
	}
	if _, ok := bySubject["7"]; ok {
		t.Error("the message with two From: fields was delivered")
	}
}

// TestPostfixLoginNotAnAddress: a login that Postfix does not read as one
// address of the user's (from a name:hash file here) does not count as the
// user's own address when it stands alone in From:. Postfix rewrites such
// a From: into other addresses; mppd has put a Sender: of the user below it.
func TestPostfixLoginNotAnAddress(t *testing.T) {
	needPostfix(t)
	bob := testlib.NewUser(t, testlib.UserSpec{Prefix: "i3", Hash: "$y$"})
	domain := mailDomain(t)
	passwd := filepath.Join(t.TempDir(), "passwd")
	logins := map[string]struct{ from, own string }{ // login: what Postfix makes of "From: login", and the login's address
		"boss%example.com": {"boss@example.com", "boss%example.com@" + domain},
		"example.com!boss": {"boss@example.com", "example.com!boss@" + domain},
		"a,b":              {"a@" + domain + ", b@" + domain, `"a,b"@` + domain},
		"<x>":              {"<x@" + domain + ">", `"<x>"@` + domain},
	}
	var file strings.Builder
	for l := range logins {
		file.WriteString(l + ":" + testlib.FixtureHashes["sha512crypt"] + "\n")
	}
	if err := os.WriteFile(passwd, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, _ := startMppdSocket(t, nil, "-passwd", passwd)
	to := bob.Name + "@" + domain
	for l := range logins {
		postOne(t, addr, testlib.User{Name: l, Password: testlib.FixturePassword}, "From: "+l+"\r\nTo: "+to+"\r\nSubject: "+l+"\r\n\r\nx\r\n.\r\n", "250")
	}
	for _, m := range mailbox(t, bob.Name, len(logins)) {
		l := mailHeader(m, "Subject")[0]
		own := logins[l].own
		if got := strings.Join(mailHeader(m, "From"), "|"); got != logins[l].from {
			t.Errorf("login %q: Postfix made From: %q, want %q", l, got, logins[l].from)
		}
		if got := strings.Join(mailHeader(m, "Sender"), "|"); got != own {
			t.Errorf("login %q: Sender: %q, want %q", l, got, own)
		}
	}
}

// TestPostfixNoRecipients: sendmail -t with no recipient header exits 75;
// the client is told there were no recipients.
func TestPostfixNoRecipients(t *testing.T) {
	needPostfix(t)
	alice := testlib.NewUser(t, testlib.UserSpec{Prefix: "i3", Hash: "$y$"})
	addr, log := startMppdSocket(t, nil)
	reply := postOne(t, addr, alice, "Subject: nobody\r\n\r\nbody\r\n.\r\n", "451")
	if !strings.Contains(reply, "no recipients") {
		t.Errorf("reply %q does not say there were no recipients", reply)
	}
	if !log.Contains("No recipient addresses found") {
		t.Errorf("log lacks Postfix's words:\n%s", log)
	}
}

// privilegeTest is what the least-privilege tests share: two posting users,
// a system user for mppd to run as, and mppd where that user can run it.
type privilegeTest struct {
	alice, bob testlib.User
	to         string // bob's address
	domain     string
	runAs      string
	setpriv    string
	bin        string
}

func newPrivilegeTest(t *testing.T) *privilegeTest {
	t.Helper()
	needPostfix(t)
	p := &privilegeTest{setpriv: testlib.NeedProgram(t, "setpriv"), alice: testlib.NewUser(t, testlib.UserSpec{Prefix: "i3", Hash: "$y$"}), bob: testlib.NewUser(t, testlib.UserSpec{Prefix: "i3", Hash: "$y$"}),
		runAs: testlib.NewUser(t, testlib.UserSpec{Prefix: "i3mppd", System: true}).Name, bin: testlib.Mppd(t), domain: mailDomain(t)}
	p.to = p.bob.Name + "@" + p.domain
	return p
}

// mppd is the command line that runs mppd with the privileges the README's
// "Privileges" section names: as runAs, with no supplementary groups but
// groups, no_new_privs, no capabilities.
func (p *privilegeTest) mppd(groups, spool string) []string {
	return []string{p.setpriv, "--reuid", p.runAs, "--regid", p.runAs, "--groups", groups, "--no-new-privs",
		"--inh-caps=-all", "--bounding-set=-all",
		p.bin, "-log", "stderr", "-fail-delay", "0", "-spool-dir", spool, "-delivery-timeout", "60s"}
}

// refusedAtOnce posts a message that postdrop cannot queue to an mppd that
// has already delivered one to bob: the reply is a 451 at once (postdrop
// itself would retry for ever), the log says what to fix, and bob's
// mailbox still holds that one message.
func (p *privilegeTest) refusedAtOnce(t *testing.T, addr string, log *testlib.Log, fix ...string) {
	t.Helper()
	began := time.Now()
	postOne(t, addr, p.alice, "To: "+p.to+"\r\nSubject: refused\r\n\r\nbody\r\n.\r\n", "451")
	if d := time.Since(began); d > 30*time.Second {
		t.Errorf("451 after %v: postdrop was left to retry", d)
	}
	for _, f := range fix {
		if !log.Contains(f) {
			t.Errorf("the log does not say what to fix (%q):\n%s", f, log)
		}
	}
	time.Sleep(time.Second)
	mailbox(t, p.bob.Name, 1)
}

// TestPrivileges: delivery works under exactly the privileges the README's
// "Privileges" section names (an unprivileged user with the supplementary
// groups shadow and postdrop, no_new_privs, no capabilities), and each of
// them is needed: without shadow PASS cannot be checked, without postdrop
// postdrop cannot write the maildrop, and mppd says so at once (postdrop
// itself would retry for ever) with a log line that says what to fix.
func TestPrivileges(t *testing.T) {
	p := newPrivilegeTest(t)
	start := func(groups string) (string, *testlib.Log) {
		m := launcherNamed(t, "systemd --accept").start(t, p.mppd(groups, "/tmp"))
		return m.addr, m.log
	}

	addr, log := start("shadow,postdrop")
	postOne(t, addr, p.alice, "To: "+p.to+"\r\nSubject: least privilege\r\n\r\nbody\r\n.\r\n", "250")
	msg := mailbox(t, p.bob.Name, 1)[0]
	if rp := mailHeader(msg, "Return-Path"); len(rp) != 1 || rp[0] != "<"+p.alice.Name+"@"+p.domain+">" {
		t.Errorf("Return-Path %q", rp)
	}
	// Postfix notes the uid that ran sendmail: mppd's, not root's.
	uid := strings.TrimSpace(testlib.Run(t, "", "id", "-u", p.runAs))
	if recv := mailHeader(msg, "Received"); len(recv) == 0 || !strings.Contains(recv[0], "from userid "+uid) {
		t.Errorf("Postfix's Received: %q does not name uid %s", recv, uid)
	}
	if strings.Contains(log.String(), "level=error") || strings.Contains(log.String(), " error: ") {
		t.Errorf("errors logged:\n%s", log)
	}

	// Without group shadow: /etc/shadow cannot be read, PASS says 451.
	addr, _ = start("postdrop")
	c := newClient(t, testlib.DialRetry(t, addr))
	c.Expect("220")
	c.Cmd("USER "+p.alice.Name, "250")
	c.Cmd("PASS "+p.alice.Password, "451")
	c.Cmd("QUIT", "221")

	// Without group postdrop, and no_new_privs stopping postdrop's setgid.
	addr, log = start("shadow")
	p.refusedAtOnce(t, addr, log, "supplementary group postdrop")
}

// readOnlySystem is a wrapper that runs a command, in a mount namespace of
// its own, on a read-only root file system with only the spool directory
// (its first argument) and, with "rw" as the second, Postfix's maildrop
// left writable: what ProtectSystem=strict, PrivateTmp= and
// ReadWritePaths=/var/spool/postfix/maildrop leave mppd. It execs in
// place, so LISTEN_PID stays right.
const readOnlySystem = `#!/bin/sh
set -e
spool=$1 maildrop=$2
shift 2
mount --make-rprivate /
if [ "$maildrop" = rw ]; then mount --bind /var/spool/postfix/maildrop /var/spool/postfix/maildrop; fi
mount --bind "$spool" "$spool"
mount -o remount,bind,ro /
exec "$@"
`

// TestPrivilegesReadOnlySystem: the same least privilege on a file system
// that is read-only but for the spool directory and the maildrop delivers;
// without the maildrop, postdrop's "Read-only file system" is a 451 at once.
func TestPrivilegesReadOnlySystem(t *testing.T) {
	p := newPrivilegeTest(t)
	unshare := testlib.NeedProgram(t, "unshare")
	dir := testlib.ShortTempDir(t, "mppd-ro-") // runAs may enter it
	wrapper := filepath.Join(dir, "read-only-system")
	if err := os.WriteFile(wrapper, []byte(readOnlySystem), 0o755); err != nil {
		t.Fatal(err)
	}
	spool := filepath.Join(dir, "spool")
	if err := os.Mkdir(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	testlib.Run(t, "", "chown", p.runAs+":", spool)

	start := func(maildrop string) (string, *testlib.Log) {
		m := launcherNamed(t, "systemd --accept").start(t, append([]string{unshare, "--mount", wrapper, spool, maildrop},
			p.mppd("shadow,postdrop", spool)...))
		return m.addr, m.log
	}

	addr, log := start("rw")
	postOne(t, addr, p.alice, "To: "+p.to+"\r\nSubject: read-only system\r\n\r\nbody\r\n.\r\n", "250")
	if msg := mailbox(t, p.bob.Name, 1)[0]; mailBody(msg) != "body\n" {
		t.Errorf("delivered %q", msg)
	}
	if strings.Contains(log.String(), " error: ") {
		t.Errorf("errors logged:\n%s", log)
	}

	addr, log = start("ro")
	p.refusedAtOnce(t, addr, log, "Read-only file system", "ReadWritePaths=")
}

// secondPostfix sets up a Postfix instance of the test's own (its own
// configuration, queue and log; no network listener) that is not running,
// so a test can see what mppd does while "the mail system" is stopped
// without stopping the system's Postfix that other tests use. It returns
// the configuration directory; start and stop it with postfix -c DIR.
func secondPostfix(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/spool", "postfix-mppdtest-")
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "conf")
	t.Cleanup(func() {
		exec.Command("/usr/sbin/postfix", "-c", conf, "stop").Run()
		deadline := time.Now().Add(10 * time.Second)
		for exec.Command("/usr/sbin/postfix", "-c", conf, "status").Run() == nil && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		os.RemoveAll(dir)
	})
	for _, d := range []string{conf, filepath.Join(dir, "queue"), filepath.Join(dir, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(dir, 0o755)
	for _, f := range []string{"main.cf", "master.cf"} {
		b, err := os.ReadFile("/etc/postfix/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(conf, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	testlib.Run(t, "", "postconf", "-c", conf, "-e", "queue_directory="+dir+"/queue", "data_directory="+dir+"/data",
		"maillog_file="+dir+"/postfix.log", "multi_instance_enable=no")
	testlib.Run(t, "", "postconf", "-c", conf, "-MX", "smtp/inet") // the system's Postfix has port 25
	testlib.Run(t, "", "postconf", "-c", conf, "-F", "*/*/chroot = n")
	testlib.Run(t, "", "postfix", "-c", conf, "post-install", "create-missing")
	testlib.Run(t, "", "chown", "postfix", dir+"/data")
	return conf
}

// TestPostfixStopped: with the mail system stopped, Postfix's sendmail still
// queues the message in the maildrop (exit 0), so 250 is right; the message
// is delivered once Postfix starts.
func TestPostfixStopped(t *testing.T) {
	needPostfix(t)
	conf := secondPostfix(t)
	alice := testlib.NewUser(t, testlib.UserSpec{Prefix: "i3", Hash: "$y$"})
	bob := testlib.NewUser(t, testlib.UserSpec{Prefix: "i3", Hash: "$y$"})
	domain := mailDomain(t)
	addr, _ := startMppdSocket(t, nil, "-sendmail", "/usr/sbin/sendmail -C "+conf+" -t -oi")
	if exec.Command("/usr/sbin/postfix", "-c", conf, "status").Run() == nil {
		t.Fatal("the test's Postfix is running")
	}
	postOne(t, addr, alice, "To: "+bob.Name+"@"+domain+"\r\nSubject: while stopped\r\n\r\nqueued\r\n.\r\n", "250")
	queued, _ := filepath.Glob(filepath.Join(filepath.Dir(conf), "queue", "maildrop", "*"))
	if len(queued) != 1 {
		t.Fatalf("%d files in the stopped Postfix's maildrop", len(queued))
	}
	if b, _ := os.ReadFile("/var/mail/" + bob.Name); len(b) != 0 {
		t.Fatal("delivered while Postfix was stopped")
	}
	testlib.Run(t, "", "postfix", "-c", conf, "start")
	msg := mailbox(t, bob.Name, 1)[0]
	if mailBody(msg) != "queued\n" || mailHeader(msg, "Return-Path")[0] != "<"+alice.Name+"@"+domain+">" {
		t.Errorf("delivered %q", msg)
	}
}

// BenchmarkPostfixPosting times a posting into Postfix (a session under
// systemd-socket-activate: connect, USER, PASS of a yescrypt user, DATA,
// QUIT) and, in the same iterations, sendmail -t with the same message; it
// reports both, their ratio, and the parts of a posting, the text's ratio
// to the direct sendmail being mppd's cost of delivery.
func BenchmarkPostfixPosting(b *testing.B) {
	needPostfix(b)
	alice := testlib.NewUser(b, testlib.UserSpec{Prefix: "i3", Hash: "$y$"})
	bob := testlib.NewUser(b, testlib.UserSpec{Prefix: "i3", Hash: "$y$"})
	domain := mailDomain(b)
	addr, _ := startMppdSocket(b, nil)
	text := "From: " + alice.Name + "@" + domain + "\nTo: " + bob.Name + "@" + domain + "\nSubject: bench\n\n" +
		strings.Repeat("A line of a short message, as most are.\n", 50)
	wire := strings.ReplaceAll(text, "\n", "\r\n") + ".\r\n"
	postOne(b, addr, alice, wire, "250") // warm up: page cache, Postfix's processes
	var total, greet, auth, data, direct time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		c := newClient(b, testlib.DialRetry(b, addr))
		c.Expect("220")
		t1 := time.Now()
		c.Cmd("USER "+alice.Name, "250")
		c.Cmd("PASS "+alice.Password, "250")
		t2 := time.Now()
		c.Cmd("DATA", "354")
		c.Send(wire)
		c.Expect("250")
		t3 := time.Now()
		c.Cmd("QUIT", "221")
		c.Conn.Close()
		t4 := time.Now()
		cmd := exec.Command("/usr/sbin/sendmail", "-t", "-oi", "-f", alice.Name+"@"+domain)
		cmd.Stdin = strings.NewReader(text)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("sendmail: %v %s", err, out)
		}
		t5 := time.Now()
		total += t4.Sub(t0)
		greet += t1.Sub(t0)
		auth += t2.Sub(t1)
		data += t3.Sub(t2)
		direct += t5.Sub(t4)
	}
	b.StopTimer()
	// Every message delivered before the users go.
	mailbox(b, bob.Name, 1+2*b.N)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) / 1000 }
	b.ReportMetric(ms(total), "mppd-ms/op")
	b.ReportMetric(ms(direct), "sendmail-ms/op")
	b.ReportMetric(float64(total)/float64(direct), "ratio")
	b.ReportMetric(ms(greet), "greet-ms/op")
	b.ReportMetric(ms(auth), "auth-ms/op")
	b.ReportMetric(ms(data), "data-ms/op")
	b.ReportMetric(float64(data)/float64(direct), "data-ratio")
}
