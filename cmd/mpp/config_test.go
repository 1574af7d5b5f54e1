package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigOrder: the system file, then the user's file, then the command
// line, each overriding the one before key by key.
func TestConfigOrder(t *testing.T) {
	dir := t.TempDir()
	system := writeFile(t, dir, "mpp.conf", `# site-wide
host mpp.example.org
port 1218
tls on
tls_trust_file /etc/ssl/site-ca.pem
user nobody
timeout 30
`)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "xdg"))
	user := writeFile(t, dir, "xdg/mpp/config", `user = alice
passwordeval "pass show \"mail\" | head -1"
	tls_host_override=mpp-internal.example.org
`)
	if got := userConfigFile(); got != user {
		t.Fatalf("userConfigFile() = %q, want %q", got, user)
	}
	o, err := parseArgs([]string{"--port", "2218", "-t"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(o, []string{system, userConfigFile(), filepath.Join(dir, "missing")})
	if err != nil {
		t.Fatal(err)
	}
	want := config{host: "mpp.example.org", port: 2218, servers: []hostEntry{{"mpp.example.org", 2218}}, tls: true, trustFile: "/etc/ssl/site-ca.pem",
		hostOverride: "mpp-internal.example.org", user: "alice", passwordeval: `pass show "mail" | head -1`,
		timeout: 30 * time.Second}
	c.sources = nil
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("got  %+v\nwant %+v", *c, want)
	}
}

func TestConfigDefaults(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "c", "host h\n")
	o, _ := parseArgs([]string{"-t"})
	c, err := loadConfig(o, []string{f})
	if err != nil {
		t.Fatal(err)
	}
	if c.port != 218 || c.tls || c.user != loginName() || c.timeout != time.Minute {
		t.Errorf("defaults: %+v", *c)
	}
	o, _ = parseArgs([]string{"-t", "--tls=on"})
	c, err = loadConfig(o, []string{f})
	if err != nil || c.port != 1218 {
		t.Errorf("TLS default port: %+v, %v", c, err)
	}
	// -C replaces the usual files
	o, _ = parseArgs([]string{"-t", "-C", writeFile(t, dir, "other", "host other\n")})
	c, err = loadConfig(o, []string{f})
	if err != nil || c.host != "other" {
		t.Errorf("-C: %+v, %v", c, err)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		file string
		args []string
		want string
	}{
		{"host h\nport 70000\n", nil, "c:2: port \"70000\""},
		{"host h\ntls yes\n", nil, "c:2: tls \"yes\": on or off"},
		{"host h\nsmtp_auth on\n", nil, "c:2: unknown setting \"smtp_auth\""},
		{"host h\npassword hunter2\n", nil, "\"password\" is not supported"},
		{"host h\ntimeout -5s\n", nil, "must be positive"},
		{"host h\npasswordeval \"unclosed\n", nil, "no closing quote"},
		{"port 218\n", nil, "no server"},
		{"host a.example.org, b.example.org:x\n", nil, "host \"b.example.org:x\": not a name or address with a port number"},
		{"host h\n", []string{"--port=x"}, "--port: port \"x\""},
		{"host h\n", []string{"-C", "/nonexistent/mpp.conf"}, "/nonexistent/mpp.conf"},
	} {
		f := writeFile(t, dir, "c", tc.file)
		o, err := parseArgs(append([]string{"-t"}, tc.args...))
		if err != nil {
			t.Fatal(err)
		}
		_, err = loadConfig(o, []string{f})
		if exitStatus(err) != exConfig || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %q: got %v, want a config error saying %q", tc.file, tc.args, err, tc.want)
		}
	}
}

func TestPasswordeval(t *testing.T) {
	for cmd, want := range map[string]string{
		"echo 'pass word'":              "pass word",
		"printf 'first\\r\\nsecond\\n'": "first",
		"printf 'no newline'":           "no newline",
		"cat":                           "", // stdin is not the message: empty
	} {
		got, err := evalPassword(cmd)
		if want == "" {
			if err == nil {
				t.Errorf("%s: got %q, want an error", cmd, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", cmd, got, err, want)
		}
	}
	_, err := evalPassword("echo 'keyring locked' >&2; exit 3")
	if exitStatus(err) != exConfig || !strings.Contains(err.Error(), "keyring locked") {
		t.Errorf("failing command: got %v", err)
	}
}

// TestPasswordevalBounded: a command that prints without end costs mpp at
// most maxPassword bytes of its output, and 512 of its errors.
func TestPasswordevalBounded(t *testing.T) {
	pw, err := evalPassword("head -c 10000000 /dev/zero | tr '\\0' x")
	if err != nil || len(pw) > maxPassword || strings.Trim(pw, "x") != "" {
		t.Errorf("got %d bytes, %v; want at most %d x's", len(pw), err, maxPassword)
	}
	_, err = evalPassword("head -c 10000000 /dev/zero | tr '\\0' x >&2; exit 1")
	if err == nil || len(err.Error()) > 600 {
		t.Errorf("error of %d bytes, want at most 600", len(fmt.Sprint(err)))
	}
}
