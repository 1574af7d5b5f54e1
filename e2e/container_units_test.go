package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

// ctInstall boots a container with the .deb installed with apt (after
// the packages before, if any), then Postfix (local delivery), a user
// alice, and mppd.socket enabled as shipped.
func ctInstall(t testing.TB, before ...string) *container {
	t.Helper()
	c := bootContainer(t)
	deb, _ := pkgBuildPackages(t)
	c.put("/root/mppd.deb", pkgReadFile(t, deb), 0o644)
	if len(before) > 0 {
		c.must(append([]string{"apt-get", "install", "-y", "-q"}, before...)...)
	}
	c.must("apt-get", "install", "-y", "-q", "/root/mppd.deb")
	c.sh("printf 'postfix postfix/main_mailer_type select Local only\\npostfix postfix/mailname string mppd-ct.mppd.test\\n' | debconf-set-selections")
	c.must("apt-get", "install", "-y", "-q", "postfix")
	ctAddUser(c, "alice")
	c.must("systemctl", "enable", "--now", "mppd.socket")
	return c
}

// ctPostAndFind posts through port with mpp's flags and finds the message
// in alice's mailbox.
func ctPostAndFind(t *testing.T, c *container, port string, flags ...string) {
	t.Helper()
	marker := "ct-" + testlib.RandomHex(6)
	if out, err := ctPost(c, "alice", port, marker, flags...); err != nil {
		t.Fatalf("mpp: %v\n%s\njournal:\n%s", err, out, c.journal("-n", "40"))
	}
	if ctFind(c, "/var/mail/alice", marker) == "" {
		t.Fatalf("message %s not in /var/mail/alice\njournal:\n%s", marker, c.journal("-n", "40"))
	}
}

// ctClient is a raw MPP connection from inside the container's network.
func ctClient(t testing.TB, c *container, src, addr string) *client {
	t.Helper()
	conn, err := c.dial(src, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return newClient(t, conn)
}

// ctDropIn writes what `systemctl edit mppd@.service` would, and reloads;
// the test's end removes it.
func ctDropIn(t *testing.T, c *container, unit, text string) {
	t.Helper()
	dir := "/etc/systemd/system/" + unit + ".d"
	c.put(dir+"/override.conf", []byte("[Service]\n"+text+"\n"), 0o644)
	c.must("systemctl", "daemon-reload")
	t.Cleanup(func() {
		c.run(nil, "rm", "-rf", dir)
		c.run(nil, "systemctl", "daemon-reload")
	})
}

// TestContainerSystemdUnits: the shipped units under real systemd, as
// the emulations elsewhere cannot show them.
func TestContainerSystemdUnits(t *testing.T) {
	c := ctInstall(t)

	t.Run("socket-activation", func(t *testing.T) {
		c.t = t
		ctPostAndFind(t, c, "218")
		// The session ran as mppd with no_new_privs, and handed the
		// message to the agent, which ran sendmail as mppd-deliver.
		if j, ok := c.journalHas([]string{"-t", "mppd", "-n", "20"}, "message handed to the mail system"); !ok {
			t.Errorf("the delivery agent did not deliver:\n%s", j)
		}
		if out := c.must("systemctl", "show", "-p", "User", "-p", "NoNewPrivileges", "--value", "mppd-deliver.service"); strings.Fields(out)[0] != "mppd-deliver" {
			t.Errorf("mppd-deliver.service: %q", out)
		}
		// Every session in mppd.slice, under its memory ceiling.
		cl := ctClient(t, c, "", "127.0.0.1:218")
		cl.Expect("220")
		slice := c.sh(`systemctl show -p Slice,MemoryMax --value 'mppd@*.service'`)
		if f := strings.Fields(slice); len(f) != 2 || f[0] != "mppd.slice" || f[1] != "67108864" {
			t.Errorf("the session's Slice= and MemoryMax=: %q", slice)
		}
		if m := strings.TrimSpace(c.must("systemctl", "show", "-p", "MemoryMax", "--value", "mppd.slice")); m != "805306368" {
			t.Errorf("mppd.slice MemoryMax=%s", m)
		}
		cl.Cmd("QUIT", "221")
	})

	t.Run("journal-and-REMOTE_ADDR", func(t *testing.T) {
		c.t = t
		// A failed login from another loopback address: its address is
		// in the instance's REMOTE_ADDR, and in the journal's fields.
		cl := ctClient(t, c, "127.0.0.5", "127.0.0.1:218")
		cl.Expect("220")
		env := c.sh(`for p in $(systemctl show -p MainPID --value 'mppd@*.service'); do [ "$p" != 0 ] && tr '\0' '\n' < /proc/$p/environ; done`)
		if !strings.Contains(env, "REMOTE_ADDR=127.0.0.5\n") {
			t.Errorf("no REMOTE_ADDR=127.0.0.5 in the session's environment:\n%s", env)
		}
		cl.Cmd("USER alice", "250")
		cl.Cmd("PASS wrong", "530")
		cl.Cmd("QUIT", "221")
		var fields map[string]any
		testlib.WaitFor(10*time.Second, func() bool {
			all, _ := c.run(nil, "journalctl", "--no-pager", "-o", "json", "MPPD_RIP=127.0.0.5")
			for _, l := range strings.Split(all, "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(l), &m) == nil && strings.HasPrefix(fmt.Sprint(m["MESSAGE"]), "authentication failed") {
					fields = m
					return true
				}
			}
			return false
		})
		if fields == nil {
			t.Fatalf("no journal entry MPPD_RIP=127.0.0.5:\n%s", c.journal("-n", "20"))
		}
		for k, want := range map[string]string{"MPPD_USER": "alice", "MPPD_REASON": "wrong password", "SYSLOG_IDENTIFIER": "mppd", "PRIORITY": "4", "_SYSTEMD_SLICE": "mppd.slice"} {
			if got := fmt.Sprint(fields[k]); got != want {
				t.Errorf("journal field %s = %q, want %q", k, got, want)
			}
		}
		if u := fmt.Sprint(fields["_SYSTEMD_UNIT"]); !regexp.MustCompile(`^mppd@\d+-127\.0\.0\.1:218-127\.0\.0\.5:\d+\.service$`).MatchString(u) {
			t.Errorf("_SYSTEMD_UNIT = %q", u)
		}
		if s := fmt.Sprint(fields["MPPD_SESSION"]); len(s) != 12 {
			t.Errorf("MPPD_SESSION = %q", s)
		}
	})

	t.Run("tls-socket-LoadCredential", func(t *testing.T) {
		c.t = t
		ca := testlib.NewCA(t)
		dir := t.TempDir()
		ca.Issue(t, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), 2, "localhost", "127.0.0.1")
		// The key as an administrator keeps it: root's alone. systemd
		// reads it, mppd gets its own copy.
		c.put("/etc/mppd/tls/cert.pem", pkgReadFile(t, filepath.Join(dir, "cert.pem")), 0o644)
		c.put("/etc/mppd/tls/key.pem", pkgReadFile(t, filepath.Join(dir, "key.pem")), 0o600)
		c.put("/etc/mppd/test-ca.pem", pkgReadFile(t, ca.PEM), 0o644)
		c.must("systemctl", "enable", "--now", "mppd-tls.socket")
		ctPostAndFind(t, c, "1218", "--tls", "on", "--tls-trust-file", "/etc/mppd/test-ca.pem")
		if out, err := c.run(nil, "runuser", "-u", "mppd", "--", "cat", "/etc/mppd/tls/key.pem"); err == nil {
			t.Errorf("the mppd user can read the key itself: %s", out)
		}
	})

	t.Run("drop-in-and-PAM", func(t *testing.T) {
		c.t = t
		// A flag changed the way mppd(8) says: systemctl edit, an empty
		// ExecStart= and a new one. PAM through the installed helper.
		ctDropIn(t, c, "mppd@.service", "ExecStart=\nExecStart=/usr/sbin/mppd -auth pam:mpp -hostname dropin.test -fail-delay 0")
		cl := ctClient(t, c, "", "127.0.0.1:218")
		if g := cl.Expect("220"); !strings.Contains(g, "dropin.test") {
			t.Errorf("greeting %q: the drop-in's -hostname is not in effect", g)
		}
		cl.Cmd("USER alice", "250")
		cl.Cmd("PASS not-"+ctPassword, "530")
		cl.Cmd("QUIT", "221")
		ctPostAndFind(t, c, "218")
		if j, ok := c.journalHas([]string{"-n", "30"}, "pam_unix(mpp:auth): authentication failure"); !ok {
			t.Errorf("pam_unix did not check the password:\n%s", j)
		}
	})

	t.Run("MaxConnectionsPerSource", func(t *testing.T) {
		c.t = t
		for i := 0; i < 10; i++ {
			ctClient(t, c, "127.0.0.7", "127.0.0.1:218").Expect("220")
		}
		// The 11th from the same address: closed by systemd, no greeting.
		conn, err := c.dial("127.0.0.7", "127.0.0.1:218")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if line, err := bufio.NewReader(conn).ReadString('\n'); err != io.EOF && !isReset(err) {
			t.Errorf("11th connection from one address got %q, %v; want it closed", line, err)
		}
		// Another address still gets in.
		ctClient(t, c, "127.0.0.8", "127.0.0.1:218").Expect("220")
		if j, ok := c.journalHas([]string{"-u", "mppd.socket", "-n", "5"}, "Too many incoming connections (11) from source 127.0.0.7"); !ok {
			t.Errorf("mppd.socket did not log the refusal:\n%s", j)
		}
	})

	t.Run("fail2ban", func(t *testing.T) {
		c.t = t
		// The shipped filter and jail, enabled as mppd(8) says, with
		// fail2ban's systemd backend reading the journal.
		c.must("apt-get", "install", "-y", "-q", "fail2ban", "python3-systemd", "nftables")
		c.sh(`cp /usr/share/doc/mppd/examples/fail2ban/filter.d/mppd.conf /etc/fail2ban/filter.d/mppd.conf
sed 's/^enabled *= *false/enabled  = true/' /usr/share/doc/mppd/examples/fail2ban/jail.d/mppd.conf > /etc/fail2ban/jail.d/mppd.conf
# Debian 12's fail2ban bans with iptables by default; this host has
# nftables, as Debian 12 installs it.
printf '[mppd]\nmaxretry = 3\nbanaction = nftables-multiport\n' > /etc/fail2ban/jail.d/mppd-test.local
# Debian enables an sshd jail that reads /var/log/auth.log, which a host
# without rsyslog does not have: without this fail2ban does not start.
printf '[sshd]\nenabled = false\n' > /etc/fail2ban/jail.d/no-sshd.local
systemctl restart fail2ban`)
		if !testlib.WaitFor(30*time.Second, func() bool { _, err := c.run(nil, "fail2ban-client", "status", "mppd"); return err == nil }) {
			t.Fatalf("the mppd jail did not start:\n%s", c.journal("-u", "fail2ban", "-n", "30"))
		}
		// A local user forges mppd's failure line for a victim's address:
		// it must not count.
		// As a person (uid 1000) and as a system account (www-data,
		// whose lines journald keeps in the system journal).
		for i := 0; i < 5; i++ {
			for _, u := range []string{"alice", "www-data"} {
				c.must("runuser", "-u", u, "--", "logger", "-t", "mppd", "-p", "mail.warning",
					`authentication failed reason="wrong password" rip=127.0.0.10 session=0123456789ab user=alice`)
			}
		}
		// Three real failures from 127.0.0.9, at once (each waits
		// -fail-delay).
		done := make(chan struct{})
		for i := 0; i < 3; i++ {
			go func() {
				defer func() { done <- struct{}{} }()
				conn, err := c.dial("127.0.0.9", "127.0.0.1:218")
				if err != nil {
					return
				}
				defer conn.Close()
				cl := newClient(t, conn)
				cl.Expect("220")
				cl.Cmd("USER alice", "250")
				cl.Cmd("PASS wrong", "530")
				cl.Cmd("QUIT", "221")
			}()
		}
		for i := 0; i < 3; i++ {
			<-done
		}
		var status string
		banned := testlib.WaitFor(30*time.Second, func() bool {
			status, _ = c.run(nil, "fail2ban-client", "status", "mppd")
			return strings.Contains(status, "127.0.0.9")
		})
		if !banned {
			t.Fatalf("127.0.0.9 not banned after 3 failures:\n%s\n%s", status, c.journal("-u", "fail2ban", "-n", "20"))
		}
		if strings.Contains(status, "127.0.0.10") {
			t.Errorf("a forged journal line got 127.0.0.10 banned:\n%s", status)
		}
		// Banned means refused at the door, once fail2ban's action has put
		// the address into nftables' set (it says "banned" just before).
		var line string
		refused := testlib.WaitFor(10*time.Second, func() bool {
			conn, err := c.dial("127.0.0.9", "127.0.0.1:218")
			if err != nil {
				return true
			}
			defer conn.Close()
			conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			line, err = bufio.NewReader(conn).ReadString('\n')
			return err != nil
		})
		if !refused {
			t.Errorf("a banned address still got %q after 10 s", line)
		}
		c.must("fail2ban-client", "unban", "--all")
	})

	t.Run("RuntimeMaxSec", func(t *testing.T) {
		c.t = t
		// The unit's last resort, shortened: a session that outlives it
		// is stopped by systemd whatever mppd's own timeouts say, and
		// says so to its client.
		ctDropIn(t, c, "mppd@.service", "RuntimeMaxSec=2s\nExecStart=\nExecStart=/usr/sbin/mppd -idle-timeout 1h")
		cl := ctClient(t, c, "127.0.0.11", "127.0.0.1:218")
		cl.Expect("220")
		start := time.Now()
		cl.Conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		rest, _ := io.ReadAll(cl.R)
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("the session lasted %v", d)
		}
		// systemd's SIGTERM: the client is told, not cut off (shutdown.go).
		if string(rest) != shutdownReply {
			t.Errorf("after RuntimeMaxSec the client got %q, want %q", rest, shutdownReply)
		}
		if j, ok := c.journalHas([]string{"-n", "40"}, "Service reached runtime time limit"); !ok {
			t.Errorf("systemd did not stop it for RuntimeMaxSec:\n%s", j)
		}
	})
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}
