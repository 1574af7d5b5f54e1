//go:build pam && cgo

package main

import (
	"errors"
	"strings"
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
	if !strings.Contains(*unexpected, "second password prompt") {
		t.Errorf("unexpected = %q", *unexpected)
	}
	conv, unexpected = pamConversation("pw")
	if _, err := conv(pam.PromptEchoOn, "login: "); err == nil || *unexpected == "" {
		t.Errorf("echo-on prompt answered")
	}
}

// PAM's answers become the helper's exit statuses: refusals 1 (mppd's
// 530), "cannot decide" 111 (451).
func TestPAMStatus(t *testing.T) {
	for _, c := range []struct {
		err        error
		unexpected string
		want       int
		why        string
	}{
		{pam.ErrAuth, "", pamhelper.ExitRefused, "auth: "},
		{pam.ErrUserUnknown, "", pamhelper.ExitRefused, "auth: "},
		{pam.ErrAcctExpired, "", pamhelper.ExitRefused, "auth: "},
		{pam.ErrNewAuthtokReqd, "", pamhelper.ExitRefused, "must be changed"},
		{pam.ErrConv, "a question (echo on)", pamhelper.ExitRefused, "echo on"},
		{pam.ErrAuthinfoUnavail, "", pamhelper.ExitTempFail, "auth: "},
		{pam.ErrSystem, "", pamhelper.ExitTempFail, "auth: "},
		{pam.ErrCredInsufficient, "", pamhelper.ExitTempFail, "auth: "},
		{errors.New("odd"), "", pamhelper.ExitTempFail, "odd"},
	} {
		got, why := pamStatus("auth", c.err, c.unexpected)
		if got != c.want || !strings.Contains(why, c.why) {
			t.Errorf("%v: %d %q, want %d and %q", c.err, got, why, c.want, c.why)
		}
	}
}
