package e2e

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

// ctMTA is one MTA that Debian puts behind /usr/sbin/sendmail, as an
// administrator installs it.
type ctMTA struct {
	name      string
	pkgs      []string
	before    string // shell run before apt-get install (debconf answers)
	after     string // shell run after it (configuration), once the unconfigured MTA was tried
	where     string // where a delivered message is found: files grep -r searches
	sender    string // how the envelope sender shows in it (a regexp; %s is the address)
	failFirst bool   // unconfigured, it must refuse with 451 (and then work once after ran)
	relayDown string // shell that stops the relay it hands mail to (a 451 then), and relayUp
	relayUp   string
	warning   string // a regexp: what the MTA adds to each message until quiet (shell, as mppd(8) gives it) has run
	quiet     string
}

var ctMTAs = []ctMTA{
	// Debian's default MTA, installed before mppd (below); the others
	// after it, each replacing the one before, as apt does.
	{name: "exim4-daemon-light", pkgs: []string{"exim4-daemon-light"}, where: "/var/mail/alice", sender: `(?m)^Return-path: <%s>`},
	{name: "postfix", pkgs: []string{"postfix"},
		before: "printf 'postfix postfix/main_mailer_type select Local only\\npostfix postfix/mailname string mppd-ct.mppd.test\\n' | debconf-set-selections",
		where:  "/var/mail/alice", sender: `(?m)^Return-Path: <%s>`},
	{name: "opensmtpd", pkgs: []string{"opensmtpd"}, where: "/home/alice/Maildir", sender: `(?m)^Return-Path: <%s>`},
	// Sendmail's submission program warns of every -f from a user it
	// does not trust, until mppd's two users are trusted (mppd(8)).
	{name: "sendmail", pkgs: []string{"sendmail-bin", "sendmail"}, where: "/var/mail/alice", sender: `(?m)^Return-Path: <%s>`,
		warning: `(?m)^X-Authentication-Warning: .*(mppd|mppd-deliver) set sender to`,
		quiet:   sendmailTrustMppd},
	{name: "nullmailer", pkgs: []string{"nullmailer"}, where: "/var/spool/nullmailer/queue", sender: `\A%s\n`},
	{name: "dma", pkgs: []string{"dma"}, where: "/var/mail/alice", sender: `(?m)^(Return-Path: <%s>|From %s )`},
	// msmtp relays to a smarthost: unconfigured it refuses (451), then
	// /etc/msmtprc points it at an msmtpd on loopback that files what it
	// gets with the envelope sender it was given.
	{name: "msmtp-mta", pkgs: []string{"msmtp-mta"}, failFirst: true,
		after: `cat > /usr/local/bin/msmtp-sink <<'EOF'
#!/bin/sh
mkdir -p /var/tmp/msmtp-sink
{ echo "X-Envelope-From: $1"; cat; } > /var/tmp/msmtp-sink/$$.eml
EOF
chmod 755 /usr/local/bin/msmtp-sink
cat > /etc/systemd/system/msmtp-sink.service <<'UNIT'
[Service]
# %% is a literal % for systemd: msmtpd puts the sender there.
ExecStart=/usr/bin/msmtpd --interface=127.0.0.1 --port=2525 "--command=/usr/local/bin/msmtp-sink %%F"
UNIT
systemctl daemon-reload
systemctl start msmtp-sink
printf 'account default\nhost 127.0.0.1\nport 2525\nauth off\ntls off\n' > /etc/msmtprc
chmod 644 /etc/msmtprc`,
		relayDown: "systemctl stop msmtp-sink", relayUp: "systemctl start msmtp-sink",
		where: "/var/tmp/msmtp-sink", sender: `(?m)^X-Envelope-From: %s$`},
	{name: "exim4-daemon-heavy", pkgs: []string{"exim4-daemon-heavy"}, where: "/var/mail/alice", sender: `(?m)^Return-path: <%s>`},
}

// sendmailTrustMppd is what mppd(8) DELIVERY tells a Sendmail site to do:
// mppd (inetd, xinetd, -listen) and mppd-deliver (the systemd units) are
// trusted users of the submission program, so -f is taken without the
// X-Authentication-Warning: header.
const sendmailTrustMppd = "sed -i \"/^FEATURE(.msp/i define(\\`confTRUSTED_USERS', \\`mppd mppd-deliver')dnl\" /etc/mail/submit.mc\n" +
	"m4 /etc/mail/submit.mc > /etc/mail/submit.cf.new && mv /etc/mail/submit.cf.new /etc/mail/submit.cf"

// ctLaunchers are the three ways the package runs mppd, each on its own
// port so that all three serve at once: the shipped, unedited mppd.socket;
// the inetd line the package registered (port changed); the shipped
// xinetd file (enabled, port changed).
var ctLaunchers = []struct{ name, port string }{{"systemd", "218"}, {"inetd", "2219"}, {"xinetd", "2220"}}

const ctPassword = "Correct-Horse-42"

// TestContainerEveryMTA: on a host booted with systemd, the .deb installed
// by apt, every MTA that Debian puts behind /usr/sbin/sendmail takes the
// message posted through each launcher, installed before mppd (exim4, the
// default) or after it, switching from one to the next with no reinstall
// of mppd and no unit edited. The message is found where that MTA puts it,
// with the user's address as its envelope sender.
func TestContainerEveryMTA(t *testing.T) {
	c := bootContainer(t)
	deb, _ := pkgBuildPackages(t)
	c.put("/root/mppd.deb", pkgReadFile(t, deb), 0o644)

	// inetd and the default MTA are there before mppd, as on a host that
	// serves inetd services; mppd then registers its (disabled) line.
	c.must("apt-get", "install", "-y", "-q", "openbsd-inetd", ctMTAs[0].pkgs[0])
	c.must("apt-get", "install", "-y", "-q", "/root/mppd.deb")
	ctAddUser(c, "alice")

	c.must("systemctl", "enable", "--now", "mppd.socket")
	ctServeInetdAndXinetd(c)

	for i, m := range ctMTAs {
		ok := t.Run(m.name, func(t *testing.T) {
			c.t = t
			if i > 0 {
				if m.before != "" {
					c.sh(m.before)
				}
				c.must(append([]string{"apt-get", "install", "-y", "-q"}, m.pkgs...)...)
			}
			if m.failFirst {
				out, err := ctPost(c, "alice", "218", "unconfigured-"+m.name)
				if err == nil || !strings.Contains(out, "451") {
					t.Fatalf("unconfigured %s: want a 451, got %v: %s", m.name, err, out)
				}
				c.sh(m.after)
			}
			if m.relayDown != "" {
				// The relay stopped: msmtp cannot hand the message on,
				// so mppd must not say 250; the log has msmtp's words.
				c.sh(m.relayDown)
				out, err := ctPost(c, "alice", "218", "relay-down-"+m.name)
				if err == nil || !strings.Contains(out, "451") {
					t.Errorf("relay down: want a 451, got %v: %s", err, out)
				}
				if j, ok := c.journalHas([]string{"-t", "mppd", "-n", "6"}, "cannot connect"); !ok {
					t.Errorf("relay down: the log does not say why:\n%s", j)
				}
				c.sh(m.relayUp)
			}
			warned := func(string) bool { return false }
			if m.warning != "" {
				warned = regexp.MustCompile(m.warning).MatchString
			}
			postEach := func(wantWarning bool) {
				for _, l := range ctLaunchers {
					marker := fmt.Sprintf("%s-%s-%s", m.name, l.name, testlib.RandomHex(4))
					if out, err := ctPost(c, "alice", l.port, marker); err != nil {
						t.Fatalf("posting through %s: %v\n%s\njournal:\n%s", l.name, err, out, c.journal("-n", "40"))
					}
					msg := ctFind(c, m.where, marker)
					if msg == "" {
						t.Fatalf("%s: message %s not in %s after 60 s\njournal:\n%s", l.name, marker, m.where, c.journal("-n", "60"))
					}
					addr := "alice@" + regexp.QuoteMeta(strings.TrimSpace(c.must("sh", "-c", "cat /etc/mailname 2>/dev/null || hostname -f")))
					if !regexp.MustCompile(strings.ReplaceAll(m.sender, "%s", addr)).MatchString(msg) {
						t.Errorf("%s: envelope sender not %s:\n%s", l.name, addr, msg)
					}
					if warned(msg) != wantWarning {
						t.Errorf("%s: %q in the message is %v, want %v:\n%s", l.name, m.warning, !wantWarning, wantWarning, msg)
					}
				}
			}
			postEach(m.warning != "")
			if m.quiet != "" {
				c.sh(m.quiet)
				postEach(false)
			}
		})
		c.t = t
		if !ok {
			break
		}
	}
}

// ctServeInetdAndXinetd turns on the package's inetd line (as a copy on
// port 2219) in the installed openbsd-inetd, and its xinetd file (enabled,
// port 2220) under an xinetd unpacked from its package (the two conflict).
func ctServeInetdAndXinetd(c *container) {
	c.t.Helper()
	conf := c.must("cat", "/etc/inetd.conf")
	line := regexp.MustCompile(`(?m)^#<off># 218(\s.*)$`).FindStringSubmatch(conf)
	if line == nil {
		c.t.Fatalf("no disabled mppd line in /etc/inetd.conf:\n%s", conf)
	}
	c.put("/etc/inetd.conf", []byte(conf+"2219"+line[1]+"\n"), 0o644)
	c.must("systemctl", "restart", "inetd")
	c.sh(`mkdir -p /opt/xinetd && dpkg-deb -x /var/cache/apt/archives/xinetd_*.deb /opt/xinetd
sed -i -e 's/^\(\s*disable\s*=\s*\)yes/\1no/' -e 's/^\(\s*port\s*=\s*\)218/\12220/' /etc/xinetd.d/mpp
printf 'defaults\n{\n}\nincludedir /etc/xinetd.d\n' > /etc/xinetd-test.conf
systemd-run --unit=xinetd-test /opt/xinetd/usr/sbin/xinetd -dontfork -f /etc/xinetd-test.conf -pidfile /run/xinetd-test.pid`)
}

// ctAddUser makes a real user with a home, password ctPassword (chpasswd:
// yescrypt), and an mpp configuration that logs in as them.
func ctAddUser(c *container, name string) {
	c.t.Helper()
	c.must("useradd", "-m", "-s", "/bin/sh", name)
	c.run([]byte(name+":"+ctPassword+"\n"), "chpasswd")
	c.sh(fmt.Sprintf(`mkdir -p /home/%[1]s/.config/mpp
printf 'host 127.0.0.1\ntls off\nuser %[1]s\npasswordeval "echo %[2]s"\n' > /home/%[1]s/.config/mpp/config
chown -R %[1]s: /home/%[1]s/.config`, name, ctPassword))
}

// ctPost posts a message with subject marker as user with the packaged mpp
// client, from inside the container, to the port there.
func ctPost(c *container, user, port, marker string, flags ...string) (string, error) {
	msg := fmt.Sprintf("To: %s@localhost\nSubject: %s\n\nfirst line\n.leading dot\n", user, marker)
	argv := append([]string{"runuser", "-u", user, "--", "mpp", "--port", port}, flags...)
	return c.run([]byte(msg), append(argv, "-t")...)
}

// ctFind waits for a file under where that holds marker and returns it.
func ctFind(c *container, where, marker string) string {
	var found string
	testlib.WaitFor(60*time.Second, func() bool {
		files, _ := c.run(nil, "sh", "-c", `grep -rlF -- "$0" "$1" 2>/dev/null`, marker, where)
		for _, f := range strings.Fields(files) {
			b, err := c.run(nil, "cat", f)
			if err != nil || !strings.Contains(b, marker) {
				continue
			}
			if strings.HasPrefix(f, "/var/mail/") {
				// An mbox: the one message.
				for _, m := range regexp.MustCompile(`(?m)^From `).Split(b, -1) {
					if strings.Contains(m, marker) {
						found = "From " + m
						return true
					}
				}
			}
			found = b
			return true
		}
		return false
	})
	return found
}

func pkgReadFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
