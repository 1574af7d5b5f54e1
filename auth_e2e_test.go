package main

// -auth end to end: the built mppd, its flags, a real dovecot behind it,
// and what the client and the log see.

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// mppSession runs bin with args on one session on stdin/stdout, sends USER
// and PASS and QUIT, and returns the reply to PASS, the log (stderr) and
// how long after the PASS line the reply came.
func mppSession(t *testing.T, bin string, args []string, user, pw string) (string, string, time.Duration) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-log", "stderr", "-hostname", "mppd-test"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stdout)
	readLine := func() string {
		line, _ := r.ReadString('\n')
		return strings.TrimRight(line, "\r\n")
	}
	// The whole dialogue first: an mppd that has gone answers "" to the
	// rest, and its log is read only once it has exited.
	greeting := readLine()
	stdin.Write([]byte("USER " + user + "\r\n"))
	userReply := readLine()
	stdin.Write([]byte("PASS " + pw + "\r\n"))
	start := time.Now()
	reply := readLine()
	took := time.Since(start)
	stdin.Write([]byte("QUIT\r\n"))
	readLine()
	stdin.Close()
	cmd.Wait()
	if !strings.HasPrefix(greeting, "220 ") {
		t.Fatalf("greeting %q; log:\n%s", greeting, stderr.String())
	}
	if !strings.HasPrefix(userReply, "250 ") {
		t.Fatalf("USER: %q", userReply)
	}
	return reply, stderr.String(), took
}

func TestAuthEndToEndPOP3(t *testing.T) {
	const user, pw = "carol", "e2e Secret-4"
	srv := startDovecot(t, map[string]string{user: pw}, true)
	bin := mppdBinary(t)
	base := []string{"-passwd", "/dev/null", "-fail-delay", "0", "-auth-ca-file", srv.pki.caFile}

	t.Run("accepted by pop3s", func(t *testing.T) {
		reply, log, _ := mppSession(t, bin, append(base, "-auth", "pop3s://"+srv.tls), user, pw)
		if !strings.HasPrefix(reply, "250 ") {
			t.Fatalf("PASS: %q\n%s", reply, log)
		}
		mustNotLeak(t, log, pw)
	})
	t.Run("wrong password: 530, the log names the server", func(t *testing.T) {
		reply, log, _ := mppSession(t, bin, append(base, "-auth", "pop3://"+srv.plain+"?starttls"), user, "wrong "+pw)
		if reply != "530 Authentication Failure" {
			t.Fatalf("PASS: %q\n%s", reply, log)
		}
		if !strings.Contains(log, "authentication failed") || !strings.Contains(log, "pop3://"+srv.plain+"?starttls") {
			t.Errorf("log:\n%s", log)
		}
		mustNotLeak(t, log, pw)
	})
	t.Run("server down: 451, the log says which and why", func(t *testing.T) {
		down := "pop3://" + freePort(t)
		reply, log, _ := mppSession(t, bin, append(base, "-auth", down), user, pw)
		if !strings.HasPrefix(reply, "451 ") {
			t.Fatalf("PASS: %q\n%s", reply, log)
		}
		if !strings.Contains(log, down) || !strings.Contains(log, "connection refused") {
			t.Errorf("log does not say which server and why:\n%s", log)
		}
		mustNotLeak(t, log, pw)
	})
	t.Run("chain: shadow, then a server that is down, then dovecot", func(t *testing.T) {
		args := append(base, "-auth", "shadow", "-auth", "pop3://"+freePort(t), "-auth", "pop3://"+srv.plain)
		if reply, log, _ := mppSession(t, bin, args, user, pw); !strings.HasPrefix(reply, "250 ") {
			t.Fatalf("PASS: %q\n%s", reply, log)
		}
	})
	t.Run("-fail-delay counts from PASS, once", func(t *testing.T) {
		args := []string{"-passwd", "/dev/null", "-fail-delay", "1s", "-auth", "pop3://" + srv.plain}
		reply, log, took := mppSession(t, bin, args, user, "wrong")
		if reply != "530 Authentication Failure" {
			t.Fatalf("PASS: %q\n%s", reply, log)
		}
		if took < time.Second || took > 1900*time.Millisecond {
			t.Errorf("530 after %v, want 1s after PASS (not 1s plus the check, nor twice)", took)
		}
	})
	t.Run("bad specs stop mppd at start-up", func(t *testing.T) {
		for _, spec := range []string{"imap://host", "pop3s://host?starttls", "pam:mppd-no-such-service"} {
			cmd := exec.Command(bin, "-log", "stderr", "-auth", spec)
			out, err := cmd.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitConfig {
				t.Errorf("-auth %s: %v, want exit %d\n%s", spec, err, exitConfig, out)
			}
			if !strings.Contains(string(out), "-auth") {
				t.Errorf("-auth %s: message %q does not name the flag", spec, out)
			}
		}
	})
}

// TestAuthEndToEndAging: a password that must be changed, or has aged past
// its maximum, gets what a wrong password gets, as late (-fail-delay), and
// only the log says why.
func TestAuthEndToEndAging(t *testing.T) {
	y := fixtureHashes["yescrypt"]
	today := time.Now().Unix() / 86400
	file := writeFile(t, fmt.Sprintf("fresh:%[1]s:%[2]d:0:99999:7:::\n"+
		"mustchange:%[1]s:0:0:99999:7:::\n"+
		"aged:%[1]s:%[3]d:0:30:7:::\n"+
		"inactive:%[1]s:%[3]d:0:30:7:10::\n", y, today, today-100))
	bin := mppdBinary(t)
	args := []string{"-passwd", file, "-fail-delay", "300ms"}
	wrong, _, _ := mppSession(t, bin, args, "fresh", "wrong")
	if wrong != "530 Authentication Failure" {
		t.Fatalf("wrong password: %q", wrong)
	}
	if reply, log, _ := mppSession(t, bin, args, "fresh", fixturePassword); !strings.HasPrefix(reply, "250 ") {
		t.Fatalf("fresh password: %q\n%s", reply, log)
	}
	for user, why := range map[string]string{
		"mustchange": "password must be changed",
		"aged":       "password expired (older than its maximum age)",
		"inactive":   "password expired and account inactive",
	} {
		reply, log, took := mppSession(t, bin, args, user, fixturePassword)
		if reply != wrong {
			t.Errorf("%s: %q, want what a wrong password gets: %q", user, reply, wrong)
		}
		if took < 300*time.Millisecond {
			t.Errorf("%s: refused after %v, before -fail-delay", user, took)
		}
		if !strings.Contains(log, "authentication failed") || !strings.Contains(log, why) {
			t.Errorf("%s: the log does not say %q:\n%s", user, why, log)
		}
	}
}
