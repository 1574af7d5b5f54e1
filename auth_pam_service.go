package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// pamServiceDirs are where Linux-PAM looks for a service's file: the
// administrator's, then the distribution's (--enable-vendordir).
var pamServiceDirs = []string{"/etc/pam.d", "/usr/lib/pam.d"}

// checkPAMService makes sure pam:SERVICE names a service that exists. PAM
// itself would fall back to the "other" service, which on Debian includes
// common-auth: a typo would quietly check passwords against a stack the
// administrator never chose.
func checkPAMService(service string) error {
	if service == "" || strings.ContainsAny(service, "/\x00") || service[0] == '.' {
		return errors.New("want pam:SERVICE, a file name in /etc/pam.d")
	}
	// Linux-PAM lower-cases the service name (pam_start).
	name := strings.ToLower(service)
	for _, dir := range pamServiceDirs {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return nil
		}
	}
	return fmt.Errorf("no PAM service %q in %s (the package ships /etc/pam.d/mpp)", name, strings.Join(pamServiceDirs, " or "))
}
