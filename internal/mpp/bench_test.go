package mpp

import (
	"bufio"
	"bytes"
	"io"
	"net/textproto"
	"strings"
	"testing"
)

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
