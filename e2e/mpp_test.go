package e2e

// End-to-end tests of the mpp client (cmd/mpp): the built binary against
// the built mppd over TLS with a certificate made in the test, every exit
// status it has, the dialogue of -v, the password prompt on a terminal.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

// tlsMppd starts the built mppd with -listen and TLS, a password file with
// alice (testlib.FixturePassword) and the recording fake sendmail; it returns the
// address, the directory the fake records in, and the CA file to trust.
func tlsMppd(t *testing.T, sendmailBody string, extra ...string) (addr, dir, caFile string) {
	t.Helper()
	ca := testlib.NewCA(t)
	certDir := t.TempDir()
	cert, key := filepath.Join(certDir, "cert.pem"), filepath.Join(certDir, "key.pem")
	ca.Issue(t, cert, key, 7, "mpp.test", "127.0.0.1")
	m := launch(t, "-listen", sendmailBody, append([]string{"-log", "stderr", "-tls-cert", cert, "-tls-key", key}, extra...)...)
	testlib.DialRetry(t, m.addr).Close()
	return m.addr, m.dir, ca.PEM
}

// mppConfig writes a config file for mpp (to pass with -C) and a password
// file its passwordeval reads. With no password there is no passwordeval:
// mpp has to ask on the terminal.
func mppConfig(t testing.TB, addr, caFile, password string, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	host, port, _ := net.SplitHostPort(addr)
	lines := []string{
		"# made by " + t.Name(),
		"host " + host,
		"port " + port,
		"tls on",
		"tls_trust_file " + caFile,
		"user alice",
		"timeout 10s",
	}
	if password != "" {
		pwFile := filepath.Join(dir, "pw")
		os.WriteFile(pwFile, []byte(password+"\n"), 0o600)
		lines = append(lines, fmt.Sprintf("passwordeval \"cat %s\"", pwFile))
	}
	p := filepath.Join(dir, "config")
	os.WriteFile(p, []byte(strings.Join(append(lines, extra...), "\n")+"\n"), 0o644)
	return p
}

// runMpp runs the mpp binary and returns its exit status and stderr.
func runMpp(t *testing.T, stdin io.Reader, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(testlib.Mpp(t), args...)
	cmd.Stdin = stdin
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), "HOME="+t.TempDir())
	timer := time.AfterFunc(60*time.Second, func() {
		if cmd.Process != nil {
			cmd.Process.Kill()
		}
	})
	defer timer.Stop()
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("mpp: %v", err)
		}
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

const mppMessage = "From: alice@example.org\nTo: bob@example.org\nSubject: mpp e2e\n\n.leading dot\n..two dots\n8-bit: caf\xc3\xa9\r\nlast line, no newline"
const mppDelivered = "From: alice@example.org\nTo: bob@example.org\nSubject: mpp e2e\n\n.leading dot\n..two dots\n8-bit: caf\xc3\xa9\nlast line, no newline\n"

// waitDelivered waits for the fake sendmail to have recorded n messages,
// and returns them without mppd's Received: field.
func waitDelivered(t *testing.T, dir string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs := testlib.Recorded(t, dir, "msg")
		if len(msgs) >= n || time.Now().After(deadline) {
			for i := range msgs {
				msgs[i] = testlib.WithoutTrace(t, msgs[i])
			}
			return msgs
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMppOverTLS: mpp -t posts through mppd over TLS; the message arrives
// as it was written (dots unstuffed, line ends LF for sendmail, 8-bit
// intact) under the user who logged in, whatever -f said.
func TestMppOverTLS(t *testing.T) {
	addr, dir, ca := tlsMppd(t, "")
	conf := mppConfig(t, addr, ca, testlib.FixturePassword, "tls_host_override mpp.test")
	code, stderr := runMpp(t, strings.NewReader(mppMessage), "-C", conf, "-t", "-i", "-f", "mallory@example.org")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	msgs := waitDelivered(t, dir, 1)
	if len(msgs) != 1 || msgs[0] != mppDelivered {
		t.Fatalf("delivered %q, want %q", msgs, mppDelivered)
	}
	if argv := testlib.Recorded(t, dir, "argv"); len(argv) != 1 || argv[0] != "-t\n-oi\n-f\nalice@example.org\n" {
		t.Errorf("sendmail argv %q", argv)
	}
}

// TestMppVerbose: -v shows the dialogue in swaks's form, TLS included, with
// the password masked.
func TestMppVerbose(t *testing.T) {
	addr, _, ca := tlsMppd(t, "")
	conf := mppConfig(t, addr, ca, testlib.FixturePassword)
	code, stderr := runMpp(t, strings.NewReader("To: bob\n\nhi\n"), "-C", conf, "-t", "-v", "-oem")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"=== ignored: -oem\n",
		"=== Trying " + addr + "...\n",
		"=== TLS started with cipher TLS 1.3:",
		"<~  220 e2e.test Message Posting Service Ready\n",
		" ~> USER alice\n",
		" ~> PASS ********\n",
		"<~  250 Command OK, alice authenticated\n",
		" ~> DATA\n<~  354 ",
		" ~> To: bob\n ~> \n ~> hi\n ~> .\n<~  250 ",
		" ~> QUIT\n<~  221 ",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("-v output lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "pässwörd") {
		t.Errorf("password shown:\n%s", stderr)
	}
}

// TestMppVerboseControlChars: with -v, a server's replies reach the
// terminal with their control characters made harmless, as its reply in
// the error line does: no escape sequence (ESC, C1's CSI, BEL, a bare CR
// that overwrites the line) from a hostile server.
func TestMppVerboseControlChars(t *testing.T) {
	conf := mppConfig(t, testlib.LineServerReplies(t, "220 \x1b]0;owned\x07 hi\r\n", "530 \x1b[2J\u009b1m\rno\r\n"), "", testlib.FixturePassword, "tls off")
	code, stderr := runMpp(t, strings.NewReader("To: bob\n\nx\n"), "-C", conf, "-t", "-v")
	if code != 76 {
		t.Errorf("exit %d, want 76: %q", code, stderr)
	}
	if strings.ContainsAny(stderr, "\x1b\x07\r\u009b") {
		t.Errorf("control characters on stderr: %q", stderr)
	}
	for _, want := range []string{"<-  220 ?]0;owned? hi\n", "<-  530 ?[2J?1m no\n", "unexpected reply 530 ?[2J?1m no\n"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// TestMppExitStatuses provokes every exit status mpp has, each with its
// one line on stderr.
func TestMppExitStatuses(t *testing.T) {
	addr, dir, ca := tlsMppd(t, `grep -q fail-me "$d/msg.$$" && exit 75; exit 0`, "-max-message-size", "100000")
	good := mppConfig(t, addr, ca, testlib.FixturePassword)
	wrongPW := mppConfig(t, addr, ca, "not the password")
	untrusted := mppConfig(t, addr, testlib.NewCA(t).PEM, testlib.FixturePassword)
	badUser := mppConfig(t, addr, ca, testlib.FixturePassword, "user -alice")
	plainToTLS := mppConfig(t, addr, ca, testlib.FixturePassword, "tls off", "timeout 1s")
	closed := mppConfig(t, testlib.FreePort(t), ca, testlib.FixturePassword)
	noHost := filepath.Join(t.TempDir(), "nohost")
	os.WriteFile(noHost, []byte("port 218\n"), 0o644)
	badKey := filepath.Join(t.TempDir(), "badkey")
	os.WriteFile(badKey, []byte("host x\nsmtp_auth on\n"), 0o644)
	failingEval := mppConfig(t, addr, ca, testlib.FixturePassword, "passwordeval \"echo 'keyring locked' >&2; exit 1\"")

	fake := func(replies ...string) string {
		return mppConfig(t, testlib.LineServerReplies(t, replies...), ca, testlib.FixturePassword, "tls off")
	}
	msg := "To: bob\n\nbody\n"
	big := "To: bob\n\n" + strings.Repeat(strings.Repeat("x", 99)+"\n", 2000)
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		say   string
	}{
		{"posted", msg, []string{"-C", good, "-t"}, 0, ""},
		{"bad usage: -bp", msg, []string{"-C", good, "-bp"}, 64, "-bp: mpp only posts one message"},
		{"bad usage: no recipients", msg, []string{"-C", good}, 64, "no recipients"},
		{"bad usage: header names others", "To: bob, eve\n\nx\n", []string{"-C", good, "bob"}, 64, "the header names eve"},
		{"malformed: no recipients with -t", "Subject: x\n\nbody\n", []string{"-C", good, "-t"}, 65, "bad message: no recipients"},
		{"malformed: unreadable To:", "To: <<<\n\nbody\n", []string{"-C", good, "-t"}, 65, "bad message: To: cannot read"},
		{"malformed: empty", "", []string{"-C", good, "-t"}, 65, "bad message: empty message"},
		{"unreachable: nothing listens", msg, []string{"-C", closed, "-t"}, 69, "cannot reach 127.0.0.1:"},
		{"unreachable: certificate not trusted", msg, []string{"-C", untrusted, "-t"}, 69, "certificate signed by unknown authority"},
		{"unreachable: TLS to a plain MPP port", msg, []string{"-C", mppConfig(t, testlib.LineServerReplies(t, "220 plain here\r\n"), ca, testlib.FixturePassword), "-t"}, 69, "speaks MPP without TLS there (it said \"220 p\"...)"},
		{"temporary: plain 451 at the TLS port (mppd over -max-sessions)", msg, []string{"-C", mppConfig(t, testlib.LineServerReplies(t, "451 Too many sessions, try again later\r\n"), ca, testlib.FixturePassword), "-t"}, 75, "answered in plain text"},
		{"unreachable: certificate for another name", msg, []string{"-C", good, "-t", "--tls-host-override", "other.test"}, 69, "not other.test"},
		{"temporary: 451 after the text", "To: bob\n\nfail-me\n", []string{"-C", good, "-t"}, 75, "message text: 451 "},
		{"temporary: message too large", big, []string{"-C", good, "-t"}, 75, "message too large"},
		{"temporary: plain client at the TLS port", msg, []string{"-C", plainToTLS, "-t"}, 75, "(if that port speaks TLS, set tls on)"},
		{"temporary: connection cut after DATA", msg, []string{"-C", fake("220 x\r\n", "250 ok\r\n", "250 ok\r\n", "354 go\r\n", ""), "-t"}, 75, "message text: connection lost"},
		{"temporary: 451 greeting", msg, []string{"-C", fake("451 busy\r\n"), "-t"}, 75, "greeting: 451 busy"},
		{"protocol: not an MPP server", msg, []string{"-C", fake("SSH-2.0-OpenSSH_9.2\r\n"), "-t"}, 76, "not a reply"},
		{"protocol: 503 to USER", msg, []string{"-C", fake("220 x\r\n", "503 what\r\n"), "-t"}, 76, "unexpected reply 503 what"},
		{"no permission: wrong password", msg, []string{"-C", wrongPW, "-t"}, 77, "login refused: 530 Authentication Failure"},
		{"no permission: user name refused", msg, []string{"-C", badUser, "-t"}, 77, "USER -alice: login refused: 501"},
		{"config: no host", msg, []string{"-C", noHost, "-t"}, 78, "no server"},
		{"config: unknown key", msg, []string{"-C", badKey, "-t"}, 78, "badkey:2: unknown setting \"smtp_auth\""},
		{"config: trust file missing", msg, []string{"-C", good, "-t", "--tls-trust-file", "/nonexistent/ca.pem"}, 78, "tls_trust_file: open /nonexistent/ca.pem"},
		{"config: passwordeval fails", msg, []string{"-C", failingEval, "-t"}, 78, "passwordeval: exit status 1: keyring locked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(testlib.Recorded(t, dir, "msg"))
			code, stderr := runMpp(t, strings.NewReader(tc.stdin), tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tc.code, stderr)
			}
			if tc.code == 0 {
				if stderr != "" {
					t.Errorf("stderr %q", stderr)
				}
				return
			}
			if !strings.HasPrefix(stderr, "mpp: ") || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.say) {
				t.Errorf("stderr %q, want one line saying %q", stderr, tc.say)
			}
			if strings.Contains(stderr, testlib.FixturePassword) {
				t.Errorf("password on stderr: %q", stderr)
			}
			if tc.code != 75 || !strings.Contains(tc.name, "451") {
				if after := len(testlib.Recorded(t, dir, "msg")); after != before {
					t.Errorf("a failed run delivered a message")
				}
			}
		})
	}

	// EX_IOERR: standard input cannot be read (here: a directory).
	d, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if code, stderr := runMpp(t, d, "-C", good, "-t"); code != 74 || !strings.Contains(stderr, "reading the message") {
		t.Errorf("stdin a directory: exit %d, %q", code, stderr)
	}
}

// TestMppRequireTLS: a plain mpp at a -require-tls server is told why its
// login is refused, and exits 77.
func TestMppRequireTLS(t *testing.T) {
	addr := launch(t, "-listen", "", "-log", "none", "-require-tls").addr
	testlib.DialRetry(t, addr).Close()
	conf := mppConfig(t, addr, "", testlib.FixturePassword, "tls off")
	code, stderr := runMpp(t, strings.NewReader("To: bob\n\nx\n"), "-C", conf, "-t")
	if code != 77 || !strings.Contains(stderr, "530 Authentication Failure: TLS required") {
		t.Errorf("exit %d, %q", code, stderr)
	}
}

// TestMppPrompt: with no passwordeval, mpp asks on the terminal (not on
// stdin, which holds the message) with echo off. script(1) gives it one.
func TestMppPrompt(t *testing.T) {
	script := testlib.NeedProgram(t, "script")
	addr, dir, ca := tlsMppd(t, "")
	conf := mppConfig(t, addr, ca, "") // no passwordeval: the prompt is the only way left
	msgFile := filepath.Join(t.TempDir(), "msg")
	os.WriteFile(msgFile, []byte("To: bob\n\nfrom the prompt test\n"), 0o644)

	cmd := exec.Command(script, "-qfec", testlib.Mpp(t)+" -C "+conf+" -t < "+msgFile, "/dev/null")
	tty, out := pipes(t, cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// Type the password only once the prompt is there (echo is off by then).
	r := bufio.NewReader(out)
	var seen strings.Builder
	for !strings.Contains(seen.String(), "Password for alice at 127.0.0.1: ") {
		c, err := r.ReadByte()
		if err != nil {
			t.Fatalf("no prompt; terminal showed %q", seen.String())
		}
		seen.WriteByte(c)
	}
	io.WriteString(tty, testlib.FixturePassword+"\n")
	rest, _ := io.ReadAll(r)
	seen.Write(rest)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v; terminal showed %q", err, seen.String())
	}
	if strings.Contains(seen.String(), "pässwörd") {
		t.Errorf("the password was echoed: %q", seen.String())
	}
	if msgs := waitDelivered(t, dir, 1); len(msgs) != 1 || !strings.Contains(msgs[0], "from the prompt test") {
		t.Errorf("delivered %q", msgs)
	}
}

// TestMppNoTerminal: no passwordeval and no terminal: a clear refusal
// (EX_CONFIG), not a hang.
func TestMppNoTerminal(t *testing.T) {
	conf := mppConfig(t, "127.0.0.1:1", "", "")
	cmd := exec.Command(testlib.Mpp(t), "-C", conf, "-t")
	cmd.Stdin = strings.NewReader("To: bob\n\nx\n")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 78 || !strings.Contains(string(out), "no password") {
		t.Errorf("exit %d: %q", code, out)
	}
}

// TestMppTimeoutTrickle: a server that sends its greeting a byte every
// 300 ms, and never ends it, keeps mpp --timeout 1s waiting no longer than
// about a second: the timeout bounds each whole reply, not each read. mpp
// exits 75 (try again later) and says it timed out.
func TestMppTimeoutTrickle(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		go io.Copy(io.Discard, c)
		for _, b := range []byte("220 " + strings.Repeat("x", 4000)) {
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(300 * time.Millisecond)
		}
	}()
	conf := mppConfig(t, l.Addr().String(), "", testlib.FixturePassword, "tls off", "timeout 1s")
	cmd := exec.Command(testlib.Mpp(t), "-C", conf, "-t")
	cmd.Stdin = strings.NewReader("To: bob\n\nx\n")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal("mpp --timeout 1s still waiting for a trickled greeting after 15s")
	}
	if code := cmd.ProcessState.ExitCode(); code != 75 || !strings.Contains(stderr.String(), "greeting: connection lost: i/o timeout") {
		t.Errorf("exit %d, stderr %q; want 75 and a timeout", code, stderr.String())
	}
}
