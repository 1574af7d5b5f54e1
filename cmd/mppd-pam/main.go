// Command mppd-pam checks one name and password through PAM for mppd(8)
// (-auth pam:SERVICE), in a process of its own: mppd stays a static
// program without cgo, and only a PASS checked through PAM pays for libc,
// libpam and the modules, as with Dovecot's auth workers or unix_chkpwd.
//
// It reads SERVICE, USER, PASSWORD and RHOST (the client's IP address, or
// empty), each ended by a NUL, on standard input (internal/pamhelper), sets
// PAM_RHOST and PAM_TTY, runs the service's auth stack then its account
// stack, and answers with its exit status: 0 accepted, 1 refused,
// 111 PAM could not decide, 2 a request it could not read. Why goes to
// standard error in one line, never with the password. It has no
// privileges of its own: it runs as mppd's user and reads /etc/shadow (for
// pam_unix) through mppd's group shadow, so it lets nobody check a password
// they could not check already.
package main

import (
	"fmt"
	"os"

	"github.com/mppd/mppd/internal/pamhelper"
)

func main() {
	if len(os.Args) > 1 {
		// Nothing comes on the command line, the password least of all.
		fmt.Fprintln(os.Stderr, "usage: mppd-pam <request (SERVICE, USER, PASSWORD, RHOST, each ended by a NUL, on stdin)")
		os.Exit(pamhelper.ExitUsage)
	}
	service, user, password, rhost, err := pamhelper.Decode(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mppd-pam: bad request:", err)
		os.Exit(pamhelper.ExitUsage)
	}
	status, why := check(service, user, password, rhost)
	if why != "" {
		fmt.Fprintln(os.Stderr, why)
	}
	os.Exit(status)
}
