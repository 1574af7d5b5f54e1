// Package e2e tests the built programs (mppd, mpp, mppd-pam) the way an
// administrator runs them, with the real components: the launchers
// (inetd, xinetd, systemd-socket-activate, a booted systemd), Postfix and
// the other MTAs, dovecot, vsftpd, PAM, the journal, fail2ban, the .deb.
// Each test skips, with a one-line reason, when what it needs is missing;
// MPPD_REQUIRE_REAL=1 (.ci/run) turns those skips into failures.
package e2e

import (
	"os"
	"testing"

	"github.com/mppd/mppd/internal/testlib"
)

func TestMain(m *testing.M) {
	// The tests name the repository's files (packaging/, systemd/, docs/,
	// .ci/) as the Makefile does, from its top.
	if err := os.Chdir(testlib.Repo(".")); err != nil {
		panic(err)
	}
	code := m.Run()
	testlib.RemoveBuilt()
	os.Exit(code)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
