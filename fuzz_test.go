package main

import (
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

// FuzzSession runs whole sessions on arbitrary client input and checks what
// must hold whatever a client sends: the session ends without a panic, every
// byte written is a well-formed reply with one of RFC 1204's codes, and mail
// is only ever posted as a user whose password was right.
//
// make fuzz, or: go test -run '^$' -fuzz FuzzSession -fuzztime 60s .
func FuzzSession(f *testing.F) {
	for _, seed := range []string{
		"",
		"QUIT\r\n",
		login + "DATA\r\nSubject: x\r\n\r\nbody\r\n..dot\r\n.\r\nQUIT\r\n",
		"USER alice\nPASS secret\nDATA\nhi\n.\nUSER bob\nPASS pass word\nDATA\nx\n.\n",
		"USER alice\r\nPASS wrong\r\nUSER alice\r\nPASS secret\r\nDATA\r\nx\r\n.\r\n",
		"USER -f\r\nUSER a:b\r\nPASS\r\nNOOP x\r\nDATA x\r\n" + strings.Repeat("Z", 600) + "\r\n",
		"USER broken\r\nPASS x\r\nNOOP\r\n",
		login + "DATA\r\n.\r\r\n.\n.\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		cfg, d, hook := testConfig(t)
		cfg.MaxMessage = 256
		cfg.MaxLine = 128
		c := &scriptConn{in: strings.NewReader(string(input))}
		Serve(cfg, c, "192.0.2.1")
		out := c.out.String()
		if out != "" && !strings.HasSuffix(out, "\r\n") {
			t.Fatalf("output does not end in CRLF: %q", out)
		}
		for _, l := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
			if !replyLine.MatchString(l) {
				t.Fatalf("malformed reply %q", l)
			}
		}
		for _, m := range d.messages() {
			if pw, ok := (fakeAuth{"alice": "secret", "bob": "pass word", "carol": "c"})[m.env.User]; !ok || pw == "" {
				t.Fatalf("message posted as %q", m.env.User)
			}
		}
		for _, e := range hook.AllEntries() {
			if e.Level <= logrus.ErrorLevel && strings.Contains(e.Message, "internal error") {
				t.Fatalf("panic in the session: %v", e.Data)
			}
		}
	})
}
