package testlib

// FixturePassword is the password of every hash in FixtureHashes.
const FixturePassword = "pässwörd 1"

// FixtureHashes are hashes of FixturePassword written by libxcrypt (mkpasswd from Debian's
// whois package, and Python's crypt for $2y$), so the unit tests need no
// tools; TestVerifySystemHashes makes fresh ones where mkpasswd exists.
var FixtureHashes = map[string]string{
	"yescrypt":              "$y$j9T$xOabzSFWluraK5tCndf530$BWNWaGGz8zzkEXEx5ot75RacijBOWs.e2KevwyRKF03",
	"yescrypt cost 7":       "$y$jBT$7F7YrpOcyioW6CXLm89pH0$laXf98wukZ5H.2xfN9WCoMQuf1OGuyrlKNf1rJkDDn0",
	"sha512crypt":           "$6$pbBZUIjFqrX5ruvi$bYHqbKQrJ3DdBoK9qTybsaEyYnO826LkZuJTYhTvXz1humPGIxYd6jo/rD2z2ZDkRRxMHHHL85DapTbNyIk351",
	"sha512crypt rounds":    "$6$rounds=10000$G/iqh2W1t69q4j4y$3b77YjoKUYzcq9.ik2.Odk/JUM5hdbyJS9dGvbGeU4R7ShywbHaFqR.6rknc6N.O2sX.hbhJ7bIqSa63LhgYP1",
	"sha256crypt":           "$5$FYcLm0rUgYcNCiHm$kP8bHpsSUP2Cu2.jZgOZHtpHIhjNg9BPI2d.5nuDU17",
	"sha256crypt rounds":    "$5$rounds=1000$jRkUva7WSm/H1QL2$TzHiiqqxGC3nwUa.o4k.rArCFX9OffpZ5dxeaKCsaM8",
	"md5crypt":              "$1$pGbRUH2I$lX79omLfGrnixqpSxntA0.",
	"bcrypt 2b":             "$2b$05$zgrIzB./8v7zpg6breT0peHw0vwlHLwIjuaACqGGavsNxWBOloVdm",
	"bcrypt 2a":             "$2a$05$nh2gwwn3jxk6Vf7P3LMInOqB5AStuu0/4Vj8bbBjNAXOMidhySqum",
	"bcrypt 2y (libxcrypt)": "$2y$05$abcdefghijklmnopqrstuu9zkq65eNjJ/pyWJYBzBge4LrMqMXEd6",
}
