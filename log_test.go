package main

import (
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

func TestLineFormatter(t *testing.T) {
	e := &logrus.Entry{Message: "authentication failed", Data: logrus.Fields{
		"user": "alice", "rip": "192.0.2.1", "reason": "wrong password",
		"odd": "a\"b\nc", "empty": "", "n": 3,
	}}
	b, _ := lineFormatter{}.Format(e)
	want := `authentication failed empty="" n=3 odd="a\"b\nc" reason="wrong password" rip=192.0.2.1 user=alice` + "\n"
	if string(b) != want {
		t.Errorf("got  %q\nwant %q", b, want)
	}
}

func TestJournalFieldName(t *testing.T) {
	for k, want := range map[string]string{"user": "MPPD_USER", "from-policy": "MPPD_FROM_POLICY", "a.b c": "MPPD_A_B_C"} {
		if got := journalFieldName(k); got != want {
			t.Errorf("%q: %q, want %q", k, got, want)
		}
	}
}

// TestBoundedSenderKeepsLines: lines sent one after another, by a daemon
// that keeps up, are all sent; only a stuck send makes lines drop.
func TestBoundedSenderKeepsLines(t *testing.T) {
	var b boundedSender
	sent := 0
	for i := 0; i < 2000; i++ {
		b.send(func() error { sent++; return nil })
	}
	if sent != 2000 || b.dropped.Load() != 0 {
		t.Errorf("sent %d of 2000, dropped %d", sent, b.dropped.Load())
	}
	release := make(chan struct{})
	start := time.Now()
	b.send(func() error { <-release; return nil }) // stuck: given up after logSendTimeout
	b.send(func() error { sent++; return nil })    // dropped while it is stuck
	close(release)
	if d := b.dropped.Load(); d != 2 || sent != 2000 {
		t.Errorf("dropped %d, sent %d; want 2 and 2000", d, sent)
	}
	if time.Since(start) < logSendTimeout {
		t.Errorf("a stuck send was given up before %v", logSendTimeout)
	}
}
