package testlib

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Client is the test's side of an MPP session.
type Client struct {
	t    testing.TB
	Conn net.Conn
	R    *bufio.Reader
}

func NewClient(t testing.TB, c net.Conn) *Client {
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &Client{t: t, Conn: c, R: bufio.NewReader(c)}
}

// Expect reads one reply and checks its code.
func (c *Client) Expect(code string) string {
	c.t.Helper()
	line, err := c.R.ReadString('\n')
	if err != nil {
		c.t.Fatalf("waiting for %s: %v (got %q)", code, err, line)
	}
	if !strings.HasPrefix(line, code+" ") || !strings.HasSuffix(line, "\r\n") {
		c.t.Fatalf("got %q, want %s", line, code)
	}
	return line
}

func (c *Client) Send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.Conn, s); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// Cmd sends one command line and checks the reply.
func (c *Client) Cmd(line, code string) string {
	c.t.Helper()
	c.Send(line + "\r\n")
	return c.Expect(code)
}

// Rest reads whatever comes until the server closes.
func (c *Client) Rest() string {
	b, _ := io.ReadAll(c.R)
	return string(b)
}

// Trickle sends line every few milliseconds, a client that is never
// idle, until stop is called or the connection fails.
func (c *Client) Trickle(line string) (stop func()) {
	var stopped atomic.Bool
	go func() {
		for !stopped.Load() {
			if _, err := c.Conn.Write([]byte(line)); err != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return func() { stopped.Store(true) }
}
