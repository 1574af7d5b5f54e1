package e2e

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

func TestAuthFTPVsftpd(t *testing.T) {
	const pw = "ftp Secret-2"
	user := testlib.NewUser(t, testlib.UserSpec{Home: true, Password: pw}).Name
	srv := startVsftpd(t, true)
	o := authOptions{caFile: srv.ca}
	for _, spec := range []string{"ftp://" + srv.addr, "ftps://" + srv.addr} {
		t.Run(spec, func(t *testing.T) { checkOutcomes(t, o, spec, user, pw, "530", "incorrect") })
	}
	if log := srv.output(); strings.Contains(log, pw) {
		t.Errorf("vsftpd logged the password (test setup):\n%s", log)
	}

	t.Run("TLS not verifiable: 451, no USER sent", func(t *testing.T) {
		spec := "ftps://" + srv.addr
		users := strings.Count(srv.output(), `"USER `)
		code, _, err := checkAuth(t, authOptions{}, []string{spec}, user, pw)
		wantCode(t, code, err, codeLocalError, spec, pw)
		if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("reason %q does not mention the certificate", err)
		}
		time.Sleep(100 * time.Millisecond) // vsftpd logs as the session ends
		if log := srv.output(); strings.Count(log, `"USER `) != users || !strings.Contains(log, `"AUTH TLS"`) {
			t.Errorf("vsftpd's log: want AUTH TLS and no new USER:\n%s", log)
		}
	})

	t.Run("AUTH TLS refused: 451, never plaintext", func(t *testing.T) {
		plain := startVsftpd(t, false)
		spec := "ftps://" + plain.addr
		code, _, err := checkAuth(t, o, []string{spec}, user, pw)
		wantCode(t, code, err, codeLocalError, spec, pw)
		if !strings.Contains(err.Error(), "AUTH TLS") {
			t.Errorf("reason %q does not say AUTH TLS was refused", err)
		}
		time.Sleep(100 * time.Millisecond) // vsftpd logs as the session ends
		if log := plain.output(); !strings.Contains(log, `"AUTH TLS"`) || strings.Contains(log, `"USER `) {
			t.Errorf("vsftpd's log: want AUTH TLS and no USER:\n%s", log)
		}
	})

	t.Run("server down", func(t *testing.T) {
		spec := "ftp://" + testlib.FreePort(t)
		code, _, err := checkAuth(t, o, []string{spec}, user, pw)
		wantCode(t, code, err, codeLocalError, spec, pw)
	})

	t.Run("server hanging", func(t *testing.T) {
		srv.stop(t)
		defer srv.cont()
		spec := "ftps://" + srv.addr
		o := authOptions{caFile: srv.ca, timeout: 500 * time.Millisecond}
		code, took, err := checkAuth(t, o, []string{spec}, user, pw)
		wantCode(t, code, err, codeLocalError, spec, pw)
		if took < 450*time.Millisecond || took > 3*time.Second {
			t.Errorf("gave up after %v, want about the 500ms -auth-timeout", took)
		}
	})
}

// ftpLogin logs in to addr with USER and PASS as any FTP client would and
// returns the reply code to PASS.
func ftpLogin(t *testing.T, addr, user, pw string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	reply := func() int {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("FTP dialogue with %s: %v", addr, err)
			}
			if len(line) > 3 && line[3] == ' ' {
				code, _ := strconv.Atoi(line[:3])
				return code
			}
		}
	}
	if code := reply(); code != 220 {
		t.Fatalf("greeting %d", code)
	}
	fmt.Fprintf(c, "USER %s\r\n", user)
	if code := reply(); code != 331 {
		return code
	}
	fmt.Fprintf(c, "PASS %s\r\n", pw)
	code := reply()
	fmt.Fprintf(c, "QUIT\r\n")
	return code
}

// TestAuthFTPVsftpdAnonymous: vsftpd that lets anyone in as "anonymous" or
// "ftp" with any password (it does, for a plain FTP client) is never asked
// about those names: 530, no connection. Its local users still log in.
func TestAuthFTPVsftpdAnonymous(t *testing.T) {
	const pw = "ftp Secret-7"
	user := testlib.NewUser(t, testlib.UserSpec{Home: true, Password: pw}).Name
	srv := startAnonymousVsftpd(t)
	spec := "ftp://" + srv.addr
	if code := ftpLogin(t, srv.addr, "anonymous", "any@example.org"); code != 230 {
		t.Fatalf("vsftpd answers an anonymous login with %d, want 230 (test setup)", code)
	}
	time.Sleep(100 * time.Millisecond) // vsftpd logs as the session ends
	connects := strings.Count(srv.output(), "CONNECT:")
	for _, name := range []string{"anonymous", "ANONYMOUS", "Anonymous", "ftp", "FTP", "fTp"} {
		code, _, err := checkAuth(t, authOptions{}, []string{spec}, name, "any@example.org")
		wantCode(t, code, err, codeAuthFailed, spec, "any@example.org")
		if !strings.Contains(err.Error(), "anonymous") {
			t.Errorf("%s: reason %q does not say why", name, err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if n := strings.Count(srv.output(), "CONNECT:"); n != connects {
		t.Errorf("mppd connected to vsftpd %d times for anonymous names:\n%s", n-connects, srv.output())
	}
	code, _, err := checkAuth(t, authOptions{}, []string{spec}, user, pw)
	wantCode(t, code, err, codeOK, spec, pw)
}
