package main

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		extract    bool
		ignoreDots bool
		verbose    bool
		config     string
		settings   map[string]string
		recipients []string
		ignored    int
	}{
		{args: []string{"-t"}, extract: true},
		{args: []string{"-t", "-i"}, extract: true, ignoreDots: true},
		{args: []string{"-ti"}, extract: true, ignoreDots: true},
		{args: []string{"-oi", "-t"}, extract: true, ignoreDots: true},
		{args: []string{"-i", "--", "-bob"}, ignoreDots: true, recipients: []string{"-bob"}},
		// what Debian's bsd-mailx runs
		{args: []string{"-i", "-t"}, extract: true, ignoreDots: true},
		// what Debian's cron runs
		{args: []string{"-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"}, ignoreDots: true, recipients: []string{"root"}, ignored: 3},
		{args: []string{"-f", "someone@example.org", "-F", "Some One", "-t"}, extract: true, ignored: 2},
		{args: []string{"-fsomeone", "-r", "x", "bob"}, recipients: []string{"bob"}, ignored: 2},
		{args: []string{"-N", "never", "-R", "hdrs", "-V", "id", "-t"}, extract: true, ignored: 3},
		{args: []string{"-bm", "-t", "-v"}, extract: true, verbose: true},
		{args: []string{"-odi", "-oem", "-om", "-t"}, extract: true, ignored: 3},
		{args: []string{"-C", "/x/conf", "-t"}, extract: true, config: "/x/conf"},
		{args: []string{"-C/x/conf", "-t"}, extract: true, config: "/x/conf"},
		{args: []string{"--host=mpp.example.org", "--port", "1218", "--tls=on", "-t"}, extract: true,
			settings: map[string]string{"host": "mpp.example.org", "port": "1218", "tls": "on"}},
		{args: []string{"--tls-trust-file", "/ca.pem", "--tls-host-override=x", "--user", "u", "--passwordeval", "pass show mpp", "-t"}, extract: true,
			settings: map[string]string{"tls_trust_file": "/ca.pem", "tls_host_override": "x", "user": "u", "passwordeval": "pass show mpp"}},
		{args: []string{"a@example.org", "b"}, recipients: []string{"a@example.org", "b"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			o, err := parseArgs(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if o.extract != tc.extract || o.ignoreDots != tc.ignoreDots || o.verbose != tc.verbose || o.configFile != tc.config {
				t.Errorf("got -t %v -i %v -v %v -C %q", o.extract, o.ignoreDots, o.verbose, o.configFile)
			}
			if tc.settings == nil {
				tc.settings = map[string]string{}
			}
			if !reflect.DeepEqual(o.settings, tc.settings) {
				t.Errorf("settings %v, want %v", o.settings, tc.settings)
			}
			if !reflect.DeepEqual(o.recipients, tc.recipients) {
				t.Errorf("recipients %q, want %q", o.recipients, tc.recipients)
			}
			if len(o.ignored) != tc.ignored {
				t.Errorf("ignored %q, want %d of them", o.ignored, tc.ignored)
			}
		})
	}
}

func TestParseArgsRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-bs", "bob"}, "-bs takes no recipients"},
		{[]string{"-bp"}, "mail queue"},
		{[]string{"-bd"}, "mpp smtpd listens for SMTP"},
		{[]string{"-bi"}, "alias"},
		{[]string{"-bv", "x"}, "verification"},
		{[]string{"-bz"}, "unknown mode -bz"},
		{[]string{"-q"}, "keeps no queue"},
		{[]string{"-q30m"}, "keeps no queue"},
		{[]string{"-I"}, "alias"},
		{[]string{"-k"}, "unknown option -k"},
		{[]string{"--password=x"}, "unknown option --password"},
		{[]string{"--host"}, "--host needs a value"},
		{[]string{"-f"}, "-f needs a value"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := parseArgs(tc.args)
			if exitStatus(err) != exUsage || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a usage error saying %q", err, tc.want)
			}
		})
	}
}

// exitStatus is the status mpp exits with for err; -1 if err is not an
// *exitError (mpp would report a bug).
func exitStatus(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return -1
}

// TestHelpAndVersion: --help and --version print on stdout and exit 0,
// without reading the message.
func TestHelpAndVersion(t *testing.T) {
	for arg, want := range map[string]string{"--help": "Usage: mpp", "--version": "mpp "} {
		var out, errOut strings.Builder
		if code := run([]string{arg}, strings.NewReader("unread"), &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), want) || errOut.Len() != 0 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", arg, code, out.String(), errOut.String())
		}
	}
}
