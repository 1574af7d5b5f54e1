package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mppd/mppd/internal/testlib"
)

// unitSettings reads a unit file into "Section/Key=Value" lines, in order,
// without comments and blank lines.
func unitSettings(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = strings.Trim(line, "[]")
		default:
			out = append(out, section+"/"+line)
		}
	}
	return out
}

// without drops the settings whose "Section/Key" is among keys.
func without(settings []string, keys ...string) []string {
	var out []string
next:
	for _, s := range settings {
		for _, k := range keys {
			if strings.HasPrefix(s, k+"=") {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

// TestTLSUnitsMatchPlainOnes: the TLS socket and service are the plain ones
// with TLS added, and nothing else changed: the same limits, the same
// hardening, line for line.
func TestTLSUnitsMatchPlainOnes(t *testing.T) {
	plain, tlsSvc := unitSettings(t, "systemd/mppd@.service"), unitSettings(t, "systemd/mppd-tls@.service")
	skip := []string{"Unit/Description", "Unit/Documentation", "Service/LoadCredential"}
	if a, b := strings.Join(without(plain, skip...), "\n"), strings.Join(without(tlsSvc, skip...), "\n"); a != b {
		t.Errorf("mppd-tls@.service differs from mppd@.service beyond TLS:\n--- mppd@.service\n%s\n--- mppd-tls@.service\n%s", a, b)
	}
	skip = []string{"Unit/Description", "Unit/Documentation", "Socket/ListenStream"}
	plainSock, tlsSock := unitSettings(t, "systemd/mppd.socket"), unitSettings(t, "systemd/mppd-tls.socket")
	if a, b := strings.Join(without(plainSock, skip...), "\n"), strings.Join(without(tlsSock, skip...), "\n"); a != b {
		t.Errorf("mppd-tls.socket differs from mppd.socket beyond its port:\n%s\n---\n%s", a, b)
	}
	want := []string{
		// No flags: mppd finds the credentials, and the settings are
		// /etc/mppd/mppd.conf's.
		"Service/ExecStart=/usr/sbin/mppd",
		"Service/LoadCredential=tls-cert:/etc/mppd/tls/cert.pem",
		"Service/LoadCredential=tls-key:/etc/mppd/tls/key.pem",
	}
	for _, w := range want {
		if !strings.Contains("\n"+strings.Join(tlsSvc, "\n")+"\n", "\n"+w+"\n") {
			t.Errorf("mppd-tls@.service lacks %s", w)
		}
	}
	if !strings.Contains(strings.Join(tlsSock, "\n"), "Socket/ListenStream=1218") {
		t.Errorf("mppd-tls.socket does not listen on 1218, where mpp(1) looks: %q", tlsSock)
	}
}

// installedUnits copies the units to a directory with ExecStart pointing at
// the built binary (systemd-analyze verify wants an executable there).
func installedUnits(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, u := range []string{"mppd.socket", "mppd@.service", "mppd-tls.socket", "mppd-tls@.service"} {
		b, err := os.ReadFile(filepath.Join("systemd", u))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.ReplaceAll(string(b), "/usr/sbin/mppd", testlib.Mppd(t))
		if err := os.WriteFile(filepath.Join(dir, u), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestTLSUnitsVerify: systemd accepts the TLS units, and scores the TLS
// service's hardening exactly as the plain one's.
func TestTLSUnitsVerify(t *testing.T) {
	sa := testlib.NeedProgram(t, "systemd-analyze")
	dir := installedUnits(t)
	out, err := exec.Command(sa, "verify", "--man=no", filepath.Join(dir, "mppd-tls.socket"), filepath.Join(dir, "mppd-tls@.service")).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	score := func(unit string) float64 {
		t.Helper()
		out, _ := exec.Command(sa, "security", "--offline=yes", filepath.Join(dir, unit)).CombinedOutput()
		m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("systemd-analyze security %s:\n%s", unit, out)
		}
		f, _ := strconv.ParseFloat(string(m[1]), 64)
		return f
	}
	if p, s := score("mppd@.service"), score("mppd-tls@.service"); s > p {
		t.Errorf("mppd-tls@.service scores %.1f, mppd@.service %.1f", s, p)
	}
}

// TestTLSUnitUnderSocketActivate runs the TLS service's own ExecStart= under
// systemd-socket-activate --accept, as mppd-tls.socket would (with
// $CREDENTIALS_DIRECTORY the directory systemd fills from LoadCredential=),
// posts with mpp, then renews the certificate: the next connection has it,
// no restart.
func TestTLSUnitUnderSocketActivate(t *testing.T) {
	ssa := testlib.NeedProgram(t, "systemd-socket-activate")
	dir, flags := e2eSetup(t, "")
	creds := t.TempDir()
	ca := testlib.NewCA(t)
	ca.Issue(t, filepath.Join(creds, "tls-cert"), filepath.Join(creds, "tls-key"), 40, "mpp.test", "127.0.0.1")

	var execStart string
	for _, s := range unitSettings(t, "systemd/mppd-tls@.service") {
		if v, ok := strings.CutPrefix(s, "Service/ExecStart="); ok {
			execStart = v
		}
	}
	argv := strings.Fields(execStart)
	if len(argv) == 0 || argv[0] != "/usr/sbin/mppd" {
		t.Fatalf("ExecStart=%s", execStart)
	}
	argv[0] = testlib.Mppd(t)
	addr := testlib.FreePort(t)
	runLauncher(t, ssa, append(append(append([]string{"-l", addr, "--accept", "-E", "CREDENTIALS_DIRECTORY=" + creds, "--"}, argv...), flags...), "-log", "stderr", "-config", "")...)
	testlib.DialRetry(t, addr).Close()

	conf := mppConfig(t, addr, ca.PEM, testlib.FixturePassword)
	if code, stderr := runMpp(t, strings.NewReader(mppMessage), "-C", conf, "-t", "-i"); code != 0 {
		t.Fatalf("mpp: exit %d: %s", code, stderr)
	}
	if msgs := waitDelivered(t, dir, 1); len(msgs) != 1 || msgs[0] != mppDelivered {
		t.Errorf("delivered %q", msgs)
	}

	if s := testlib.ServedSerial(t, addr, ca); s != 40 {
		t.Errorf("serial %d, want 40", s)
	}
	ca.Issue(t, filepath.Join(creds, "tls-cert"), filepath.Join(creds, "tls-key"), 41, "mpp.test", "127.0.0.1")
	if s := testlib.ServedSerial(t, addr, ca); s != 41 {
		t.Errorf("after renewal: serial %d, want 41", s)
	}
}
