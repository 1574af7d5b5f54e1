package pamhelper

import (
	"slices"
	"strconv"
	"strings"
)

// The helper's report: why it answered, for mppd's log, on a descriptor of
// its own (ReportFD) as one line of fixed words ("auth 7", "account 12"),
// which mppd checks and puts into its own words (Describe). What modules
// write on standard output or error is never logged: it may hold the
// password. Nor is a report mppd cannot read.

// ReportFD is the helper's descriptor for its report: the first of
// exec.Cmd's ExtraFiles. The helper keeps it from the programs modules run
// (close-on-exec).
const ReportFD = 3

// MaxReport bounds a report line; mppd reads no more.
const MaxReport = 128

// Report is the helper's answer in words: the step that decided, PAM's
// return value there, and for some steps a detail.
type Report struct {
	Stage  string // one of stages
	Code   int    // PAM's return value (PAM_AUTH_ERR...), 0 when none
	Detail string // one of details, or ""
}

// stages are the steps the helper reports on: its request, its build, and
// the PAM calls, each named as pam_strerror's callers name them.
var stages = []string{"request", "build", "pam_start", "pam_set_item", "auth", "account"}

// details are the few things a return value does not say.
var details = map[string]string{
	"second-prompt": "PAM asked for a second password (a one-time code?)",
	"echo-on":       "PAM asked a question (echo on)",
	"binary-prompt": "PAM sent a binary prompt",
	"not-pam":       "an error that is not one of PAM's",
	"rhost":         "PAM_RHOST",
	"tty":           "PAM_TTY",
}

// pamCodes are Linux-PAM's return values (security/_pam_types.h, the same
// on every Linux-PAM since 0.99) and what each means, in mppd's words.
var pamCodes = []struct{ name, meaning string }{
	{"PAM_SUCCESS", "success"},
	{"PAM_OPEN_ERR", "a module could not be loaded"},
	{"PAM_SYMBOL_ERR", "a module lacks a symbol"},
	{"PAM_SERVICE_ERR", "error in a module"},
	{"PAM_SYSTEM_ERR", "system error"},
	{"PAM_BUF_ERR", "out of memory"},
	{"PAM_PERM_DENIED", "permission denied"},
	{"PAM_AUTH_ERR", "authentication failure"},
	{"PAM_CRED_INSUFFICIENT", "cannot read the authentication data"},
	{"PAM_AUTHINFO_UNAVAIL", "the authentication service cannot be reached"},
	{"PAM_USER_UNKNOWN", "unknown user"},
	{"PAM_MAXTRIES", "too many tries"},
	{"PAM_NEW_AUTHTOK_REQD", "the password must be changed first"},
	{"PAM_ACCT_EXPIRED", "account expired"},
	{"PAM_SESSION_ERR", "session error"},
	{"PAM_CRED_UNAVAIL", "credentials unavailable"},
	{"PAM_CRED_EXPIRED", "credentials expired"},
	{"PAM_CRED_ERR", "cannot set credentials"},
	{"PAM_NO_MODULE_DATA", "no module data"},
	{"PAM_CONV_ERR", "conversation error"},
	{"PAM_AUTHTOK_ERR", "password error"},
	{"PAM_AUTHTOK_RECOVERY_ERR", "cannot recover the password"},
	{"PAM_AUTHTOK_LOCK_BUSY", "password lock busy"},
	{"PAM_AUTHTOK_DISABLE_AGING", "password aging disabled"},
	{"PAM_TRY_AGAIN", "try again"},
	{"PAM_IGNORE", "ignore"},
	{"PAM_ABORT", "critical error"},
	{"PAM_AUTHTOK_EXPIRED", "password expired, account inactive"},
	{"PAM_MODULE_UNKNOWN", "unknown module"},
	{"PAM_BAD_ITEM", "bad item"},
	{"PAM_CONV_AGAIN", "conversation to be resumed"},
	{"PAM_INCOMPLETE", "incomplete"},
}

// maxCode bounds a report's return value: Linux-PAM's are below 32, and
// other PAMs' below 256.
const maxCode = 255

// String is the report as the helper writes it, without the newline.
func (r Report) String() string {
	s := r.Stage
	if r.Code != 0 || r.Detail != "" {
		s += " " + strconv.Itoa(r.Code)
	}
	if r.Detail != "" {
		s += " " + r.Detail
	}
	return s
}

// ParseReport reads a report line (its newline, if any, removed). It takes
// only the words of the vocabulary, in their places: anything else, a
// password among it, is refused whole.
func ParseReport(line string) (Report, bool) {
	f := strings.Split(line, " ")
	if len(f) > 3 || !slices.Contains(stages, f[0]) {
		return Report{}, false
	}
	r := Report{Stage: f[0]}
	if len(f) > 1 {
		// Digits only: no sign, no leading zero, no more than maxCode.
		n, err := strconv.Atoi(f[1])
		if err != nil || n < 0 || n > maxCode || strconv.Itoa(n) != f[1] {
			return Report{}, false
		}
		r.Code = n
	}
	if len(f) > 2 {
		if _, ok := details[f[2]]; !ok {
			return Report{}, false
		}
		r.Detail = f[2]
	}
	return r, true
}

// Describe is the report in mppd's words, for its log: "auth:
// PAM_AUTH_ERR (authentication failure)".
func (r Report) Describe() string {
	switch r.Stage {
	case "request":
		return "the PAM helper could not read mppd's request (another version of mppd-pam?)"
	case "build":
		return "mppd-pam was built without PAM: build it with cgo, libpam0g-dev and -tags pam (make build does when the PAM headers are installed)"
	}
	name := r.Stage
	var what []string
	switch {
	case r.Code > 0 && r.Code < len(pamCodes):
		what = append(what, pamCodes[r.Code].name+" ("+pamCodes[r.Code].meaning+")")
	case r.Code != 0:
		what = append(what, "PAM error "+strconv.Itoa(r.Code))
	}
	switch {
	case r.Stage == "pam_set_item" && r.Detail != "":
		name += "(" + details[r.Detail] + ")"
	case r.Detail != "":
		what = append(what, details[r.Detail])
	}
	if len(what) == 0 {
		what = []string{"failed"}
	}
	return name + ": " + strings.Join(what, ", ")
}
