package main

import (
	"bufio"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/GehirnInc/crypt"
	_ "github.com/GehirnInc/crypt/md5_crypt" // $1$; $5$ and $6$: shacrypt.go
	"github.com/go-crypt/x/yescrypt"
	"golang.org/x/crypto/bcrypt"
)

// errAuthFailed is the one reply for every refused login: wrong password,
// unknown user, locked or expired account. RFC 1204 §2.3 wants unknown users
// not to be told apart; the reason goes only to the log.
func errAuthFailed(reason string) *replyError {
	return &replyError{code: codeAuthFailed, msg: "Authentication Failure", err: errors.New(reason)}
}

// tempAuthError is the 451 of a password check that could not be made.
func tempAuthError(cause error) *replyError {
	return tempError("Local error encountered: cannot check passwords now, try again later", cause)
}

// maxPasswdFile bounds what one session reads of the password file.
const maxPasswdFile = 64 << 20

// shadowAuth checks passwords against a file in the format of /etc/shadow
// (nine fields) or an administrator's own "name:hash" file (RFC 1204 §3.4).
// The file is read for every check, so a changed password or a locked
// account takes effect on the next session, with no cache to go stale.
type shadowAuth struct {
	path string
	now  func() time.Time
}

// passwdEntry is one line of the file. The aging fields are days since
// 1970-01-01, -1 when empty (shadow(5)).
type passwdEntry struct {
	name, hash                           string
	lastChange, maxAge, inactive, expire int64
}

func (a *shadowAuth) Authenticate(ctx context.Context, user, password string) error {
	entry, dummy, err := lookupPasswd(a.path, user)
	if err != nil {
		return tempError("Local error encountered: cannot check passwords now", err)
	}
	now := time.Now
	if a.now != nil {
		now = a.now
	}
	// Exactly one hash is computed on every path, of the kind the file mostly
	// holds when the user is unknown or has no usable hash: a refusal for an
	// unknown user takes as long as one for a wrong password.
	reason := ""
	hash := dummy
	switch {
	case entry == nil:
		reason = "unknown user"
	case entry.hash == "":
		reason = "empty password field (no passwordless network logins)"
	case entry.hash[0] == '!' || entry.hash[0] == '*':
		reason = "account locked"
		if h := strings.TrimLeft(entry.hash, "!"); strings.HasPrefix(h, "$") {
			hash = h
		}
	default:
		hash = entry.hash
	}
	ok, err := verifyHash(hash, password)
	if err != nil && reason == "" {
		reason = err.Error()
	}
	if reason == "" && !ok {
		reason = "wrong password"
	}
	// The account's dates are looked at only for the right password, as
	// pam_unix's account stack runs only after its auth stack accepted: a
	// guesser's failures are logged as wrong passwords, not as an expired
	// password, which would read as if the password had been right.
	if reason == "" {
		reason = entry.expired(now())
	}
	if reason != "" {
		return errAuthFailed(reason)
	}
	return nil
}

// expired says why the account may not log in on day now, or "". It reads
// shadow(5)'s fields 3, 5, 7 and 8 as pam_unix's account stack does
// (check_shadow_expiry, Linux-PAM 1.6 and later): the expiry day is
// refused, a last change of 0 must be changed, and a password as old as
// its maximum (plus inactivity) is refused. mppd cannot ask for a new
// password, so every case is a refusal.
func (e *passwdEntry) expired(now time.Time) string {
	today := now.Unix() / 86400
	if e.expire >= 0 && today >= e.expire {
		return "account expired"
	}
	if e.lastChange == 0 {
		return "password must be changed (last change 0: passwd -e, chage -d 0)"
	}
	// A change in the future (a clock set back) ages nothing, as in pam_unix.
	if e.lastChange < 0 || e.maxAge < 0 || today < e.lastChange {
		return ""
	}
	passed := today - e.lastChange
	if e.inactive >= 0 && passed >= satAdd(e.maxAge, e.inactive) {
		return "password expired and account inactive"
	}
	if passed >= e.maxAge {
		return "password expired (older than its maximum age): it must be changed"
	}
	return ""
}

// satAdd is a+b for days that are not negative, at most math.MaxInt64: a
// file may hold any number.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// lookupPasswd reads the whole file and returns the first entry for user
// (nil if none), and a hash to verify against when there is no usable one:
// the first hash of the kind the file holds most, so that its cost matches.
func lookupPasswd(path, user string) (*passwdEntry, string, error) {
	f, err := openPlain(path)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	var found *passwdEntry
	// The kinds of hash in order of first appearance: a file holds few. Only
	// the user's own line is parsed whole; the others are looked at no
	// further than their name and hash (a PASS should cost its hash and
	// little more, BENCHMARKS.md).
	type kindCount struct {
		kind, first string
		n           int
	}
	var kinds []kindCount
	sc := bufio.NewScanner(io.LimitReader(f, maxPasswdFile))
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() {
		line := sc.Text()
		if t := strings.TrimSpace(line); t == "" || t[0] == '#' {
			continue
		}
		name, hash, ok := passwdFields(line)
		if !ok {
			continue
		}
		if k := hashKind(hash); k != "" {
			i := slices.IndexFunc(kinds, func(c kindCount) bool { return c.kind == k })
			if i < 0 {
				i = len(kinds)
				kinds = append(kinds, kindCount{kind: k, first: hash})
			}
			kinds[i].n++
		}
		if found == nil && name == user {
			found, _ = parsePasswdLine(line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	dummy, most := fallbackDummyHash, 0
	for _, c := range kinds {
		if c.n > most {
			dummy, most = c.first, c.n
		}
	}
	return found, dummy, nil
}

// passwdFields is the name and hash of a line that has the shape
// parsePasswdLine takes, without parsing the rest.
func passwdFields(line string) (name, hash string, ok bool) {
	if n := strings.Count(line, ":"); n != 1 && n != 8 {
		return "", "", false
	}
	name, rest, _ := strings.Cut(line, ":")
	hash, _, _ = strings.Cut(rest, ":")
	return name, hash, name != ""
}

// parsePasswdLine reads "name:hash" or the nine fields of shadow(5). Lines
// of other shapes are skipped: a line that is not understood grants nothing.
func parsePasswdLine(line string) (*passwdEntry, bool) {
	f := strings.Split(line, ":")
	if len(f) != 2 && len(f) != 9 || f[0] == "" {
		return nil, false
	}
	e := &passwdEntry{name: f[0], hash: f[1], lastChange: -1, maxAge: -1, inactive: -1, expire: -1}
	if len(f) == 9 {
		e.lastChange = shadowDays(f[2])
		e.maxAge = shadowDays(f[4])
		e.inactive = shadowDays(f[6])
		e.expire = shadowDays(f[7])
	}
	return e, true
}

func shadowDays(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// hashKind is a hash's method and cost, without salt: hashes of one kind
// take the same time to verify. "" for what is not a supported hash.
//
// The kind is a prefix of the hash, "$ID$PARAM" or "$ID", so it is returned
// as a part of h, not a copy.
func hashKind(h string) string {
	if !strings.HasPrefix(h, "$") || strings.Count(h, "$") < 3 {
		return ""
	}
	id, rest, _ := strings.Cut(h[1:], "$")
	param, _, _ := strings.Cut(rest, "$")
	withParam := h[:1+len(id)+1+len(param)]
	switch id {
	case "y", "2a", "2b", "2y":
		return withParam
	case "5", "6":
		if strings.HasPrefix(param, "rounds=") {
			return withParam
		}
		return h[:1+len(id)]
	case "1":
		return "$1"
	}
	return ""
}

// verifyHash says whether password matches the crypt(3) hash. The formats
// are those current distributions write: yescrypt (the default of Debian 11+,
// Ubuntu 22.04+, Fedora 35+), sha512crypt and sha256crypt (with or without
// rounds=), md5crypt and bcrypt. Others are an error, never a match.
func verifyHash(hash, password string) (bool, error) {
	switch {
	case strings.HasPrefix(hash, "$y$"):
		got, err := yescrypt.Hash([]byte(password), []byte(hash))
		if err != nil {
			return false, fmt.Errorf("unsupported yescrypt hash: %v", err)
		}
		return subtle.ConstantTimeCompare(got, []byte(hash)) == 1, nil
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
		if err != nil && !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, fmt.Errorf("unsupported bcrypt hash: %v", err)
		}
		return err == nil, nil
	case strings.HasPrefix(hash, "$6$"):
		return shaCrypt512.verify(hash, []byte(password))
	case strings.HasPrefix(hash, "$5$"):
		return shaCrypt256.verify(hash, []byte(password))
	case strings.HasPrefix(hash, "$1$"):
		err := crypt.NewFromHash(hash).Verify(hash, []byte(password))
		if err != nil && !errors.Is(err, crypt.ErrKeyMismatch) {
			return false, fmt.Errorf("bad hash: %v", err)
		}
		return err == nil, nil
	}
	return false, errors.New("unsupported hash method")
}

// fallbackDummyHash is verified against when the file holds no hash of a
// supported kind: yescrypt with the cost libxcrypt uses by default. Its
// password is random and was thrown away.
const fallbackDummyHash = "$y$j9T$4oX253mbz14q7JxxR7a3X0$w25teOBB6pYYPbl2yawXnAdac5yLMfadV0WbV/tPmQ5"
