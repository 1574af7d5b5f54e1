//go:build !pam || !cgo

package main

import "github.com/mppd/mppd/internal/pamhelper"

// check, in a build without PAM (no cgo, or no -tags pam because the PAM
// headers are missing): every check is a temporary failure, so that mppd
// answers 451 and says why in its log. make build does not build the
// helper there, and the package never ships this one.
func check(service, user, password, rhost string) (int, pamhelper.Report) {
	return pamhelper.ExitTempFail, pamhelper.Report{Stage: "build"}
}
