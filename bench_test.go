package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
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

// BenchmarkPASSOverhead is the PASS figure of bench/run.sh: a PASS command
// as the session handles it (the password file of BenchmarkPASS read and
// parsed, the hash verified, the log line, the reply written) and the bare
// verification of the same hash, timed in turn in the same loop so that a
// noisy machine slows both alike, and compared by their medians. pass/verify is the ratio; the difference
// is mppd's own cost.
func BenchmarkPASSOverhead(b *testing.B) {
	for _, kind := range benchHashes {
		h := fixtureHashes[kind]
		var file strings.Builder
		for i := 0; i < 49; i++ {
			file.WriteString("user" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + ":" + h + ":19000:0:99999:7:::\n")
		}
		file.WriteString("alice:" + h + ":19000:0:99999:7:::\n")
		log, _ := test.NewNullLogger()
		cfg := &Config{Hostname: "bench", Auth: &shadowAuth{path: writeFile(b, file.String())},
			Deliver: discardDeliver{}, SpoolDir: b.TempDir(), MaxLine: 2048, Log: log}
		conn := &scriptConn{in: bytes.NewReader(nil)}
		s := &session{cfg: cfg, conn: conn, w: bufio.NewWriterSize(conn, 4<<10), id: "bench", peer: "bench"}
		s.log = log.WithFields(logrus.Fields{"session": s.id, "rip": s.peer})
		line := "PASS " + fixturePassword
		b.Run(kind, func(b *testing.B) {
			var verify, pass []time.Duration
			timeVerify := func() {
				t0 := time.Now()
				if ok, err := verifyHash(h, fixturePassword); !ok || err != nil {
					b.Fatal(ok, err)
				}
				verify = append(verify, time.Since(t0))
			}
			timePASS := func() {
				s.state, s.user = stateAwaitingPass, "alice"
				conn.out.Reset()
				t0 := time.Now()
				if err := s.handle(line); err != nil || s.state != stateAuthenticated {
					b.Fatalf("%v %v %q", err, s.state, conn.out.String())
				}
				pass = append(pass, time.Since(t0))
			}
			// Each goes first in every other round: neither always pays
			// for the garbage the other left.
			for i := 0; b.Loop(); i++ {
				if i%2 == 0 {
					timeVerify()
					timePASS()
				} else {
					timePASS()
					timeVerify()
				}
			}
			// Medians: a pause of the machine in one iteration moves neither.
			p, v := medianDuration(pass), medianDuration(verify)
			b.ReportMetric(float64(p)/float64(v), "pass/verify")
			b.ReportMetric(float64(v)/1e3, "verify-µs")
			b.ReportMetric(float64(p)/1e3, "pass-µs")
		})
	}
}

func medianDuration(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
