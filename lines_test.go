package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/mppd/mppd/internal/mpp"
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

// referenceText is readText's rules written the plain way, a line at a
// time, for TestReadTextAgainstReference: the text up to the line ".", with
// the stuffed dots and the CRs of CRLF gone, and what follows it.
func referenceText(input string) (text, rest string, complete bool) {
	var b strings.Builder
	for len(input) > 0 {
		line, after, found := strings.Cut(input, "\n")
		if !found {
			return b.String(), "", false
		}
		input = after
		line = strings.TrimSuffix(line, "\r")
		if line == "." {
			return b.String(), input, true
		}
		b.WriteString(strings.TrimPrefix(line, "."))
		b.WriteByte('\n')
	}
	return b.String(), "", false
}

// randomReader returns at most a random number of bytes per Read.
type randomReader struct {
	r   io.Reader
	rnd *rand.Rand
}

func (r randomReader) Read(p []byte) (int, error) {
	return r.r.Read(p[:1+r.rnd.IntN(len(p))])
}

// TestReadTextAgainstReference feeds readText texts made of the pieces that
// matter (dots, CR, LF, dot lines) through small buffers and reads of random
// sizes, and checks each against referenceText.
func TestReadTextAgainstReference(t *testing.T) {
	pieces := []string{".", "..", "\r", "\n", "\r\n", ".\r\n", ".\n", "a", "bc", "\r\r\n", ".\r", strings.Repeat("x", 20)}
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		var in strings.Builder
		for n := rnd.IntN(30); n > 0; n-- {
			in.WriteString(pieces[rnd.IntN(len(pieces))])
		}
		input := in.String()
		wantText, wantRest, complete := referenceText(input)
		r := bufio.NewReaderSize(randomReader{strings.NewReader(input), rnd}, 16+rnd.IntN(16))
		var out bytes.Buffer
		sink := &textSink{w: &out}
		err := readText(r, sink)
		if !complete {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%q: err %v, want %v", input, err, io.ErrUnexpectedEOF)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", input, err)
		}
		rest, _ := io.ReadAll(r)
		if out.String() != wantText || string(rest) != wantRest || sink.n != int64(len(wantText)) {
			t.Fatalf("%q:\ntext %q rest %q n %d\nwant %q rest %q", input, out.String(), rest, sink.n, wantText, wantRest)
		}
	}
}

// benchText is n bytes of message text as a client sends it: 76-character
// lines, every tenth starting with a stuffed dot, CRLF line ends.
func benchText(n int) []byte {
	var b bytes.Buffer
	line := strings.Repeat("abcdefghij", 8)[:76]
	for i := 0; b.Len() < n; i++ {
		if i%10 == 0 {
			b.WriteString("..")
			b.WriteString(line[2:])
		} else {
			b.WriteString(line)
		}
		b.WriteString("\r\n")
	}
	b.WriteString(".\r\n")
	return b.Bytes()
}

// BenchmarkReadText: the text reader alone (unstuffing, CRLF to LF).
func BenchmarkReadText(b *testing.B) {
	text := benchText(8 << 20)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		r := bufio.NewReaderSize(bytes.NewReader(text), 64<<10)
		if err := readText(r, &textSink{w: io.Discard}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDotWriterRoundTrip: what the client's DotWriter sends, the server's
// readText gives back, line ends made LF.
func TestDotWriterRoundTrip(t *testing.T) {
	for _, text := range []string{
		"", "a\n", ".\n", "..\n", ".a\r\n.b\n", "x\n.\r\ny\n", "no end", "\r\n\r\n", "caf\xc3\xa9 \xff\n",
		strings.Repeat("long ", 40000) + "\n.", "a\rb\n",
	} {
		var wire strings.Builder
		dw := mpp.NewDotWriter(&wire)
		io.WriteString(dw, text)
		dw.Close()
		var got strings.Builder
		sink := &textSink{w: &got}
		r := bufio.NewReaderSize(strings.NewReader(wire.String()+"NOOP\r\n"), 4096)
		if err := readText(r, sink); err != nil {
			t.Fatalf("%.30q: %v", text, err)
		}
		want := strings.ReplaceAll(text, "\r\n", "\n")
		if want != "" && !strings.HasSuffix(want, "\n") {
			want += "\n"
		}
		if got.String() != want {
			t.Errorf("%.30q: got %.60q, want %.60q", text, got.String(), want)
		}
		if rest, _ := r.ReadString('\n'); rest != "NOOP\r\n" {
			t.Errorf("%.30q: the text did not end where it should: next %q", text, rest)
		}
	}
}
