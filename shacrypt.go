package main

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"hash"
	"strconv"
	"strings"
)

// SHA-crypt ($5$ and $6$), https://www.akkadia.org/drepper/SHA-crypt.txt,
// as glibc and libxcrypt compute it. Ours rather than GehirnInc/crypt's: its
// rounds allocate a digest each, page faults in a process that lives for
// one session (here sha512.Sum512 keeps the state on the stack), and it
// misreads the salt of a "$6$rounds=N$" hash shorter than 16 bytes.
// TestSHACryptVectors and FuzzSHACrypt check it.

// Limits of the specification (its ROUNDS_MIN, ROUNDS_MAX, salt length).
const (
	shaCryptRoundsDefault = 5000
	shaCryptRoundsMin     = 1000
	shaCryptRoundsMax     = 999999999
	shaCryptSaltMax       = 16
)

// shaCryptVariant is what differs between $5$ and $6$: the digest and the
// order in which its bytes are encoded (step 22 of the specification).
type shaCryptVariant struct {
	prefix string
	size   int
	new    func() hash.Hash
	sum    func(dst, data []byte) // dst = H(data); len(dst) == size
	order  []byte                 // digest byte indexes, three per four characters
}

var (
	shaCrypt512 = &shaCryptVariant{
		prefix: "$6$", size: sha512.Size, new: sha512.New,
		sum:   func(dst, data []byte) { s := sha512.Sum512(data); copy(dst, s[:]) },
		order: shaCryptOrder(sha512.Size),
	}
	shaCrypt256 = &shaCryptVariant{
		prefix: "$5$", size: sha256.Size, new: sha256.New,
		sum:   func(dst, data []byte) { s := sha256.Sum256(data); copy(dst, s[:]) },
		order: shaCryptOrder(sha256.Size),
	}
)

// shaCryptOrder is step 22's order of the digest's bytes: groups of three
// (i, i+n, i+2n) for n = size/3, rotated one place further for each group
// (the other way round for SHA-256), then the bytes left over, most
// significant first.
func shaCryptOrder(size int) []byte {
	n := size / 3
	var o []byte
	for i := 0; i < n; i++ {
		a, b, c := byte(i), byte(i+n), byte(i+2*n)
		switch r := i % 3; {
		case r == 0:
			o = append(o, a, b, c)
		case r == 1 && size == sha512.Size, r == 2 && size == sha256.Size:
			o = append(o, b, c, a)
		default:
			o = append(o, c, a, b)
		}
	}
	if size == sha512.Size {
		return append(o, 63) // b64_from_24bit(0, 0, final[63], 2)
	}
	return append(o, 31, 30) // b64_from_24bit(0, final[31], final[30], 3)
}

// errSHACryptRounds: a "rounds=" that is not a decimal number.
var errSHACryptRounds = errors.New("bad rounds= in SHA-crypt hash")

// verify says whether password hashes to stored, which starts with the
// variant's prefix. The comparison is of the whole hash string, in constant
// time.
func (v *shaCryptVariant) verify(stored string, password []byte) (bool, error) {
	setting := stored[len(v.prefix):]
	rounds, roundsGiven := shaCryptRoundsDefault, false
	if r, ok := strings.CutPrefix(setting, "rounds="); ok {
		num, rest, found := strings.Cut(r, "$")
		n, err := strconv.ParseUint(num, 10, 64)
		if !found || err != nil && !errors.Is(err, strconv.ErrRange) {
			return false, errSHACryptRounds // ParseUint takes digits only, no sign
		}
		if n < shaCryptRoundsMin || n > shaCryptRoundsMax {
			// crypt(3) writes such a count clamped into the range (glibc)
			// or refuses it (libxcrypt): no password hashes to this
			// string. Not computing the clamped hash keeps a corrupt
			// rounds=99999999999 from costing a billion rounds a PASS.
			return false, nil
		}
		rounds, roundsGiven, setting = int(n), true, rest
	}
	salt, _, _ := strings.Cut(setting, "$")
	if len(salt) > shaCryptSaltMax {
		salt = salt[:shaCryptSaltMax]
	}
	got := v.hash(password, []byte(salt), rounds, roundsGiven)
	return subtle.ConstantTimeCompare(got, []byte(stored)) == 1, nil
}

// hash is the whole hash string of password with salt (at most 16 bytes)
// and rounds, "rounds=N$" included when it was given.
func (v *shaCryptVariant) hash(key, salt []byte, rounds int, roundsGiven bool) []byte {
	size := v.size
	h := v.new()

	// Steps 4-8: digest B.
	h.Write(key)
	h.Write(salt)
	h.Write(key)
	b := h.Sum(make([]byte, 0, size))

	// Steps 1-3, 9-12: digest A.
	h.Reset()
	h.Write(key)
	h.Write(salt)
	for n := len(key); n > 0; n -= size {
		h.Write(b[:min(n, size)])
	}
	for n := len(key); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write(b)
		} else {
			h.Write(key)
		}
	}
	a := h.Sum(b[:0]) // B is not needed any more

	// Steps 13-16: P, the digest of the key repeated len(key) times, cut
	// or repeated to the key's length.
	h.Reset()
	for range len(key) {
		h.Write(key)
	}
	p := repeatTo(h.Sum(make([]byte, 0, size)), len(key))

	// Steps 17-20: S, the same for the salt, hashed 16+A[0] times.
	h.Reset()
	for range 16 + int(a[0]) {
		h.Write(salt)
	}
	s := repeatTo(h.Sum(make([]byte, 0, size)), len(salt))

	// Step 21: the rounds. Each hashes one input laid out in buf: A or P,
	// S unless i%3 == 0, P unless i%7 == 0, then P or A: one A, at most.
	buf := make([]byte, 0, size+len(s)+2*len(p))
	for i := range rounds {
		in := buf[:0]
		if i&1 != 0 {
			in = append(in, p...)
		} else {
			in = append(in, a...)
		}
		if i%3 != 0 {
			in = append(in, s...)
		}
		if i%7 != 0 {
			in = append(in, p...)
		}
		if i&1 != 0 {
			in = append(in, a...)
		} else {
			in = append(in, p...)
		}
		v.sum(a, in)
	}
	clear(buf[:cap(buf)])
	clear(p)

	// Step 22: the string.
	out := make([]byte, 0, len(v.prefix)+len("rounds=999999999$")+len(salt)+1+86)
	out = append(out, v.prefix...)
	if roundsGiven {
		out = append(out, "rounds="...)
		out = strconv.AppendInt(out, int64(rounds), 10)
		out = append(out, '$')
	}
	out = append(out, salt...)
	out = append(out, '$')
	out = appendCryptBase64(out, a, v.order)
	clear(a)
	return out
}

// repeatTo is d repeated, and cut, to n bytes.
func repeatTo(d []byte, n int) []byte {
	out := make([]byte, n)
	for i := 0; i < n; i += len(d) {
		copy(out[i:], d)
	}
	return out
}

// cryptAlphabet is crypt(3)'s base 64 alphabet.
const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// appendCryptBase64 encodes d's bytes in order, three to four characters,
// least significant six bits first (the specification's b64_from_24bit);
// one or two bytes left over make two or three characters.
func appendCryptBase64(out, d, order []byte) []byte {
	for len(order) > 0 {
		var w uint32
		n := min(len(order), 3)
		for _, i := range order[:n] {
			w = w<<8 | uint32(d[i])
		}
		for range n + 1 {
			out = append(out, cryptAlphabet[w&0x3f])
			w >>= 6
		}
		order = order[n:]
	}
	return out
}
