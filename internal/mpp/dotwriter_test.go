package mpp

import (
	"bufio"
	"bytes"
	"io"
	"net/textproto"
	"strings"
	"testing"
)

func dotStuff(t *testing.T, pieces ...string) string {
	t.Helper()
	var b bytes.Buffer
	d := NewDotWriter(&b)
	for _, p := range pieces {
		if n, err := d.Write([]byte(p)); err != nil || n != len(p) {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestDotWriter(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want string
	}{
		{"empty text", "", ".\r\n"},
		{"LF lines become CRLF", "a\nb\n", "a\r\nb\r\n.\r\n"},
		{"CRLF lines stay", "a\r\nb\r\n", "a\r\nb\r\n.\r\n"},
		{"mixed line ends", "a\r\nb\nc\r\n", "a\r\nb\r\nc\r\n.\r\n"},
		{"last line without end", "a\nb", "a\r\nb\r\n.\r\n"},
		{"leading dot stuffed", ".\n..x\n.y\n", "..\r\n...x\r\n..y\r\n.\r\n"},
		{"first line dot", ".hidden", "..hidden\r\n.\r\n"},
		{"dot inside a line untouched", "a.b\n x.\n", "a.b\r\n x.\r\n.\r\n"},
		{"lone CR passes", "a\rb\n", "a\rb\r\n.\r\n"},
		{"CR CR LF", "a\r\r\n", "a\r\r\n.\r\n"},
		{"trailing CR ends the line", "a\r", "a\r\n.\r\n"},
		{"dot after lone CR is not at line start", "a\r.b\n", "a\r.b\r\n.\r\n"},
		{"8-bit bytes", "caf\xc3\xa9\n\xff\n", "caf\xc3\xa9\r\n\xff\r\n.\r\n"},
		{"the SMTP smuggling sequence is just text", "a\n.\r\nb\n", "a\r\n..\r\nb\r\n.\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := dotStuff(t, tc.in); got != tc.want {
				t.Errorf("whole: got %q, want %q", got, tc.want)
			}
			// The same bytes in one-byte pieces: state carries over.
			var pieces []string
			for i := range len(tc.in) {
				pieces = append(pieces, tc.in[i:i+1])
			}
			if got := dotStuff(t, pieces...); got != tc.want {
				t.Errorf("bytewise: got %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzDotWriter checks what must hold for any text: the output is CRLF
// lines only, the line "." appears once and last, and no line before it
// starts with a single dot.
func FuzzDotWriter(f *testing.F) {
	for _, s := range []string{"", "a\n", ".\n", "a\r\n.\r\n", "x\r", "\r\n\r\n.", "..\n"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, split int) {
		if split <= 0 {
			split = 1
		}
		var pieces []string
		for i := 0; i < len(s); i += split {
			pieces = append(pieces, s[i:min(i+split, len(s))])
		}
		out := dotStuff(t, pieces...)
		if !strings.HasSuffix(out, "\r\n.\r\n") && out != ".\r\n" {
			t.Fatalf("does not end with the final dot: %q", out)
		}
		body := strings.TrimSuffix(out, ".\r\n")
		for _, line := range strings.SplitAfter(body, "\r\n") {
			if line == "" {
				continue
			}
			if !strings.HasSuffix(line, "\r\n") {
				t.Fatalf("line without CRLF: %q in %q", line, out)
			}
			if strings.Contains(strings.TrimSuffix(line, "\r\n"), "\n") {
				t.Fatalf("bare LF: %q", line)
			}
			if line[0] == '.' && (len(line) < 2 || line[1] != '.') {
				t.Fatalf("unstuffed dot line %q", line)
			}
		}
	})
}

// BenchmarkDotWriter: the client's dot-stuffing of a 1 MiB text of 80-byte
// lines, some starting with a dot, in 32 KiB writes into a buffered writer,
// as SendText does.
func BenchmarkDotWriter(b *testing.B) {
	benchDotStuffing(b, func(w *bufio.Writer) io.WriteCloser { return NewDotWriter(w) })
}

// BenchmarkTextprotoDotWriter is the standard library's dot-stuffer on the
// same text, for comparison.
func BenchmarkTextprotoDotWriter(b *testing.B) {
	benchDotStuffing(b, func(w *bufio.Writer) io.WriteCloser { return textproto.NewWriter(w).DotWriter() })
}

// benchDotStuffing runs the dot-stuffer newWriter puts on a buffered
// writer over the text.
func benchDotStuffing(b *testing.B, newWriter func(*bufio.Writer) io.WriteCloser) {
	line := strings.Repeat("x", 78) + "\n"
	var text bytes.Buffer
	for i := 0; text.Len() < 1<<20; i++ {
		if i%10 == 0 {
			text.WriteString("." + line[1:])
		} else {
			text.WriteString(line)
		}
	}
	src := text.Bytes()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		bw := bufio.NewWriterSize(io.Discard, 32<<10)
		d := newWriter(bw)
		for p := src; len(p) > 0; {
			n := min(len(p), 32<<10)
			d.Write(p[:n])
			p = p[n:]
		}
		d.Close()
		bw.Flush()
	}
}
