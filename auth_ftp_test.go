package main

import (
	"strings"
	"testing"

	"github.com/mppd/mppd/internal/testlib"
)

func TestFTPDialogue(t *testing.T) {
	const pw = "f7p word"
	greeting := "S:220-Welcome\r\n220-to the test\r\n220 ready"
	runDialogues(t, pw, []dialogueCase{
		{"accepted after a multi-line greeting", "ftp://%s", []string{greeting, "C:USER u", "S:331 Password?", "C:PASS " + pw, "S:230-Hi\r\n230 Logged in"},
			codeOK, "", []string{"USER u", "PASS " + pw, "QUIT"}},
		{"refused", "ftp://%s", []string{greeting, "C:USER", "S:331 Password?", "C:PASS", "S:530 Login incorrect."},
			codeAuthFailed, "refused: reply to PASS: 530", nil},
		{"refused at USER: no PASS sent", "ftp://%s", []string{greeting, "C:USER", "S:530 Permission denied."},
			codeAuthFailed, "Permission denied", []string{"USER u", "QUIT"}},
		{"logged in without a password: 451", "ftp://%s", []string{greeting, "C:USER", "S:230 Welcome"},
			codeLocalError, "without asking for a password", []string{"USER u", "QUIT"}},
		{"ACCT wanted: 451", "ftp://%s", []string{greeting, "C:USER", "S:331 ok", "C:PASS", "S:332 Need account"},
			codeLocalError, "332", nil},
		{"202 to PASS: 451", "ftp://%s", []string{greeting, "C:USER", "S:331 ok", "C:PASS", "S:202 whatever"},
			codeLocalError, "202", nil},
		{"421 to PASS: 451", "ftp://%s", []string{greeting, "C:USER", "S:331 ok", "C:PASS", "S:421 Shutting down"},
			codeLocalError, "421", nil},
		{"greeting 421: 451", "ftp://%s", []string{"S:421 Too many users"}, codeLocalError, "Too many users", []string{}},
		{"greeting 120: 451", "ftp://%s", []string{"S:120 Ready in 5 minutes"}, codeLocalError, "120", []string{}},
		{"nonsense greeting: 451", "ftp://%s", []string{"S:+OK POP3 ready"}, codeLocalError, "nonsense", []string{}},
		{"endless multi-line reply: 451", "ftp://%s", []string{"S:" + strings.Repeat("220-more\r\n", 100)}, codeLocalError, "more than", []string{}},
		{"silent after PASS: 451 at the timeout", "ftp://%s", []string{greeting, "C:USER", "S:331 ok", "HANG"},
			codeLocalError, "no reply to PASS within", nil},
		{"AUTH TLS refused: 451, nothing more sent", "ftps://%s", []string{greeting, "C:AUTH TLS", "S:502 Command not implemented"},
			codeLocalError, "AUTH TLS", []string{"AUTH TLS"}},
		{"AUTH TLS refused with 530: 451 too", "ftps://%s", []string{greeting, "C:AUTH TLS", "S:530 Please login with USER and PASS."},
			codeLocalError, "AUTH TLS", []string{"AUTH TLS"}},
		{"data after 234: 451 before the handshake", "ftps://%s", []string{greeting, "C:AUTH TLS", "S:234 go\r\n230 injected"},
			codeLocalError, "before the TLS handshake", []string{"AUTH TLS"}},
	})
}

// The FTP backend never asks about the anonymous names, in any case, even
// of a server that would let them in (230); other names are asked as ever.
func TestFTPNeverAnonymous(t *testing.T) {
	anonymousOK := []string{"S:220 ready", "C:USER", "S:331 Any password will do", "C:PASS", "S:230 Login successful."}
	for _, name := range []string{"anonymous", "ANONYMOUS", "Anonymous", "ftp", "FTP", "Ftp", " anonymous", "ftp\t"} {
		for _, scheme := range []string{"ftp", "ftps"} {
			addr, got := testlib.LineServer(t, anonymousOK...)
			spec := scheme + "://" + addr
			code, _, err := checkAuth(t, authOptions{}, []string{spec}, name, "guest@example.org")
			if code != codeAuthFailed || !strings.Contains(err.Error(), "anonymous FTP name") || !strings.Contains(err.Error(), spec) {
				t.Errorf("%s %q: got %d (%v), want 530 saying why", scheme, name, code, err)
			}
			if lines := got(); lines != nil {
				t.Errorf("%s %q: the server was asked: %q", scheme, name, lines)
			}
		}
	}
	for _, name := range []string{"anonymous2", "ftpuser", "myftp", "anon"} {
		addr, got := testlib.LineServer(t, anonymousOK...)
		code, _, err := checkAuth(t, authOptions{}, []string{"ftp://" + addr}, name, "pw")
		if code != codeOK {
			t.Errorf("%q: got %d (%v), want 250", name, code, err)
		}
		if lines := got(); len(lines) == 0 || lines[0] != "USER "+name {
			t.Errorf("%q: the server got %q", name, lines)
		}
	}
}
