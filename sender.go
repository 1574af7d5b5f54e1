package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os/user"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// FromPolicy says what becomes of a message whose From: or Sender: (or
// Resent-From: or Resent-Sender:, RFC 5322 §3.6.6) names somebody other
// than the user who proved their identity.
type FromPolicy int

const (
	// PolicySender keeps From: and adds (or replaces) Sender: with the
	// user's address, as RFC 5322 §3.6.2 intends: From: is the author,
	// Sender: the mailbox responsible for sending.
	PolicySender FromPolicy = iota
	// PolicyRewrite replaces From: (Resent-From:) with the user's address.
	PolicyRewrite
	// PolicyReject refuses the message with 451 after its text.
	PolicyReject
)

var policyNames = [...]string{"sender", "rewrite", "reject"}

func (p FromPolicy) String() string { return policyNames[p] }

// parseFromPolicy reads a -from-policy value.
func parseFromPolicy(s string) (FromPolicy, error) {
	for i, n := range policyNames {
		if s == n {
			return FromPolicy(i), nil
		}
	}
	return 0, fmt.Errorf("-from-policy %q: want sender, rewrite or reject", s)
}

// Identity is how a proven user appears in the mail mppd hands on: the
// envelope sender, the From: and Sender: headers (and their Resent- kin)
// it accepts or writes, and the Received: trace header. RFC 1204 §1: the posting server exists so that
// mail posted as alice reaches the world as alice's and nobody else's.
type Identity struct {
	Domain   string     // qualifies user names: USER@Domain
	Policy   FromPolicy // what to do with a From: that is not the user's
	LoginMap string     // optional file of extra addresses per login; "" none
	Hostname string     // this server, in the Received: header

	now      func() time.Time      // tests set it; else time.Now
	fullName func(u string) string // tests set it; else the GECOS field
}

// defaultDomain is what qualifies user names when -domain is not given: the
// first line of /etc/mailname (Debian's name for "the domain this host's
// mail comes from", which Postfix's myorigin also uses there), else host.
func defaultDomain(mailname, host string) string {
	if b, err := readPlain(mailname, maxMailname); err == nil {
		first, _, _ := strings.Cut(string(b), "\n")
		if d := strings.TrimSpace(first); d != "" && checkDomain(d) == nil {
			return d
		}
	}
	return host
}

// maxMailname bounds what is read of /etc/mailname: its first line is a
// domain name, 253 bytes at most.
const maxMailname = 4 << 10

// checkDomain refuses what cannot be the domain of a mail address: it goes
// into sendmail's argument list and into headers, so nothing but letters,
// digits, "-", "_" and "." (or an address literal in brackets) is allowed.
func checkDomain(d string) error {
	if d == "" {
		return errors.New("-domain: empty")
	}
	if len(d) > 253 {
		return fmt.Errorf("-domain %q: longer than 253 bytes", d)
	}
	lit := strings.HasPrefix(d, "[") && strings.HasSuffix(d, "]") && len(d) > 2
	if lit {
		d = d[1 : len(d)-1]
	}
	if d[0] == '-' || d[0] == '.' || d[len(d)-1] == '.' || strings.Contains(d, "..") {
		return fmt.Errorf("-domain %q: not a domain", d)
	}
	for _, r := range d {
		ok := unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '.' || r == '_' || lit && r == ':'
		if !ok {
			return fmt.Errorf("-domain %q: not a domain (character %q)", d, r)
		}
	}
	return nil
}

// Address is the user's mail address, the envelope sender of everything the
// user posts. A user name that is not a dot-atom (RFC 5322 §3.4.1) is
// written as a quoted string, so the address stays one address whatever the
// name holds. checkUserName has already refused a leading "-", spaces and
// control characters: the result can never pass for an option of sendmail.
func (id *Identity) Address(u string) string {
	return quoteLocalPart(u) + "@" + id.Domain
}

// plainAddress is the address as net/mail returns addresses it parsed (the
// local part unquoted), for comparing with From: and Sender:.
func (id *Identity) plainAddress(u string) string {
	return u + "@" + id.Domain
}

func quoteLocalPart(s string) string {
	if isDotAtom(s) {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r == '"' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

// bareLoginIsAddress reports whether a login, standing alone in a From:
// field, is the user's own address. Postfix's cleanup(8) qualifies a bare
// word with myorigin, but first reads it as an address list with routing
// (measured with Postfix 3.7): "a,b" becomes a@DOMAIN, b@DOMAIN, "<x>"
// x@DOMAIN, "ceo%corp.example" ceo@corp.example (allow_percent_hack) and
// "corp.example!ceo" the same (swap_bangpath). Only a dot-atom (RFC 5322
// §3.2.3) without "%" or "!" comes out as LOGIN@DOMAIN.
func bareLoginIsAddress(login string) bool {
	return isDotAtom(login) && !strings.ContainsAny(login, "%!")
}

// isDotAtom reports whether s is atext separated by single dots (RFC 5322
// §3.2.3), with UTF-8 beyond ASCII allowed as RFC 6532 §3.2 allows it.
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if r >= utf8.RuneSelf {
			continue
		}
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r)) {
			return false
		}
	}
	return true
}

// FullName is the user's name for a From: header mppd writes: the first
// comma-separated part of the GECOS field, as Postfix's sendmail takes it,
// or "" for a user the passwd database does not know (remote passwords).
func (id *Identity) FullName(u string) string {
	if id.fullName != nil {
		return id.fullName(u)
	}
	pw, err := user.Lookup(u)
	if err != nil {
		return ""
	}
	name, _, _ := strings.Cut(pw.Name, ",")
	name = strings.TrimSpace(name)
	// Control characters would break the header; such a GECOS is ignored.
	if strings.IndexFunc(name, unicode.IsControl) >= 0 || !utf8.ValidString(name) {
		return ""
	}
	return name
}

func (id *Identity) time() time.Time {
	if id.now != nil {
		return id.now()
	}
	return time.Now()
}

// maxLoginMap bounds what is read of the sender login map for one message.
const maxLoginMap = 16 << 20

// loginMap is the sender login map: which logins may use which addresses
// besides their own, as a source file of Postfix's smtpd_sender_login_maps
// ("ADDRESS LOGIN, LOGIN" lines; "@domain" for every address in it). Logins
// are compared exactly, addresses without regard to case, as Postfix does.
type loginMap map[string][]string

// readLoginMap reads the file anew: an edit takes effect with the next
// message, as with the password file. A malformed line is an error, so a
// typing mistake is seen at start-up (exit 78) instead of silently allowing
// less than the administrator meant.
func readLoginMap(path string) (loginMap, error) {
	f, err := openPlain(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := loginMap{}
	sc := bufio.NewScanner(io.LimitReader(f, maxLoginMap))
	sc.Buffer(make([]byte, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		key, rest, _ := strings.Cut(strings.ReplaceAll(line, "\t", " "), " ")
		logins := strings.FieldsFunc(rest, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
		if len(logins) == 0 || !strings.Contains(key, "@") {
			return nil, fmt.Errorf("%s:%d: want \"ADDRESS LOGIN[,LOGIN...]\" or \"@DOMAIN LOGIN...\"", path, n)
		}
		key = strings.ToLower(key)
		m[key] = append(m[key], logins...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return m, nil
}

// owns reports whether login may use address according to the map: the
// exact address first, then its domain as "@domain".
func (m loginMap) owns(login, address string) bool {
	address = strings.ToLower(address)
	keys := []string{address}
	if i := strings.LastIndexByte(address, '@'); i >= 0 {
		keys = append(keys, address[i:])
	}
	for _, k := range keys {
		for _, l := range m[k] {
			if l == login {
				return true
			}
		}
	}
	return false
}
