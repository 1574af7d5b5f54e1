package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAddress(t *testing.T) {
	id := &Identity{Domain: "example.org"}
	for user, want := range map[string]string{
		"alice":        "alice@example.org",
		"first.last":   "first.last@example.org",
		"o'brien+tag":  "o'brien+tag@example.org",
		"jürgen":       "jürgen@example.org",
		"a\"b":         `"a\"b"@example.org`,
		"at@sign":      `"at@sign"@example.org`,
		"dots..twice":  `"dots..twice"@example.org`,
		".leading":     `".leading"@example.org`,
		`back\slash<>`: `"back\\slash<>"@example.org`,
		// The logins of TestPostfixLoginNotAnAddress (e2e).
		"boss%example.com": "boss%example.com@example.org",
		"example.com!boss": "example.com!boss@example.org",
		"a,b":              `"a,b"@example.org`,
		"<x>":              `"<x>"@example.org`,
	} {
		if got := id.Address(user); got != want {
			t.Errorf("Address(%q) = %q, want %q", user, got, want)
		}
	}
}

// A bare login is an address of the user's only as Postfix reads it: one
// dot-atom, no % or ! for it to route on.
func TestBareLoginIsAddress(t *testing.T) {
	for login, want := range map[string]bool{
		"alice": true, "first.last": true, "o'brien+tag": true, "jürgen": true, "a#b$c&d*e/f=g?h^i_j`k{l|m}n~o": true,
		"ceo%corp.example": false, "corp.example!ceo": false, "a,b": false, "<x>": false, "x@y": false,
		`"q"`: false, "a..b": false, ".a": false, "a.": false, "(c)a": false, "a;b": false, "[a]": false,
	} {
		if got := bareLoginIsAddress(login); got != want {
			t.Errorf("bareLoginIsAddress(%q) = %v, want %v", login, got, want)
		}
	}
}

func TestCheckDomain(t *testing.T) {
	for _, d := range []string{"example.org", "mppd.test", "localhost", "xn--caf-dma.example", "café.example", "[192.0.2.1]", "[IPv6:2001:db8::1]", "under_score.example"} {
		if err := checkDomain(d); err != nil {
			t.Errorf("%q: %v", d, err)
		}
	}
	for _, d := range []string{"", "-f", ".example.org", "example.org.", "a..b", "a b", "a@b", "a\nb", "a>b", "[]", strings.Repeat("a", 254)} {
		if err := checkDomain(d); err == nil {
			t.Errorf("%q accepted", d)
		}
	}
}

func TestDefaultDomain(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "mailname")
	if got := defaultDomain(p, "host.example"); got != "host.example" {
		t.Errorf("without mailname: %q", got)
	}
	os.WriteFile(p, []byte("  mail.example.org \nsecond line\n"), 0o644)
	if got := defaultDomain(p, "host.example"); got != "mail.example.org" {
		t.Errorf("with mailname: %q", got)
	}
	os.WriteFile(p, []byte("not a domain!\n"), 0o644)
	if got := defaultDomain(p, "host.example"); got != "host.example" {
		t.Errorf("with a bad mailname: %q", got)
	}
}

func TestParseFromPolicy(t *testing.T) {
	for _, s := range []string{"sender", "rewrite", "reject"} {
		p, err := parseFromPolicy(s)
		if err != nil || p.String() != s {
			t.Errorf("%q: %v %v", s, p, err)
		}
	}
	if _, err := parseFromPolicy("Sender"); err == nil {
		t.Error("Sender accepted")
	}
}

func TestReadLoginMap(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "map")
	os.WriteFile(p, []byte("# c\nA@Example.org alice,bob carol\n\n@x.org\tdave\nA@example.org erin\n"), 0o644)
	m, err := readLoginMap(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		login, addr string
		want        bool
	}{
		{"alice", "a@example.org", true}, {"bob", "A@EXAMPLE.ORG", true}, {"carol", "a@example.org", true},
		{"erin", "a@example.org", true}, {"dave", "a@example.org", false}, {"dave", "z@X.org", true},
		{"Alice", "a@example.org", false}, {"alice", "b@example.org", false}, {"alice", "a@x.org", false},
	} {
		if got := m.owns(tc.login, tc.addr); got != tc.want {
			t.Errorf("owns(%q, %q) = %v", tc.login, tc.addr, got)
		}
	}
	for _, bad := range []string{"lonely@example.org\n", "nodomain alice\n"} {
		os.WriteFile(p, []byte(bad), 0o644)
		if _, err := readLoginMap(p); err == nil || !strings.Contains(err.Error(), ":1:") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if _, err := readLoginMap(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// An unreadable map allows only the user's own address: it fails closed.
// The map is read once for a message that names another address, and not
// at all for one that names only the user's own, so only the first says in
// the log that it cannot be read.
func TestLoginMapUnreadable(t *testing.T) {
	id := testIdentity(t, PolicyReject, "postmaster@example.org alice\n")
	os.Remove(id.LoginMap)
	if _, refusal := filter(t, id, "alice", "From: postmaster@example.org\n\nb\n", 0); refusal == nil {
		t.Fatal("alias accepted without the map")
	}
	for text, want := range map[string]int{
		"From: postmaster@example.org\nSender: postmaster@example.org\n\nb\n": 1,
		"From: alice@example.org\nSender: Alice <ALICE@example.org>\n\nb\n":   0,
	} {
		reads := 0
		h := id.newHeaderFilter(io.Discard, Envelope{User: "alice"}, func(msg, _ string) {
			if strings.HasPrefix(msg, "sender login map unreadable") {
				reads++
			}
		})
		h.Write([]byte(text))
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
		if reads != want {
			t.Errorf("%q: the map was read %d times, want %d", text, reads, want)
		}
	}
}
