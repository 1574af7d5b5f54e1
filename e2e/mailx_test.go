package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

// writeOwned writes a file in the user's home, owned by the user.
func writeOwned(t *testing.T, u *user.User, path, text string, mode os.FileMode) {
	t.Helper()
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for d := filepath.Dir(path); d != u.HomeDir && strings.HasPrefix(d, u.HomeDir); d = filepath.Dir(d) {
		os.MkdirAll(d, 0o700)
		os.Chown(d, uid, gid)
	}
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	os.Chown(path, uid, gid)
}

// realMppd starts the built mppd with its defaults for passwords and
// delivery (/etc/shadow, /usr/sbin/sendmail -t -oi: the real Postfix) on a
// loopback port, with TLS and a certificate from a CA made for the test.
func realMppd(t *testing.T) (addr string, ca *testlib.CA, logs *testlib.Log) {
	t.Helper()
	testlib.NeedRoot(t)
	testlib.NeedProgram(t, "/usr/sbin/postfix")
	testlib.NeedReal(t, exec.Command("/usr/sbin/postfix", "status").Run() == nil, "Postfix is not running (postfix start)")
	dir := t.TempDir()
	ca = testlib.NewCA(t)
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.Issue(t, cert, key, 9, "mpp.test", "127.0.0.1")
	// -config "": this machine's /etc/mppd/mppd.conf is not the test's.
	m := start(t, "-listen", "-config", "", "-log", "stderr", "-tls-cert", cert, "-tls-key", key, "-hostname", "mpp.test")
	testlib.DialRetry(t, m.addr).Close()
	return m.addr, ca, m.log
}

// setUpMpp writes the user's own set-up, as mpp(1) describes it: no "user"
// line (the login name is the default), the password from a file only the
// user can read.
func setUpMpp(t *testing.T, u *user.User, password, addr string, ca *testlib.CA) {
	t.Helper()
	home := u.HomeDir
	caPEM, _ := os.ReadFile(ca.PEM)
	writeOwned(t, u, filepath.Join(home, ".config/mpp/ca.pem"), string(caPEM), 0o644)
	writeOwned(t, u, filepath.Join(home, ".config/mpp/password"), password+"\n", 0o600)
	port := strings.TrimPrefix(addr, "127.0.0.1:")
	writeOwned(t, u, filepath.Join(home, ".config/mpp/config"), fmt.Sprintf(`# written by %s
host 127.0.0.1
port %s
tls on
tls_trust_file %s/.config/mpp/ca.pem
passwordeval "cat ~/.config/mpp/password"
`, t.Name(), port, home), 0o644)
}

// asUser runs a command as u, with the environment a login gives.
func asUser(t *testing.T, u *user.User, stdin string, argv ...string) ([]byte, error) {
	t.Helper()
	setpriv := testlib.NeedProgram(t, "setpriv")
	cmd := exec.Command(setpriv, append([]string{"--reuid=" + u.Username, "--regid=" + u.Gid, "--init-groups"}, argv...)...)
	cmd.Env = []string{"HOME=" + u.HomeDir, "USER=" + u.Username, "LOGNAME=" + u.Username, "PATH=/usr/bin:/bin", "LANG=C.UTF-8"}
	cmd.Dir = u.HomeDir
	cmd.Stdin = strings.NewReader(stdin)
	return cmd.CombinedOutput()
}

// waitMailbox waits until /var/mail/NAME holds a message with token, and
// returns the mailbox.
func waitMailbox(t *testing.T, name, token string, logs fmt.Stringer) string {
	t.Helper()
	mbox := "/var/mail/" + name
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(mbox)
		if strings.Contains(string(b), token) {
			// Postfix appends the message in one write; a moment more
			// for the rest of it.
			time.Sleep(200 * time.Millisecond)
			b, _ = os.ReadFile(mbox)
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing in %s after 30s; mppd log:\n%s", mbox, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestMailxThroughMppAndPostfix is the whole chain a workstation user
// meets: Debian's bsd-mailx, with "set sendmail" pointing at mpp, run by a
// real user (useradd, chpasswd); mpp reads that user's
// ~/.config/mpp/config, gets the password from passwordeval, posts over
// TLS to mppd, which checks the password in the real /etc/shadow and hands
// the message to the real Postfix; the message lands in /var/mail/USER with
// the user as its sender.
func TestMailxThroughMppAndPostfix(t *testing.T) {
	testlib.NeedRoot(t)
	mailx := testlib.NeedProgram(t, "/usr/bin/bsd-mailx")

	mu := testlib.NewUser(t, testlib.UserSpec{Prefix: "mppmx", Home: true})
	name, password := mu.Name, mu.Password
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	home := u.HomeDir

	addr, ca, logs := realMppd(t)

	setUpMpp(t, u, password, addr, ca)
	writeOwned(t, u, filepath.Join(home, ".mailrc"), "set sendmail="+testlib.Mpp(t)+"\n", 0o644)

	var tok [6]byte
	rand.Read(tok[:])
	subject := "mpp via mailx " + hex.EncodeToString(tok[:])
	body := "Hello from bsd-mailx.\n.a line with a leading dot\ncaf\xc3\xa9\n"
	out, err := asUser(t, u, body, mailx, "-s", subject, name)
	if err != nil || len(out) > 0 {
		t.Fatalf("mail: %v: %s", err, out)
	}
	got := waitMailbox(t, name, subject, logs)
	for _, want := range []string{
		"Return-Path: <" + name + "@",
		"Subject: " + subject + "\n",
		"\nTo: " + name + "@",
		"\nHello from bsd-mailx.\n.a line with a leading dot\ncaf\xc3\xa9\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("/var/mail/%s lacks %q:\n%s", name, want, got)
		}
	}
	if !strings.Contains(logs.String(), "authenticated rip=127.0.0.1") || !strings.Contains(logs.String(), "user="+name) {
		t.Errorf("mppd log:\n%s", logs)
	}
	if strings.Contains(logs.String(), password) {
		t.Errorf("password in mppd's log")
	}
}

// TestMppBccThroughPostfix: a recipient given on mpp's command line but not
// in the header reaches that recipient through an added Bcc:, which Postfix
// removes, so the header's recipient never learns of it.
func TestMppBccThroughPostfix(t *testing.T) {
	addr, ca, logs := realMppd(t)
	su := testlib.NewUser(t, testlib.UserSpec{Prefix: "mppmx", Home: true})
	sender, password := su.Name, su.Password
	other := testlib.NewUser(t, testlib.UserSpec{Prefix: "mppmx", Home: true}).Name
	u, err := user.Lookup(sender)
	if err != nil {
		t.Fatal(err)
	}
	setUpMpp(t, u, password, addr, ca)
	var tok [6]byte
	rand.Read(tok[:])
	subject := "mpp bcc " + hex.EncodeToString(tok[:])
	msg := "To: " + sender + "\nSubject: " + subject + "\n\nhidden copy\n"
	if out, err := asUser(t, u, msg, testlib.Mpp(t), "-t", "-i", other); err != nil || len(out) > 0 {
		t.Fatalf("mpp: %v: %s", err, out)
	}
	for _, name := range []string{sender, other} {
		got := waitMailbox(t, name, subject, logs)
		if strings.Contains(strings.ToLower(got), "\nbcc:") || strings.Contains(got, other+"@") && name == sender {
			t.Errorf("/var/mail/%s shows the Bcc recipient:\n%s", name, got)
		}
		if !strings.Contains(got, "\nhidden copy\n") {
			t.Errorf("/var/mail/%s:\n%s", name, got)
		}
	}
}
