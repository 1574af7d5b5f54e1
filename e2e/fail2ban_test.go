package e2e

// Tests of the shipped fail2ban filter (packaging/fail2ban) with
// fail2ban-regex: which lines it takes for failed logins, in the journal
// and in a syslog file, genuine and forged. TestPackage checks the
// installed copy against lines the installed mppd writes.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

const journalRemote = "/lib/systemd/systemd-journal-remote"

// fail2banFilter copies the filter, with the common.conf it includes,
// into a directory of its own and returns its path.
func fail2banFilter(t *testing.T) string {
	t.Helper()
	testlib.NeedProgram(t, "fail2ban-regex")
	dir := filepath.Join(t.TempDir(), "filter.d")
	os.Mkdir(dir, 0o755)
	for from, to := range map[string]string{
		"/etc/fail2ban/filter.d/common.conf":  "common.conf",
		"packaging/fail2ban/mppd-filter.conf": "mppd.conf",
	} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, to), b, 0o644)
	}
	return filepath.Join(dir, "mppd.conf")
}

// fail2banHits runs fail2ban-regex on log (a file, or systemd-journal[...])
// and returns the addresses it would count a failure for, in order.
func fail2banHits(t *testing.T, log, filter string) []string {
	t.Helper()
	out, err := exec.Command("fail2ban-regex", "-v", log, filter).CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-regex: %v\n%s", err, out)
	}
	var hits []string
	for _, m := range regexp.MustCompile(`(?m)^\|\s+(\d+\.\d+\.\d+\.\d+)\s`).FindAllSubmatch(out, -1) {
		hits = append(hits, string(m[1]))
	}
	return hits
}

// failureLine is mppd's line for a failed login from ip.
func failureLine(ip string) string {
	return `authentication failed reason="wrong password" rip=` + ip + ` session=9a0c7e5d11f2 user=alice`
}

// TestFail2banJournalForged: in the journal the filter counts mppd's own
// failed logins (under mppd.slice, the template instances' slices,
// mppd.service, inetd, xinetd) and none of the same line written by a local
// user, whatever it calls itself; the entries carry the fields only
// journald sets, as journald would have set them.
func TestFail2banJournalForged(t *testing.T) {
	_, err := os.Stat(journalRemote)
	testlib.NeedReal(t, err == nil, journalRemote+" not installed (systemd-journal-remote)")
	filter := fail2banFilter(t)
	genuine := map[string][]string{
		"192.0.2.1": {"_COMM=mppd", "_SYSTEMD_UNIT=mppd@1-127.0.0.1:218-192.0.2.1:4000.service", "_SYSTEMD_SLICE=mppd.slice"},
		"192.0.2.2": {"_COMM=mppd", "_SYSTEMD_UNIT=mppd@2-127.0.0.1:218-192.0.2.2:4000.service", "_SYSTEMD_SLICE=system-mppd.slice"},
		"192.0.2.3": {"_COMM=mppd", "_SYSTEMD_UNIT=mppd-tls@3-127.0.0.1:1218-192.0.2.3:4000.service", `_SYSTEMD_SLICE=system-mppd\x2dtls.slice`},
		"192.0.2.4": {"_COMM=mppd", "_SYSTEMD_UNIT=mppd.service", "_SYSTEMD_SLICE=system.slice"},
		"192.0.2.5": {"_COMM=mppd", "_SYSTEMD_UNIT=inetd.service", "_SYSTEMD_SLICE=system.slice"},
		"192.0.2.6": {"_COMM=mppd", "_SYSTEMD_UNIT=xinetd.service", "_SYSTEMD_SLICE=system.slice"},
	}
	forged := map[string][]string{
		"203.0.113.1": {"_COMM=logger", "_EXE=/usr/bin/logger", "_SYSTEMD_UNIT=session-3.scope", "_SYSTEMD_SLICE=user-1000.slice"},
		"203.0.113.2": {"_COMM=mppd", "_EXE=/home/eve/mppd", "_SYSTEMD_UNIT=session-3.scope", "_SYSTEMD_SLICE=user-1000.slice"},
		"203.0.113.3": {"_COMM=mppd", "_EXE=/usr/sbin/mppd", "_SYSTEMD_UNIT=session-3.scope", "_SYSTEMD_SLICE=user-1000.slice"},
		"203.0.113.4": {"_COMM=logger", "_SYSTEMD_UNIT=user@1000.service", "_SYSTEMD_SLICE=user-1000.slice",
			"_SYSTEMD_USER_UNIT=mppd.service", "_SYSTEMD_USER_SLICE=mppd.slice"},
		"203.0.113.5": {"_COMM=logger", "_SYSTEMD_UNIT=xinetd.service", "_SYSTEMD_SLICE=system.slice"},
		"203.0.113.6": {"_COMM=mppd", "_SYSTEMD_UNIT=cron.service", "_SYSTEMD_SLICE=system.slice"},
		// no fields from /proc at all: a sender that exited before
		// journald looked (mppd logs a line at the start of every session
		// for that reason: session.go)
		"203.0.113.7": {},
	}
	var export strings.Builder
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	now := time.Now().UnixMicro()
	var ips []string
	for ip := range genuine {
		ips = append(ips, ip)
	}
	for ip := range forged {
		ips = append(ips, ip)
	}
	slices.Sort(ips)
	for i, ip := range ips {
		fmt.Fprintf(&export, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=%s\n_HOSTNAME=mppd.test\n_PID=%d\n_UID=998\n_GID=998\n",
			now+int64(i), 1000*(i+1), strings.ReplaceAll(strings.TrimSpace(string(boot)), "-", ""), 100+i)
		for _, f := range append(genuine[ip], forged[ip]...) {
			export.WriteString(f + "\n")
		}
		fmt.Fprintf(&export, "SYSLOG_IDENTIFIER=mppd\nSYSLOG_PID=%d\nPRIORITY=4\nMESSAGE=%s\n\n", 100+i, failureLine(ip))
	}
	journal := filepath.Join(t.TempDir(), "mppd.journal")
	cmd := exec.Command(journalRemote, "-o", journal, "-")
	cmd.Stdin = strings.NewReader(export.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd-journal-remote: %v\n%s", err, out)
	}
	hits := fail2banHits(t, "systemd-journal[journalfiles="+journal+"]", filter)
	slices.Sort(hits)
	var want []string
	for ip := range genuine {
		want = append(want, ip)
	}
	slices.Sort(want)
	if !slices.Equal(hits, want) {
		t.Errorf("the filter counts failures for %v, want %v (mppd's own, none of the forged)", hits, want)
	}
}

// TestFail2banSyslogFile: in a syslog file (rsyslog's format) the filter
// counts mppd's failed logins, not a rip= a client put into the user name;
// but a local user's logger -t mppd writes the very same line, which it
// counts too. A syslog line carries nothing its sender cannot choose: the
// limit the filter's comment and mppd(8) state, which this keeps true.
func TestFail2banSyslogFile(t *testing.T) {
	filter := fail2banFilter(t)
	stamp := time.Now().Format(time.Stamp)
	lines := []string{
		// mppd's own, through log/syslog
		stamp + " mail mppd[4242]: " + failureLine("192.0.2.1"),
		// a client's user name cannot move the rip= (mppd quotes it)
		stamp + ` mail mppd[4242]: authentication failed reason="wrong password" rip=192.0.2.2 session=9a0c7e5d11f2 user="x rip=198.51.100.9"`,
		stamp + " mail mppd[4242]: authenticated rip=192.0.2.3 session=2e81b3011912 user=alice",
		// logger -t mppd --id=4242 '...', by any local user
		stamp + " mail mppd[4242]: " + failureLine("203.0.113.1"),
	}
	log := filepath.Join(t.TempDir(), "mail.log")
	os.WriteFile(log, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	hits := fail2banHits(t, log, filter)
	if want := []string{"192.0.2.1", "192.0.2.2", "203.0.113.1"}; !slices.Equal(hits, want) {
		t.Errorf("the filter counts failures for %v, want %v", hits, want)
	}
}
