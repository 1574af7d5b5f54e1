package mpp

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// MaxReplyLine bounds one reply line from a server, CRLF included. RFC 1204
// replies are a code and a short text; a server sending more is not an MPP
// server, and reading it must not cost unbounded memory.
const MaxReplyLine = 4096

// maxContinuations bounds the "NNN-" lines an SMTP-minded server might send
// before its last line. RFC 1204 §2.4 has one line per reply; a few more are
// tolerated, an endless stream is not.
const maxContinuations = 20

// Reply is one server reply: "NNN text" (RFC 1204 §2.4).
type Reply struct {
	Code int
	Text string
}

func (r Reply) String() string { return fmt.Sprintf("%03d %s", r.Code, r.Text) }

// ProtocolError says the server sent something that is not an MPP reply.
type ProtocolError struct {
	Reason string
}

func (e *ProtocolError) Error() string { return "protocol error: " + e.Reason }

// SourceError is a failure to read the message text that was being sent.
// The final dot was not sent, so the server delivers nothing.
type SourceError struct {
	Err error
}

func (e *SourceError) Error() string { return "reading the message: " + e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

// Client is the client side of one MPP session on a connection that is
// already open (plain or TLS). Every read and write has a deadline, and
// every reply is bounded.
type Client struct {
	conn    net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	tracer  *lineTracer
	timeout time.Duration
	trace   func(string)
	sent    string // transcript prefix for what the client sends
	recv    string // and for what it receives
}

// NewClient starts a session on conn. timeout bounds each whole reply and
// each write (0: none). trace, if not nil, gets the dialogue one line at a time in the form
// swaks prints it ("<-  " from the server, " -> " from the client; "<~  "
// and " ~> " when conn is TLS), with the password masked.
func NewClient(conn net.Conn, timeout time.Duration, trace func(string)) *Client {
	c := &Client{conn: conn, timeout: timeout, trace: trace, sent: " -> ", recv: "<-  "}
	if _, ok := conn.(*tls.Conn); ok {
		c.sent, c.recv = " ~> ", "<~  "
	}
	dc := &deadlineConn{Conn: conn, timeout: timeout}
	c.r = bufio.NewReaderSize(conn, MaxReplyLine)
	var out io.Writer = dc
	if trace != nil {
		c.tracer = &lineTracer{w: dc, emit: func(s string) { trace(c.sent + s) }}
		out = c.tracer
	}
	c.w = bufio.NewWriterSize(out, 32<<10)
	return c
}

// ReadReply reads one reply. A reply that is not "NNN text" (three digits,
// then a space or the end of the line) is a *ProtocolError; a closed or
// timed-out connection is the read error.
//
// The timeout bounds the whole reply, every line of it, from the moment it
// is awaited: a deadline renewed at each read would let a server that
// sends a byte every few seconds keep the client waiting for ever.
func (c *Client) ReadReply() (Reply, error) {
	if c.timeout > 0 {
		c.conn.SetReadDeadline(time.Now().Add(c.timeout))
	}
	for i := 0; ; i++ {
		line, err := c.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return Reply{}, &ProtocolError{Reason: fmt.Sprintf("reply line longer than %d bytes", MaxReplyLine)}
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return Reply{}, err
		}
		text := strings.TrimRight(string(line), "\r\n")
		if c.trace != nil {
			c.trace(c.recv + text)
		}
		if len(text) < 3 || (len(text) > 3 && text[3] != ' ' && text[3] != '-') {
			return Reply{}, &ProtocolError{Reason: fmt.Sprintf("not a reply: %q", truncate(text, 80))}
		}
		code, err := strconv.Atoi(text[:3])
		if err != nil || code < 100 {
			return Reply{}, &ProtocolError{Reason: fmt.Sprintf("not a reply: %q", truncate(text, 80))}
		}
		if len(text) > 3 && text[3] == '-' {
			if i >= maxContinuations {
				return Reply{}, &ProtocolError{Reason: "reply of too many lines"}
			}
			continue
		}
		return Reply{Code: code, Text: strings.TrimPrefix(text[3:], " ")}, nil
	}
}

// Cmd sends one command line and reads its reply. A secret argument (the
// password) shows as asterisks in the transcript. An argument with CR, LF or
// NUL is refused before anything is sent: it would end the command line
// early and the rest would be read as another command.
func (c *Client) Cmd(verb, arg string, secret bool) (Reply, error) {
	if strings.ContainsAny(arg, "\r\n\x00") {
		return Reply{}, fmt.Errorf("%s: argument contains CR, LF or NUL", verb)
	}
	line := verb
	if arg != "" {
		line += " " + arg
	}
	if c.tracer != nil {
		shown := line
		if secret {
			shown = verb + " ********"
		}
		c.tracer.override = shown
	}
	c.w.WriteString(line)
	c.w.WriteString("\r\n")
	if err := c.w.Flush(); err != nil {
		return Reply{}, err
	}
	return c.ReadReply()
}

// SendText sends a message text after DATA got 354: dot-stuffed, in CRLF
// lines, ended by the line "." (RFC 1204 §2.3, RFC 821 §4.5.2), and reads
// the reply that follows. If reading text fails, the final dot is never
// sent and a *SourceError is returned: the server must not deliver a text
// the client did not finish.
func (c *Client) SendText(text io.Reader) (Reply, error) {
	dw := NewDotWriter(c.w)
	buf := make([]byte, 32<<10)
	for {
		n, err := text.Read(buf)
		if n > 0 {
			if _, werr := dw.Write(buf[:n]); werr != nil {
				return Reply{}, werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return Reply{}, &SourceError{Err: err}
		}
	}
	if err := dw.Close(); err != nil {
		return Reply{}, err
	}
	if err := c.w.Flush(); err != nil {
		return Reply{}, err
	}
	return c.ReadReply()
}

// Close ends the connection (without QUIT; see Cmd for that).
func (c *Client) Close() error { return c.conn.Close() }

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// deadlineConn sets a fresh deadline before each write: the timeout bounds
// each write of at most the writer's buffer, however long the message.
// Reads get theirs from ReadReply, one for the whole reply.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (d *deadlineConn) Write(p []byte) (int, error) {
	if d.timeout > 0 {
		d.Conn.SetWriteDeadline(time.Now().Add(d.timeout))
	}
	return d.Conn.Write(p)
}

// lineTracer passes bytes through and hands each complete line to emit. A
// command line may be shown differently (override: the masked password).
type lineTracer struct {
	w        io.Writer
	emit     func(string)
	partial  []byte
	override string
}

func (t *lineTracer) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	rest := p[:n]
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			if len(t.partial) < MaxReplyLine {
				t.partial = append(t.partial, rest...)
			}
			break
		}
		t.partial = append(t.partial, rest[:i]...)
		line := strings.TrimSuffix(string(t.partial), "\r")
		if t.override != "" {
			line, t.override = t.override, ""
		}
		t.emit(line)
		t.partial = t.partial[:0]
		rest = rest[i+1:]
	}
	return n, err
}
