package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/sirupsen/logrus/hooks/test"
)

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

// discardDeliver takes every message and reads none of it.
type discardDeliver struct{}

func (discardDeliver) Deliver(context.Context, Envelope, *os.File) error { return nil }

// BenchmarkSessionThroughput: a whole session posting 8 MiB, spool file
// included: bytes per second from the client's input to the spool.
func BenchmarkSessionThroughput(b *testing.B) {
	log, _ := test.NewNullLogger()
	cfg := &Config{Hostname: "bench", Auth: fakeAuth{"alice": "secret"}, Deliver: discardDeliver{},
		SpoolDir: b.TempDir(), MaxLine: 2048, Log: log}
	input := append([]byte(login+"DATA\r\n"), benchText(8<<20)...)
	input = append(input, "QUIT\r\n"...)
	b.SetBytes(int64(len(input)))
	for b.Loop() {
		Serve(cfg, &scriptConn{in: bytes.NewReader(input)}, "bench")
	}
}

var benchHashes = []string{"yescrypt", "sha512crypt", "sha512crypt rounds", "sha256crypt", "md5crypt", "bcrypt 2b"}

// BenchmarkVerifyHash is the floor of a PASS: the hash computation alone.
// Compare with BenchmarkPASS: the difference is mppd's own cost.
func BenchmarkVerifyHash(b *testing.B) {
	for _, kind := range benchHashes {
		h := fixtureHashes[kind]
		b.Run(kind, func(b *testing.B) {
			for b.Loop() {
				verifyHash(h, fixturePassword)
			}
		})
	}
}

// BenchmarkPASS is a PASS as the session makes it: the password file read
// and parsed (a file of 50 users, as a small host's /etc/shadow), the hash
// verified.
func BenchmarkPASS(b *testing.B) {
	for _, kind := range benchHashes {
		h := fixtureHashes[kind]
		var file strings.Builder
		for i := 0; i < 49; i++ {
			file.WriteString("user" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + ":" + h + ":19000:0:99999:7:::\n")
		}
		file.WriteString("alice:" + h + ":19000:0:99999:7:::\n")
		a := &shadowAuth{path: writeFile(b, file.String())}
		b.Run(kind, func(b *testing.B) {
			for b.Loop() {
				if err := a.Authenticate(context.Background(), "alice", fixturePassword); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
