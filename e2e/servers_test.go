package e2e

// Real password servers for the -auth tests: dovecot (POP3, pop3s, STLS)
// and vsftpd (FTP, AUTH TLS) on loopback ports, each in its own directory
// with its own configuration, plus a test CA and system users.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/GehirnInc/crypt/sha512_crypt"
	"github.com/mppd/mppd/internal/testlib"
)

// daemon is a server process started for a test, in its own process group
// so that it and its children can be stopped (SIGSTOP: a hanging server)
// and ended together.
type daemon struct {
	cmd *exec.Cmd
	log string
}

func startDaemon(t testing.TB, logFile string, waitFor []string, name string, args ...string) *daemon {
	t.Helper()
	out, err := os.Create(logFile + ".out")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out.Close()
	d := &daemon{cmd: cmd, log: logFile}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGCONT)
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for _, addr := range waitFor {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-exited:
				t.Fatalf("%s exited at start:\n%s", name, d.output())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s does not listen on %s:\n%s", name, addr, d.output())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return d
}

// stop freezes the whole process group: the kernel still completes TCP
// handshakes on its listening sockets, but nothing answers (a hung server).
func (d *daemon) stop(t testing.TB) {
	t.Helper()
	syscall.Kill(-d.cmd.Process.Pid, syscall.SIGSTOP)
	t.Cleanup(func() { syscall.Kill(-d.cmd.Process.Pid, syscall.SIGCONT) })
}

func (d *daemon) cont() { syscall.Kill(-d.cmd.Process.Pid, syscall.SIGCONT) }

func (d *daemon) output() string {
	a, _ := os.ReadFile(d.log + ".out")
	b, _ := os.ReadFile(d.log)
	return string(a) + string(b)
}

// dovecotServer is a dovecot POP3 server with a passwd-file passdb: a
// plaintext listener (also offering STLS) and a pop3s listener.
type dovecotServer struct {
	*daemon
	plain, tls string
	ca         string // the CA file its certificate verifies against
}

// startDovecot runs dovecot with users (name to password) in its passdb.
// Its base_dir and state_dir are its own, so runs never collide. Without
// withTLS it has no certificate: it refuses STLS and has no pop3s. Each of
// extra is a line added to its configuration.
func startDovecot(t testing.TB, users map[string]string, withTLS bool, extra ...string) *dovecotServer {
	t.Helper()
	testlib.NeedRoot(t)
	bin := testlib.NeedProgram(t, "dovecot")
	dir := testlib.ShortTempDir(t, "mppd-dv-")
	ca := testlib.NewCA(t)
	certFile, keyFile := ca.Server(t, dir)
	for _, d := range []string{"run", "state", "home", "mail"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
	}
	// Mail users run as nobody; the login needs a maildrop it can open.
	os.Chown(filepath.Join(dir, "home"), 65534, 65534)
	os.Chown(filepath.Join(dir, "mail"), 65534, 65534)
	var passwd strings.Builder
	for name, pw := range users {
		h, err := sha512_crypt.New().Generate([]byte(pw), nil)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&passwd, "%s:%s:65534:65534::%s\n", name, h, filepath.Join(dir, "home"))
	}
	usersFile := filepath.Join(dir, "users")
	if err := os.WriteFile(usersFile, []byte(passwd.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	plain, tls := testlib.FreePort(t), testlib.FreePort(t)
	_, plainPort, _ := net.SplitHostPort(plain)
	_, tlsPort, _ := net.SplitHostPort(tls)
	sslConf := fmt.Sprintf("ssl = yes\nssl_cert = <%s\nssl_key = <%s\n", certFile, keyFile)
	pop3s := fmt.Sprintf("  inet_listener pop3s {\n    address = 127.0.0.1\n    port = %s\n    ssl = yes\n  }\n", tlsPort)
	listen := []string{plain, tls}
	if !withTLS {
		sslConf, pop3s, tls = "ssl = no\n", "", ""
		listen = listen[:1]
	}
	conf := fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/log
instance_name = mppd-test-%[4]s
protocols = pop3
listen = 127.0.0.1
%[5]sdisable_plaintext_auth = no
auth_failure_delay = 0
mail_location = mbox:~/mail:INBOX=%[1]s/mail/%%u.mbox
first_valid_uid = 0
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = %[2]s
  }
%[3]s}
# All checks come from one address (mppd's): no growing penalty for it.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
passdb {
  driver = passwd-file
  args = scheme=CRYPT username_format=%%u %[6]s
}
userdb {
  driver = passwd-file
  args = username_format=%%u %[6]s
}
`, dir, plainPort, pop3s, filepath.Base(dir), sslConf, usersFile) + strings.Join(extra, "\n") + "\n"
	confFile := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, filepath.Join(dir, "log"), listen, bin, "-F", "-c", confFile)
	return &dovecotServer{daemon: d, plain: plain, tls: tls, ca: ca.PEM}
}

// vsftpdServer is vsftpd with local (PAM) users, offering AUTH TLS.
type vsftpdServer struct {
	*daemon
	addr string
	ca   string // the CA file its certificate verifies against
}

// startVsftpd runs vsftpd; without withTLS it refuses AUTH TLS. It logs
// the FTP dialogue (with PASS masked by vsftpd) to its log file.
func startVsftpd(t testing.TB, withTLS bool) *vsftpdServer {
	t.Helper()
	return runVsftpd(t, withTLS, false)
}

// startAnonymousVsftpd runs vsftpd (no TLS) that also lets anyone in as
// "anonymous" or "ftp" with any password, as a public FTP server does,
// into an empty directory.
func startAnonymousVsftpd(t testing.TB) *vsftpdServer {
	t.Helper()
	return runVsftpd(t, false, true)
}

func runVsftpd(t testing.TB, withTLS, anonymous bool) *vsftpdServer {
	t.Helper()
	testlib.NeedRoot(t)
	bin := testlib.NeedProgram(t, "vsftpd")
	_, err := os.Stat("/etc/pam.d/vsftpd")
	testlib.NeedReal(t, err == nil, "/etc/pam.d/vsftpd missing (vsftpd package not installed)")
	dir := testlib.ShortTempDir(t, "mppd-ftp-")
	ca := testlib.NewCA(t)
	certFile, keyFile := ca.Server(t, dir)
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	addr := testlib.FreePort(t)
	_, port, _ := net.SplitHostPort(addr)
	yesNo := map[bool]string{true: "YES", false: "NO"}
	conf := fmt.Sprintf(`listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=%s
background=NO
anonymous_enable=%s
anon_root=%s
local_enable=YES
pam_service_name=vsftpd
seccomp_sandbox=NO
delay_failed_login=0
secure_chroot_dir=%s
ssl_enable=%s
rsa_cert_file=%s
rsa_private_key_file=%s
force_local_logins_ssl=NO
force_local_data_ssl=NO
xferlog_enable=YES
vsftpd_log_file=%s
log_ftp_protocol=YES
`, port, yesNo[anonymous], empty, empty, yesNo[withTLS], certFile, keyFile, filepath.Join(dir, "log"))
	confFile := filepath.Join(dir, "vsftpd.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, filepath.Join(dir, "log"), []string{addr}, bin, confFile)
	return &vsftpdServer{daemon: d, addr: addr, ca: ca.PEM}
}
