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
		d := NewDotWriter(bw)
		for p := src; len(p) > 0; {
			n := min(len(p), 32<<10)
			d.Write(p[:n])
			p = p[n:]
		}
		d.Close()
		bw.Flush()
	}
}

// BenchmarkTextprotoDotWriter is the standard library's dot-stuffer on the
// same text, for comparison.
func BenchmarkTextprotoDotWriter(b *testing.B) {
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
		d := textproto.NewWriter(bw).DotWriter()
		for p := src; len(p) > 0; {
			n := min(len(p), 32<<10)
			d.Write(p[:n])
			p = p[n:]
		}
		d.Close()
		bw.Flush()
	}
}
