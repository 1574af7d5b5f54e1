package testlib

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FakeSendmail writes a sendmail stand-in into dir: it records that it
// started, its argv, its environment, which sockets it inherited, and the
// message it read, then does what body says (exit 0 when empty).
func FakeSendmail(t testing.TB, dir, body string) string {
	t.Helper()
	script := `#!/bin/sh
d=` + dir + `
: > "$d/started.$$"
printf '%s\n' "$@" > "$d/argv.$$"
env > "$d/env.$$"
for f in /proc/$$/fd/*; do readlink "$f"; done | grep -c '^socket:' > "$d/sockets.$$"
cat > "$d/msg.tmp.$$" || exit 1
mv "$d/msg.tmp.$$" "$d/msg.$$"
` + body + "\n"
	p := filepath.Join(dir, "sendmail")
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// Recorded returns the files of kind ("started", "argv", "msg"...) the fake
// wrote, by content.
func Recorded(t testing.TB, dir, kind string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, kind+".[0-9]*"))
	var out []string
	for _, p := range m {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// WithoutTrace is a delivered message without the Received: field mppd
// puts first, which it must have.
func WithoutTrace(t testing.TB, msg string) string {
	t.Helper()
	if !strings.HasPrefix(msg, "Received: from ") {
		t.Fatalf("message does not start with mppd's Received: field: %q", msg)
	}
	rest := msg
	for {
		i := strings.IndexByte(rest, '\n')
		rest = rest[i+1:]
		if rest == "" || rest[0] != '\t' && rest[0] != ' ' {
			return rest
		}
	}
}
