package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

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
	sm, err := newSendmail(testlib.FakeSendmail(t, dir, "")+" -t -oi", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	os.Setenv("LISTEN_FDS", "1") // must not reach the delivery command
	defer os.Unsetenv("LISTEN_FDS")
	err = sm.Deliver(context.Background(), Envelope{User: "alice", Sender: "alice@example.org"}, spoolWith(t, "Subject: x\n\nbody\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := testlib.Recorded(t, dir, "argv"); len(got) != 1 || got[0] != "-t\n-oi\n-f\nalice@example.org\n" {
		t.Errorf("argv %q", got)
	}
	if got := testlib.Recorded(t, dir, "msg"); len(got) != 1 || got[0] != "Subject: x\n\nbody\n" {
		t.Errorf("message %q", got)
	}
	env := testlib.Recorded(t, dir, "env")[0]
	for _, l := range strings.Split(strings.TrimSpace(env), "\n") {
		// sh sets PWD itself; everything else must come from mppd
		if l != "PATH="+childPath && !strings.HasPrefix(l, "PWD=") {
			t.Errorf("delivery environment has %q", l)
		}
	}
	if err := sm.Deliver(context.Background(), Envelope{User: "alice", Sender: "-oQ/tmp"}, spoolWith(t, "x\n")); err == nil {
		t.Error("an envelope sender that looks like an option was passed on")
	}
	if got := testlib.Recorded(t, dir, "started"); len(got) != 1 {
		t.Errorf("the delivery command started %d times, want once", len(got))
	}
}

// TestSendmailFailures: whatever goes wrong with the delivery command is a
// 451, with the command's own words for the log; the reply says what the
// client can understand of it.
func TestSendmailFailures(t *testing.T) {
	cases := []struct {
		name, body, cmd string
		timeout         time.Duration // 0: a minute
		reply           string        // in the reply text ("": any 451)
		log             []string      // in the text for the log
	}{
		{name: "no recipients", body: `echo "sendmail: fatal: alice@example.org(1000): No recipient addresses found in message header" >&2; exit 75`,
			reply: "no recipients", log: []string{"exit status 75", "No recipient addresses found"}},
		{name: "other temporary failure", body: `echo "sendmail: fatal: out of memory" >&2; exit 75`,
			reply: "did not accept the message", log: []string{"exit status 75", "out of memory"}},
		{name: "postdrop refused", body: `echo "postdrop: warning: mail_queue_enter: create file maildrop/54740.15807: Permission denied" >&2; exec sleep 60`,
			reply: "refused the message", log: []string{"supplementary group postdrop"}},
		{name: "exit 1 before reading", cmd: "/bin/false", log: []string{"exit status 1"}},
		{name: "killed by a signal", body: "kill -9 $$", log: []string{"signal: killed"}},
		{name: "hung", body: "sleep 60", timeout: 300 * time.Millisecond, log: []string{"killed after 300ms"}},
		{name: "missing", cmd: "/nonexistent/sendmail -t", log: []string{"no such file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := tc.cmd
			if cmd == "" {
				cmd = testlib.FakeSendmail(t, dir, tc.body) + " -t -oi"
			}
			if tc.timeout == 0 {
				tc.timeout = time.Minute
			}
			sm, err := newSendmail(cmd, tc.timeout)
			if err != nil {
				t.Fatal(err)
			}
			err = sm.Deliver(context.Background(), Envelope{User: "alice", Sender: "alice@example.org"}, spoolWith(t, "x\n"))
			var re *replyError
			if !errors.As(err, &re) || re.code != codeLocalError || !strings.Contains(re.msg, tc.reply) {
				t.Fatalf("got %v, want a 451 with %q", err, tc.reply)
			}
			for _, want := range tc.log {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("log text %q lacks %q", err.Error(), want)
				}
			}
		})
	}
}

// The delivery command's output is kept for the log up to its limit, also
// when os/exec copies it with io.Copy (which prefers a ReaderFrom).
func TestCommandOutputBounded(t *testing.T) {
	out := newCommandOutput()
	n, err := io.Copy(out, io.LimitReader(zeroReader{}, 1<<20))
	if err != nil || n != 1<<20 {
		t.Fatalf("copied %d: %v", n, err)
	}
	if out.buf.Len() != maxSendmailOutput {
		t.Errorf("kept %d bytes, limit %d", out.buf.Len(), maxSendmailOutput)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// TestSendmailTimeoutKillsGroup: a hung delivery command is killed with
// everything it started, not left behind.
func TestSendmailTimeoutKillsGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child")
	sm, _ := newSendmail(testlib.FakeSendmail(t, dir, "sleep 60 & echo $! > "+pidFile+"; wait"), 300*time.Millisecond)
	if err := sm.Deliver(context.Background(), Envelope{User: "a", Sender: "a"}, spoolWith(t, "x\n")); err == nil {
		t.Fatal("hung command reported success")
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(5 * time.Second)
	for testlib.ProcessRunning(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("child %d of the delivery command still running", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
