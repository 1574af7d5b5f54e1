//go:build pam && cgo

package main

import (
	"errors"
	"runtime"

	"github.com/mppd/mppd/internal/pamhelper"
	"github.com/msteinert/pam/v2"
)

// check runs the service's auth stack, then its account stack, so that
// whatever the host uses for logins (pam_unix and /etc/shadow, sssd,
// LDAP...) decides, with its lockouts and expiry rules. It returns the exit
// status and why, for mppd's log.
func check(service, user, password, rhost string) (int, pamhelper.Report) {
	// A PAM transaction stays on one thread from start to end: modules
	// may keep per-thread state.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	conv, unexpected := pamConversation(password)
	t, err := pam.StartFunc(service, user, conv)
	if err != nil {
		return pamhelper.ExitTempFail, report("pam_start", err, "")
	}
	defer t.End()
	if r, err := setItems(t, rhost); err != nil {
		return pamhelper.ExitTempFail, r
	}
	// PAM_DISALLOW_NULL_AUTHTOK: an empty password field never logs in
	// over the network, even under a stack written with nullok. The delay
	// a module asks for after a failure (pam_fail_delay) is left to libpam,
	// which sleeps before pam_authenticate returns.
	if err := t.Authenticate(pam.Silent | pam.DisallowNullAuthtok); err != nil {
		return pamStatus("auth", err, *unexpected)
	}
	// The account stack: expired, locked or not-allowed accounts.
	if err := t.AcctMgmt(pam.Silent | pam.DisallowNullAuthtok); err != nil {
		return pamStatus("account", err, *unexpected)
	}
	return pamhelper.ExitAccepted, pamhelper.Report{}
}

// ttyName is PAM_TTY: mppd has no terminal, and, as Dovecot ("dovecot")
// and vsftpd ("ftp") do, it names the service instead, since some modules
// want one (pam_access with tty rules, pam_securetty).
const ttyName = "mpp"

// setItems gives the modules the client's address, as sshd, Dovecot and
// vsftpd do: pam_unix's failure line ("rhost=192.0.2.7"), pam_faillock,
// pam_access's host rules and fail2ban's pam-generic filter read
// PAM_RHOST. It is left unset when mppd does not know the address
// (rhost empty). PAM_RUSER (the remote user) is left unset, as Dovecot
// leaves it: MPP has no remote user beside the one logging in.
func setItems(t *pam.Transaction, rhost string) (pamhelper.Report, error) {
	if rhost != "" {
		if err := t.SetItem(pam.Rhost, rhost); err != nil {
			return report("pam_set_item", err, "rhost"), err
		}
	}
	if err := t.SetItem(pam.Tty, ttyName); err != nil {
		return report("pam_set_item", err, "tty"), err
	}
	return pamhelper.Report{}, nil
}

// report is the report of a failed PAM call at stage: PAM's return value
// from err, and detail. Only the number is kept of PAM's answer, never
// pam_strerror's text (a module's own return value has no text of PAM's).
func report(stage string, err error, detail string) pamhelper.Report {
	var pe pam.Error
	if !errors.As(err, &pe) {
		return pamhelper.Report{Stage: stage, Detail: "not-pam"}
	}
	return pamhelper.Report{Stage: stage, Code: int(pe), Detail: detail}
}

// pamConversation answers the first password prompt (echo off) and
// nothing else: MPP has one password to give. A second prompt (a one-time
// code) or a question to echo ends the check as a refusal, and unexpected
// says what was asked (a word of pamhelper's report). Messages for the
// user are dropped: there is nobody to show them to.
func pamConversation(password string) (func(pam.Style, string) (string, error), *string) {
	unexpected := new(string)
	answered := false
	return func(style pam.Style, msg string) (string, error) {
		switch style {
		case pam.PromptEchoOff:
			if !answered {
				answered = true
				return password, nil
			}
			*unexpected = "second-prompt"
		case pam.PromptEchoOn:
			*unexpected = "echo-on"
		case pam.ErrorMsg, pam.TextInfo:
			return "", nil
		default:
			*unexpected = "binary-prompt"
		}
		return "", errors.New(*unexpected)
	}, unexpected
}

// pamStatus sorts PAM's answer: the user may not log in (refused: mppd
// answers 530), or PAM could not decide (a temporary failure, 451: a
// module or the service is broken or unreachable). Unknown users and wrong
// passwords are both refusals; only the log line tells them apart.
func pamStatus(stack string, err error, unexpected string) (int, pamhelper.Report) {
	var pe pam.Error
	if !errors.As(err, &pe) {
		return pamhelper.ExitTempFail, report(stack, err, "")
	}
	switch pe {
	case pam.ErrConv:
		return pamhelper.ExitRefused, report(stack, err, unexpected)
	case pam.ErrAuth, pam.ErrUserUnknown, pam.ErrMaxtries, pam.ErrPermDenied, pam.ErrNewAuthtokReqd,
		pam.ErrAcctExpired, pam.ErrAuthtokExpired, pam.ErrCredExpired:
		return pamhelper.ExitRefused, report(stack, err, "")
	}
	// ErrAuthinfoUnavail (e.g. the LDAP server is down), ErrCredInsufficient
	// (the helper may not read the password database), ErrSystem, ErrService,
	// ErrOpen, ErrAbort, ErrTryAgain...
	return pamhelper.ExitTempFail, report(stack, err, "")
}
