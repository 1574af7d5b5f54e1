package main

import (
	"fmt"

	"github.com/mppd/mppd/internal/mpp"
)

// Reply codes, RFC 1204 §2.4. These ten are the only codes mppd ever sends:
// a client written to the RFC must understand every reply it gets. They
// live in internal/mpp, shared with the mpp client.
const (
	codeReady        = mpp.CodeReady   // greeting
	codeClosing      = mpp.CodeClosing // reply to QUIT
	codeOK           = mpp.CodeOK
	codeStartMail    = mpp.CodeStartMail  // reply to DATA: send the text
	codeLocalError   = mpp.CodeLocalError // temporary: try again later
	codeUnrecognized = mpp.CodeUnrecognized
	codeSyntax       = mpp.CodeSyntax
	codeBadSequence  = mpp.CodeBadSequence
	codeAuthFailed   = mpp.CodeAuthFailed
	codeError        = mpp.CodeError
)

// replyError is an error that knows which reply it becomes. auth.go and
// deliver.go return them so the reply text is decided where the failure is
// understood, and session.go only writes it. Err, when set, is the cause for
// the log; it never reaches the client.
type replyError struct {
	code int
	msg  string // reply text sent to the client
	err  error  // cause, for the log only
}

func (e *replyError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("%d %s: %v", e.code, e.msg, e.err)
	}
	return fmt.Sprintf("%d %s", e.code, e.msg)
}

func (e *replyError) Unwrap() error { return e.err }

// tempError is a 451: the failure is ours or the mail system's, and the
// client should try again later.
func tempError(msg string, cause error) *replyError {
	return &replyError{code: codeLocalError, msg: msg, err: cause}
}
