package e2e

// The SMTP bridge (mpp smtpd, mpp -bs; cmd/mpp/bridge.go) proven with mail
// clients nobody here wrote: swaks, msmtp, Python's smtplib, git
// send-email and mutt, each posting through the built mpp into the built
// mppd (TLS, /etc/shadow) and the real Postfix, as real users made with
// useradd and chpasswd. Every recipient's /var/mail holds the message
// once, with the MPP user as envelope sender, mppd's Received: field and
// the body as written; a Bcc recipient is in no one else's copy.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

// bridgeRig is mppd with TLS in front of Postfix, and mpp smtpd in front
// of mppd.
type bridgeRig struct {
	smtp      string // the bridge's address
	domain    string // what mppd and Postfix qualify users with
	sender    testlib.User
	ca        *testlib.CA // signed mppd's and the bridge's certificates
	mppdAddr  string
	mppdLog   *testlib.Log
	bridgeLog *testlib.Log
	dir       string
}

// startBridgeRig makes the sender, a real user: with the password given,
// else a random one with a space and an 8-bit character.
func startBridgeRig(t *testing.T, password ...string) *bridgeRig {
	t.Helper()
	needPostfix(t)
	r := &bridgeRig{domain: mailDomain(t), dir: t.TempDir()}
	r.mppdAddr, r.ca, r.mppdLog = realMppd(t)
	r.sender = testlib.NewUser(t, testlib.UserSpec{Prefix: "mppbs", Password: strings.Join(password, "")})
	r.smtp, r.bridgeLog = r.startSmtpd(t, r.mppdAddr)
	return r
}

// mppConf writes a config for mpp naming the MPP server at mppAddr, over
// TLS with the rig's CA, and returns its path. extra lines go at the end.
func (r *bridgeRig) mppConf(t *testing.T, mppAddr string, extra ...string) string {
	t.Helper()
	return mppConfig(t, mppAddr, r.ca.PEM, "", append([]string{"timeout 20s"}, extra...)...)
}

// startSmtpd starts the built mpp smtpd posting to mppAddr, with a
// certificate from the rig's CA for STARTTLS; extra lines go at the end
// of its config.
func (r *bridgeRig) startSmtpd(t *testing.T, mppAddr string, extra ...string) (string, *testlib.Log) {
	t.Helper()
	cert, key := r.ca.Server(t, t.TempDir())
	addr := testlib.FreePort(t)
	log := runLauncher(t, testlib.Mpp(t), "smtpd", "-listen", addr, "-C", r.mppConf(t, mppAddr, extra...),
		"-tls-cert", cert, "-tls-key", key, "-hostname", "bridge.test")
	testlib.DialRetry(t, addr).Close()
	return addr, log
}

func (r *bridgeRig) port() string {
	_, p, _ := net.SplitHostPort(r.smtp)
	return p
}

func (r *bridgeRig) addr(u testlib.User) string { return u.Name + "@" + r.domain }

// pwFile writes the sender's password to a file only root can read, for
// the clients that read it from one.
func (r *bridgeRig) pwFile(t *testing.T) string {
	t.Helper()
	return testlib.TempFile(t, "password", r.sender.Password+"\n", 0o600)
}

func newRecipient(t *testing.T) testlib.User {
	return testlib.NewUser(t, testlib.UserSpec{Prefix: "mppbr"})
}

// delivered checks rcpt's mailbox: n messages, and no more a moment later,
// each from the MPP user (Return-Path, mppd's Received: naming the
// authenticated user), none with a Bcc: field or naming hidden, the Bcc
// recipient of the message.
func (r *bridgeRig) delivered(t *testing.T, rcpt testlib.User, n int, hidden *testlib.User) []string {
	t.Helper()
	msgs := mailbox(t, rcpt.Name, n)
	for _, m := range msgs {
		if rp := mailHeader(m, "Return-Path"); len(rp) != 1 || rp[0] != "<"+r.addr(r.sender)+">" {
			t.Errorf("%s: Return-Path %q, want <%s>", rcpt.Name, rp, r.addr(r.sender))
		}
		if recv := strings.Join(mailHeader(m, "Received"), "\n"); !strings.Contains(recv, "with MPP id") || !strings.Contains(recv, "(authenticated user "+r.sender.Name+")") {
			t.Errorf("%s: no Received: field of mppd for %s:\n%s", rcpt.Name, r.sender.Name, recv)
		}
		if bcc := mailHeader(m, "Bcc"); len(bcc) > 0 {
			t.Errorf("%s: Bcc: %q delivered", rcpt.Name, bcc)
		}
		if hidden != nil && hidden.Name != rcpt.Name && strings.Contains(m, hidden.Name) {
			t.Errorf("%s's copy names the Bcc recipient %s:\n%s", rcpt.Name, hidden.Name, m)
		}
	}
	return msgs
}

// settled checks, a moment after the messages arrived, that no copy came
// twice.
func settled(t *testing.T, n int, users ...testlib.User) {
	t.Helper()
	time.Sleep(time.Second)
	for _, u := range users {
		mailbox(t, u.Name, n)
	}
}

// runClient runs a client program with a HOME of its own and returns its
// output and exit status.
func runClient(t *testing.T, dir, stdin, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + dir, "PATH=/usr/bin:/bin:/usr/sbin:/sbin", "LANG=C.UTF-8", "TERM=dumb"}
	cmd.Stdin = strings.NewReader(stdin)
	timer := time.AfterFunc(90*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s: %v", name, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// bodyLines is a body that holds what SMTP and MPP each escape: lines
// starting with dots, a lone dot, 8-bit UTF-8, trailing white space.
const bodyLines = "first line\n.one leading dot\n..two leading dots\n.\ncaf\u00e9 \u00e0 8 bits\ntrailing space   \nlast line\n"

// TestBridgeSwaks: swaks over STARTTLS with AUTH PLAIN, To, Cc and a Bcc
// only RCPT TO names; a wrong password first, which gets 535 and posts
// nothing.
func TestBridgeSwaks(t *testing.T) {
	swaks := testlib.NeedProgram(t, "swaks")
	r := startBridgeRig(t)
	to, cc, bcc := newRecipient(t), newRecipient(t), newRecipient(t)
	subject := "swaks through the bridge " + testlib.RandomHex(6)
	args := func(password string) []string {
		return []string{"--server", r.smtp, "--tls", "--auth", "PLAIN", "--auth-user", r.sender.Name, "--auth-password", password,
			"--from", r.addr(r.sender), "--to", strings.Join([]string{r.addr(to), r.addr(cc), r.addr(bcc)}, ","),
			"--header", "To: " + r.addr(to), "--header", "Cc: " + r.addr(cc), "--header", "Subject: " + subject,
			"--body", bodyLines}
	}
	out, code := runClient(t, r.dir, "", swaks, args("wrong "+r.sender.Password)...)
	if code == 0 || !strings.Contains(out, "535 5.7.8 MPP server refused the login: 530") {
		t.Fatalf("swaks, wrong password: exit %d\n%s", code, out)
	}
	out, code = runClient(t, r.dir, "", swaks, args(r.sender.Password)...)
	if code != 0 || !strings.Contains(out, "<~  250 2.0.0 OK: queued") || !strings.Contains(out, "<-  220 2.0.0 Ready to start TLS") {
		t.Fatalf("swaks: exit %d\n%s", code, out)
	}
	for _, u := range []testlib.User{to, cc, bcc} {
		m := r.delivered(t, u, 1, &bcc)[0]
		if got := mailHeader(m, "Subject"); len(got) != 1 || got[0] != subject {
			t.Errorf("%s: Subject %q", u.Name, got)
		}
		if !strings.Contains(mailBody(m), bodyLines) {
			t.Errorf("%s: body %q, want %q", u.Name, mailBody(m), bodyLines)
		}
	}
	settled(t, 1, to, cc, bcc)
	if strings.Contains(r.bridgeLog.String(), r.sender.Password) || strings.Contains(r.mppdLog.String(), r.sender.Password) {
		t.Error("the password is in a log")
	}
}

// TestBridgeSwaksStdio: mpp -bs, SMTP on stdin and stdout, driven by
// swaks --pipe as sendmail -bs is by alpine: no AUTH, the user and
// password of mpp's own config.
func TestBridgeSwaksStdio(t *testing.T) {
	swaks := testlib.NeedProgram(t, "swaks")
	r := startBridgeRig(t)
	to := newRecipient(t)
	conf := r.mppConf(t, r.mppdAddr, "user "+r.sender.Name, "passwordeval \"cat "+r.pwFile(t)+"\"")
	subject := "mpp -bs " + testlib.RandomHex(6)
	out, code := runClient(t, r.dir, "", swaks, "--pipe", testlib.Mpp(t)+" -bs -C "+conf,
		"--from", r.addr(r.sender), "--to", r.addr(to), "--header", "Subject: "+subject, "--body", bodyLines)
	if code != 0 || !strings.Contains(out, "<-  250 2.0.0 OK: queued") {
		t.Fatalf("swaks --pipe: exit %d\n%s", code, out)
	}
	m := r.delivered(t, to, 1, nil)[0]
	if !strings.Contains(mailBody(m), bodyLines) || !strings.Contains(m, "Subject: "+subject) {
		t.Errorf("delivered:\n%s", m)
	}
}

// TestBridgeServerDown: the MPP server down (nothing listens), or not
// taking the message (mppd whose mail system is missing: 451 after the
// text): the client gets 421 or 451, and nothing is delivered.
func TestBridgeServerDown(t *testing.T) {
	swaks := testlib.NeedProgram(t, "swaks")
	msmtp := testlib.NeedProgram(t, "msmtp")
	r := startBridgeRig(t)
	to := newRecipient(t)
	gone := testlib.FreePort(t)
	downAddr, _ := r.startSmtpd(t, gone)

	// mppd that cannot hand the message to a mail system: 451 after the text
	cert, key := r.ca.Server(t, t.TempDir())
	brokenMppd := start(t, "-listen", "-config", "", "-log", "stderr", "-tls-cert", cert, "-tls-key", key,
		"-sendmail", "/nonexistent/sendmail -t -oi", "-fail-delay", "0").addr
	testlib.DialRetry(t, brokenMppd).Close()
	brokenAddr, _ := r.startSmtpd(t, brokenMppd)

	swaksTo := func(addr string) (string, int) {
		return runClient(t, r.dir, "", swaks, "--server", addr, "--auth", "LOGIN", "--auth-user", r.sender.Name,
			"--auth-password", r.sender.Password, "--from", r.addr(r.sender), "--to", r.addr(to))
	}
	if out, code := swaksTo(downAddr); code == 0 || !strings.Contains(out, "<** 421 4.4.1 cannot reach "+gone) {
		t.Errorf("swaks, MPP server down: exit %d\n%s", code, out)
	}
	if out, code := swaksTo(brokenAddr); code == 0 || !strings.Contains(out, "<** 451 4.3.0 MPP server: 451") {
		t.Errorf("swaks, MPP server's 451: exit %d\n%s", code, out)
	}
	msg := "To: " + r.addr(to) + "\nSubject: kept\n\nnot delivered\n"
	for addr, want := range map[string]string{downAddr: "421 4.4.1", brokenAddr: "451 4.3.0"} {
		_, port, _ := net.SplitHostPort(addr)
		out, code := runClient(t, r.dir, msg, msmtp, "--host=127.0.0.1", "--port="+port, "--tls=on", "--tls-starttls=on",
			"--tls-trust-file="+r.ca.PEM, "--auth=on", "--user="+r.sender.Name,
			"--passwordeval=cat "+r.pwFile(t), "--from="+r.addr(r.sender), "-t")
		if code == 0 || !strings.Contains(out, "server message: "+want) {
			t.Errorf("msmtp: exit %d\n%s", code, out)
		}
	}
	time.Sleep(2 * time.Second)
	if b, _ := os.ReadFile("/var/mail/" + to.Name); len(b) > 0 {
		t.Errorf("delivered:\n%s", b)
	}
}

// TestBridgeFailover: mpp smtpd with three servers in host, as a site
// with several posting servers lists them: one that nothing listens on,
// an mppd that cannot make its spool file (451 to DATA), and the rig's
// mppd. The message is delivered once, through the third; the bridge's
// log names the server of the login and the one that posted.
func TestBridgeFailover(t *testing.T) {
	swaks := testlib.NeedProgram(t, "swaks")
	r := startBridgeRig(t)
	to := newRecipient(t)
	gone := testlib.FreePort(t)
	cert, key := r.ca.Server(t, t.TempDir())
	noSpool := start(t, "-listen", "-config", "", "-log", "stderr", "-tls-cert", cert, "-tls-key", key,
		"-spool-dir", "/nonexistent", "-fail-delay", "0").addr
	testlib.DialRetry(t, noSpool).Close()
	addr, log := r.startSmtpd(t, r.mppdAddr, "host "+gone+", "+noSpool+", "+r.mppdAddr)
	out, code := runClient(t, r.dir, "", swaks, "--server", addr, "--auth", "PLAIN", "--auth-user", r.sender.Name,
		"--auth-password", r.sender.Password, "--from", r.addr(r.sender), "--to", r.addr(to), "--body", bodyLines)
	if code != 0 || !strings.Contains(out, "<-  250 2.0.0 OK: queued") {
		t.Fatalf("swaks: exit %d\n%s", code, out)
	}
	r.delivered(t, to, 1, nil)
	settled(t, 1, to)
	for _, want := range []string{"authenticated by the MPP server " + noSpool, "posted for 1 recipients at " + r.mppdAddr} {
		if !log.Contains(want) {
			t.Errorf("the bridge's log lacks %q:\n%s", want, log)
		}
	}
}

// TestBridgeMsmtp: msmtp as the client, -t with Bcc: in the header (msmtp
// sends it to RCPT TO and removes the field), STARTTLS verified against
// the CA, AUTH with passwordeval; a wrong password is 535.
func TestBridgeMsmtp(t *testing.T) {
	msmtp := testlib.NeedProgram(t, "msmtp")
	r := startBridgeRig(t)
	to, cc, bcc := newRecipient(t), newRecipient(t), newRecipient(t)
	rc := filepath.Join(r.dir, "msmtprc")
	os.WriteFile(rc, []byte(fmt.Sprintf("account default\nhost 127.0.0.1\nport %s\ntls on\ntls_starttls on\ntls_trust_file %s\n"+
		"auth on\nuser %s\npasswordeval cat %s\nfrom %s\n", r.port(), r.ca.PEM, r.sender.Name, r.pwFile(t), r.addr(r.sender))), 0o600)
	subject := "msmtp through the bridge " + testlib.RandomHex(6)
	msg := "From: " + r.addr(r.sender) + "\nTo: " + r.addr(to) + "\nCc: " + r.addr(cc) + "\nBcc: " + r.addr(bcc) +
		"\nSubject: " + subject + "\nContent-Type: text/plain; charset=utf-8\n\n" + bodyLines
	if out, code := runClient(t, r.dir, msg, msmtp, "-C", rc, "--passwordeval=echo wrong", "-t"); code != 77 || !strings.Contains(out, "535 5.7.8") {
		t.Errorf("msmtp, wrong password: exit %d\n%s", code, out)
	}
	if out, code := runClient(t, r.dir, msg, msmtp, "-C", rc, "-t"); code != 0 {
		t.Fatalf("msmtp: exit %d\n%s", code, out)
	}
	for _, u := range []testlib.User{to, cc, bcc} {
		m := r.delivered(t, u, 1, &bcc)[0]
		if !strings.Contains(mailBody(m), bodyLines) || len(mailHeader(m, "Sender")) != 0 {
			t.Errorf("%s:\n%s", u.Name, m)
		}
	}
	settled(t, 1, to, cc, bcc)
}

// TestBridgeSmtplib: Python's smtplib, STARTTLS against the CA, login,
// send_message of a message with To, Cc and Bcc (send_message removes Bcc:
// and puts its address in RCPT TO), From: and MAIL FROM someone else's:
// mppd's sender policy adds Sender:, and the envelope sender is the user.
// Then a wrong password: SMTPAuthenticationError 535. (smtplib encodes
// AUTH as ASCII: this user's password has a space but no 8-bit byte.)
func TestBridgeSmtplib(t *testing.T) {
	python := testlib.NeedProgram(t, "/usr/bin/python3")
	r := startBridgeRig(t, "pw "+testlib.RandomHex(8))
	to, cc, bcc := newRecipient(t), newRecipient(t), newRecipient(t)
	subject := "smtplib through the bridge " + testlib.RandomHex(6)
	script := `
import smtplib, ssl, sys
from email.message import EmailMessage
port, ca, user, pwfile, sender, to, cc, bcc, subject = sys.argv[1:]
password = open(pwfile, encoding="utf-8").read().rstrip("\n")
msg = EmailMessage()
msg["From"] = "Somebody Else <" + sender + ">"
msg["To"] = to
msg["Cc"] = cc
msg["Bcc"] = bcc
msg["Subject"] = subject
msg.set_content(sys.stdin.read())
with smtplib.SMTP("127.0.0.1", int(port), timeout=30) as s:
    s.starttls(context=ssl.create_default_context(cafile=ca))
    s.login(user, password)
    s.send_message(msg)
with smtplib.SMTP("127.0.0.1", int(port), timeout=30) as s:
    s.ehlo()
    try:
        s.login(user, "wrong")
    except smtplib.SMTPAuthenticationError as e:
        print("refused", e.smtp_code)
`
	out, code := runClient(t, r.dir, bodyLines, python, "-c", script, r.port(), r.ca.PEM, r.sender.Name, r.pwFile(t),
		"other@example.org", r.addr(to), r.addr(cc), r.addr(bcc), subject)
	if code != 0 || strings.TrimSpace(out) != "refused 535" {
		t.Fatalf("python: exit %d\n%s", code, out)
	}
	for _, u := range []testlib.User{to, cc, bcc} {
		m := r.delivered(t, u, 1, &bcc)[0]
		if s := mailHeader(m, "Sender"); len(s) != 1 || s[0] != r.addr(r.sender) {
			t.Errorf("%s: Sender: %q, want %s", u.Name, s, r.addr(r.sender))
		}
		if f := mailHeader(m, "From"); len(f) != 1 || f[0] != "Somebody Else <other@example.org>" {
			t.Errorf("%s: From: %q", u.Name, f)
		}
		if !strings.Contains(mailBody(m), "first line\n.one leading dot\n..two leading dots\n.\n") {
			t.Errorf("%s: body %q", u.Name, mailBody(m))
		}
	}
	settled(t, 1, to, cc, bcc)
}

// TestBridgeGitSendEmail: git send-email in SMTP mode, STARTTLS verified
// against the CA, posts a series of two patches with a Cc: each
// recipient has both, threaded, the diff intact (a line starting with a
// dot among them).
func TestBridgeGitSendEmail(t *testing.T) {
	git := testlib.NeedProgram(t, "git")
	testlib.NeedProgram(t, "/usr/lib/git-core/git-send-email")
	r := startBridgeRig(t)
	to, cc := newRecipient(t), newRecipient(t)
	repo := filepath.Join(r.dir, "repo")
	gitIn := func(args ...string) string {
		t.Helper()
		out, code := runClient(t, r.dir, "", git, append([]string{"-C", repo, "-c", "user.name=Patch Author", "-c", "user.email=" + r.addr(r.sender)}, args...)...)
		if code != 0 {
			t.Fatalf("git %q: exit %d\n%s", args, code, out)
		}
		return out
	}
	os.MkdirAll(repo, 0o755)
	gitIn("init", "-q")
	token := testlib.RandomHex(6)
	os.WriteFile(filepath.Join(repo, "notes"), []byte("one\n"), 0o644)
	gitIn("add", "notes")
	gitIn("commit", "-q", "-m", "first "+token)
	os.WriteFile(filepath.Join(repo, "notes"), []byte("one\n.dotted line\ncaf\u00e9\n"), 0o644)
	gitIn("commit", "-q", "-a", "-m", "second "+token)
	gitIn("format-patch", "-q", "-2", "-o", "out")
	patches, _ := filepath.Glob(filepath.Join(repo, "out", "*.patch"))
	if len(patches) != 2 {
		t.Fatalf("patches %q", patches)
	}
	gitIn(append([]string{"send-email", "--confirm=never", "--quiet", "--suppress-cc=self",
		"--8bit-encoding=UTF-8", "--smtp-server=127.0.0.1", "--smtp-server-port=" + r.port(), "--smtp-encryption=tls", "--smtp-ssl-cert-path=" + r.ca.PEM,
		"--smtp-user=" + r.sender.Name, "--smtp-pass=" + r.sender.Password, "--from=Patch Author <" + r.addr(r.sender) + ">",
		"--to=" + r.addr(to), "--cc=" + r.addr(cc)}, patches...)...)
	for _, u := range []testlib.User{to, cc} {
		msgs := r.delivered(t, u, 2, nil)
		subjects := mailHeader(msgs[0], "Subject")[0] + " | " + mailHeader(msgs[1], "Subject")[0]
		if !strings.Contains(subjects, "[PATCH 1/2] first "+token) || !strings.Contains(subjects, "[PATCH 2/2] second "+token) {
			t.Errorf("%s: subjects %s", u.Name, subjects)
		}
		for _, m := range msgs {
			if strings.Contains(mailHeader(m, "Subject")[0], "2/2") {
				if !strings.Contains(mailBody(m), "\n+.dotted line\n+caf\u00e9\n") || len(mailHeader(m, "In-Reply-To")) != 1 {
					t.Errorf("%s: patch 2/2:\n%s", u.Name, m)
				}
			}
		}
	}
	settled(t, 2, to, cc)
}

// TestBridgeMutt: mutt, a full MUA, in batch mode with smtp_url and
// STARTTLS (the CA as ssl_ca_certificates_file), To, Cc and Bcc from its
// command line.
func TestBridgeMutt(t *testing.T) {
	mutt := testlib.NeedProgram(t, "mutt")
	r := startBridgeRig(t)
	to, cc, bcc := newRecipient(t), newRecipient(t), newRecipient(t)
	rc := filepath.Join(r.dir, "muttrc")
	os.WriteFile(rc, []byte(fmt.Sprintf(`set smtp_url="smtp://%s@127.0.0.1:%s/"
set smtp_pass="%s"
set ssl_starttls=yes
set ssl_force_tls=yes
set ssl_ca_certificates_file="%s"
set from="%s"
set realname="Mutt User"
set record=""
set copy=no
set charset="utf-8"
set send_charset="utf-8"
`, r.sender.Name, r.port(), strings.ReplaceAll(r.sender.Password, `"`, `\"`), r.ca.PEM, r.addr(r.sender))), 0o600)
	subject := "mutt through the bridge " + testlib.RandomHex(6)
	out, code := runClient(t, r.dir, bodyLines, mutt, "-n", "-F", rc, "-s", subject, "-c", r.addr(cc), "-b", r.addr(bcc), "--", r.addr(to))
	if code != 0 {
		t.Fatalf("mutt: exit %d\n%s\nbridge log:\n%s", code, out, r.bridgeLog)
	}
	for _, u := range []testlib.User{to, cc, bcc} {
		m := r.delivered(t, u, 1, &bcc)[0]
		if !strings.Contains(m, "Subject: "+subject) || !strings.Contains(mailBody(m), "first line\n.one leading dot\n..two leading dots\n.\n") {
			t.Errorf("%s:\n%s", u.Name, m)
		}
	}
	settled(t, 1, to, cc, bcc)
}

// TestBridgeOffLoopback: mpp smtpd says where it listens, and warns when
// that is not loopback; there it offers AUTH only after STARTTLS, so that
// no password crosses the network in the clear, and without a
// certificate it does not start at all (exit 78).
func TestBridgeOffLoopback(t *testing.T) {
	dir := t.TempDir()
	cert, key := testlib.NewCA(t).Server(t, dir)
	conf := filepath.Join(dir, "mpp.conf")
	os.WriteFile(conf, []byte("host 127.0.0.1\n"), 0o644)

	out, err := exec.Command(testlib.Mpp(t), "smtpd", "-listen", "0.0.0.0:0", "-C", conf).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 78 || !strings.Contains(string(out), "is not a loopback address: give -tls-cert") {
		t.Errorf("without a certificate: %v\n%s", err, out)
	}

	port := strings.TrimPrefix(testlib.FreePort(t), "127.0.0.1:")
	log := runLauncher(t, testlib.Mpp(t), "smtpd", "-listen", "0.0.0.0:"+port, "-C", conf, "-tls-cert", cert, "-tls-key", key)
	c := testlib.NewClient(t, testlib.DialRetry(t, "127.0.0.1:"+port))
	c.Expect("220")
	c.Send("EHLO client.test\r\n")
	var ehlo strings.Builder
	for line := ""; !strings.HasPrefix(line, "250 "); {
		line, _ = c.R.ReadString('\n')
		ehlo.WriteString(line)
		if line == "" {
			t.Fatalf("EHLO: %q", ehlo.String())
		}
	}
	if !strings.Contains(ehlo.String(), "STARTTLS") || strings.Contains(ehlo.String(), "AUTH") {
		t.Errorf("EHLO before STARTTLS:\n%s", ehlo.String())
	}
	c.Send("AUTH PLAIN " + "AGFsaWNlAHNlY3JldA==" + "\r\n")
	c.Expect("523")
	if !log.Contains(":" + port + ", which is not loopback: other machines can connect") {
		t.Errorf("log:\n%s", log)
	}

	loopback := testlib.FreePort(t)
	log = runLauncher(t, testlib.Mpp(t), "smtpd", "-listen", loopback, "-C", conf)
	testlib.DialRetry(t, loopback).Close()
	if !log.Contains("listening on " + loopback + " (loopback only), posting through 127.0.0.1:218") {
		t.Errorf("log:\n%s", log)
	}
}
