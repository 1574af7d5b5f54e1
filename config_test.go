package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
	"github.com/sirupsen/logrus"
)

// settingsFor loads the settings as run does: the command line args, the
// file it names.
func settingsFor(t testing.TB, args ...string) (*settings, error) {
	t.Helper()
	s, _, err := loadSettings(args, io.Discard)
	return s, err
}

func TestConfigFile(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		args       []string
		check      func(*settings) bool
		err        string // a part of the error; "" none
	}{
		{"values", "# a comment\n\n  idle-timeout = 90s  \nhostname=mpp.example\r\nrequire-tls = yes\nsendmail = /usr/sbin/sendmail -t -oi -oQ#x\n", nil,
			func(s *settings) bool {
				return s.o.idleTimeout == 90*time.Second && s.o.hostname == "mpp.example" && s.o.requireTLS &&
					s.o.sendmail == "/usr/sbin/sendmail -t -oi -oQ#x"
			}, ""},
		{"empty value", "delivery-socket = \"\"\n", nil, func(s *settings) bool { return s.o.deliverySocket == "" }, ""},
		{"auth repeated, in order", "auth = pop3s://a.example\nauth = shadow\n", nil,
			func(s *settings) bool { return strings.Join(s.o.auth, " ") == "pop3s://a.example shadow" }, ""},
		{"the command line wins", "idle-timeout = 90s\nauth = pop3s://a.example\nauth = shadow\n", []string{"-idle-timeout", "2m", "-auth", "pam:mpp"},
			func(s *settings) bool {
				return s.o.idleTimeout == 2*time.Minute && strings.Join(s.o.auth, " ") == "pam:mpp" &&
					s.sources["idle-timeout"] == "command line" && s.sources["auth"] == "command line"
			}, ""},
		{"sources", "fail-delay = 3s\n", nil, func(s *settings) bool {
			return strings.HasSuffix(s.sources["fail-delay"], "mppd.conf:1") && s.sources["idle-timeout"] == ""
		}, ""},
		{"unknown", "idle-timeout = 1m\nidle-timout = 2m\n", nil, nil, "mppd.conf:2: unknown setting \"idle-timout\""},
		{"bad duration", "\n\nidle-timeout = 5 minutes\n", nil, nil, "mppd.conf:3: idle-timeout = 5 minutes:"},
		{"bad number", "max-errors = ten\n", nil, nil, "mppd.conf:1: max-errors = ten:"},
		{"bad yes or no", "require-tls = maybe\n", nil, nil, "mppd.conf:1: require-tls: \"maybe\": yes or no"},
		{"no =", "idle-timeout 1m\n", nil, nil, "mppd.conf:1: \"idle-timeout 1m\": not \"name = value\""},
		{"twice", "hostname = a\n# x\nhostname = b\n", nil, nil, "mppd.conf:3: hostname: set a second time (first on line 1)"},
		{"listen is no setting", "listen = 0.0.0.0:218\n", nil, nil, "mppd.conf:1: listen is not a setting of the file"},
		{"nor config", "config = /etc/other\n", nil, nil, "mppd.conf:1: config is not a setting of the file"},
		{"control character", "hostname = a\x1bb\n", nil, nil, "mppd.conf:1: hostname: control character"},
		{"long line", "hostname = " + strings.Repeat("a", maxConfigLine) + "\n", nil, nil, "mppd.conf:1: line longer than"},
		// The command line does not hide a fault of the file.
		{"unknown under a flag", "idle-timout = 2m\n", []string{"-idle-timeout", "1m"}, nil, "unknown setting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testlib.TempFile(t, "mppd.conf", tc.file, 0o644)
			s, err := settingsFor(t, append([]string{"-config", p}, tc.args...)...)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(s) {
				t.Errorf("settings %+v, sources %v", s.o, s.sources)
			}
		})
	}
}

// The default file may be missing; a named one may not.
func TestConfigFileMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.conf")
	if _, err := readConfigFile(missing, false); err != nil {
		t.Errorf("a missing default file: %v", err)
	}
	if _, err := settingsFor(t, "-config", missing); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing named file: %v", err)
	}
	if _, err := settingsFor(t, "-config", ""); err != nil {
		t.Errorf(`-config "": %v`, err)
	}
}

// As sshd's StrictModes: a file someone else could have written is not read
// (e2e TestConfigFileOtherOwner: one of another user's, which takes root).
func TestConfigFileOwner(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, p string)
		err   string
	}{
		{"group-writable", func(t *testing.T, p string) { os.Chmod(p, 0o664) }, "may be written by group or others (mode 0664)"},
		{"world-writable", func(t *testing.T, p string) { os.Chmod(p, 0o646) }, "may be written by group or others (mode 0646)"},
		{"directory group-writable", func(t *testing.T, p string) { os.Chmod(filepath.Dir(p), 0o775) }, "its directory"},
		{"not a file", func(t *testing.T, p string) { os.Remove(p); os.Mkdir(p, 0o755) }, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testlib.TempFile(t, "mppd.conf", "hostname = a\n", 0o644)
			tc.setup(t, p)
			if _, err := settingsFor(t, "-config", p); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
		})
	}
	// A sticky directory (as /tmp) protects the file.
	dir := t.TempDir()
	os.Chmod(dir, os.ModeSticky|0o777)
	p := filepath.Join(dir, "mppd.conf")
	os.WriteFile(p, []byte("hostname = a\n"), 0o644)
	if _, err := settingsFor(t, "-config", p); err != nil {
		t.Errorf("in a sticky directory: %v", err)
	}
}

// The shipped file lists every setting, each with mppd's own default:
// uncommented as it stands, it changes nothing.
func TestShippedConfig(t *testing.T) {
	b, err := os.ReadFile("packaging/mppd.conf")
	if err != nil {
		t.Fatal(err)
	}
	var uncommented strings.Builder
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#([a-z][a-z-]*) = (.*)$`).FindAllStringSubmatch(string(b), -1) {
		names[m[1]] = true
		uncommented.WriteString(m[1] + " = " + m[2] + "\n")
	}
	var o options
	newFlagSet(&o, io.Discard).VisitAll(func(f *flag.Flag) {
		if !notInFile[f.Name] && !names[f.Name] {
			t.Errorf("packaging/mppd.conf does not show %s", f.Name)
		}
	})
	t.Setenv("TMPDIR", "/tmp") // -spool-dir's default
	var defaults, shipped bytes.Buffer
	d, err := settingsFor(t, "-config", "")
	if err != nil {
		t.Fatal(err)
	}
	d.print(&defaults)
	s, err := settingsFor(t, "-config", testlib.TempFile(t, "mppd.conf", uncommented.String(), 0o644))
	if err != nil {
		t.Fatalf("packaging/mppd.conf, uncommented: %v", err)
	}
	s.print(&shipped)
	strip := regexp.MustCompile(`\t# .*`)
	if a, b := strip.ReplaceAllString(defaults.String(), ""), strip.ReplaceAllString(shipped.String(), ""); a != b {
		t.Errorf("the shipped file's values are not the defaults:\ndefaults:\n%s\nshipped:\n%s", a, b)
	}
}

// $CREDENTIALS_DIRECTORY (mppd-tls@.service's LoadCredential=) gives the
// TLS files, unless the file or the command line names others.
func TestConfigCredentials(t *testing.T) {
	creds := t.TempDir()
	for _, f := range []string{"tls-cert", "tls-key"} {
		os.WriteFile(filepath.Join(creds, f), []byte("x"), 0o600)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	s, err := settingsFor(t, "-config", "")
	if err != nil || s.o.tlsCert != filepath.Join(creds, "tls-cert") || s.o.tlsKey != filepath.Join(creds, "tls-key") || s.sources["tls-cert"] != "systemd credential" {
		t.Errorf("with credentials: %v %q %q %v", err, s.o.tlsCert, s.o.tlsKey, s.sources)
	}
	s, err = settingsFor(t, "-config", testlib.TempFile(t, "mppd.conf", "tls-cert = /etc/c.pem\ntls-key = /etc/k.pem\n", 0o644))
	if err != nil || s.o.tlsCert != "/etc/c.pem" {
		t.Errorf("the file's tls-cert: %v %q", err, s.o.tlsCert)
	}
	os.Remove(filepath.Join(creds, "tls-key"))
	if s, _ := settingsFor(t, "-config", ""); s.o.tlsCert != "" {
		t.Errorf("a certificate without its key became -tls-cert %q", s.o.tlsCert)
	}
}

// TestReloadEditDuringStart: a file edited after a -listen server read it
// and before it served (systemd-run, then the edit, in the container test)
// is read again at the first session, not taken for the one it read.
func TestReloadEditDuringStart(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "mppd.conf")
	write := func(text string) {
		tmp := p + ".new"
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil {
			t.Fatal(err)
		}
	}
	write("hostname = first.example\n")
	passwd := testlib.TempFile(t, "passwd", "alice:"+testlib.FixtureHashes["sha512crypt"]+"\n", 0o600)
	args := []string{"-config", p, "-passwd", passwd, "-sendmail", "/bin/true", "-log", "none"}
	s, err := settingsFor(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	cfg, tr, err := s.o.build(log)
	if err != nil {
		t.Fatal(err)
	}
	write("hostname = second.example\n") // the edit, before the first session
	r := newReloader(args, s, cfg, tr, log)
	if got, _ := r.get(); got.Hostname != "second.example" {
		t.Errorf("first session after an edit made while starting: hostname %q", got.Hostname)
	}
}
