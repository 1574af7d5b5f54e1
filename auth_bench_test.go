package main

// How long one PASS check takes with each -auth backend against the local
// servers of the tests (go test -run '^$' -bench Auth). No -fail-delay:
// the figures are the backends' own. Refusals are measured too: unknown
// user and wrong password should cost the same.

import (
	"context"
	"testing"
)

func benchAuth(b *testing.B, o authOptions, spec, user, pw string, want int) {
	b.Helper()
	c := testChain(b, o, spec)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		err := c.Authenticate(context.Background(), user, pw)
		if got := replyCode(err); got != want {
			b.Fatalf("got %d (%v), want %d", got, err, want)
		}
	}
}

// benchOutcomes measures right password, wrong password and unknown user.
func benchOutcomes(b *testing.B, o authOptions, spec, user, pw string) {
	b.Run("right", func(b *testing.B) { benchAuth(b, o, spec, user, pw, codeOK) })
	b.Run("wrong", func(b *testing.B) { benchAuth(b, o, spec, user, "wrong", codeAuthFailed) })
	b.Run("unknown", func(b *testing.B) { benchAuth(b, o, spec, "mppdnosuchuser", pw, codeAuthFailed) })
}

func BenchmarkAuthBackends(b *testing.B) {
	b.Run("shadow", func(b *testing.B) {
		// examples/demo.passwd: yescrypt, the Debian default.
		benchOutcomes(b, authOptions{passwd: "examples/demo.passwd"}, "shadow", "demo", "demo")
	})
	b.Run("dovecot", func(b *testing.B) {
		srv := startDovecot(b, map[string]string{"alice": "bench-pw"}, true)
		o := authOptions{caFile: srv.pki.caFile}
		b.Run("pop3", func(b *testing.B) { benchOutcomes(b, o, "pop3://"+srv.plain, "alice", "bench-pw") })
		b.Run("pop3-stls", func(b *testing.B) { benchOutcomes(b, o, "pop3://"+srv.plain+"?starttls", "alice", "bench-pw") })
		b.Run("pop3s", func(b *testing.B) { benchOutcomes(b, o, "pop3s://"+srv.tls, "alice", "bench-pw") })
	})
	b.Run("vsftpd", func(b *testing.B) {
		user := addSystemUser(b, "bench-pw")
		srv := startVsftpd(b, true)
		o := authOptions{caFile: srv.pki.caFile}
		b.Run("ftp", func(b *testing.B) { benchOutcomes(b, o, "ftp://"+srv.addr, user, "bench-pw") })
		b.Run("ftps", func(b *testing.B) { benchOutcomes(b, o, "ftps://"+srv.addr, user, "bench-pw") })
	})
}
