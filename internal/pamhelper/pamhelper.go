// Package pamhelper is what mppd and its PAM helper agree on: the request,
// four NUL-terminated fields SERVICE, USER, PASSWORD and RHOST on the
// helper's standard input (never its command line or environment, which
// others read in /proc), and the exit statuses of qmail's and Dovecot's
// checkpassword: 0 accepted, 1 refused, 111 PAM could not decide, 2 a
// request it could not read. report.go has the report of why.
package pamhelper

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// Exit statuses of the helper.
const (
	ExitAccepted = 0
	ExitRefused  = 1
	ExitUsage    = 2   // a malformed request (checkpassword: misuse); also a Go panic's status
	ExitTempFail = 111 // checkpassword's "temporary problem"
)

// Bounds of the request's fields, in bytes. A PAM service name is a file
// name; user names are short (useradd allows 32 bytes) but may come from a
// directory; Linux-PAM's conversation limit on one answer, PAM_MAX_RESP_SIZE,
// is 512 bytes, and pam_unix refuses longer passwords.
const (
	MaxService  = 255
	MaxUser     = 1024
	MaxPassword = 4096
	// MaxRhost is the longest IP address in text, INET6_ADDRSTRLEN less
	// its NUL ("ffff:...:255.255.255.255").
	MaxRhost = 45
	// MaxRequest is the longest request: every field full, and its NULs.
	MaxRequest = MaxService + MaxUser + MaxPassword + MaxRhost + 4
)

// Encode is the request for service, user, password and the client's
// address rhost ("" if unknown), or an error for fields the helper would
// refuse: empty (but the password and rhost), too long, holding a NUL,
// which PAM, taking C strings, could never be given whole, or an rhost that
// is not an IP address.
func Encode(service, user, password, rhost string) ([]byte, error) {
	if err := check(service, user, password, rhost); err != nil {
		return nil, err
	}
	req := make([]byte, 0, len(service)+len(user)+len(password)+len(rhost)+4)
	req = append(append(req, service...), 0)
	req = append(append(req, user...), 0)
	req = append(append(req, password...), 0)
	req = append(append(req, rhost...), 0)
	return req, nil
}

// Decode reads one request from r, reading no more than MaxRequest+1 bytes.
func Decode(r io.Reader) (service, user, password, rhost string, err error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxRequest+1))
	if err != nil {
		return "", "", "", "", err
	}
	if len(b) > MaxRequest {
		return "", "", "", "", fmt.Errorf("request longer than %d bytes", MaxRequest)
	}
	if len(b) == 0 || b[len(b)-1] != 0 {
		return "", "", "", "", errors.New("request does not end with a NUL")
	}
	f := strings.Split(string(b[:len(b)-1]), "\x00")
	if len(f) != 4 {
		return "", "", "", "", fmt.Errorf("request has %d fields, want 4 (service, user, password, rhost)", len(f))
	}
	if err := check(f[0], f[1], f[2], f[3]); err != nil {
		return "", "", "", "", err
	}
	return f[0], f[1], f[2], f[3], nil
}

// check bounds the fields. The service and the user may not be empty; the
// password may (PAM refuses it under PAM_DISALLOW_NULL_AUTHTOK), and so may
// rhost (the address is unknown: PAM_RHOST is left unset). A non-empty
// rhost is an IP address and nothing else (no port, no zone, no host name),
// as modules and fail2ban's pam-generic filter read PAM_RHOST.
func check(service, user, password, rhost string) error {
	for _, f := range []struct {
		name, v  string
		max      int
		nonEmpty bool
	}{{"service name", service, MaxService, true}, {"user name", user, MaxUser, true}, {"password", password, MaxPassword, false}, {"client address", rhost, MaxRhost, false}} {
		switch {
		case f.nonEmpty && f.v == "":
			return fmt.Errorf("%s empty", f.name)
		case len(f.v) > f.max:
			return fmt.Errorf("%s over %d bytes", f.name, f.max)
		case strings.IndexByte(f.v, 0) >= 0:
			return fmt.Errorf("%s holds a NUL", f.name)
		}
	}
	if rhost != "" {
		if a, err := netip.ParseAddr(rhost); err != nil || a.Zone() != "" {
			return fmt.Errorf("client address %q is not an IP address", rhost)
		}
	}
	return nil
}
