package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/GehirnInc/crypt/sha256_crypt"
	"github.com/GehirnInc/crypt/sha512_crypt"
	"github.com/mppd/mppd/internal/testlib"
)

// shaCryptVectors were written by libxcrypt (mkpasswd -m sha512crypt or
// sha256crypt, -S SALT, -R ROUNDS): passwords shorter than, as long as and
// longer than one and two digests, salts of 6 to 16 characters, rounds
// given and not. The "rounds=1234$shortsalt" ones never verified with
// github.com/GehirnInc/crypt, which took "shortsalt$J1wY" for their salt.
var shaCryptVectors = []struct{ password, hash string }{
	{"x", "$6$ABCDEFGHIJKLMNOP$5qd96.ja9CM8SqMA.WrXfiR.Hm/l0zSj2wjLGU1Qh/VtXtTzCM8bWdySLA84xTNaQAbhpmgX7/7G.wu9tb3hR0"},
	{"pässwörd 1", "$6$saltstring$yaZyFOA9PSXJeUCatew92hHpPTZ/6dsQX.VbaF30WAGcxnJDwwuxLgKsy/cNZswddgMx1K/L3yWN7Z0sRD2i./"},
	{"pässwörd 1", "$6$rounds=5000$./0aZ9xy$iIgV0j0iKbPgmzMdJe3nDKfSYAkKyCdUsUKlmw.5hEDIl0/5LC9EuwACQHvHVi46Z3/0QTcK2H3N1jA3cGJcT."},
	{strings.Repeat("a", 63), "$6$rounds=1000$abcdefgh$HoqkC/SFUX02HAA4XNinuRIL8MbMTJt8tqpv2An1IvaXvw7GR5WmVWvuF/naLqRPJUPv9JdjwBeCcPhTvJiBE1"},
	{strings.Repeat("a", 63), "$6$rounds=1234$shortsalt$J1wYhNwkUv9e9ZrYkrEpzItaF2DxAgVo02MNuf.Rw1B0QK9lnpKxd62OD5azk0BqXQ6b4y8fTX493fu.1GwK3/"},
	{strings.Repeat("b", 64), "$6$ABCDEFGHIJKLMNOP$EbUzUhmxNIROUOMWV4Q1pV/t3oIIT0yNCFQBs64HJEtHwcRDqAhrJ5.kyeQA12Dfg1WjD4egZ22y3vpgL8oln1"},
	{strings.Repeat("c", 65), "$6$saltstring$EcpNap89A9ul5uof3sve9o843vUykG468zMGKTovsS75jDAQ./JDzC/jvo9JH4AjaLcHAHCje/Atew8IYRc6k0"},
	{strings.Repeat("c", 65), "$6$rounds=5000$./0aZ9xy$FKDiph9WLhAs.TCnNUWXJWzrRIj6OVeSdJ94cCahQR43xyWnh9trx3iQxBzgzhIuf6mJRYxcrTXX.3UurIs8N."},
	{strings.Repeat("0123456789", 13), "$6$rounds=1000$abcdefgh$QggSS/55c4vlMKiD8nwDpCebkoLGFB8TscrIbjbfSpCoZu2x1HGAY6ArEZNckXNXTf.Gpqp6BYXGPTQdC0Z86/"},
	{strings.Repeat("0123456789", 13), "$6$rounds=1234$shortsalt$T8hTF3deB/YBOb7TF/BS4pYUm6SUXUIWSnxqxNfr9kIQbEFe/buNcFRgfOcudrlGpPo3LdYMu.joxDHOW5uNa."},
	{"pw with spaces and $ and :", "$6$ABCDEFGHIJKLMNOP$iNh9ODXurcRHygLYKUY9xupPGAFDdBJtQ4I43mMP.1KcwCrlfGbC5uYFPoD7qr.jYshsssDb9konFB5oVBX3q."},
	{strings.Repeat("€", 40), "$6$saltstring$NM67tD/PlO71Qkm6Onxy2JJlVjVnSMxL4qKZUM0bJtF4Gv2NvMB/kD93PO/3SByqd.unlEJXHzkmzlJzr7T9y."},
	{strings.Repeat("€", 40), "$6$rounds=5000$./0aZ9xy$P8c8L.MNf.Rhn0EnzbylQWPsYM20rcR/QBfND6wKOyEDojwODwgmF9yrfHJBl86PEK8Nh2kKgAA7XtImobEO00"},
	{"x", "$5$rounds=1000$abcdefgh$u9otfMRaLa8naphuhy/dT1CAmGtji1ACymPmfnH5lv7"},
	{"x", "$5$rounds=1234$shortsalt$pG.SIpEJswfYzWmWS/W140vH9gbKaC4AaeOir5rw2E8"},
	{"pässwörd 1", "$5$ABCDEFGHIJKLMNOP$gQ/pzEzdPETXL1vyyFsnoNhBEmFke66pRj8jwBD41g1"},
	{strings.Repeat("a", 63), "$5$saltstring$AFMzDQAVO4LeHe4PXCK.JSKEzbaZqf72dBJNUhuNQ79"},
	{strings.Repeat("a", 63), "$5$rounds=5000$./0aZ9xy$2iIn34rgG5amv75N4sfsjxtntASwwUTqM1pflnta9M."},
	{strings.Repeat("b", 64), "$5$rounds=1000$abcdefgh$b/70kLTF64VULHNxLX5lNC4JOzhFOzwFKWzlAMazj67"},
	{strings.Repeat("b", 64), "$5$rounds=1234$shortsalt$DY8ppr2qHJwomK7gnZt1HyY5jDGbU/W9l.qPgqJ8zC3"},
	{strings.Repeat("c", 65), "$5$ABCDEFGHIJKLMNOP$Xsx2wnpStchdgE86HbgmWwYcjR3f1o6mNBRPPQtzuWD"},
	{strings.Repeat("0123456789", 13), "$5$saltstring$vNIUJ3Iof1glTp2kHZqjP6xlG4M.Jvcl/xtx6dpoPj3"},
	{strings.Repeat("0123456789", 13), "$5$rounds=5000$./0aZ9xy$dnriFjzPWQqIU9rGaJ6Z5/D52.fKUz719sjWYfNTDb."},
	{"pw with spaces and $ and :", "$5$rounds=1000$abcdefgh$qHU77NnhctRV2Z4JgEczff0N3.hSEV5TLnPG6cPn3g8"},
	{"pw with spaces and $ and :", "$5$rounds=1234$shortsalt$ouRz3ZJBQwAVN9y0HmnWo.aFSG.scKyhczaUBL0ThF/"},
	{strings.Repeat("€", 40), "$5$ABCDEFGHIJKLMNOP$eHOdmEHYnDI.37BWqATAC1bSIFK6dmEsJBvEhZO71g5"},
}

func TestSHACryptVectors(t *testing.T) {
	for _, v := range shaCryptVectors {
		if ok, err := verifyHash(v.hash, v.password); !ok || err != nil {
			t.Errorf("%q with %q: ok=%v err=%v", v.hash, v.password, ok, err)
		}
		for _, wrong := range []string{v.password + "x", v.password[:len(v.password)-1], ""} {
			if ok, err := verifyHash(v.hash, wrong); ok || err != nil {
				t.Errorf("%q verified the wrong password %q (err %v)", v.hash, wrong, err)
			}
		}
		// One bit of the checksum, the salt or the rounds changed: no match.
		for _, i := range []int{len(v.hash) - 1, len(v.hash) - 40, strings.LastIndexByte(v.hash, '$') - 1} {
			b := []byte(v.hash)
			b[i] ^= 1
			if ok, _ := verifyHash(string(b), v.password); ok {
				t.Errorf("%q verified with byte %d changed", b, i)
			}
		}
	}
}

// TestSHACryptRounds: rounds out of the specification's range are clamped
// when a hash is made (as glibc does, and the library did), so a hash that
// names them can never match, not even with the clamped count's checksum;
// a rounds= that is not a number is an error.
func TestSHACryptRounds(t *testing.T) {
	for _, c := range []struct {
		rounds string
		want   int
	}{{"10", 1000}, {"999", 1000}, {"1000", 1000}, {"1001", 1001}} {
		// The checksum part is left out: only the setting matters here.
		got := string(shaCrypt512.hash([]byte("pw"), []byte("salt"), c.want, true))
		if !strings.HasPrefix(got, "$6$rounds="+strconv.Itoa(c.want)+"$salt$") {
			t.Fatalf("hash = %q", got)
		}
		stored := "$6$rounds=" + c.rounds + "$salt$" + got[strings.LastIndexByte(got, '$')+1:]
		ok, err := verifyHash(stored, "pw")
		if err != nil || ok != (c.rounds == strconv.Itoa(c.want)) {
			t.Errorf("rounds=%s: ok=%v err=%v", c.rounds, ok, err)
		}
	}
	// Above the range: no match, and not a billion rounds computed to
	// find that out (this would run for minutes).
	for _, r := range []string{"1000000000", "99999999999999999999999"} {
		if ok, err := verifyHash("$6$rounds="+r+"$salt$x", "pw"); ok || err != nil {
			t.Errorf("rounds=%s: ok=%v err=%v", r, ok, err)
		}
	}
	for _, bad := range []string{"$6$rounds=$salt$x", "$6$rounds=+5000$salt$x", "$6$rounds=-1$salt$x", "$6$rounds=5k$salt$x", "$5$rounds=5000"} {
		if ok, err := verifyHash(bad, "pw"); ok || err == nil {
			t.Errorf("%q: ok=%v err=%v, want an error", bad, ok, err)
		}
	}
}

// FuzzSHACrypt checks our SHA-crypt against github.com/GehirnInc/crypt for
// any password, salt (no "$", which ends a salt) and rounds, in the
// setting the library reads right (nothing after the salt).
//
// go test -run '^$' -fuzz FuzzSHACrypt -fuzztime 60s .
func FuzzSHACrypt(f *testing.F) {
	f.Add([]byte("pässwörd 1"), "saltstring", -1, true)
	f.Add([]byte(strings.Repeat("x", 130)), "ABCDEFGHIJKLMNOPQRST", 1000, false)
	f.Add([]byte(""), "", 10, true)
	f.Add([]byte("\x00\xff"), "./", 1001, false)
	f.Fuzz(func(t *testing.T, password []byte, salt string, rounds int, is512 bool) {
		if strings.Contains(salt, "$") || len(password) > 512 {
			return
		}
		v, lib := shaCrypt512, sha512_crypt.New()
		if !is512 {
			v, lib = shaCrypt256, sha256_crypt.New()
		}
		setting := v.prefix + salt
		n := shaCryptRoundsDefault
		if rounds >= 0 {
			// Few rounds, so the fuzzer runs many inputs; 0 to 999 are
			// clamped to 1000 by both.
			n = max(rounds%1200, shaCryptRoundsMin)
			setting = v.prefix + "rounds=" + strconv.Itoa(rounds%1200) + "$" + salt
		}
		want, err := lib.Generate(password, []byte(setting))
		if err != nil {
			t.Fatalf("library: %v", err)
		}
		got := v.hash(password, []byte(salt[:min(len(salt), shaCryptSaltMax)]), n, rounds >= 0)
		if string(got) != want {
			t.Fatalf("setting %q: got %q, library %q", setting, got, want)
		}
		if ok, err := verifyHash(want, string(password)); !ok || err != nil {
			t.Fatalf("%q does not verify: %v", want, err)
		}
	})
}

// BenchmarkSHACrypt: a $6$ verification (5000 rounds) by ours and by the
// library it replaced; -benchmem shows the allocations per check.
func BenchmarkSHACrypt(b *testing.B) {
	h := testlib.FixtureHashes["sha512crypt"]
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if ok, _ := shaCrypt512.verify(h, []byte(testlib.FixturePassword)); !ok {
				b.Fatal("no match")
			}
		}
	})
	b.Run("GehirnInc", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if sha512_crypt.New().Verify(h, []byte(testlib.FixturePassword)) != nil {
				b.Fatal("no match")
			}
		}
	})
}
