package pamhelper

import (
	"bytes"
	"strings"
	"testing"
	"testing/iotest"
)

func TestRoundTrip(t *testing.T) {
	for _, c := range [][4]string{
		{"mpp", "alice", "pw with spaces caf\u00e9", "192.0.2.7"},
		{"mpp", "bob", "", ""},
		{"mpp", "carol", "pw", "2001:db8::1"},
		{"mpp", "dave", "pw", "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"},
		{strings.Repeat("s", MaxService), strings.Repeat("u", MaxUser), strings.Repeat("p", MaxPassword), "::ffff:192.0.2.7"},
	} {
		req, err := Encode(c[0], c[1], c[2], c[3])
		if err != nil {
			t.Fatalf("Encode(%.20q): %v", c, err)
		}
		// Read in one-byte pieces, as a pipe may deliver it.
		s, u, p, h, err := Decode(iotest.OneByteReader(bytes.NewReader(req)))
		if err != nil || s != c[0] || u != c[1] || p != c[2] || h != c[3] {
			t.Errorf("Decode(Encode(%.20q)) = %.20q %.20q %.20q %q %v", c, s, u, p, h, err)
		}
	}
}

func TestEncodeRefuses(t *testing.T) {
	for _, c := range [][4]string{
		{"", "alice", "pw", ""},
		{"mpp", "", "pw", ""},
		{"mpp", "al\x00ice", "pw", ""},
		{"mpp", "alice", "p\x00w", ""},
		{strings.Repeat("s", MaxService+1), "alice", "pw", ""},
		{"mpp", strings.Repeat("u", MaxUser+1), "pw", ""},
		{"mpp", "alice", strings.Repeat("p", MaxPassword+1), ""},
		// PAM_RHOST is an address, nothing else.
		{"mpp", "alice", "pw", "client.example"},
		{"mpp", "alice", "pw", "192.0.2.7:4000"},
		{"mpp", "alice", "pw", "[2001:db8::1]:4000"},
		{"mpp", "alice", "pw", "fe80::1%eth0"},
		{"mpp", "alice", "pw", "192.0.2.7\x00"},
		{"mpp", "alice", "pw", "unknown"},
		{"mpp", "alice", "pw", strings.Repeat("1", MaxRhost+1)},
	} {
		if req, err := Encode(c[0], c[1], c[2], c[3]); err == nil {
			t.Errorf("Encode(%.30q) = %.30q, want an error", c, req)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, in := range []string{
		"",
		"mpp\x00alice\x00pw\x00127.0.0.1", // no final NUL
		"mpp\x00alice\x00pw\x00",          // three fields: an older mppd
		"mpp\x00alice\x00",                // two
		"mpp\x00alice\x00pw\x00\x00more\x00",
		"\x00alice\x00pw\x00\x00",
		"mpp\x00\x00pw\x00\x00",
		"mpp\x00alice\x00" + strings.Repeat("p", MaxPassword+1) + "\x00\x00",
		"mpp\x00alice\x00pw\x00client.example\x00",
		"mpp\x00alice\x00pw\x00127.0.0.1; rm -rf /\x00",
		"mpp\x00alice\x00pw\x00127.0.0.1\n\x00",
		strings.Repeat("x", 1<<20), // endless input is not read to its end
	} {
		r := strings.NewReader(in)
		if s, u, p, h, err := Decode(r); err == nil {
			t.Errorf("Decode(%.30q) = %q %q %.20q %q, want an error", in, s, u, p, h)
		}
		if read := int64(len(in)) - int64(r.Len()); read > MaxRequest+1 {
			t.Errorf("Decode read %d bytes, more than MaxRequest+1", read)
		}
	}
}

func TestReportRoundTrip(t *testing.T) {
	for _, c := range []struct {
		r    Report
		line string
		says string
	}{
		{Report{Stage: "auth", Code: 7}, "auth 7", "auth: PAM_AUTH_ERR (authentication failure)"},
		{Report{Stage: "account", Code: 12}, "account 12", "account: PAM_NEW_AUTHTOK_REQD (the password must be changed first)"},
		{Report{Stage: "auth", Code: 19, Detail: "second-prompt"}, "auth 19 second-prompt", "auth: PAM_CONV_ERR (conversation error), PAM asked for a second password"},
		{Report{Stage: "auth", Detail: "not-pam"}, "auth 0 not-pam", "auth: an error that is not one of PAM's"},
		{Report{Stage: "pam_set_item", Code: 29, Detail: "rhost"}, "pam_set_item 29 rhost", "pam_set_item(PAM_RHOST): PAM_BAD_ITEM"},
		{Report{Stage: "auth", Code: 200}, "auth 200", "auth: PAM error 200"},
		{Report{Stage: "auth"}, "auth", "auth: failed"},
		{Report{Stage: "request"}, "request", "could not read mppd's request"},
		{Report{Stage: "build"}, "build", "built without PAM"},
	} {
		if got := c.r.String(); got != c.line {
			t.Errorf("%+v: written %q, want %q", c.r, got, c.line)
		}
		r, ok := ParseReport(c.line)
		if !ok || r != c.r {
			t.Errorf("ParseReport(%q) = %+v %v, want %+v", c.line, r, ok, c.r)
		}
		if got := r.Describe(); !strings.Contains(got, c.says) {
			t.Errorf("%q says %q, want %q in it", c.line, got, c.says)
		}
	}
}

// A report holds only the vocabulary's words: anything else, a password
// in it above all, is not a report.
func TestParseReportRefuses(t *testing.T) {
	for _, line := range []string{
		"", " ", "auth ", "auth  7", " auth 7", "auth 7 ", "Auth 7", "auth +7", "auth 07", "auth -1",
		"auth 256", "auth 7 second-prompt x", "auth 7 hunter2", "hunter2", "auth hunter2",
		"auth 7\n", "auth 7\r", "auth\t7", "account 12 Sesame", "request 0 x", "auth 99999999999999999999",
	} {
		if r, ok := ParseReport(line); ok {
			t.Errorf("ParseReport(%q) = %+v, want refused", line, r)
		}
	}
}
