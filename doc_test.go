package main

import (
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

// TestTLSFlagsDocumented: the TLS flags are in mppd -h and in mppd(8).
func TestTLSFlagsDocumented(t *testing.T) {
	var help strings.Builder
	newFlagSet(&options{}, &help).Usage() // what mppd -h prints
	man, err := os.ReadFile("docs/mppd.8.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"-tls-cert", "-tls-key", "-require-tls"} {
		if !strings.Contains(help.String(), "\n  "+f+" ") && !strings.Contains(help.String(), "\n  "+f+"\n") {
			t.Errorf("mppd -h lacks %s", f)
		}
		if !strings.Contains(string(man), "\n**"+f+"**") {
			t.Errorf("mppd(8) lacks %s", f)
		}
	}
}

// TestManPageFlags: every flag of mppd -h has its entry in mppd(8), and the
// entry gives the flag's default as -h does.
func TestManPageFlags(t *testing.T) {
	b, err := os.ReadFile("docs/mppd.8.md")
	if err != nil {
		t.Fatal(err)
	}
	man := string(b)
	var help strings.Builder
	fs := newFlagSet(&options{}, &help)
	fs.Usage()
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(help.String(), "\n  -"+f.Name+" ") && !strings.Contains(help.String(), "\n  -"+f.Name+"\n") {
			t.Errorf("mppd -h lacks -%s", f.Name)
		}
		i := strings.Index(man, "\n**-"+f.Name+"**")
		if i < 0 {
			t.Errorf("mppd(8) has no entry for -%s", f.Name)
			return
		}
		entry := man[i+1:]
		if j := strings.Index(entry[1:], "\n**-"); j >= 0 {
			entry = entry[:j+1]
		}
		if j := strings.Index(entry, "\n#"); j >= 0 {
			entry = entry[:j]
		}
		def := manDefault(f)
		switch {
		case def == "":
			// A switch, or a default -h gives in words: the entry says it.
			if isBoolFlag(f) || !strings.Contains(f.Usage, "(default: ") {
				return
			}
			if !strings.Contains(entry, "default") {
				t.Errorf("mppd(8) -%s: no default, -h says %q", f.Name, f.Usage)
			}
		case !strings.Contains(entry, "default") || !strings.Contains(entry, def):
			t.Errorf("mppd(8) -%s: the default is not %q:\n%s", f.Name, def, entry)
		}
	})
}

// manDefault is a flag's default as mppd(8) writes it: durations without
// their zero units (2m, not 2m0s), the spool directory as "/tmp" whatever
// $TMPDIR says; "" for none.
func manDefault(f *flag.Flag) string {
	switch {
	case f.Name == "spool-dir":
		return "/tmp"
	case f.DefValue == "" || f.DefValue == "false":
		return ""
	}
	if d, err := time.ParseDuration(f.DefValue); err == nil && strings.HasSuffix(f.DefValue, "s") && f.DefValue != "0s" {
		s := d.String()
		for _, z := range []string{"0s", "0m"} {
			if strings.HasSuffix(s, z) && len(s) > len(z) {
				s = strings.TrimSuffix(s, z)
			}
		}
		return s
	}
	return f.DefValue
}
