package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

const shutdownReply = "451 Server shutting down, closing connection\r\n"

// shutdownConns are the connections a session may have, each with the
// client's end: a net.Conn (-listen, Accept=no), sockConn (inetd,
// Accept=yes) and pipeConn ("mppd < transcript"). A read blocked on any
// of them must end once shutdown begins.
func shutdownConns(t *testing.T) map[string]func() (Conn, net.Conn) {
	return map[string]func() (Conn, net.Conn){
		"net.Conn": func() (Conn, net.Conn) {
			server, client := net.Pipe()
			return server, client
		},
		"sockConn/socketpair": func() (Conn, net.Conn) {
			p := newSockPairs(t)["socketpair"]
			return p.server, p.client
		},
		"sockConn/tcp": func() (Conn, net.Conn) {
			p := newSockPairs(t)["tcp"]
			return p.server, p.client
		},
		"pipeConn": func() (Conn, net.Conn) {
			// The client's end of a pipe pair, as a net.Conn.
			server, client := net.Pipe()
			return newPipeConn(server, server), client
		},
	}
}

// startShutdownSession runs a session on conn with the idle and session
// limits far away, so that only the shutdown can end it.
func startShutdownSession(t *testing.T, cfg *Config, conn Conn) (done chan struct{}) {
	cfg.IdleTimeout, cfg.SessionTimeout = time.Hour, time.Hour
	cfg.Shutdown = newShutdown()
	done = make(chan struct{})
	go func() {
		defer close(done)
		Serve(cfg, conn, "192.0.2.1")
		if c, ok := conn.(io.Closer); ok {
			c.Close()
		}
	}()
	return done
}

// settle gives the session time to be blocked in its read, the case
// shutdown.begin must wake; not a timing the test depends on to pass.
func settle() { time.Sleep(50 * time.Millisecond) }

// expectLine reads a reply and checks it begins with want.
func expectLine(t *testing.T, r *bufio.Reader, c net.Conn, want string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := r.ReadString('\n')
	if !strings.HasPrefix(got, want) {
		t.Fatalf("got %q (%v), want %q", got, err, want)
	}
}

// TestShutdownEndsSession: a session waiting for its client's next
// command, or in the middle of a text, gets a last 451 when the process
// is asked to stop; the text without its final dot is not delivered.
func TestShutdownEndsSession(t *testing.T) {
	for _, phase := range []struct {
		name    string
		send    string   // after the greeting
		replies []string // to send, before the shutdown
		then    string   // sent after them, answered by nothing but the 451
	}{
		{"waiting", "USER alice\r\n", []string{"250 "}, ""},
		{"in text", login + "DATA\r\n", []string{"250 ", "250 ", "354 "}, "Subject: half\r\n\r\npart of a text\r\n"},
	} {
		for name, conns := range shutdownConns(t) {
			t.Run(phase.name+"/"+name, func(t *testing.T) {
				cfg, d, hook := testConfig(t)
				server, client := conns()
				defer client.Close()
				done := startShutdownSession(t, cfg, server)
				r := bufio.NewReader(client)
				expectLine(t, r, client, "220 mpp.test Message Posting Service Ready\r\n")
				io.WriteString(client, phase.send)
				for _, want := range phase.replies {
					expectLine(t, r, client, want)
				}
				io.WriteString(client, phase.then)
				settle()
				cfg.Shutdown.begin()
				expectLine(t, r, client, shutdownReply)
				within(t, 10*time.Second, "session end", func() { <-done })
				if e := hook.LastEntry(); e == nil || e.Data["result"] != "shutdown" {
					t.Errorf("last log entry %v, want result=shutdown", e)
				}
				if n := len(d.messages()); n != 0 {
					t.Errorf("%d messages delivered from a text without its final dot", n)
				}
			})
		}
	}
}

// TestShutdownBeforeSession: a session that starts once the shutdown has
// begun (one accepted just before the listener closed) ends at once.
func TestShutdownBeforeSession(t *testing.T) {
	cfg, _, _ := testConfig(t)
	server, client := net.Pipe()
	defer client.Close()
	cfg.IdleTimeout = time.Hour
	cfg.Shutdown = newShutdown()
	cfg.Shutdown.begin()
	go func() { Serve(cfg, server, "192.0.2.1"); server.Close() }()
	if got := readAll(t, client); got != "220 mpp.test Message Posting Service Ready\r\n"+shutdownReply {
		t.Errorf("got %q", got)
	}
}

// blockingDeliver delivers once release is closed, telling started when
// it has the message.
type blockingDeliver struct {
	fakeDeliver
	started chan struct{}
	release chan struct{}
}

func (d *blockingDeliver) Deliver(ctx context.Context, env Envelope, msg *os.File) error {
	close(d.started)
	<-d.release
	return d.fakeDeliver.Deliver(ctx, env, msg)
}

// TestShutdownAfterDelivery: a delivery under way when the shutdown comes
// is finished and answered, and the session ends after the reply.
func TestShutdownAfterDelivery(t *testing.T) {
	cfg, _, _ := testConfig(t)
	d := &blockingDeliver{started: make(chan struct{}), release: make(chan struct{})}
	cfg.Deliver = d
	server, client := net.Pipe()
	defer client.Close()
	done := startShutdownSession(t, cfg, server)
	go io.WriteString(client, login+"DATA\r\nSubject: whole\r\n\r\nall of it\r\n.\r\n")
	replies := make(chan string)
	go func() { replies <- readAll(t, client) }()
	within(t, 10*time.Second, "delivery start", func() { <-d.started })
	cfg.Shutdown.begin()
	close(d.release)
	got := <-replies
	within(t, 10*time.Second, "session end", func() { <-done })
	if !strings.HasSuffix(got, "354 Enter mail, end with \".\" on a line by itself\r\n"+
		"250 Command OK, message queued for delivery\r\n"+shutdownReply) {
		t.Errorf("got %q", got)
	}
	if n := len(d.messages()); n != 1 {
		t.Errorf("%d messages delivered, want 1", n)
	}
}

// TestShutdownTLS: the deadline reaches the connection beneath TLS, and
// the last 451 goes out over TLS.
func TestShutdownTLS(t *testing.T) {
	cfg, _, _, ca, _, _, addr := tlsFixture(t, func(cfg *Config) {
		cfg.IdleTimeout, cfg.Shutdown = time.Hour, newShutdown()
	})
	conn, err := testlib.DialTLS(addr, &tls.Config{RootCAs: ca.Pool, ServerName: "mpp.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	expectLine(t, r, conn, "220 ")
	io.WriteString(conn, "USER alice\r\n")
	expectLine(t, r, conn, "250 ")
	settle()
	cfg.Shutdown.begin()
	expectLine(t, r, conn, shutdownReply)
}
