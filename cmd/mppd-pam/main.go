// Command mppd-pam checks one name and password through PAM for mppd(8)
// (-auth pam:SERVICE) in a process of its own, so that mppd stays static
// and without cgo. It reads the request on standard input
// (internal/pamhelper), runs the service's auth then account stack, and
// answers with its exit status, why in a report on descriptor 3. It has no
// privileges of its own: it runs as mppd's child, with mppd's user and groups.
package main

import (
	"fmt"
	"os"

	"github.com/mppd/mppd/internal/pamhelper"
	"golang.org/x/sys/unix"
)

func main() {
	report := reportFile()
	if len(os.Args) > 1 {
		// Nothing comes on the command line, the password least of all.
		fmt.Fprintln(os.Stderr, "usage: mppd-pam <request (SERVICE, USER, PASSWORD, RHOST, each ended by a NUL, on stdin)")
		answer(report, pamhelper.ExitUsage, pamhelper.Report{Stage: "request"})
	}
	service, user, password, rhost, err := pamhelper.Decode(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mppd-pam: bad request:", err)
		answer(report, pamhelper.ExitUsage, pamhelper.Report{Stage: "request"})
	}
	status, r := check(service, user, password, rhost)
	if status != pamhelper.ExitAccepted {
		fmt.Fprintln(os.Stderr, r.Describe())
	}
	answer(report, status, r)
}

// reportFile is the descriptor mppd reads the report from, or nil when
// there is none (the helper run by hand). It is closed on exec: the
// programs modules run (pam_exec) must not write into the report.
func reportFile() *os.File {
	if _, err := unix.FcntlInt(pamhelper.ReportFD, unix.F_GETFD, 0); err != nil {
		return nil
	}
	unix.CloseOnExec(pamhelper.ReportFD)
	return os.NewFile(pamhelper.ReportFD, "report")
}

// answer writes the report, if there is a descriptor for it and the check
// was not accepted, and exits with status.
func answer(report *os.File, status int, r pamhelper.Report) {
	if report != nil && status != pamhelper.ExitAccepted {
		fmt.Fprintln(report, r)
	}
	os.Exit(status)
}
