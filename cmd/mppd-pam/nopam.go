//go:build !pam || !cgo

package main

import "github.com/mppd/mppd/internal/pamhelper"

// check, in a build without PAM (no cgo, or no -tags pam because the PAM
// headers are missing): every check is a temporary failure, so that mppd
// answers 451 and says why in its log. make build does not build the
// helper there, and the package never ships this one.
func check(service, user, password, rhost string) (int, string) {
	return pamhelper.ExitTempFail, "mppd-pam was built without PAM: build it with cgo, libpam0g-dev and -tags pam (make build does when the PAM headers are installed)"
}
