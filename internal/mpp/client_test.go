package mpp

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// serverSays starts a client whose server end writes what and records what
// the client sends.
func serverSays(t *testing.T, what string, trace func(string)) (*Client, *strings.Builder, chan struct{}) {
	t.Helper()
	cc, sc := net.Pipe()
	var got strings.Builder
	done := make(chan struct{})
	copied := make(chan struct{})
	go func() {
		io.Copy(&got, sc)
		close(copied)
	}()
	go func() {
		defer close(done)
		io.WriteString(sc, what)
		time.Sleep(50 * time.Millisecond)
		sc.Close()
		<-copied
	}()
	t.Cleanup(func() { cc.Close(); <-done })
	return NewClient(cc, 5*time.Second, trace), &got, done
}

func TestReadReply(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Reply
		err  string
	}{
		{"220 hello there\r\n", Reply{220, "hello there"}, ""},
		{"250\r\n", Reply{250, ""}, ""},
		{"250 bare LF\n", Reply{250, "bare LF"}, ""},
		{"250-first\r\n250-second\r\n250 last\r\n", Reply{250, "last"}, ""},
		{strings.Repeat("250-x\r\n", 30) + "250 end\r\n", Reply{}, "too many lines"},
		{"250 " + strings.Repeat("x", MaxReplyLine) + "\r\n", Reply{}, "longer than"},
		{"HTTP/1.1 400 Bad Request\r\n", Reply{}, "not a reply"},
		{"25\r\n", Reply{}, "not a reply"},
		{"2500 x\r\n", Reply{}, "not a reply"},
		{"099 x\r\n", Reply{}, "not a reply"},
		{"220 no line end", Reply{}, "unexpected EOF"},
		{"", Reply{}, "unexpected EOF"},
	} {
		c, _, _ := serverSays(t, tc.in, nil)
		r, err := c.ReadReply()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%.30q: got %v, %v; want error %q", tc.in, r, err, tc.err)
			}
			continue
		}
		if err != nil || r != tc.want {
			t.Errorf("%.30q: got %v, %v; want %v", tc.in, r, err, tc.want)
		}
	}
}

func TestCmdRefusesLineBreaks(t *testing.T) {
	c, got, done := serverSays(t, "", nil)
	for _, arg := range []string{"alice\r\nDATA", "a\nb", "a\x00b"} {
		if _, err := c.Cmd("USER", arg, false); err == nil {
			t.Errorf("USER %q was sent", arg)
		}
	}
	c.Close()
	<-done
	if got.Len() != 0 {
		t.Errorf("sent %q", got.String())
	}
}

// TestTraceMasksPassword: the transcript shows PASS as asterisks, the wire
// carries the password.
func TestTraceMasksPassword(t *testing.T) {
	var lines []string
	c, got, done := serverSays(t, "250 ok\r\n250 ok\r\n", func(s string) { lines = append(lines, s) })
	c.Cmd("USER", "alice", false)
	c.Cmd("PASS", "s3cret word", true)
	c.Close()
	<-done
	if want := "USER alice\r\nPASS s3cret word\r\n"; got.String() != want {
		t.Errorf("wire %q, want %q", got.String(), want)
	}
	want := []string{" -> USER alice", "<-  250 ok", " -> PASS ********", "<-  250 ok"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("trace %q, want %q", lines, want)
	}
}

type failingReader struct{ after string }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.after != "" {
		n := copy(p, f.after)
		f.after = f.after[n:]
		return n, nil
	}
	return 0, errors.New("disk on fire")
}

// TestSendTextSourceFails: when the message cannot be read to its end, the
// final dot is not sent.
func TestSendTextSourceFails(t *testing.T) {
	cc, sc := net.Pipe()
	defer cc.Close()
	wire := make(chan string)
	go func() {
		b, _ := io.ReadAll(bufio.NewReader(sc))
		wire <- string(b)
	}()
	c := NewClient(cc, 5*time.Second, nil)
	_, err := c.SendText(&failingReader{after: "To: bob\n\npart of the text\n"})
	var se *SourceError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a SourceError", err)
	}
	c.w.Flush()
	cc.Close()
	if got := <-wire; strings.Contains(got, "\r\n.\r\n") || strings.HasPrefix(got, ".\r\n") {
		t.Errorf("the final dot was sent: %q", got)
	}
}

// TestReplyTimeoutTrickle: a server that sends its reply a byte at a time,
// each byte well within the timeout, is still cut off once the timeout has
// passed since the reply was awaited: the timeout bounds the whole reply.
// (A deadline renewed at every read waited for the last byte, seconds
// later; with a reply that never ends, for ever.)
func TestReplyTimeoutTrickle(t *testing.T) {
	cc, sc := net.Pipe()
	defer cc.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer sc.Close()
		reply := "220 " + strings.Repeat("slow ", 40) + "\r\n"
		for i := 0; i < len(reply); i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := sc.Write([]byte{reply[i]}); err != nil {
				return
			}
		}
	}()
	c := NewClient(cc, 300*time.Millisecond, nil)
	done := make(chan error, 1)
	go func() {
		_, err := c.ReadReply()
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("got %v, want a timeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still waiting for the reply 5s after a 300ms timeout")
	}
}
