//go:build pam && cgo

package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/msteinert/pam/v2"
)

// pamBuilt says whether this binary can check passwords through PAM.
const pamBuilt = true

// pamAuth checks a name and password through PAM (the service's auth stack,
// then its account stack), so that whatever the host uses for logins
// (pam_unix and /etc/shadow, sssd, LDAP...) decides, with its lockouts and
// expiry rules.
type pamAuth struct {
	service string
	timeout time.Duration
}

func newPAMAuth(service string, timeout time.Duration) (Authenticator, error) {
	if err := checkPAMService(service); err != nil {
		return nil, err
	}
	return &pamAuth{service: service, timeout: timeout}, nil
}

// Authenticate implements Authenticator. PAM cannot be interrupted, so a
// check that outlasts -auth-timeout (a module waiting on a dead LDAP
// server) is answered 451 and left to finish on its own.
func (a *pamAuth) Authenticate(ctx context.Context, user, password string) error {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.check(user, password) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return tempAuthError(fmt.Errorf("PAM service %s did not answer within %v", a.service, a.timeout))
	}
}

func (a *pamAuth) check(user, password string) error {
	// A PAM transaction stays on one thread from start to end: modules
	// may keep per-thread state.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	conv, unexpected := pamConversation(password)
	t, err := pam.StartFunc(a.service, user, conv)
	if err != nil {
		return tempAuthError(fmt.Errorf("pam_start(%s): %w", a.service, err))
	}
	defer t.End()
	// PAM_DISALLOW_NULL_AUTHTOK: an empty password field never logs in
	// over the network, even under a stack written with nullok. The delay
	// a module asks for after a failure (pam_fail_delay) is left to libpam,
	// which sleeps before pam_authenticate returns.
	if err := t.Authenticate(pam.Silent | pam.DisallowNullAuthtok); err != nil {
		return pamError("auth", err, *unexpected)
	}
	// The account stack: expired, locked or not-allowed accounts.
	if err := t.AcctMgmt(pam.Silent | pam.DisallowNullAuthtok); err != nil {
		return pamError("account", err, *unexpected)
	}
	return nil
}

// pamConversation answers the first password prompt (echo off) and
// nothing else: MPP has one password to give. A second prompt (a one-time
// code) or a question to echo ends the check as a refusal, and unexpected
// says what was asked, for the log. Messages for the user are dropped:
// there is nobody to show them to.
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
			*unexpected = "a second password prompt"
		case pam.PromptEchoOn:
			*unexpected = "a question (echo on)"
		case pam.ErrorMsg, pam.TextInfo:
			return "", nil
		default:
			*unexpected = "a binary prompt"
		}
		return "", errors.New(*unexpected)
	}, unexpected
}

// pamError sorts PAM's answer: the user may not log in (530), or PAM could
// not decide (451: a module or the service is broken or unreachable).
func pamError(stack string, err error, unexpected string) error {
	var pe pam.Error
	if !errors.As(err, &pe) {
		return tempAuthError(fmt.Errorf("%s: %w", stack, err))
	}
	why := fmt.Sprintf("%s: %s", stack, pe.Error())
	switch pe {
	case pam.ErrNewAuthtokReqd:
		return errAuthFailed(why + " (password expired: it must be changed first)")
	case pam.ErrConv:
		if unexpected != "" {
			why += " (PAM asked for " + unexpected + ")"
		}
		return errAuthFailed(why)
	case pam.ErrAuth, pam.ErrUserUnknown, pam.ErrMaxtries, pam.ErrPermDenied,
		pam.ErrAcctExpired, pam.ErrAuthtokExpired, pam.ErrCredExpired:
		return errAuthFailed(why)
	}
	// ErrAuthinfoUnavail (e.g. the LDAP server is down), ErrCredInsufficient
	// (mppd may not read the password database), ErrSystem, ErrService,
	// ErrOpen, ErrAbort, ErrTryAgain...
	return tempAuthError(errors.New(why))
}
