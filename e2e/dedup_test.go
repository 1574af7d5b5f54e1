package e2e

// The central delivery of docs/deployment.md under many deliveries to one
// mailbox at once, as when a host that comes back flushes its queue.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

// mhDedupLimits is central Postfix's lmtp_destination_ lines from
// docs/deployment.md: one delivery at a time to each mailbox.
func mhDedupLimits(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("docs/deployment.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := regexp.MustCompile(`(?m)^lmtp_destination_[a-z_]+ = [0-9]+$`).FindAllString(string(b), -1)
	if len(lines) != 2 {
		t.Fatalf("docs/deployment.md: %d lmtp_destination_ lines, want the recipient and concurrency limits: %q", len(lines), lines)
	}
	return lines
}

// TestCentralDedupConcurrent: with the guide's settings, central's
// Postfix hands Dovecot 40 messages for one mailbox at once, then the
// same 40 again; every second copy is discarded. Without the limits
// Dovecot 2.3 stores most of them: each delivery writes back the
// Message-IDs it read at its start plus its own, so of overlapping
// deliveries only the last one's is kept.
func TestCentralDedupConcurrent(t *testing.T) {
	testlib.NeedRoot(t)
	for _, p := range []string{"ip", "postfix", "postqueue", "dovecot", "sievec", "/usr/sbin/sendmail"} {
		testlib.NeedProgram(t, p)
	}
	const n = 40
	l := newLab(t)
	central := l.host("central", mhCentral)
	dvDir := filepath.Join(l.dir, "dovecot")
	for _, d := range []string{"run", "state", "sink"} {
		os.MkdirAll(filepath.Join(dvDir, d), 0o755)
	}
	os.Chown(filepath.Join(dvDir, "sink"), 65534, 65534)
	mailbox := filepath.Join(dvDir, "sink", "Maildir")
	os.WriteFile(filepath.Join(dvDir, "userdb"), []byte(fmt.Sprintf(
		"sink@example.test::65534:65534::%s::userdb_mail=maildir:%s\n", filepath.Join(dvDir, "sink"), mailbox)), 0o644)
	dvConf := filepath.Join(dvDir, "dovecot.conf")
	os.WriteFile(dvConf, []byte(fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/log
instance_name = mppd-dd-%[2]s
protocols = lmtp
ssl = no
first_valid_uid = 0
passdb {
  driver = passwd-file
  args = %[1]s/userdb
}
`, dvDir, l.prefix)+mhDovecotDelivery(t, dvDir)), 0o644)
	l.daemon(central, filepath.Join(dvDir, "out"), "dovecot", "-F", "-c", dvConf)
	sock := filepath.Join(dvDir, "run", "lmtp")
	if !testlib.WaitFor(10*time.Second, func() bool { _, err := os.Stat(sock); return err == nil }) {
		b, _ := os.ReadFile(filepath.Join(dvDir, "out"))
		t.Fatalf("Dovecot made no %s within 10s:\n%s", sock, b)
	}
	pfEtc := postfixInstance(t, filepath.Join(l.dir, "central"), append([]string{
		"myhostname = central.test", "inet_interfaces = loopback-only", "mydestination =",
		"virtual_mailbox_domains = example.test",
		"virtual_mailbox_maps = inline:{ sink@example.test=sink/ }",
		"virtual_transport = lmtp:unix:" + sock,
	}, mhDedupLimits(t)...)...)
	l.must(central, "postfix", "-c", pfEtc, "start")
	defer exec.Command("postfix", "-c", pfEtc, "stop").Run()

	dvLog := filepath.Join(dvDir, "log")
	verdicts := regexp.MustCompile(`sieve: msgid=(<dd-[0-9]+@clients\.test>): (stored mail into mailbox|discard action)`)
	// round queues the n messages at once, and waits until Dovecot has
	// judged want of them in all.
	round := func(want int) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := exec.Command("sendmail", "-C", pfEtc, "-t", "-oi")
				c.Stdin = strings.NewReader(fmt.Sprintf("From: user1@example.test\nTo: sink@example.test\n"+
					"Message-ID: <dd-%d@clients.test>\nSubject: %d\n\nmessage %d\n", i, i, i))
				if out, err := c.CombinedOutput(); err != nil {
					t.Errorf("sendmail: %v\n%s", err, out)
				}
			}()
		}
		wg.Wait()
		if !testlib.WaitFor(60*time.Second, func() bool {
			b, _ := os.ReadFile(dvLog)
			return len(verdicts.FindAll(b, -1)) >= want
		}) {
			b, _ := os.ReadFile(dvLog)
			t.Fatalf("Dovecot judged %d of %d deliveries within 60s; its log:\n%s", len(verdicts.FindAll(b, -1)), want, b)
		}
	}
	round(n)
	round(2 * n)

	b, _ := os.ReadFile(dvLog)
	stored, discarded := map[string]int{}, map[string]int{}
	for _, m := range verdicts.FindAllSubmatch(b, -1) {
		if string(m[2]) == "discard action" {
			discarded[string(m[1])]++
		} else {
			stored[string(m[1])]++
		}
	}
	files, _ := filepath.Glob(filepath.Join(mailbox, "new", "*"))
	var twice []string
	for id, k := range stored {
		if k > 1 {
			twice = append(twice, id)
		}
	}
	t.Logf("%d messages sent twice, %d at a time: %d stored, %d discarded, %d files in the mailbox", n, n, len(stored), len(discarded), len(files))
	if len(stored) != n || len(twice) > 0 || len(discarded) != n || len(files) != n {
		t.Errorf("stored twice: %d of %d (%v); discarded: %d; files in the mailbox: %d", len(twice), n, twice, len(discarded), len(files))
	}
}
