package mpp

import "io"

// DotWriter writes a message text the way RFC 1204 §2.3 sends it (the
// transparency of RFC 821 §4.5.2): every line ends in CRLF, whether it came
// with LF or CRLF; a line that starts with "." gets one more in front, which
// the server removes; Close ends an unfinished last line and writes the line
// ".". Anything else, 8-bit bytes and lone CRs among them, passes unchanged.
type DotWriter struct {
	w     io.Writer
	state int
}

const (
	dotLineStart = iota // next byte starts a line
	dotInLine
	dotAfterCR // the last byte was CR, not yet written: CRLF or a lone CR
)

// NewDotWriter returns a DotWriter that writes to w. w should be buffered:
// DotWriter writes in pieces.
func NewDotWriter(w io.Writer) *DotWriter { return &DotWriter{w: w} }

var (
	crlf    = []byte("\r\n")
	cr      = []byte("\r")
	dot     = []byte(".")
	endText = []byte(".\r\n")
)

func (d *DotWriter) Write(p []byte) (int, error) {
	start := 0 // p[start:i] is pending, to be written as it is
	flush := func(i int) error {
		if i > start {
			if _, err := d.w.Write(p[start:i]); err != nil {
				return err
			}
		}
		start = i
		return nil
	}
	for i, c := range p {
		if d.state == dotAfterCR {
			if c == '\n' {
				// CRLF: written below as one line end
				d.state = dotInLine
			} else {
				if _, err := d.w.Write(cr); err != nil {
					return i, err
				}
				d.state = dotInLine
			}
		}
		if d.state == dotLineStart {
			d.state = dotInLine
			if c == '.' {
				if err := flush(i); err != nil {
					return i, err
				}
				if _, err := d.w.Write(dot); err != nil {
					return i, err
				}
			}
		}
		switch c {
		case '\r':
			if err := flush(i); err != nil {
				return i, err
			}
			start = i + 1
			d.state = dotAfterCR
		case '\n':
			if err := flush(i); err != nil {
				return i, err
			}
			if _, err := d.w.Write(crlf); err != nil {
				return i, err
			}
			start = i + 1
			d.state = dotLineStart
		}
	}
	if err := flush(len(p)); err != nil {
		return start, err
	}
	return len(p), nil
}

// Close finishes the text: a last line without a line end gets CRLF, then
// the line "." follows. It does not close the underlying writer.
func (d *DotWriter) Close() error {
	switch d.state {
	case dotAfterCR:
		// a lone CR at the very end: it becomes the line end
		if _, err := d.w.Write(crlf); err != nil {
			return err
		}
	case dotInLine:
		if _, err := d.w.Write(crlf); err != nil {
			return err
		}
	}
	d.state = dotLineStart
	_, err := d.w.Write(endText)
	return err
}
