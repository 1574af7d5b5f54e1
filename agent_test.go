package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
	"golang.org/x/sys/unix"
)

// startAgent runs a delivery agent in the test process on a socket in a
// fresh directory, delivering with the fake sendmail of dir (fakeSendmail
// with body), and returns the socket's path and the agent's log.
func startAgent(t testing.TB, dir, body string) (string, *test.Hook) {
	t.Helper()
	sm, err := newSendmail(testlib.FakeSendmail(t, dir, body)+" -t -oi", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	log, hook := test.NewNullLogger()
	a, err := newDeliveryAgent(sm, "", 4, log)
	if err != nil {
		t.Fatal(err)
	}
	sockDir, err := os.MkdirTemp("", "mppd-agent-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(sockDir, 0o755)
	path := filepath.Join(sockDir, "deliver.sock")
	l, err := net.Listen("unixpacket", path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { a.serve([]net.Listener{l}); close(done) }()
	t.Cleanup(func() { l.Close(); <-done; os.RemoveAll(sockDir) })
	return path, hook
}

func TestAgentDelivers(t *testing.T) {
	dir := t.TempDir()
	path, hook := startAgent(t, dir, "")
	c := &agentClient{path: path, wait: 10 * time.Second}
	env := Envelope{User: "alice", Sender: "alice@example.org", SessionID: "abc", Peer: "192.0.2.7"}
	// The session's file offset is shared with the agent's descriptor:
	// the agent reads from the start whatever the session left it at.
	spool := spoolWith(t, "To: bob@example.org\n\nhello\n")
	spool.Seek(5, 0)
	if err := c.Deliver(context.Background(), env, spool); err != nil {
		t.Fatal(err)
	}
	if got := testlib.Recorded(t, dir, "argv"); len(got) != 1 || got[0] != "-t\n-oi\n-f\nalice@example.org\n" {
		t.Errorf("argv %q", got)
	}
	if got := testlib.Recorded(t, dir, "msg"); len(got) != 1 || got[0] != "To: bob@example.org\n\nhello\n" {
		t.Errorf("message %q", got)
	}
	e := lastEntry(t, hook, "message handed to the mail system")
	if e.Data["session"] != "abc" || e.Data["user"] != "alice" || e.Data["rip"] != "192.0.2.7" {
		t.Errorf("agent's log line %v", e.Data)
	}
}

func lastEntry(t testing.TB, hook *test.Hook, msg string) *logrus.Entry {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range hook.AllEntries() {
			if e.Message == msg {
				return e
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	var got []string
	for _, e := range hook.AllEntries() {
		got = append(got, e.Message)
	}
	t.Fatalf("no log line %q; have %q", msg, got)
	return nil
}

// The agent's 451 reaches the session with the client's text and the
// command's words for the log.
func TestAgentRefusal(t *testing.T) {
	dir := t.TempDir()
	path, _ := startAgent(t, dir, "echo 'No recipient addresses found in message header' >&2; exit 75")
	c := &agentClient{path: path, wait: 10 * time.Second}
	err := c.Deliver(context.Background(), Envelope{User: "alice", Sender: "alice@example.org"}, spoolWith(t, "Subject: x\n\n"))
	re := asReplyError(err)
	if re.code != codeLocalError || !strings.Contains(re.msg, "no recipients") || !strings.Contains(re.Error(), "No recipient addresses found") {
		t.Fatalf("got %v", err)
	}
}

// Requests the agent must refuse without running the command: each gets a
// 451, and the command never starts.
func TestAgentRefusesBadRequests(t *testing.T) {
	dir := t.TempDir()
	path, _ := startAgent(t, dir, "")
	spool := spoolWith(t, "To: bob@example.org\n\nx\n")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	wronly, err := os.OpenFile(filepath.Join(dir, "wronly"), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer wronly.Close()
	good := agentRequest{Envelope{Sender: "alice@example.org", User: "alice", SessionID: "s", Peer: "p"}}.marshal()
	cases := []struct {
		name string
		req  []byte
		fds  []int
	}{
		{"no descriptor", good, nil},
		{"two descriptors", good, []int{int(spool.Fd()), int(spool.Fd())}},
		{"a pipe, not a file", good, []int{int(pr.Fd())}},
		{"a file not open for reading", good, []int{int(wronly.Fd())}},
		{"an option as sender", agentRequest{Envelope{Sender: "-oQ/tmp", User: "alice"}}.marshal(), []int{int(spool.Fd())}},
		{"a newline in the sender", agentRequest{Envelope{Sender: "a@b\n-x", User: "alice"}}.marshal(), []int{int(spool.Fd())}},
		{"no sender", agentRequest{Envelope{User: "alice"}}.marshal(), []int{int(spool.Fd())}},
		{"another protocol", []byte("mppd-deliver/2\x00a@b\x00a\x00s\x00p\x00"), []int{int(spool.Fd())}},
		{"a field too many", append(good, "x\x00"...), []int{int(spool.Fd())}},
		{"too long", []byte(strings.Repeat("x", maxAgentRequest+1)), []int{int(spool.Fd())}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("unixpacket", path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			var oob []byte
			if tc.fds != nil {
				oob = unix.UnixRights(tc.fds...)
			}
			if _, _, err := c.(*net.UnixConn).WriteMsgUnix(tc.req, oob, nil); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, maxAgentReply)
			n, err := c.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			if re := asReplyError(parseAgentReply(buf[:n])); re.code != codeLocalError {
				t.Errorf("reply %q", buf[:n])
			}
		})
	}
	if got := testlib.Recorded(t, dir, "started"); len(got) != 0 {
		t.Errorf("the command ran %d times", len(got))
	}
}

func TestAgentReplyParsing(t *testing.T) {
	for _, tc := range []struct {
		reply string
		ok    bool
		msg   string
	}{
		{"250\x00\x00", true, ""},
		{"451\x00Local error encountered: x\x00detail", false, "Local error encountered: x"},
		// Anything else is the agent's fault, never a 250, and its text
		// never reaches the client.
		{"250", false, "Local error encountered: mail system did not answer, try again later"},
		{"530\x00Authentication Failure\x00", false, "Local error encountered: mail system did not answer, try again later"},
		{"451\x00two\r\n250 lines\x00", false, "Local error encountered: mail system did not answer, try again later"},
		{"451\x00\x00", false, "Local error encountered: mail system did not answer, try again later"},
	} {
		err := parseAgentReply([]byte(tc.reply))
		if tc.ok != (err == nil) {
			t.Errorf("%q: %v", tc.reply, err)
			continue
		}
		if err != nil {
			if re := asReplyError(err); re.code != codeLocalError || re.msg != tc.msg {
				t.Errorf("%q: %d %q", tc.reply, re.code, re.msg)
			}
		}
	}
}

// The agent missing: 451 at once, and the log says how to start it.
func TestAgentUnreachable(t *testing.T) {
	c := &agentClient{path: filepath.Join(t.TempDir(), "none.sock"), wait: 10 * time.Second}
	err := c.Deliver(context.Background(), Envelope{User: "alice", Sender: "alice@example.org"}, spoolWith(t, "x\n"))
	if re := asReplyError(err); re.code != codeLocalError || !strings.Contains(re.Error(), "systemctl enable --now mppd-deliver.socket") {
		t.Fatalf("got %v", err)
	}
}

// -delivery-socket auto: with no_new_privs and the agent's socket there,
// the agent delivers; without no_new_privs the command runs in the session;
// with no_new_privs but no agent, the command runs and a failure names the
// agent as the fix.
func TestAutoDeliverer(t *testing.T) {
	agentDir, directDir := t.TempDir(), t.TempDir()
	path, _ := startAgent(t, agentDir, "")
	direct, err := newSendmail(testlib.FakeSendmail(t, directDir, "exit 1")+" -t", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	env := Envelope{User: "alice", Sender: "alice@example.org"}
	nnp := true
	a := &autoDeliverer{direct: direct, agent: &agentClient{path: path, wait: 10 * time.Second}, noNewPrivs: func() bool { return nnp }}
	if err := a.Deliver(context.Background(), env, spoolWith(t, "x\n")); err != nil {
		t.Fatal(err)
	}
	if len(testlib.Recorded(t, agentDir, "msg")) != 1 || len(testlib.Recorded(t, directDir, "started")) != 0 {
		t.Fatal("with no_new_privs the agent did not deliver")
	}
	nnp = false
	if err := a.Deliver(context.Background(), env, spoolWith(t, "x\n")); err == nil || len(testlib.Recorded(t, directDir, "started")) != 1 {
		t.Fatalf("without no_new_privs the command did not run in the session: %v", err)
	}
	nnp = true
	a.agent.path = filepath.Join(t.TempDir(), "missing.sock")
	err = a.Deliver(context.Background(), env, spoolWith(t, "x\n"))
	if re := asReplyError(err); re.code != codeLocalError || !strings.Contains(re.Error(), "mppd-deliver.socket") || len(testlib.Recorded(t, directDir, "started")) != 2 {
		t.Fatalf("no_new_privs, no agent: %v", err)
	}
}
