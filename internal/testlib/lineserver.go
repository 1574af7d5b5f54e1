package testlib

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// LineServer is a fake line-based server (POP3, FTP, MPP) on a loopback
// port for one connection, following script: "S:text" sends text and CRLF,
// "W:bytes" sends bytes as they are, "C:prefix" reads a line that must
// start with prefix, "CLOSE" hangs up, "HANG" reads and never answers.
// After the script it reads until the client hangs up. got returns the
// lines the client sent, once the connection is over.
func LineServer(t testing.TB, script ...string) (addr string, got func() []string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	done := make(chan struct{})
	accepted := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		close(accepted)
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		r := bufio.NewReader(c)
		read := func() (string, bool) {
			line, err := r.ReadString('\n')
			if err != nil {
				return "", false
			}
			line = strings.TrimRight(line, "\r\n")
			mu.Lock()
			lines = append(lines, line)
			mu.Unlock()
			return line, true
		}
		for _, s := range script {
			switch {
			case strings.HasPrefix(s, "S:"):
				c.Write([]byte(s[2:] + "\r\n"))
			case strings.HasPrefix(s, "W:"):
				io.WriteString(c, s[2:])
			case strings.HasPrefix(s, "C:"):
				line, ok := read()
				if !ok {
					return
				}
				if !strings.HasPrefix(line, s[2:]) {
					t.Errorf("server got %q, want %q", line, s[2:])
					return
				}
			case s == "CLOSE":
				return
			case s == "HANG":
				for {
					if _, ok := read(); !ok {
						return
					}
				}
			}
		}
		for {
			if _, ok := read(); !ok {
				return
			}
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return l.Addr().String(), func() []string {
		select {
		case <-accepted:
		default:
			l.Close()
		}
		<-done
		mu.Lock()
		defer mu.Unlock()
		return lines
	}
}

// LineServerReplies is a LineServer that sends each reply as it is and
// reads one line after it, and hangs up after the last, or at a reply "".
func LineServerReplies(t testing.TB, replies ...string) string {
	t.Helper()
	var script []string
	for _, r := range replies {
		if r == "" {
			break
		}
		script = append(script, "W:"+r, "C:")
	}
	addr, _ := LineServer(t, append(script, "CLOSE")...)
	return addr
}
