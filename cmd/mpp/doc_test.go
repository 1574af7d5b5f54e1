package main

import (
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestManPageCoversEverything: every option, setting and exit status in
// the code is in mpp(1), and in --help.
func TestManPageCoversEverything(t *testing.T) {
	b, err := os.ReadFile("../../docs/mpp.1.md")
	if err != nil {
		t.Fatal(err)
	}
	man := string(b)
	for name := range longOptions {
		if !strings.Contains(man, "**--"+name+"**") {
			t.Errorf("mpp(1) lacks --%s", name)
		}
		if !strings.Contains(usage, name) {
			t.Errorf("--help lacks %s", name)
		}
		key := strings.ReplaceAll(name, "-", "_")
		if !strings.Contains(man, "\n**"+key+"**") {
			t.Errorf("mpp(1) CONFIGURATION lacks %s", key)
		}
	}
	for mode := range refusedModes {
		if !strings.Contains(man, "**-b"+mode+"**") {
			t.Errorf("mpp(1) does not say -b%s is refused", mode)
		}
	}
	for _, code := range []int{exOK, exUsage, exDataErr, exUnavailable, exSoftware, exIOErr, exTempFail, exProtocol, exNoPerm, exConfig} {
		if !strings.Contains(man, "\n**"+strconv.Itoa(code)+"**") {
			t.Errorf("mpp(1) EXIT STATUS lacks %d", code)
		}
	}
}

// TestManPageDefaults: each setting's entry in mpp(1) gives the default the
// code has (the --KEY options of --help are the settings).
func TestManPageDefaults(t *testing.T) {
	b, err := os.ReadFile("../../docs/mpp.1.md")
	if err != nil {
		t.Fatal(err)
	}
	man := string(b)
	entry := func(key string) string {
		i := strings.Index(man, "\n**"+key+"**")
		if i < 0 {
			t.Fatalf("mpp(1) has no entry for %s", key)
		}
		e := man[i+1:]
		if j := strings.Index(e, "\n\n"); j >= 0 {
			e = e[:j]
		}
		return e
	}
	f := writeFile(t, t.TempDir(), "c", "host h\n")
	o, _ := parseArgs([]string{"-t"})
	plain, err := loadConfig(o, []string{f})
	if err != nil {
		t.Fatal(err)
	}
	o, _ = parseArgs([]string{"-t", "--tls=on"})
	withTLS, err := loadConfig(o, []string{f})
	if err != nil {
		t.Fatal(err)
	}
	tls := map[bool]string{false: "off", true: "on"}
	for key, want := range map[string][]string{
		"port":    {"default " + strconv.Itoa(plain.port), strconv.Itoa(withTLS.port) + " with **tls on**"},
		"tls":     {"default *" + tls[plain.tls] + "*"},
		"timeout": {"default *" + strconv.FormatFloat(plain.timeout.Seconds(), 'f', -1, 64) + "s*"},
		"user":    {"default: the name of the user running **mpp**"},
	} {
		for _, w := range want {
			if e := entry(key); !strings.Contains(e, w) {
				t.Errorf("mpp(1) %s: no %q in\n%s", key, w, e)
			}
		}
	}
	if plain.user != loginName() {
		t.Errorf("user default %q, not the login name", plain.user)
	}
}

// TestSmtpdManPage: every flag of mpp smtpd is in mpp(1) and in its
// usage, and the entry of each flag with a default gives that default.
func TestSmtpdManPage(t *testing.T) {
	b, err := os.ReadFile("../../docs/mpp.1.md")
	if err != nil {
		t.Fatal(err)
	}
	man := string(b)
	_, section, ok := strings.Cut(man, "\n## mpp smtpd's options\n")
	if !ok {
		t.Fatal("mpp(1) has no section mpp smtpd's options")
	}
	var help bool
	smtpdFlags(&smtpdOptions{o: options{settings: map[string]string{}}}, &help).VisitAll(func(f *flag.Flag) {
		if f.Name == "help" {
			return
		}
		if !strings.Contains(man, "**-"+f.Name+"**") && !strings.Contains(man, "**--"+f.Name+"**") {
			t.Errorf("mpp(1) lacks mpp smtpd's -%s", f.Name)
		}
		if !strings.Contains(smtpdUsage, "-"+f.Name) {
			t.Errorf("mpp smtpd's usage lacks -%s", f.Name)
		}
		def := f.DefValue
		if def == "" || def == "false" {
			return // no default, or one the entry gives in words
		}
		if strings.HasSuffix(def, "m0s") {
			def = strings.TrimSuffix(def, "0s") // a duration: 5m, as mpp(1) writes it
		}
		i := strings.Index(section, "\n**-"+f.Name+"**")
		if i < 0 {
			t.Errorf("mpp(1) mpp smtpd's options: no entry for -%s", f.Name)
			return
		}
		entry, _, _ := strings.Cut(section[i+1:], "\n\n")
		if !strings.Contains(entry, "default") || !strings.Contains(entry, def) {
			t.Errorf("mpp(1) -%s: the default is not %q:\n%s", f.Name, def, entry)
		}
	})
	for _, want := range []string{"# SMTP BRIDGE", "Thunderbird", "Outlook", "mpp -bs"} {
		if !strings.Contains(man, want) {
			t.Errorf("mpp(1) lacks %q", want)
		}
	}
}
