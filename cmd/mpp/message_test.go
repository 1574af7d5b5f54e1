package main

import (
	"bufio"
	"io"
	"reflect"
	"strings"
	"testing"
)

// prepared runs a message through what mpp does before connecting: the
// sendmail-style end at ".", the header check, the recipients.
func prepared(in string, args ...string) (string, error) {
	o, err := parseArgs(args)
	if err != nil {
		return "", err
	}
	m, err := readMessage(messageInput(strings.NewReader(in), o.ignoreDots))
	if err != nil {
		return "", err
	}
	text, err := prepare(m, o)
	if err != nil {
		return "", err
	}
	b, err := io.ReadAll(text)
	return string(b), err
}

func TestPrepare(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		args []string
		want string
	}{
		{"-t keeps the message as it is", "To: bob\nSubject: s\n\nbody\n", []string{"-t", "-i"},
			"To: bob\nSubject: s\n\nbody\n"},
		{"CRLF input kept (the DotWriter makes CRLF anyway)", "To: bob\r\n\r\nbody\r\n", []string{"-t"},
			"To: bob\r\n\r\nbody\r\n"},
		{"without -i a dot line ends the message", "To: bob\n\nbody\n.\nnot sent\n", []string{"-t"},
			"To: bob\n\nbody\n"},
		{"with -i a dot line is text", "To: bob\n\nbody\n.\nsent\n", []string{"-t", "-i"},
			"To: bob\n\nbody\n.\nsent\n"},
		{"-oi is -i", "To: bob\n\n.\n", []string{"-t", "-oi"}, "To: bob\n\n.\n"},
		{"folded To:", "To: alice@example.org,\n bob@example.org\n\nx\n", []string{"-t"},
			"To: alice@example.org,\n bob@example.org\n\nx\n"},
		{"recipients on the command line named in the header: unchanged", "To: Bob <bob>\nCc: carol@example.org\n\nx\n",
			[]string{"bob", "Carol@Example.org"}, "To: Bob <bob>\nCc: carol@example.org\n\nx\n"},
		{"cron: To: root and root on the command line", "From: root (Cron Daemon)\nTo: root\nSubject: cron\n\nout\n",
			[]string{"-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"}, "From: root (Cron Daemon)\nTo: root\nSubject: cron\n\nout\n"},
		{"a command-line recipient the header lacks goes in Bcc:", "To: bob\n\nx\n", []string{"-t", "dave@example.org"},
			"To: bob\nBcc: dave@example.org\n\nx\n"},
		{"Bcc: added before a CRLF empty line", "To: bob\r\n\r\nx\r\n", []string{"bob", "dave"},
			"To: bob\r\nBcc: dave\n\r\nx\r\n"},
		{"no header at all: one is made from the command line", "just text\n", []string{"bob"},
			"Bcc: bob\n\njust text\n"},
		{"header without an empty line before the body", "To: bob\nthis is body\n", []string{"-t"},
			"To: bob\n\nthis is body\n"},
		{"message that is all header, no final LF", "To: bob\nSubject: x", []string{"-t"},
			"To: bob\nSubject: x\n\n"},
		{"group syntax", "To: friends: a@example.org, b@example.org;\n\nx\n", []string{"-t"},
			"To: friends: a@example.org, b@example.org;\n\nx\n"},
		{"undisclosed recipients and Bcc", "To: undisclosed-recipients:;\nBcc: x@example.org\n\nx\n", []string{"-t"},
			"To: undisclosed-recipients:;\nBcc: x@example.org\n\nx\n"},
		{"command-line recipient with a display name", "To: bob@example.org\n\nx\n", []string{"Bob <Bob@Example.org>"},
			"To: bob@example.org\n\nx\n"},
		{"several recipients in one argument; Bcc: keeps their case", "To: bob\n\nx\n", []string{"bob, Dave@Example.org"},
			"To: bob\nBcc: Dave@Example.org\n\nx\n"},
		{"8-bit body", "To: bob\n\ncaf\xc3\xa9 \xff\n", []string{"-t"}, "To: bob\n\ncaf\xc3\xa9 \xff\n"},
		{"Resent-To counts", "Resent-To: bob\nTo: old@example.org\n\nx\n", []string{"-t"},
			"Resent-To: bob\nTo: old@example.org\n\nx\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := prepared(tc.in, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestPrepareRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		args  []string
		usage bool // else a data error
		want  string
	}{
		{"empty input", "", []string{"-t"}, false, "empty message"},
		{"only the dot line", ".\n", []string{"-t"}, false, "empty message"},
		{"-t without recipients", "Subject: x\n\nbody\n", []string{"-t"}, false, "no recipients"},
		{"-t with an empty To:", "To: \n\nbody\n", []string{"-t"}, false, "no recipients"},
		{"no header, -t", "hello\n", []string{"-t"}, false, "no recipients"},
		{"unreadable address", "To: <<bob\n\nx\n", []string{"-t"}, false, "To: cannot read"},
		{"NUL in the header", "To: bob\nX-A: a\x00b\n\nx\n", []string{"-t"}, false, "NUL"},
		{"header too large", "To: bob\n" + strings.Repeat("X-Pad: "+strings.Repeat("a", 1000)+"\n", 1100) + "\nx\n", []string{"-t"}, false, "header longer"},
		{"header line longer than the buffer", "To: bob\nX-Long: " + strings.Repeat("a", 70<<10) + "\n\nx\n", []string{"-t"}, false, "header line longer"},
		{"no -t and no recipients", "To: bob\n\nx\n", nil, true, "no recipients"},
		{"without -t the header names someone else", "To: bob, eve@example.org\n\nx\n", []string{"bob"}, true, "eve@example.org"},
		{"empty recipient", "To: bob\n\nx\n", []string{"-t", " "}, true, "not an address"},
		{"unreadable recipient", "To: bob\n\nx\n", []string{"-t", "<<x"}, true, "recipient \"<<x\""},
		{"recipient with a newline", "To: bob\n\nx\n", []string{"-t", "bob\nBcc: eve"}, true, "not an address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := prepared(tc.in, tc.args...)
			want := exDataErr
			if tc.usage {
				want = exUsage
			}
			if exitStatus(err) != want {
				t.Fatalf("got %v (%T), want a usage=%v error", err, err, tc.usage)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %q, want it to say %q", err, tc.want)
			}
		})
	}
}

func TestParseAddresses(t *testing.T) {
	for in, want := range map[string][]string{
		"bob":                                   {"bob"},
		"Bob@Example.ORG":                       {"Bob@Example.ORG"},
		"alice@example.org, bob":                {"alice@example.org", "bob"},
		"Bob Smith <bob>":                       {"bob"},
		`"Smith, Bob" <bob>, carol (the boss)`:  {"bob", "carol"},
		`"a, b" <a@b.example>`:                  {"a@b.example"},
		"x: a@b.example, c@d.example;":          {"a@b.example", "c@d.example"},
		"undisclosed-recipients:;":              nil,
		"":                                      nil,
		"  ":                                    nil,
		"bob (comment, with comma), alice":      {"bob", "alice"},
		"Bob <bob@example.org> (work), <carol>": {"bob@example.org", "carol"},
	} {
		got, err := parseAddresses(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseAddresses(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"<<bob", "bob smith", "a@", "Bob <bob> trailing", "\"unclosed"} {
		if got, err := parseAddresses(in); err == nil {
			t.Errorf("parseAddresses(%q) = %q, want an error", in, got)
		}
	}
}

// TestStopAtDot reads through small and large buffers: the dot line is seen
// whatever the read sizes.
func TestStopAtDot(t *testing.T) {
	for in, want := range map[string]string{
		"a\n.\nb\n":                         "a\n",
		"a\r\n.\r\nb\r\n":                   "a\r\n",
		".\n":                               "",
		".":                                 "",
		"a\n.":                              "a\n",
		"a\n..\nb\n":                        "a\n..\nb\n",
		"a\n.b\n":                           "a\n.b\n",
		"a.\n.\n":                           "a.\n",
		"no dot line\nend":                  "no dot line\nend",
		"x\n. \n.\n":                        "x\n. \n",
		strings.Repeat("y", 5000) + "\n.\n": strings.Repeat("y", 5000) + "\n",
	} {
		for _, size := range []int{16, 4096} {
			r := bufio.NewReaderSize(&stopAtDot{r: bufio.NewReaderSize(strings.NewReader(in), 16)}, size)
			got, err := io.ReadAll(r)
			if err != nil || string(got) != want {
				t.Errorf("stopAtDot(%.20q, %d) = %.20q, %v; want %.20q", in, size, got, err, want)
			}
		}
	}
}

// FuzzPrepare: whatever arrives on stdin, mpp either refuses it with a
// usage or data error, or produces a text whose header names every
// command-line recipient and ends with an empty line before the body.
func FuzzPrepare(f *testing.F) {
	for _, s := range []string{"To: bob\n\nx\n", "To: a, \"b, c\" <d@e>\n\n", "x", "", ".\n", "To: <<\n\n", "Cc: (c) a@b\r\n\r\n.\r\n"} {
		f.Add(s, "dave")
	}
	f.Fuzz(func(t *testing.T, in, rcpt string) {
		out, err := prepared(in, "-t", "--", rcpt)
		if err != nil {
			if s := exitStatus(err); s != exUsage && s != exDataErr {
				t.Fatalf("%q: unexpected error %T %v", in, err, err)
			}
			return
		}
		if !strings.Contains(out, "\n\n") && !strings.Contains(out, "\n\r\n") {
			t.Fatalf("no empty line after the header: %q", out)
		}
	})
}
