package main

import (
	"bufio"
	"errors"
	"io"
)

// errLineTooLong reports a command line over the limit. The line has been
// read to its end and thrown away, so the next read starts on the next line
// and the dialogue stays in step.
var errLineTooLong = errors.New("line too long")

// readCommandLine reads one command line of at most max bytes, terminator
// included, and returns it without its CRLF or bare LF (MPP-SPEC: both are
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

var lf = []byte{'\n'}

// readText reads a message text up to the line holding only ".", undoing the
// transparency of RFC 821 §4.5.2 (a line that starts with "." loses that
// first dot) and turning CRLF line ends into LF, the form sendmail reads. The
// final line "." may end in CRLF or LF. Lines of any length stream through in
// pieces of r's buffer size; nothing is ever held whole.
//
// It returns nil once the final dot has been read, and io.ErrUnexpectedEOF or
// the read error if the text ends any other way: then the text must not be
// delivered.
func readText(r *bufio.Reader, sink *textSink) error {
	atLineStart := true
	pendingCR := false // a piece ended in CR; whether it ends the line depends on the next byte
	for {
		piece, err := r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return eofToUnexpected(err)
		}
		complete := err == nil // piece ends with LF
		if atLineStart && len(piece) > 0 && piece[0] == '.' {
			if complete && (len(piece) == 2 || len(piece) == 3 && piece[1] == '\r') {
				return nil
			}
			piece = piece[1:]
		}
		if pendingCR {
			pendingCR = false
			if !(len(piece) == 1 && complete) {
				sink.write([]byte{'\r'})
			}
		}
		switch {
		case complete:
			body := piece[:len(piece)-1]
			if n := len(body); n > 0 && body[n-1] == '\r' {
				body = body[:n-1]
			}
			sink.write(body)
			sink.write(lf)
		case len(piece) > 0 && piece[len(piece)-1] == '\r':
			sink.write(piece[:len(piece)-1])
			pendingCR = true
		default:
			sink.write(piece)
		}
		atLineStart = complete
	}
}
