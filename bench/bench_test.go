package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// needReal skips with a reason when a real component is missing, or fails
// under MPPD_REQUIRE_REAL=1 (.ci/run), as the main package's tests do.
func needReal(t *testing.T, ok bool, reason string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("MPPD_REQUIRE_REAL") == "1" {
		t.Fatalf("MPPD_REQUIRE_REAL=1 but %s", reason)
	}
	t.Skip(reason)
}

func needProgram(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	needReal(t, err == nil, name+" not installed")
	return p
}

// TestSmoke runs the whole harness with tiny sizes, so that it cannot rot
// between runs of make bench. It checks that every figure was measured, not
// how good it is: timings are not for tests.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	gcc := needProgram(t, "gcc")
	activate := needProgram(t, "systemd-socket-activate")
	msmtpd := os.Getenv("MSMTPD")
	if msmtpd == "" {
		msmtpd = "/opt/msmtp/usr/bin/msmtpd"
	}
	_, err := os.Stat(msmtpd)
	needReal(t, err == nil, msmtpd+" not there (the msmtp-mta package unpacked, see .ci/setup.d/70-msmtpd.sh)")

	dir := t.TempDir()
	o := &options{mppd: filepath.Join(dir, "mppd"), floor: filepath.Join(dir, "floor"), msmtpd: msmtpd,
		activate: activate, size: 1 << 20, bigSize: 3 << 20, rounds: 1, greetings: 3,
		sessionTime: 150 * time.Millisecond, loginClients: 12, dir: dir, conf: "../packaging/mppd.conf"}
	if out, err := exec.Command("go", "build", "-o", o.mppd, "..").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if out, err := exec.Command(gcc, "-O2", "-o", o.floor, "floor/floor.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	o.passBench = filepath.Join(dir, "pass.txt")
	// A line as go test -bench writes it, to check the parser too.
	os.WriteFile(o.passBench, []byte("BenchmarkPASSOverhead/sha512crypt_rounds-2  40  18129362 ns/op  8299 pass-µs  1.040 pass/verify  7980 verify-µs\n"), 0o600)

	tab, err := run(o, t.Output())
	if err != nil {
		t.Fatal(err)
	}
	text := tab.String()
	t.Log("\n" + text)
	number := regexp.MustCompile(`^[0-9]+(\.[0-9]+)?( MiB|/s)?$`)
	want := map[string]bool{"1.": false, "2.": false, "3.": false, "4.": false, "5.": false, "6.": false, "7.": false}
	for _, r := range tab.rows {
		if !number.MatchString(r.value) || strings.HasPrefix(r.value, "0 ") || r.value == "0" || r.value == "0.00" {
			t.Errorf("%s: measured %q", r.figure, r.value)
		}
		want[r.figure[:2]] = true
	}
	for k, seen := range want {
		if !seen {
			t.Errorf("no figure %s in the table", k)
		}
	}
	if !strings.Contains(text, "with the shipped mppd.conf / without") {
		t.Errorf("no configuration file figure")
	}
	if !strings.Contains(text, "through the delivery agent / direct") {
		t.Errorf("no delivery agent figure")
	}
	if !strings.Contains(text, "PASS / bare hash, sha512crypt rounds | 1.040 |") {
		t.Errorf("PASS line not parsed")
	}
}
