package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeSendmail writes a sendmail stand-in into dir: it records that it
// started, its argv, its environment, which sockets it inherited, and the
// message it read, then does what body says (exit 0 when empty).
func fakeSendmail(t testing.TB, dir, body string) string {
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

// recorded returns the files of kind ("started", "argv", "msg"...) the fake
// wrote, by content.
func recorded(t testing.TB, dir, kind string) []string {
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

func spoolWith(t testing.TB, text string) *os.File {
	t.Helper()
	f, err := createSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	f.WriteString(text)
	f.Seek(0, 0)
	return f
}

func TestSendmailDelivers(t *testing.T) {
	dir := t.TempDir()
	sm, err := newSendmail(fakeSendmail(t, dir, "")+" -t -oi", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	os.Setenv("LISTEN_FDS", "1") // must not reach the delivery command
	defer os.Unsetenv("LISTEN_FDS")
	err = sm.Deliver(context.Background(), Envelope{User: "alice", Sender: "alice"}, spoolWith(t, "Subject: x\n\nbody\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := recorded(t, dir, "argv"); len(got) != 1 || got[0] != "-t\n-oi\n-f\nalice\n" {
		t.Errorf("argv %q", got)
	}
	if got := recorded(t, dir, "msg"); len(got) != 1 || got[0] != "Subject: x\n\nbody\n" {
		t.Errorf("message %q", got)
	}
	env := recorded(t, dir, "env")[0]
	for _, l := range strings.Split(strings.TrimSpace(env), "\n") {
		// sh sets PWD itself; everything else must come from mppd
		if l != "PATH="+sendmailPath && !strings.HasPrefix(l, "PWD=") {
			t.Errorf("delivery environment has %q", l)
		}
	}
}

func TestSendmailFailures(t *testing.T) {
	cases := []struct {
		name, body, cmd string
		timeout         time.Duration
		wantLog         string
	}{
		{"exit 75", "echo 'No recipient addresses found in message header' >&2; exit 75", "", time.Minute, "exit status 75"},
		{"exit 1 before reading", "", "/bin/false", time.Minute, "exit status 1"},
		{"killed by a signal", "kill -9 $$", "", time.Minute, "signal: killed"},
		{"hung", "sleep 60", "", 300 * time.Millisecond, "killed after 300ms"},
		{"missing", "", "/nonexistent/sendmail -t", time.Minute, "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := tc.cmd
			if cmd == "" {
				cmd = fakeSendmail(t, dir, tc.body)
			}
			sm, err := newSendmail(cmd, tc.timeout)
			if err != nil {
				t.Fatal(err)
			}
			err = sm.Deliver(context.Background(), Envelope{User: "alice", Sender: "alice"}, spoolWith(t, "x\n"))
			var re *replyError
			if !errors.As(err, &re) || re.code != codeLocalError {
				t.Fatalf("got %v, want a 451", err)
			}
			if !strings.Contains(strings.ToLower(err.Error()), tc.wantLog) {
				t.Errorf("log text %q lacks %q", err.Error(), tc.wantLog)
			}
			if tc.name == "exit 75" && !strings.Contains(err.Error(), "No recipient addresses") {
				t.Errorf("sendmail's own words missing from %q", err.Error())
			}
		})
	}
}

// TestSendmailTimeoutKillsGroup: a hung delivery command is killed with
// everything it started, not left behind.
func TestSendmailTimeoutKillsGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child")
	sm, _ := newSendmail(fakeSendmail(t, dir, "sleep 60 & echo $! > "+pidFile+"; wait"), 300*time.Millisecond)
	if err := sm.Deliver(context.Background(), Envelope{User: "a", Sender: "a"}, spoolWith(t, "x\n")); err == nil {
		t.Fatal("hung command reported success")
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(5 * time.Second)
	for processRunning(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("child %d of the delivery command still running", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processRunning says whether pid exists and is not a zombie.
func processRunning(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestNewSendmail(t *testing.T) {
	if _, err := newSendmail("", 0); err == nil {
		t.Error("empty command accepted")
	}
	if _, err := newSendmail("no-such-program-anywhere -t", 0); err == nil {
		t.Error("relative command not in the path accepted")
	}
	sm, err := newSendmail("sh -c true", 0)
	if err != nil || !filepath.IsAbs(sm.argv[0]) {
		t.Errorf("sh resolved to %v (%v)", sm, err)
	}
}

// TestSpoolHasNoName: the spool file is never visible in its directory, so
// nothing is left behind by a killed mppd.
func TestSpoolHasNoName(t *testing.T) {
	dir := t.TempDir()
	f, err := createSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("text")
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("spool directory holds %v", entries)
	}
}
