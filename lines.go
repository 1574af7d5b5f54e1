package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// errLineTooLong reports a command line over the limit. The line has been
// read to its end and thrown away, so the next read starts on the next line
// and the dialogue stays in step.
var errLineTooLong = errors.New("line too long")

// readCommandLine reads one command line of at most max bytes, terminator
// included, and returns it without its CRLF or bare LF (docs/protocol.md §1: both are
// accepted). A longer line is discarded as it arrives, never buffered whole:
// memory stays at the size of r's buffer whatever the client sends.
//
// A final line without a terminator is not a command: the client went away
// before finishing it, and io.EOF (or io.ErrUnexpectedEOF) is returned.
func readCommandLine(r *bufio.Reader, max int) (string, error) {
	line, err := r.ReadSlice('\n')
	switch {
	case err == nil && len(line) <= max:
		return string(trimEOL(line)), nil
	case err == nil:
		return "", errLineTooLong
	case errors.Is(err, bufio.ErrBufferFull):
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = r.ReadSlice('\n')
		}
		if err != nil {
			return "", eofToUnexpected(err)
		}
		return "", errLineTooLong
	case len(line) > 0:
		return "", eofToUnexpected(err)
	default:
		return "", err
	}
}

func trimEOL(line []byte) []byte {
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line
}

func eofToUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// textSink is where the message text goes as it is read: it counts what it
// is given, keeps at most max bytes (0: no limit), and remembers the first
// write error instead of returning it, so that reading goes on to the final
// dot whatever happens to the spool (RFC 1204 §2.3: the reply comes after the
// whole text; stopping early would take the rest of the text for commands).
type textSink struct {
	w        io.Writer
	max      int64
	n        int64 // bytes of text after unstuffing, CRLF counted as LF
	tooBig   bool
	writeErr error
}

func (s *textSink) write(p []byte) {
	s.n += int64(len(p))
	if s.tooBig || s.writeErr != nil {
		return
	}
	if s.max > 0 && s.n > s.max {
		s.tooBig = true
		return
	}
	if _, err := s.w.Write(p); err != nil {
		s.writeErr = err
	}
}

// readText reads a message text up to the line holding only ".", undoing
// RFC 821 §4.5.2's transparency and turning CRLF into LF, as sendmail reads
// it, a buffer at a time, rewritten in place (unstuff). It returns nil at
// the final dot, else io.ErrUnexpectedEOF or the read error: such a text
// must not be delivered. What follows the dot stays in r.
func readText(r *bufio.Reader, sink *textSink) error {
	atLineStart := true
	held := 0 // bytes left in r undecided: a CR that may end a line, "." or ".\r" that may end the text
	for {
		// Fill r until it has more than the held bytes (one read, unless a
		// read returns nothing), then take everything it has.
		if _, err := r.Peek(held + 1); err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return eofToUnexpected(err)
		}
		buf, _ := r.Peek(r.Buffered())
		out, in, end := unstuff(buf, buf, &atLineStart)
		if out > 0 {
			sink.write(buf[:out])
		}
		r.Discard(in)
		if end {
			return nil
		}
		held = len(buf) - in
	}
}

// unstuff copies the text in buf to dst without each line's stuffed dot
// and each CRLF's CR, and says how many bytes it wrote and took and whether
// it took the final dot. It leaves what the next bytes decide (a trailing
// CR, "." or ".\r" at a line start) untaken. *atLineStart is whether buf,
// and on return the rest, starts a line. dst may be buf: the text only
// shrinks (out <= in); else it must hold len(buf) bytes.
func unstuff(dst, buf []byte, atLineStart *bool) (out, in int, end bool) {
	lineStart := *atLineStart
	defer func() { *atLineStart = lineStart }()
	for in < len(buf) {
		if lineStart && buf[in] == '.' {
			rest := buf[in+1:]
			switch {
			case len(rest) > 0 && rest[0] == '\n':
				return out, in + 2, true
			case len(rest) > 1 && rest[0] == '\r' && rest[1] == '\n':
				return out, in + 3, true
			case len(rest) == 0 || len(rest) == 1 && rest[0] == '\r':
				return out, in, false // wait for the next bytes
			}
			in++ // the stuffed dot
		}
		nl := bytes.IndexByte(buf[in:], '\n')
		if nl < 0 {
			// A line longer than what is here: take it all but a
			// trailing CR, which the next byte decides.
			stop := len(buf)
			if buf[stop-1] == '\r' {
				stop--
			}
			out += copy(dst[out:], buf[in:stop])
			in, lineStart = stop, false
			return out, in, false
		}
		stop := in + nl // the LF
		if nl > 0 && buf[stop-1] == '\r' {
			stop--
		}
		out += copy(dst[out:], buf[in:stop])
		dst[out] = '\n'
		out++
		in, lineStart = in+nl+1, true
	}
	return out, in, false
}
