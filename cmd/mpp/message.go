package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
)

// dataErrorf is a message mpp will not send: exit 65 (EX_DATAERR).
func dataErrorf(format string, a ...any) error { return fail(exDataErr, "bad message: "+format, a...) }

// maxHeader bounds the header block, which is held in memory to be checked
// before anything is sent. Postfix's header_size_limit is 100 KiB; ten times
// that leaves room for any real message.
const maxHeader = 1 << 20

// recipientHeaders are the fields `sendmail -t` takes recipients from.
var recipientHeaders = map[string]bool{
	"to": true, "cc": true, "bcc": true,
	"resent-to": true, "resent-cc": true, "resent-bcc": true,
}

// message is a message read from standard input: its header block, held
// whole and checked, and the rest, streamed to the server as it is read.
type message struct {
	header     []byte    // the header fields as read, each line ending in LF or CRLF
	separated  bool      // the header ended with an empty line (kept in header)
	body       io.Reader // everything after the header
	recipients []string  // addresses in To:, Cc:, Bcc: (and Resent-*)
}

// messageInput is standard input as readMessage reads it: ended by a line
// holding only "." unless ignoreDots (-i). Its buffer bounds a header line.
func messageInput(stdin io.Reader, ignoreDots bool) *bufio.Reader {
	in := bufio.NewReaderSize(stdin, 64<<10)
	if !ignoreDots {
		in = bufio.NewReaderSize(&stopAtDot{r: in}, 64<<10)
	}
	return in
}

// readMessage reads the header block of an RFC 5322 message from r. The
// header ends at an empty line, or at the first line that is not a header
// field (which then begins the body, as Postfix's cleanup treats it). A
// message with no header at all is allowed here; whether it can be sent is
// decided by its recipients.
func readMessage(r *bufio.Reader) (*message, error) {
	m := &message{}
	var hdr bytes.Buffer
	for {
		line, err := peekLine(r)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if len(line) == 0 {
			break // end of input
		}
		if hdr.Len()+len(line) > maxHeader {
			return nil, dataErrorf("header longer than %d bytes", maxHeader)
		}
		if isEmptyLine(line) {
			r.Discard(len(line))
			hdr.Write(line)
			m.separated = true
			break
		}
		if !isHeaderLine(line, hdr.Len() > 0) {
			break
		}
		if bytes.IndexByte(line, 0) >= 0 {
			return nil, dataErrorf("NUL byte in the header")
		}
		r.Discard(len(line))
		if line[len(line)-1] != '\n' {
			line = append(line, '\n') // the last line of a message that is all header
		}
		hdr.Write(line)
	}
	if hdr.Len() == 0 && !hasMore(r) {
		return nil, dataErrorf("empty message")
	}
	m.header = hdr.Bytes()
	m.body = r
	rcpts, err := headerRecipients(m.header)
	if err != nil {
		return nil, err
	}
	m.recipients = rcpts
	return m, nil
}

// peekLine returns the next line (up to and including LF, or to the end of
// input) without consuming it. A line longer than the reader's buffer is
// returned as far as the buffer goes: in the header, such a line is an error
// soon after; in the body it is never peeked.
func peekLine(r *bufio.Reader) ([]byte, error) {
	for n := 1; ; n++ {
		b, err := r.Peek(n)
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return nil, dataErrorf("header line longer than %d bytes", r.Size())
			}
			return append([]byte(nil), b...), err
		}
		if b[n-1] == '\n' {
			return append([]byte(nil), b...), nil
		}
	}
}

func hasMore(r *bufio.Reader) bool {
	_, err := r.Peek(1)
	return err == nil
}

func isEmptyLine(line []byte) bool {
	return string(line) == "\n" || string(line) == "\r\n"
}

// isHeaderLine says whether line is a header field ("Name:" with a name of
// printable ASCII, RFC 5322 §2.2) or, after one, a folded continuation.
func isHeaderLine(line []byte, afterField bool) bool {
	if line[0] == ' ' || line[0] == '\t' {
		return afterField
	}
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return false
	}
	for _, c := range line[:i] {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// headerRecipients collects the addresses of the recipient fields, for
// comparing with the command line.
func headerRecipients(header []byte) ([]string, error) {
	var out []string
	for _, f := range unfold(header) {
		name, value, _ := strings.Cut(f, ":")
		if !recipientHeaders[strings.ToLower(strings.TrimSpace(name))] {
			continue
		}
		addrs, err := parseAddresses(value)
		if err != nil {
			return nil, dataErrorf("%s: %v", strings.TrimSpace(name), err)
		}
		out = append(out, addrs...)
	}
	return out, nil
}

// unfold joins folded lines (RFC 5322 §2.2.3) into one string per field.
func unfold(header []byte) []string {
	var fields []string
	for _, line := range strings.SplitAfter(string(header), "\n") {
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1] += line
			continue
		}
		fields = append(fields, line)
	}
	return fields
}

// parseAddresses reads an address list (RFC 5322 §3.4) into bare addresses.
// Besides what net/mail reads, it accepts what local mail programs
// write and sendmail qualifies with the local domain: a bare user name
// ("To: bob", "Bob <bob>").
func parseAddresses(value string) ([]string, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	if list, err := mail.ParseAddressList(value); err == nil {
		var out []string
		for _, a := range list {
			out = append(out, a.Address)
		}
		return out, nil
	}
	var out []string
	for _, part := range splitAddressList(value) {
		if strings.TrimSpace(part) == "" {
			continue
		}
		if a, err := mail.ParseAddress(part); err == nil {
			out = append(out, a.Address)
			continue
		}
		local := localName(part)
		if local == "" {
			return nil, fmt.Errorf("cannot read the address %q", strings.TrimSpace(part))
		}
		out = append(out, local)
	}
	return out, nil
}

// splitAddressList splits at the commas that separate addresses: not those
// inside quotes, comments or angle brackets.
func splitAddressList(s string) []string {
	var parts []string
	depth, quoted, angle, start := 0, false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && (quoted || depth > 0):
			i++
		case c == '"' && depth == 0:
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case c == ',' && !angle:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// localName reads an address that is a bare user name, alone or in angle
// brackets after a display name, with comments removed. It returns "" if
// part is not such an address.
func localName(part string) string {
	s := stripComments(part)
	if i := strings.IndexByte(s, '<'); i >= 0 {
		j := strings.IndexByte(s[i:], '>')
		if j < 0 || strings.TrimSpace(s[i+j+1:]) != "" {
			return ""
		}
		s = s[i+1 : i+j]
	}
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, " \t\"<>()[]@,;:\\") {
		return ""
	}
	return s
}

func stripComments(s string) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && depth > 0:
			i++
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// missing is what of want is not in have. Addresses compare without regard
// to case: a mail system may treat local parts as case-sensitive, but a
// mismatch only in case is not a different recipient anyone meant.
func missing(want, have []string) []string {
	in := map[string]bool{}
	for _, a := range have {
		in[strings.ToLower(a)] = true
	}
	var out []string
	for _, a := range want {
		if !in[strings.ToLower(a)] {
			out = append(out, a)
		}
	}
	return out
}

// stopAtDot ends the input at a line holding only "." (CRLF or LF), as
// sendmail does unless -i or -oi is given.
type stopAtDot struct {
	r          *bufio.Reader
	notAtStart bool   // inside a line: the next byte does not start one
	pending    []byte // rest of the current piece, from r's buffer
	err        error  // r's error after pending
	done       bool
}

func (s *stopAtDot) Read(p []byte) (int, error) {
	if len(s.pending) == 0 {
		if s.done || s.err != nil {
			return 0, cmpEOF(s.err)
		}
		if !s.notAtStart {
			b, _ := s.r.Peek(3)
			if string(b) == "." || bytes.HasPrefix(b, []byte(".\n")) || string(b) == ".\r\n" {
				s.done = true
				return 0, io.EOF
			}
		}
		// One line (or a buffer's worth of a long one) at a time, so that
		// the start of the next line is seen. pending points into r's
		// buffer, which stays valid until r is read again: only once it is
		// used up.
		line, err := s.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			err = nil
		}
		s.pending, s.err = line, err
		s.notAtStart = len(line) == 0 || line[len(line)-1] != '\n'
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	if len(s.pending) == 0 && s.err != nil {
		return n, s.err
	}
	return n, nil
}

func cmpEOF(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}
