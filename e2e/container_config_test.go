package e2e

import (
	"bufio"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

// TestContainerConfigFile: /etc/mppd/mppd.conf is the one place to edit.
// Every launcher, as the package ships it (mppd.socket, the inetd line,
// the xinetd file) and mppd -listen, picks up an edit at its next
// connection, with no unit, inetd or xinetd file touched (the PROXY
// protocol's trusted balancers among the settings); a file mppd
// cannot use stops a session before its greeting (exit 78, the line in the
// journal) and a -listen server keeps what it had.
func TestContainerConfigFile(t *testing.T) {
	c := ctInstall(t, "openbsd-inetd")
	ctServeInetdAndXinetd(c)
	// A server of many, as an administrator would run it in a unit of
	// their own: the same file, read again when it changes.
	c.must("systemd-run", "--unit=mppd-listen", "--property=User=mppd", "/usr/sbin/mppd", "-listen", "127.0.0.1:2221")
	ports := []string{"218", "2219", "2220", "2221"}
	shipped := c.must("cat", "/etc/mppd/mppd.conf")
	if !strings.Contains(shipped, "#idle-timeout = 5m") {
		t.Fatalf("/etc/mppd/mppd.conf is not the shipped file:\n%s", shipped)
	}
	edit := func(lines string) {
		// As an editor saves it: a new file renamed into place.
		c.put("/etc/mppd/mppd.conf.new", []byte(shipped+lines), 0o644)
		c.must("mv", "/etc/mppd/mppd.conf.new", "/etc/mppd/mppd.conf")
	}
	greeting := func(port string) (string, error) {
		conn, err := c.dial("", "127.0.0.1:"+port)
		if err != nil {
			return "", err
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		return bufio.NewReader(conn).ReadString('\n')
	}

	for _, name := range []string{"first.example", "second.example"} {
		edit("hostname = " + name + "\ndomain = " + name + "\n")
		for _, port := range ports {
			if g, err := greeting(port); err != nil || !strings.Contains(g, name) {
				t.Errorf("port %s after the edit to %s: %q, %v", port, name, g, err)
			}
		}
	}
	// A setting that matters: the envelope sender's domain, through the
	// socket unit and the agent.
	marker := "conf-" + testlib.RandomHex(4)
	if out, err := ctPost(c, "alice", "218", marker); err != nil {
		t.Fatalf("mpp: %v %s", err, out)
	}
	if m := ctFind(c, "/var/mail/alice", marker); !strings.Contains(m, "Return-Path: <alice@second.example>") {
		t.Errorf("envelope sender not the file's domain:\n%s", m)
	}

	// Behind a balancer: proxy-trusted-networks in the file, and every
	// launcher takes the client's address from a PROXY header into the
	// Received: field; one from an address not in it is refused.
	edit("hostname = second.example\ndomain = second.example\nproxy-trusted-networks = 127.0.0.1\n")
	for _, port := range ports {
		marker := "proxy-" + port + "-" + testlib.RandomHex(4)
		cl := ctClient(t, c, "127.0.0.1", "127.0.0.1:"+port)
		cl.Conn.SetDeadline(time.Now().Add(30 * time.Second))
		cl.Send("PROXY TCP4 192.0.2.7 127.0.0.1 40001 " + port + "\r\n")
		cl.Expect("220")
		cl.Cmd("USER alice", "250")
		cl.Cmd("PASS "+ctPassword, "250")
		cl.Cmd("DATA", "354")
		cl.Send("To: alice@localhost\r\nSubject: " + marker + "\r\n\r\nbehind a balancer\r\n.\r\n")
		cl.Expect("250")
		cl.Cmd("QUIT", "221")
		if m := ctFind(c, "/var/mail/alice", marker); !strings.Contains(m, "Received: from [192.0.2.7]") {
			t.Errorf("port %s behind a balancer, the message:\n%s", port, m)
		}
		forged := ctClient(t, c, "127.0.0.2", "127.0.0.1:"+port)
		forged.Conn.SetDeadline(time.Now().Add(30 * time.Second))
		forged.Send("PROXY TCP4 192.0.2.8 127.0.0.1 40001 " + port + "\r\n")
		if got := forged.Rest(); !strings.Contains(got, "451 Local error encountered: PROXY header not accepted") {
			t.Errorf("port %s: a PROXY header from 127.0.0.2 got %q", port, got)
		}
	}
	edit("hostname = second.example\ndomain = second.example\n")
	for _, port := range ports {
		if g, err := greeting(port); err != nil || !strings.Contains(g, "second.example") {
			t.Errorf("port %s with no balancer trusted again: %q, %v", port, g, err)
		}
	}

	// An unknown setting: no session anywhere the file is read at start,
	// and the journal says where; -listen goes on with second.example.
	edit("hostname = third.example\nidle-timout = 1m\n")
	for _, port := range ports[:3] {
		conn, err := c.dial("", "127.0.0.1:"+port)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if b, _ := io.ReadAll(conn); len(b) != 0 {
			t.Errorf("port %s with a bad file: the client got %q", port, b)
		}
		conn.Close()
	}
	if g, _ := greeting("2221"); !strings.Contains(g, "second.example") {
		t.Errorf("-listen after a bad edit: %q, want the last good settings", g)
	}
	if j, ok := c.journalHas([]string{"-t", "mppd", "-n", "30"}, "/etc/mppd/mppd.conf:", `unknown setting \"idle-timout\"`, "configuration not reloaded"); !ok {
		t.Errorf("the journal does not say what is wrong:\n%s", j)
	}

	// Writable by group: refused as a whole, as sshd's StrictModes does.
	edit("hostname = fourth.example\n")
	c.must("chmod", "g+w", "/etc/mppd/mppd.conf")
	if g, _ := greeting("218"); g != "" {
		t.Errorf("a group-writable file: greeting %q", g)
	}
	if j, ok := c.journalHas([]string{"-t", "mppd", "-n", "5"}, "may be written by group or others"); !ok {
		t.Errorf("the journal does not say why:\n%s", j)
	}
	c.must("chmod", "g-w", "/etc/mppd/mppd.conf")
	if g, _ := greeting("218"); !strings.Contains(g, "fourth.example") {
		t.Errorf("after chmod g-w: %q", g)
	}

	// -print-config, as an administrator checks an edit.
	if out := c.must("mppd", "-print-config"); !strings.Contains(out, "hostname = fourth.example\t# /etc/mppd/mppd.conf:") {
		t.Errorf("mppd -print-config:\n%s", out)
	}
}
