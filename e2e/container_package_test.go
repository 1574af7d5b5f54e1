package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestContainerPackageLifecycle: the .deb on a host booted with systemd,
// through its life as an administrator lives it. Postfix comes after mppd
// (with the previous design that order broke delivery); an upgrade while
// the socket is enabled keeps it serving and restarts the agent; apt-get
// remove stops listening and keeps the configuration; purge leaves the
// host as it was.
func TestContainerPackageLifecycle(t *testing.T) {
	c := bootContainer(t)
	deb, _ := pkgBuildPackages(t)
	c.put("/root/mppd.deb", pkgReadFile(t, deb), 0o644)
	upgrade := pkgRepackVersion(t, deb, "+up1")
	c.put("/root/mppd-up.deb", pkgReadFile(t, upgrade), 0o644)
	before := ctSystemState(c)

	c.must("apt-get", "install", "-y", "-q", "/root/mppd.deb")
	if out, _ := c.run(nil, "systemctl", "is-enabled", "mppd.socket", "mppd-tls.socket", "mppd-deliver.socket"); strings.Count(out, "disabled") != 3 {
		// Nothing starts on install (README, Packages).
		t.Errorf("after install: %q", out)
	}
	ctAddUser(c, "alice")
	c.must("systemctl", "enable", "--now", "mppd.socket")
	// apt installed what mppd recommends, Debian's default MTA (exim4);
	// the administrator removes it. No MTA: a 451, and the log says what
	// to do.
	owner := strings.TrimSpace(c.must("sh", "-c", "dpkg -S \"$(readlink -f /usr/sbin/sendmail)\" | cut -d: -f1"))
	if !strings.HasPrefix(owner, "exim4") {
		t.Errorf("apt-get install ./mppd.deb brought %q as sendmail, not exim4 (Recommends: default-mta)", owner)
	}
	c.must("apt-get", "remove", "-y", "-q", owner)
	if out, err := ctPost(c, "alice", "218", "no-mta"); err == nil || !strings.Contains(out, "451") {
		t.Errorf("with no MTA: %v %s", err, out)
	}
	if j, ok := c.journalHas([]string{"-t", "mppd", "-n", "10"}, "install an MTA that provides it"); !ok {
		t.Errorf("with no MTA the log does not name the fix:\n%s", j)
	}
	c.sh("printf 'postfix postfix/main_mailer_type select Local only\\npostfix postfix/mailname string mppd-ct.mppd.test\\n' | debconf-set-selections")
	c.must("apt-get", "install", "-y", "-q", "postfix")
	ctPostAndFind(t, c, "218")
	agentPID := strings.TrimSpace(c.must("systemctl", "show", "-p", "MainPID", "--value", "mppd-deliver.service"))
	if agentPID == "0" {
		t.Fatal("the delivery agent is not running after a posting")
	}

	t.Run("upgrade", func(t *testing.T) {
		c.t = t
		// The administrator's edit of the conffile survives the upgrade,
		// without a question (the packaged file did not change).
		c.sh("echo 'hostname = kept.example' >> /etc/mppd/mppd.conf")
		c.must("apt-get", "install", "-y", "-q", "/root/mppd-up.deb")
		if conf := c.must("cat", "/etc/mppd/mppd.conf"); !strings.HasSuffix(conf, "hostname = kept.example\n") {
			t.Errorf("the upgrade lost the edit of /etc/mppd/mppd.conf:\n%s", conf)
		}
		cl := ctClient(t, c, "", "127.0.0.1:218")
		if g := cl.Expect("220"); !strings.Contains(g, "kept.example") {
			t.Errorf("after the upgrade: greeting %q", g)
		}
		cl.Cmd("QUIT", "221")
		if v := c.must("dpkg-query", "-W", "-f", "${Version}", "mppd"); !strings.HasSuffix(v, "+up1") {
			t.Fatalf("version after upgrade: %q", v)
		}
		if out, err := c.run(nil, "systemctl", "is-active", "mppd.socket"); err != nil {
			t.Errorf("mppd.socket after the upgrade: %s", out)
		}
		if out := c.must("systemctl", "is-enabled", "mppd.socket"); strings.TrimSpace(out) != "enabled" {
			t.Errorf("mppd.socket after the upgrade: %s", out)
		}
		if pid := strings.TrimSpace(c.must("systemctl", "show", "-p", "MainPID", "--value", "mppd-deliver.service")); pid == agentPID || pid == "0" {
			t.Errorf("the delivery agent was not restarted by the upgrade (MainPID %s, was %s)", pid, agentPID)
		}
		ctPostAndFind(t, c, "218")
	})
	c.t = t

	t.Run("remove", func(t *testing.T) {
		c.t = t
		c.must("apt-get", "remove", "-y", "-q", "mppd")
		if _, err := c.dial("", "127.0.0.1:218"); err == nil {
			t.Errorf("port 218 still accepts connections after apt-get remove")
		}
		for _, f := range []string{"/usr/sbin/mppd", "/usr/lib/systemd/system/mppd.socket", "/usr/lib/systemd/system/mppd-deliver.service"} {
			if _, err := c.run(nil, "test", "-e", f); err == nil {
				t.Errorf("after remove: %s still there", f)
			}
		}
		// The administrator's configuration and the users stay.
		for _, f := range []string{"/etc/xinetd.d/mpp", "/etc/pam.d/mpp", "/etc/mppd/mppd.conf"} {
			if _, err := c.run(nil, "test", "-e", f); err != nil {
				t.Errorf("after remove: conffile %s gone (only purge should)", f)
			}
		}
		c.must("getent", "passwd", "mppd", "mppd-deliver")
	})
	c.t = t

	t.Run("purge", func(t *testing.T) {
		c.t = t
		c.must("apt-get", "purge", "-y", "-q", "mppd")
		for _, f := range []string{"/etc/xinetd.d/mpp", "/etc/pam.d/mpp", "/etc/mppd", "/var/lib/mppd",
			"/etc/systemd/system/sockets.target.wants/mppd.socket", "/etc/systemd/system/sockets.target.wants/mppd-deliver.socket"} {
			if _, err := c.run(nil, "test", "-e", f); err == nil {
				t.Errorf("after purge: %s still there", f)
			}
		}
		after := ctSystemState(c)
		if after != before {
			t.Errorf("after purge the accounts differ from before install:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
}

// ctSystemState is every account line that names mppd or mppd-deliver.
func ctSystemState(c *container) string {
	c.t.Helper()
	out, _ := c.run(nil, "sh", "-c", "grep -hE '(^|[:,])mppd(-deliver)?($|[:,])' /etc/passwd /etc/group /etc/shadow /etc/gshadow")
	return out
}

// pkgRepackVersion writes a copy of deb whose version has suffix appended:
// the same programs, a newer package, for upgrade tests.
func pkgRepackVersion(t testing.TB, deb, suffix string) string {
	t.Helper()
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	if out, err := exec.Command("dpkg-deb", "-R", deb, tree).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -R: %v\n%s", err, out)
	}
	control := filepath.Join(tree, "DEBIAN", "control")
	b := pkgReadFile(t, control)
	b = regexp.MustCompile(`(?m)^(Version: .*)$`).ReplaceAll(b, []byte("${1}"+suffix))
	if err := os.WriteFile(control, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "upgrade.deb")
	if o, err := exec.Command("dpkg-deb", "-Zxz", "-b", tree, out).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -b: %v\n%s", err, o)
	}
	return out
}
