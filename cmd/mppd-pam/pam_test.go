//go:build pam && cgo

package main

import (
	"errors"
	"testing"

	"github.com/mppd/mppd/internal/pamhelper"
	"github.com/msteinert/pam/v2"
)

// The conversation answers the first password prompt and nothing else.
func TestPAMConversation(t *testing.T) {
	conv, unexpected := pamConversation("pw")
	if r, err := conv(pam.TextInfo, "hello"); err != nil || r != "" {
		t.Errorf("text info: %q %v", r, err)
	}
	if r, err := conv(pam.PromptEchoOff, "Password: "); err != nil || r != "pw" {
		t.Errorf("first password prompt: %q %v", r, err)
	}
	if r, err := conv(pam.PromptEchoOff, "Verification code: "); err == nil || r != "" {
		t.Errorf("second password prompt answered: %q", r)
	}
	if *unexpected != "second-prompt" {
		t.Errorf("unexpected = %q", *unexpected)
	}
	conv, unexpected = pamConversation("pw")
	if _, err := conv(pam.PromptEchoOn, "login: "); err == nil || *unexpected != "echo-on" {
		t.Errorf("echo-on prompt answered")
	}
}

// PAM's answers become the helper's exit statuses: refusals 1 (mppd's
// 530), "cannot decide" 111 (451); and a report of PAM's return value.
func TestPAMStatus(t *testing.T) {
	for _, c := range []struct {
		err        error
		unexpected string
		want       int
		report     string
	}{
		{pam.ErrAuth, "", pamhelper.ExitRefused, "auth 7"},
		{pam.ErrUserUnknown, "", pamhelper.ExitRefused, "auth 10"},
		{pam.ErrAcctExpired, "", pamhelper.ExitRefused, "auth 13"},
		{pam.ErrNewAuthtokReqd, "", pamhelper.ExitRefused, "auth 12"},
		{pam.ErrConv, "echo-on", pamhelper.ExitRefused, "auth 19 echo-on"},
		{pam.ErrAuthinfoUnavail, "", pamhelper.ExitTempFail, "auth 9"},
		{pam.ErrSystem, "", pamhelper.ExitTempFail, "auth 4"},
		{pam.ErrCredInsufficient, "", pamhelper.ExitTempFail, "auth 8"},
		{errors.New("odd"), "", pamhelper.ExitTempFail, "auth 0 not-pam"},
	} {
		got, r := pamStatus("auth", c.err, c.unexpected)
		if got != c.want || r.String() != c.report {
			t.Errorf("%v: %d %q, want %d and %q", c.err, got, r, c.want, c.report)
		}
		if _, ok := pamhelper.ParseReport(r.String()); !ok {
			t.Errorf("%v: report %q does not parse", c.err, r)
		}
	}
}
