package pamhelper

import (
	"bytes"
	"strings"
	"testing"
	"testing/iotest"
)

func TestRoundTrip(t *testing.T) {
	for _, c := range [][3]string{
		{"mpp", "alice", "pw with spaces caf\u00e9"},
		{"mpp", "bob", ""},
		{strings.Repeat("s", MaxService), strings.Repeat("u", MaxUser), strings.Repeat("p", MaxPassword)},
	} {
		req, err := Encode(c[0], c[1], c[2])
		if err != nil {
			t.Fatalf("Encode(%q): %v", c, err)
		}
		// Read in one-byte pieces, as a pipe may deliver it.
		s, u, p, err := Decode(iotest.OneByteReader(bytes.NewReader(req)))
		if err != nil || s != c[0] || u != c[1] || p != c[2] {
			t.Errorf("Decode(Encode(%.20q)) = %.20q %.20q %.20q %v", c, s, u, p, err)
		}
	}
}

func TestEncodeRefuses(t *testing.T) {
	for _, c := range [][3]string{
		{"", "alice", "pw"},
		{"mpp", "", "pw"},
		{"mpp", "al\x00ice", "pw"},
		{"mpp", "alice", "p\x00w"},
		{strings.Repeat("s", MaxService+1), "alice", "pw"},
		{"mpp", strings.Repeat("u", MaxUser+1), "pw"},
		{"mpp", "alice", strings.Repeat("p", MaxPassword+1)},
	} {
		if req, err := Encode(c[0], c[1], c[2]); err == nil {
			t.Errorf("Encode(%.30q) = %.30q, want an error", c, req)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, in := range []string{
		"",
		"mpp\x00alice\x00pw",             // no final NUL
		"mpp\x00alice\x00",               // two fields
		"mpp\x00alice\x00pw\x00more\x00", // four
		"\x00alice\x00pw\x00",
		"mpp\x00\x00pw\x00",
		"mpp\x00alice\x00" + strings.Repeat("p", MaxPassword+1) + "\x00",
		strings.Repeat("x", 1<<20), // endless input is not read to its end
	} {
		r := strings.NewReader(in)
		if s, u, p, err := Decode(r); err == nil {
			t.Errorf("Decode(%.30q) = %q %q %.20q, want an error", in, s, u, p)
		}
		if read := int64(len(in)) - int64(r.Len()); read > MaxRequest+1 {
			t.Errorf("Decode read %d bytes, more than MaxRequest+1", read)
		}
	}
}
