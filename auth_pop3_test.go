package main

import (
	"strings"
	"testing"
)

func TestPOP3Dialogue(t *testing.T) {
	const pw = "p4ss word"
	runDialogues(t, pw, []dialogueCase{
		{"accepted", "pop3://%s", []string{"S:+OK hi", "C:USER u", "S:+OK", "C:PASS " + pw, "S:+OK in"},
			codeOK, "", []string{"USER u", "PASS " + pw, "QUIT"}},
		{"refused at PASS", "pop3://%s", []string{"S:+OK hi", "C:USER", "S:+OK", "C:PASS", "S:-ERR [AUTH] Authentication failed."},
			codeAuthFailed, "refused: reply to PASS: -ERR [AUTH]", nil},
		{"refused at USER: no PASS sent", "pop3://%s", []string{"S:+OK hi", "C:USER", "S:-ERR no such mailbox"},
			codeAuthFailed, "no such mailbox", []string{"USER u", "QUIT"}},
		// RFC 2449 §8.1.2: [IN-USE] after PASS proves the password only on
		// a server that checks it before the lock: 451 (try later) unless
		// the administrator says the server is one (?in-use-ok).
		{"IN-USE at PASS: 451", "pop3://%s", []string{"S:+OK hi", "C:USER", "S:+OK", "C:PASS", "S:-ERR [IN-USE] Mailbox locked"},
			codeLocalError, "[IN-USE]", []string{"USER u", "PASS " + pw, "QUIT"}},
		{"in-use at PASS, any case: 451", "pop3://%s", []string{"S:+OK hi", "C:USER", "S:+OK", "C:PASS", "S:-err [in-use] Mailbox locked"},
			codeLocalError, "IN-USE", nil},
		{"IN-USE at PASS with ?in-use-ok: accepted", "pop3://%s?in-use-ok", []string{"S:+OK hi", "C:USER", "S:+OK", "C:PASS", "S:-ERR [IN-USE] Mailbox locked"},
			codeOK, "", []string{"USER u", "PASS " + pw, "QUIT"}},
		{"?in-use-ok: other refusals stay refusals", "pop3://%s?in-use-ok", []string{"S:+OK hi", "C:USER", "S:+OK", "C:PASS", "S:-ERR [AUTH] Authentication failed."},
			codeAuthFailed, "[AUTH]", nil},
		// At USER no password was checked, and a 451 there would tell any
		// client which users exist and read their mail.
		{"IN-USE at USER proves nothing", "pop3://%s", []string{"S:+OK hi", "C:USER", "S:-ERR [IN-USE] busy"},
			codeAuthFailed, "IN-USE", nil},
		{"IN-USE at USER with ?in-use-ok proves nothing either", "pop3://%s?in-use-ok", []string{"S:+OK hi", "C:USER", "S:-ERR [IN-USE] busy"},
			codeAuthFailed, "IN-USE", []string{"USER u", "QUIT"}},
		{"SYS/TEMP: 451", "pop3://%s", []string{"S:+OK hi", "C:USER", "S:+OK", "C:PASS", "S:-ERR [SYS/TEMP] Temporary authentication failure."},
			codeLocalError, "SYS/TEMP", nil},
		{"LOGIN-DELAY: 451", "pop3://%s", []string{"S:+OK hi", "C:USER", "S:+OK", "C:PASS", "S:-ERR [LOGIN-DELAY] wait"},
			codeLocalError, "LOGIN-DELAY", nil},
		{"greeting -ERR: 451", "pop3://%s", []string{"S:-ERR too busy"}, codeLocalError, "too busy", []string{}},
		{"nonsense greeting: 451", "pop3://%s", []string{"S:220 ftp.example.org FTP ready"}, codeLocalError, "nonsense", []string{}},
		{"reply too long: 451", "pop3://%s", []string{"S:+OK " + strings.Repeat("x", 5000)}, codeLocalError, "longer than", []string{}},
		{"nonsense after PASS: 451", "pop3://%s", []string{"S:+OK hi", "C:USER", "S:+OK", "C:PASS", "S:OK fine"},
			codeLocalError, "nonsense", nil},
		{"closed after USER: 451", "pop3://%s", []string{"S:+OK hi", "C:USER", "CLOSE"}, codeLocalError, "closed the connection", nil},
		{"silent after USER: 451 at the timeout", "pop3://%s", []string{"S:+OK hi", "HANG"}, codeLocalError, "no reply to USER within", nil},
		{"STLS refused: 451, nothing more sent", "pop3://%s?starttls", []string{"S:+OK hi", "C:STLS", "S:-ERR not now"},
			codeLocalError, "not now", []string{"STLS"}},
		{"data after the STLS reply: 451 before the handshake", "pop3://%s?starttls", []string{"S:+OK hi", "C:STLS", "S:+OK go\r\n+OK injected"},
			codeLocalError, "before the TLS handshake", []string{"STLS"}},
	})
}
