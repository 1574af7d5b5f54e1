//go:build !pam || !cgo

package main

import (
	"errors"
	"time"
)

// pamBuilt says whether this binary can check passwords through PAM: not
// this one, built without the pam tag or without cgo (README, "Builds").
const pamBuilt = false

func newPAMAuth(service string, timeout time.Duration) (Authenticator, error) {
	if err := checkPAMService(service); err != nil {
		return nil, err
	}
	return nil, errors.New("this mppd was built without PAM: build it with cgo, libpam0g-dev and -tags pam (make build does when the PAM headers are installed)")
}
