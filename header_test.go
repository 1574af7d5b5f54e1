package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

var testTime = time.Date(2026, 11, 28, 14, 1, 10, 0, time.FixedZone("", 3600))

func testIdentity(t testing.TB, policy FromPolicy, loginMap string) *Identity {
	id := &Identity{Domain: "example.org", Policy: policy, Hostname: "mpp.test",
		now: func() time.Time { return testTime },
		fullName: func(u string) string {
			if u == "alice" {
				return "Alice Example"
			}
			return ""
		}}
	if loginMap != "" {
		id.LoginMap = filepath.Join(t.TempDir(), "senders")
		if err := os.WriteFile(id.LoginMap, []byte(loginMap), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// filter runs text through a header filter in pieces of size n (0: whole).
func filter(t testing.TB, id *Identity, user, text string, n int) (string, *replyError) {
	t.Helper()
	var out bytes.Buffer
	h := id.newHeaderFilter(&out, Envelope{User: user, Peer: "192.0.2.7", SessionID: "0123456789ab"}, nil)
	p := []byte(text)
	for len(p) > 0 {
		k := len(p)
		if n > 0 && n < k {
			k = n
		}
		if _, err := h.Write(p[:k]); err != nil {
			t.Fatal(err)
		}
		if len(h.header)+len(h.line) > maxHeaderSize {
			t.Fatalf("header filter holds %d bytes", len(h.header)+len(h.line))
		}
		p = p[k:]
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	return out.String(), h.refusal
}

const aliceFrom = `"Alice Example" <alice@example.org>`

func TestHeaderFilter(t *testing.T) {
	long := "Subject: " + strings.Repeat("a", maxHeaderSize) + "\n"
	many := strings.Repeat("X-Pad: 0123456789\n", maxHeaderSize/18+10)
	cut := len(many[:maxHeaderSize]) / 18 * 18 // the lines that fit
	aliases := "postmaster@example.org  alice, bob\n# comment\n\n@sales.example.org\tcarol alice\nboss@example.org bob\n"
	tests := []struct {
		name, user, aliases string
		policy              FromPolicy
		in, want            string
		refused             string // part of the 451 text, for PolicyReject
	}{
		{name: "own From unchanged", in: "From: alice@example.org\nTo: b@x.org\n\nbody\n",
			want: "From: alice@example.org\nTo: b@x.org\n\nbody\n"},
		{name: "own From, other case and a name", in: "From: Al <ALICE@Example.ORG>\n\nb\n",
			want: "From: Al <ALICE@Example.ORG>\n\nb\n"},
		{name: "bare login as From", in: "From: alice\n\nb\n", want: "From: alice\n\nb\n"},
		{name: "foreign From gets Sender", in: "To: b@x.org\nFrom: ceo@corp.example\nSubject: s\n\nbody\n",
			want: "To: b@x.org\nFrom: ceo@corp.example\nSender: " + aliceFrom + "\nSubject: s\n\nbody\n"},
		{name: "forged Sender replaced", in: "Sender: ceo@corp.example\nFrom: ceo@corp.example\n\nb\n",
			want: "From: ceo@corp.example\nSender: " + aliceFrom + "\n\nb\n"},
		{name: "forged Sender under own From removed", in: "From: alice@example.org\nsender: ceo@corp.example\n\nb\n",
			want: "From: alice@example.org\n\nb\n"},
		{name: "folded foreign From", in: "From: The Boss\n <ceo@corp.example>\nTo: x@y.org\n\nb\n",
			want: "From: The Boss\n <ceo@corp.example>\nSender: " + aliceFrom + "\nTo: x@y.org\n\nb\n"},
		{name: "one foreign mailbox among own", in: "From: alice@example.org, ceo@corp.example\n\nb\n",
			want: "From: alice@example.org, ceo@corp.example\nSender: " + aliceFrom + "\n\nb\n"},
		{name: "unreadable From", in: "From: <<<\n\nb\n", want: "From: <<<\nSender: " + aliceFrom + "\n\nb\n"},
		{name: "empty group From", in: "From: undisclosed:;\n\nb\n", want: "From: undisclosed:;\nSender: " + aliceFrom + "\n\nb\n"},
		{name: "no From: one is added", in: "To: b@x.org\n\nbody\n", want: "From: " + aliceFrom + "\nTo: b@x.org\n\nbody\n"},
		{name: "no From, user without a name", user: "bob", in: "To: b@x.org\n\nbody\n",
			want: "From: bob@example.org\nTo: b@x.org\n\nbody\n"},
		{name: "no header at all", in: "Hello\nworld\n", want: "From: " + aliceFrom + "\n\nHello\nworld\n"},
		{name: "body looks like a header after a non-header line", in: "Hello\nFrom: ceo@corp.example\n\nx\n",
			want: "From: " + aliceFrom + "\n\nHello\nFrom: ceo@corp.example\n\nx\n"},
		{name: "empty header", in: "\nbody\n", want: "From: " + aliceFrom + "\n\nbody\n"},
		{name: "header only", in: "Subject: x\n", want: "From: " + aliceFrom + "\nSubject: x\n"},
		{name: "empty text", in: "", want: "From: " + aliceFrom + "\n"},
		{name: "obsolete space before colon", in: "Subject : x\nFrom : ceo@corp.example\n\nb\n",
			want: "Subject : x\nFrom : ceo@corp.example\nSender: " + aliceFrom + "\n\nb\n"},
		{name: "NUL ends the header, From: below it is body",
			in:   "Subject: a\x00b\nFrom: ceo@corp.example\n\nbody\n",
			want: "From: " + aliceFrom + "\n\nSubject: a\x00b\nFrom: ceo@corp.example\n\nbody\n"},
		{name: "bare CR ends the header", in: "To: b@x.org\nSubject: a\rFrom: ceo@corp.example\n\nbody\n",
			want: "From: " + aliceFrom + "\nTo: b@x.org\n\nSubject: a\rFrom: ceo@corp.example\n\nbody\n"},
		{name: "whitespace-only line ends the header", in: "To: b@x.org\n \nFrom: ceo@corp.example\n\nb\n",
			want: "From: " + aliceFrom + "\nTo: b@x.org\n\n \nFrom: ceo@corp.example\n\nb\n"},
		{name: "a header line larger than the bound is body", in: "To: b@x.org\n" + long + "From: ceo@corp.example\n\nbody\n",
			want: "From: " + aliceFrom + "\nTo: b@x.org\n\n" + long + "From: ceo@corp.example\n\nbody\n"},
		{name: "a header block without end", in: many + "From: ceo@corp.example\n",
			want: "From: " + aliceFrom + "\n" + many[:cut] + "\n" + many[cut:] + "From: ceo@corp.example\n"},
		{name: "8-bit header and body kept", in: "From: alice@example.org\nSubject: caf\xc3\xa9 \xff\n\n\xfe\xff\x00.\n",
			want: "From: alice@example.org\nSubject: caf\xc3\xa9 \xff\n\n\xfe\xff\x00.\n"},

		{name: "rewrite foreign From", policy: PolicyRewrite, in: "From: ceo@corp.example\nTo: b@x.org\nSender: ceo@corp.example\n\nb\n",
			want: "From: " + aliceFrom + "\nTo: b@x.org\n\nb\n"},
		{name: "rewrite keeps own From", policy: PolicyRewrite, in: "From: Me <alice@example.org>\n\nb\n",
			want: "From: Me <alice@example.org>\n\nb\n"},
		{name: "rewrite drops forged Sender only", policy: PolicyRewrite, in: "From: alice@example.org\nSender: ceo@corp.example\n\nb\n",
			want: "From: alice@example.org\n\nb\n"},
		{name: "reject foreign From", policy: PolicyReject, in: "From: ceo@corp.example\n\nb\n",
			want: "From: ceo@corp.example\n\nb\n", refused: "From: address ceo@corp.example is not alice's"},
		{name: "reject forged Sender", policy: PolicyReject, in: "From: alice@example.org\nSender: ceo@corp.example\n\nb\n",
			want: "From: alice@example.org\nSender: ceo@corp.example\n\nb\n", refused: "Sender: address ceo@corp.example is not alice's"},
		{name: "reject accepts own", policy: PolicyReject, in: "From: alice@example.org\n\nb\n", want: "From: alice@example.org\n\nb\n"},

		{name: "alias from the map", aliases: aliases, policy: PolicyReject, in: "From: PostMaster@example.org\n\nb\n",
			want: "From: PostMaster@example.org\n\nb\n"},
		{name: "domain alias from the map", aliases: aliases, policy: PolicyReject, in: "From: anyone@sales.example.org\n\nb\n",
			want: "From: anyone@sales.example.org\n\nb\n"},
		{name: "another login's alias", aliases: aliases, policy: PolicyReject, in: "From: boss@example.org\n\nb\n",
			want: "From: boss@example.org\n\nb\n", refused: "boss@example.org is not alice's"},
		{name: "login compared exactly", user: "Bob", aliases: aliases, policy: PolicyReject, in: "From: boss@example.org\n\nb\n",
			want: "From: boss@example.org\n\nb\n", refused: "not Bob's"},

		// RFC 5322 §3.6.6: the Resent-* block names who resent the message,
		// and gets the same policy as From: and Sender:.
		{name: "foreign Resent-From gets Resent-Sender", in: "Resent-From: ceo@corp.example\nResent-To: b@x.org\nFrom: alice@example.org\n\nb\n",
			want: "Resent-From: ceo@corp.example\nResent-Sender: " + aliceFrom + "\nResent-To: b@x.org\nFrom: alice@example.org\n\nb\n"},
		{name: "forged Resent-Sender replaced", in: "resent-from : ceo@corp.example\nResent-Sender: ceo@corp.example\nResent-To: b@x.org\nFrom: alice@example.org\n\nb\n",
			want: "resent-from : ceo@corp.example\nResent-Sender: " + aliceFrom + "\nResent-To: b@x.org\nFrom: alice@example.org\n\nb\n"},
		{name: "forged Resent-Sender under own Resent-From removed", in: "Resent-From: alice@example.org\nResent-Sender: ceo@corp.example\nResent-To: b@x.org\nFrom: alice@example.org\n\nb\n",
			want: "Resent-From: alice@example.org\nResent-To: b@x.org\nFrom: alice@example.org\n\nb\n"},
		{name: "own Resent block unchanged", policy: PolicyReject, in: "Resent-From: Al <ALICE@example.org>\nResent-Sender: alice\nResent-To: b@x.org\nFrom: alice@example.org\n\nb\n",
			want: "Resent-From: Al <ALICE@example.org>\nResent-Sender: alice\nResent-To: b@x.org\nFrom: alice@example.org\n\nb\n"},
		{name: "resent block without Resent-From gets one", in: "From: alice@example.org\nResent-To: b@x.org\nResent-Date: Sat, 28 Nov 2026 14:01:10 +0100\n\nb\n",
			want: "From: alice@example.org\nResent-From: " + aliceFrom + "\nResent-To: b@x.org\nResent-Date: Sat, 28 Nov 2026 14:01:10 +0100\n\nb\n"},
		{name: "every resent block is checked", in: "Resent-From: alice@example.org\nResent-To: c@x.org\nReceived: from x\nResent-From: ceo@corp.example\nResent-Sender: alice@example.org\nResent-To: alice@example.org\nFrom: alice@example.org\n\nb\n",
			want: "Resent-From: alice@example.org\nResent-To: c@x.org\nReceived: from x\nResent-From: ceo@corp.example\nResent-Sender: " + aliceFrom + "\nResent-To: alice@example.org\nFrom: alice@example.org\n\nb\n"},
		{name: "own Resent-Sender of another block kept", in: "Resent-From: alice@example.org\nResent-Sender: alice@example.org\nReceived: from x\nResent-From: ceo@corp.example\nFrom: alice@example.org\n\nb\n",
			want: "Resent-From: alice@example.org\nResent-Sender: alice@example.org\nReceived: from x\nResent-From: ceo@corp.example\nResent-Sender: " + aliceFrom + "\nFrom: alice@example.org\n\nb\n"},
		{name: "rewrite foreign Resent-From", policy: PolicyRewrite, in: "Resent-From: ceo@corp.example\nResent-Sender: ceo@corp.example\nResent-To: b@x.org\nFrom: alice@example.org\n\nb\n",
			want: "Resent-From: " + aliceFrom + "\nResent-To: b@x.org\nFrom: alice@example.org\n\nb\n"},
		{name: "rewrite drops forged Resent-Sender only", policy: PolicyRewrite, in: "Resent-From: alice@example.org\nResent-Sender: ceo@corp.example\nFrom: alice@example.org\n\nb\n",
			want: "Resent-From: alice@example.org\nFrom: alice@example.org\n\nb\n"},
		{name: "reject foreign Resent-From", policy: PolicyReject, in: "Resent-From: ceo@corp.example\nResent-To: b@x.org\nFrom: alice@example.org\n\nb\n",
			want: "Resent-From: ceo@corp.example\nResent-To: b@x.org\nFrom: alice@example.org\n\nb\n", refused: "Resent-From: address ceo@corp.example is not alice's"},
		{name: "reject forged Resent-Sender", policy: PolicyReject, in: "Resent-From: alice@example.org\nResent-Sender: ceo@corp.example\nFrom: alice@example.org\n\nb\n",
			want: "Resent-From: alice@example.org\nResent-Sender: ceo@corp.example\nFrom: alice@example.org\n\nb\n", refused: "Resent-Sender: address ceo@corp.example is not alice's"},
		{name: "reject a forged block below an own one", policy: PolicyReject, in: "Resent-From: alice@example.org\nResent-To: b@x.org\nX-Mailer: m\nResent-From: ceo@corp.example\nFrom: alice@example.org\n\nb\n",
			want: "Resent-From: alice@example.org\nResent-To: b@x.org\nX-Mailer: m\nResent-From: ceo@corp.example\nFrom: alice@example.org\n\nb\n", refused: "Resent-From: address ceo@corp.example"},
		{name: "Resent-From alias from the map", aliases: aliases, policy: PolicyReject, in: "Resent-From: postmaster@example.org\nFrom: alice@example.org\n\nb\n",
			want: "Resent-From: postmaster@example.org\nFrom: alice@example.org\n\nb\n"},

		// RFC 5322 §3.6 allows one From:. Readers, and DMARC checks
		// (RFC 7489 §6.6.1), differ on which of two they take, so a second
		// one is refused under every policy.
		{name: "second From refused", in: "From: alice@example.org\nTo: b@x.org\nFrom: ceo@corp.example\n\nb\n",
			want: "From: alice@example.org\nTo: b@x.org\nFrom: ceo@corp.example\n\nb\n", refused: "more than one From: field"},
		{name: "second own From refused", in: "From: alice@example.org\nfrom: Alice <alice@example.org>\n\nb\n",
			want: "From: alice@example.org\nfrom: Alice <alice@example.org>\n\nb\n", refused: "more than one From: field"},
		{name: "second From refused under rewrite", policy: PolicyRewrite, in: "From: ceo@corp.example\nFrom: alice@example.org\n\nb\n",
			want: "From: ceo@corp.example\nFrom: alice@example.org\n\nb\n", refused: "more than one From: field"},
		{name: "second From refused under reject", policy: PolicyReject, in: "From: alice@example.org\nFrom : ceo@corp.example\n\nb\n",
			want: "From: alice@example.org\nFrom : ceo@corp.example\n\nb\n", refused: "more than one From: field"},
		{name: "second Sender keeps no foreign address", in: "From: alice@example.org\nSender: alice@example.org\nSender: ceo@corp.example\n\nb\n",
			want: "From: alice@example.org\n\nb\n"},

		// A bare login is the user's own only when Postfix, which
		// qualifies it, makes USER@DOMAIN of it: a dot-atom without % or !.
		{name: "bare login with %", user: "ceo%corp.example", in: "From: ceo%corp.example\n\nb\n",
			want: "From: ceo%corp.example\nSender: ceo%corp.example@example.org\n\nb\n"},
		{name: "bare login with !", user: "corp.example!ceo", in: "From: corp.example!ceo\n\nb\n",
			want: "From: corp.example!ceo\nSender: corp.example!ceo@example.org\n\nb\n"},
		{name: "bare login with a comma", user: "a,b", in: "From: a,b\n\nb\n",
			want: "From: a,b\nSender: \"a,b\"@example.org\n\nb\n"},
		{name: "bare login in angle brackets", user: "<x>", in: "From: <x>\n\nb\n",
			want: "From: <x>\nSender: \"<x>\"@example.org\n\nb\n"},
		{name: "bare login with % refused", user: "ceo%corp.example", policy: PolicyReject, in: "Resent-From: ceo%corp.example\nFrom: ceo%corp.example@example.org\n\nb\n",
			want: "Resent-From: ceo%corp.example\nFrom: ceo%corp.example@example.org\n\nb\n", refused: "Resent-From: address ceo%corp.example is not"},
		{name: "quoted login qualified is own", user: "a,b", policy: PolicyReject, in: "From: \"a,b\"@example.org\n\nb\n",
			want: "From: \"a,b\"@example.org\n\nb\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.user == "" {
				tc.user = "alice"
			}
			id := testIdentity(t, tc.policy, tc.aliases)
			var first string
			for _, n := range []int{0, 1, 3, 4096} {
				out, refusal := filter(t, id, tc.user, tc.in, n)
				if n == 0 {
					first = out
				} else if out != first {
					t.Fatalf("written in pieces of %d: %q, whole: %q", n, out, first)
				}
				if got := testlib.WithoutTrace(t, out); got != tc.want {
					t.Fatalf("got  %q\nwant %q", trunc(got), trunc(tc.want))
				}
				switch {
				case tc.refused == "" && refusal != nil:
					t.Fatalf("refused: %v", refusal)
				case tc.refused != "" && (refusal == nil || refusal.code != codeLocalError || !strings.Contains(refusal.msg, tc.refused)):
					t.Fatalf("refusal %v, want 451 with %q", refusal, tc.refused)
				}
			}
		})
	}
}

// The user's full name (a passwd lookup) is looked up for a From: or
// Sender: that mppd writes, and not for a message that needs neither.
func TestFullNameOnlyWhenWritten(t *testing.T) {
	id := testIdentity(t, PolicySender, "")
	lookups := 0
	id.fullName = func(string) string { lookups++; return "" }
	for _, tc := range []struct {
		text string
		want int
	}{
		{"From: alice@example.org\nSender: ceo@corp.example\n\nb\n", 0},
		{"To: b@x.org\n\nb\n", 1},
		{"From: ceo@corp.example\n\nb\n", 1},
		{"Resent-From: alice@example.org\nResent-To: b@x.org\nFrom: bob@example.org\nSender: alice@example.org\n\nb\n", 1},
		{"Resent-From: alice@example.org\nResent-To: b@x.org\nFrom: alice@example.org\n\nb\n", 0},
		{"Resent-To: b@x.org\nFrom: alice@example.org\n\nb\n", 1},
		{"Resent-From: ceo@corp.example\nFrom: ceo@corp.example\n\nb\n", 1},
	} {
		lookups = 0
		filter(t, id, "alice", tc.text, 0)
		if lookups != tc.want {
			t.Errorf("%q: %d lookups, want %d", tc.text, lookups, tc.want)
		}
	}
}

func trunc(s string) string {
	if len(s) > 300 {
		return s[:150] + "..." + s[len(s)-150:]
	}
	return s
}

func TestReceived(t *testing.T) {
	id := testIdentity(t, PolicySender, "")
	for _, tc := range []struct{ peer, user, want string }{
		{"192.0.2.7", "alice", "Received: from [192.0.2.7]\n\tby mpp.test (mppd) with MPP id 0123456789ab\n" +
			"\t(authenticated user alice);\n\tSat, 28 Nov 2026 14:01:10 +0100\n"},
		{"2001:db8::1", "alice", "Received: from [IPv6:2001:db8::1]\n"},
		{"unknown", "alice", "Received: from unknown\n"},
		{"192.0.2.7\nX-Forged: 1", "alice", "Received: from unknown\n"},
		{"192.0.2.7", `a(b)c\d`, `(authenticated user a\(b\)c\\d);`},
	} {
		h := id.newHeaderFilter(nil, Envelope{User: tc.user, Peer: tc.peer, SessionID: "0123456789ab"}, nil)
		if got := h.received(); !strings.Contains(got, tc.want) {
			t.Errorf("peer %q user %q: got %q, want %q in it", tc.peer, tc.user, got, tc.want)
		}
	}
}

// The body passes the filter unchanged and in order, whatever it holds and
// however it is cut into pieces by the text reader.
func TestBodyStreamsThrough(t *testing.T) {
	cfg, d, _ := testConfig(t)
	cfg.Identity = testIdentity(t, PolicySender, "")
	cfg.MaxMessage = 0
	body := make([]byte, 0, 3<<20)
	for i := 0; len(body) < 3<<20; i++ {
		switch i % 7 {
		case 0:
			body = append(body, '.')
		case 1:
			body = append(body, 0, 0xff, 0xfe, '\r')
		case 2:
			body = append(body, bytes.Repeat([]byte{'x'}, 70000+i%1000)...)
		case 3:
			body = append(body, "From: ceo@corp.example"...)
		}
		body = append(body, "line\xc3\xa9 "...)
		body = append(body, byte('a'+i%26))
		body = append(body, '\n')
	}
	var wire bytes.Buffer
	wire.WriteString(login + "DATA\r\nFrom: alice@example.org\r\n\r\n")
	for _, l := range bytes.SplitAfter(body, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		if l[0] == '.' {
			wire.WriteByte('.')
		}
		wire.Write(bytes.TrimSuffix(l, []byte("\n")))
		wire.WriteString("\r\n")
	}
	wire.WriteString(".\r\nQUIT\r\n")
	runScript(t, cfg, wire.String())
	msgs := d.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	if got := testlib.WithoutTrace(t, msgs[0].text); got != "From: alice@example.org\n\n"+string(body) {
		t.Fatalf("body changed: %d bytes delivered, %d sent", len(got), len(body)+len("From: alice@example.org\n\n"))
	}
}

// FuzzHeaderFilter: whatever the text and however it is cut, the output is
// the same, holds at most maxHeaderSize of header, starts with Received:,
// and under -from-policy sender keeps every line in order with only mppd's
// additions between them (texts with "sender" in them, whose Sender:
// fields may go, are not checked so).
func FuzzHeaderFilter(f *testing.F) {
	for _, s := range []string{
		"From: alice@example.org\nTo: b@x.org\n\nbody\n",
		"From: ceo@corp.example\nSender: x@y.org\n\nb\n",
		"Subject: a\x00b\nFrom: ceo@corp.example\n\nbody\n",
		"no header\n", "\n", "", "X: a\n \n\tb\nFrom: <<<\n", "To: x\nunterminated",
		"From: =?utf-8?q?=C3=89?= <e@x.org>, undisclosed:;\n\n",
		"Subject : x\rFrom: y\n\n.\n",
		"Resent-To: b@x.org\nResent-From: ceo@corp.example\nX: y\nResent-Date: d\nFrom: alice\nfrom: z\n\n",
	} {
		f.Add(s, uint16(3))
	}
	id := testIdentity(f, PolicySender, "")
	added := map[string]bool{"\n": true}
	for _, name := range []string{"From", "Sender", "Resent-From", "Resent-Sender"} {
		added[name+": "+aliceFrom+"\n"] = true
	}
	f.Fuzz(func(t *testing.T, text string, piece uint16) {
		whole, _ := filter(t, id, "alice", text, 0)
		if cut, _ := filter(t, id, "alice", text, int(piece)%64+1); cut != whole {
			t.Fatalf("in pieces of %d: %q, whole: %q", int(piece)%64+1, cut, whole)
		}
		if !strings.HasPrefix(whole, "Received: from [192.0.2.7]\n") {
			t.Fatalf("output starts %q", trunc(whole))
		}
		if strings.Contains(strings.ToLower(text), "sender") {
			return
		}
		in := strings.SplitAfter(text, "\n")
		i := 0
		for _, l := range strings.SplitAfter(testlib.WithoutTrace(t, whole), "\n") {
			switch {
			case i < len(in) && l == in[i]:
				i++
			case l == "" || added[l]:
			default:
				t.Fatalf("output line %q is neither the text's next line %q nor mppd's", trunc(l), trunc(in[min(i, len(in)-1)]))
			}
		}
		if i < len(in) && !(i == len(in)-1 && in[i] == "") {
			t.Fatalf("text lost from line %d (%q)", i, trunc(in[i]))
		}
	})
}

// BenchmarkHeaderFilter: what the filter costs a text that streams through
// it (a short header, then body in the reader's 256 KiB pieces), against
// writing the same pieces straight to the spool's writer.
func BenchmarkHeaderFilter(b *testing.B) {
	piece := bytes.Repeat([]byte(strings.Repeat("x", 75)+"\n"), 256<<10/76)
	head := []byte("From: alice@example.org\nTo: b@x.org\nSubject: bench\n\n")
	id := testIdentity(b, PolicySender, "")
	for _, filtered := range []bool{false, true} {
		name := "direct"
		if filtered {
			name = "filtered"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(head) + 64*len(piece)))
			for i := 0; i < b.N; i++ {
				var w io.Writer = io.Discard
				if filtered {
					w = id.newHeaderFilter(io.Discard, Envelope{User: "alice", Peer: "192.0.2.7", SessionID: "0123456789ab"}, nil)
				}
				w.Write(head)
				for j := 0; j < 64; j++ {
					w.Write(piece)
				}
			}
		})
	}
}
