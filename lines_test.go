package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadCommandLine(t *testing.T) {
	type result struct {
		line string
		err  error
	}
	cases := []struct {
		name  string
		input string
		max   int
		want  []result
	}{
		{"CRLF", "NOOP\r\nQUIT\r\n", 64, []result{{"NOOP", nil}, {"QUIT", nil}, {"", io.EOF}}},
		{"LF", "NOOP\nQUIT\n", 64, []result{{"NOOP", nil}, {"QUIT", nil}, {"", io.EOF}}},
		{"CR inside kept", "A\rB\r\n", 64, []result{{"A\rB", nil}}},
		{"at the limit", "12345678\r\n", 10, []result{{"12345678", nil}}},
		{"one over the limit, then in step", "123456789\r\nNOOP\r\n", 10, []result{{"", errLineTooLong}, {"NOOP", nil}}},
		{"longer than the buffer, then in step", strings.Repeat("x", 100) + "\nNOOP\n", 20, []result{{"", errLineTooLong}, {"NOOP", nil}}},
		{"unterminated at EOF", "QUI", 64, []result{{"", io.ErrUnexpectedEOF}}},
		{"long unterminated at EOF", strings.Repeat("x", 100), 20, []result{{"", io.ErrUnexpectedEOF}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReaderSize(iotest.OneByteReader(strings.NewReader(tc.input)), 16)
			for i, w := range tc.want {
				line, err := readCommandLine(r, tc.max)
				if line != w.line || !errors.Is(err, w.err) {
					t.Fatalf("read %d: (%q, %v), want (%q, %v)", i, line, err, w.line, w.err)
				}
			}
		})
	}
}

func TestReadText(t *testing.T) {
	long := strings.Repeat("y", 100)
	cases := []struct {
		name, input, want, rest string
		err                     error
	}{
		{"simple", "a\r\nb\r\n.\r\nNOOP\r\n", "a\nb\n", "NOOP\r\n", nil},
		{"LF final dot", "a\n.\nNOOP\n", "a\n", "NOOP\n", nil},
		{"immediate end", ".\r\n", "", "", nil},
		{"dot unstuffing", "..\r\n...\r\n.x\r\n.\r\n", ".\n..\nx\n", "", nil},
		{"long line streams", long + "\r\n.\r\n", long + "\n", "", nil},
		{"long line starting with dot", "." + long + "\r\n.\r\n", long + "\n", "", nil},
		{"dot inside a long line is text", long + ".\r\n.\r\n", long + ".\n", "", nil},
		{"CR at a buffer boundary before LF", strings.Repeat("z", 15) + "\r\n.\r\n", strings.Repeat("z", 15) + "\n", "", nil},
		{"bare CR at a buffer boundary", strings.Repeat("z", 15) + "\rq\r\n.\r\n", strings.Repeat("z", 15) + "\rq\n", "", nil},
		{"CR CR LF", "a\r\r\n.\r\n", "a\r\n", "", nil},
		{"no final dot", "a\r\nb\r\n", "a\nb\n", "", io.ErrUnexpectedEOF},
		{"dot without line end at EOF", "a\r\n.", "a\n", "", io.ErrUnexpectedEOF},
		{"dot CR at EOF", "a\r\n.\r", "a\n", "", io.ErrUnexpectedEOF},
	}
	for _, tc := range cases {
		for _, oneByte := range []bool{false, true} {
			name := tc.name
			var in io.Reader = strings.NewReader(tc.input)
			if oneByte {
				name += "/one byte reads"
				in = iotest.OneByteReader(in)
			}
			t.Run(name, func(t *testing.T) {
				r := bufio.NewReaderSize(in, 16)
				var out bytes.Buffer
				sink := &textSink{w: &out}
				err := readText(r, sink)
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				if tc.err == nil {
					if out.String() != tc.want {
						t.Errorf("text %q, want %q", out.String(), tc.want)
					}
					if sink.n != int64(len(tc.want)) {
						t.Errorf("counted %d, want %d", sink.n, len(tc.want))
					}
					rest, _ := io.ReadAll(r)
					if string(rest) != tc.rest {
						t.Errorf("left %q, want %q", rest, tc.rest)
					}
				}
			})
		}
	}
}

func TestTextSinkLimit(t *testing.T) {
	var out bytes.Buffer
	sink := &textSink{w: &out, max: 10}
	r := bufio.NewReader(strings.NewReader("12345\r\n67890\r\nabc\r\n.\r\nNOOP\r\n"))
	if err := readText(r, sink); err != nil {
		t.Fatal(err)
	}
	if !sink.tooBig || sink.n != 16 {
		t.Errorf("tooBig=%v n=%d, want true 16", sink.tooBig, sink.n)
	}
	if line, _ := readCommandLine(r, 64); line != "NOOP" {
		t.Errorf("after the text: %q, want NOOP (read to the dot, in step)", line)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestTextSinkWriteError(t *testing.T) {
	sink := &textSink{w: failingWriter{}}
	r := bufio.NewReader(strings.NewReader("a\r\nb\r\n.\r\nNOOP\r\n"))
	if err := readText(r, sink); err != nil {
		t.Fatal(err)
	}
	if sink.writeErr == nil {
		t.Error("write error lost")
	}
	if line, _ := readCommandLine(r, 64); line != "NOOP" {
		t.Errorf("after the text: %q, want NOOP", line)
	}
}
