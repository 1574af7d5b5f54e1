// Package mpp holds what the mppd server and the mpp client share of the
// Message Posting Protocol (RFC 1204): the reply codes, and the client side
// of a session.
package mpp

// Reply codes, RFC 1204 §2.4. These ten are the only codes the protocol has,
// and mppd sends no others. mpp judges a reply by the step it answers (check
// in cmd/mpp), so another code is not always a protocol error there: a 5xx
// to the greeting or to the text is a refusal whatever its number.
const (
	CodeReady        = 220 // greeting
	CodeClosing      = 221 // reply to QUIT
	CodeOK           = 250
	CodeStartMail    = 354 // reply to DATA: send the text
	CodeLocalError   = 451 // temporary: try again later
	CodeUnrecognized = 500
	CodeSyntax       = 501
	CodeBadSequence  = 503
	CodeAuthFailed   = 530
	CodeError        = 550
)

// DefaultPort is the port RFC 1204 §3.2 assigns to MPP.
const DefaultPort = 218

// DefaultTLSPort is where mpp and mppd-tls.socket expect MPP wrapped in TLS
// from the first byte. No port is assigned to that; 1218 keeps the 218 in
// sight, as both sides must agree on something.
const DefaultTLSPort = 1218
