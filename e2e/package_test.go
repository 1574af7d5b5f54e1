package e2e

// The packages, as an administrator meets them: make package, lintian and
// systemd-analyze, dpkg -i; sessions through the installed mppd into
// Postfix under xinetd, openbsd-inetd and systemd-socket-activate in as
// much of the unit's sandbox as can be had without systemd as PID 1; then
// dpkg -r and -P leave nothing behind.

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

const (
	pkgMppdPath      = "/usr/sbin/mppd"
	pkgPAMHelperPath = "/usr/libexec/mppd/mppd-pam"
	pkgUnitPath      = "/usr/lib/systemd/system/mppd@.service"
	pkgSocketPath    = "/usr/lib/systemd/system/mppd.socket"
	pkgXinetdPath    = "/etc/xinetd.d/mpp"
	pkgTLSUnitPath   = "/usr/lib/systemd/system/mppd-tls@.service"
	pkgTLSSocketPath = "/usr/lib/systemd/system/mppd-tls.socket"
	pkgAgentUnitPath = "/usr/lib/systemd/system/mppd-deliver.service"
	pkgAgentSockPath = "/usr/lib/systemd/system/mppd-deliver.socket"
	pkgFail2banDir   = "/usr/share/doc/mppd/examples/fail2ban"
)

func TestPackage(t *testing.T) {
	testlib.NeedRoot(t)
	for _, p := range []string{"dpkg", "dpkg-shlibdeps", "lintian", "systemd-analyze", "systemd-socket-activate",
		"setpriv", "unshare", "mount", "fail2ban-regex", "fail2ban-client", "update-inetd", "rpm", "/usr/sbin/inetd",
		"useradd", "chpasswd", "gcc"} {
		testlib.NeedProgram(t, p)
	}
	testlib.NeedReal(t, fileExists(pamHeaders), pamHeaders+" missing (libpam0g-dev): make package cannot build the PAM helper")
	xinetdBinary(t)
	testlib.NeedReal(t, exec.Command("postfix", "status").Run() == nil, "Postfix is not running (postfix start)")
	testlib.NeedReal(t, fileExists("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"), "kernel headers (linux-libc-dev) missing: cannot number system calls")
	if out, err := exec.Command("dpkg-query", "-W", "-f", "${Status}", "mppd").Output(); err == nil && strings.Contains(string(out), "installed") {
		// An administrator's mppd: not ours to replace or purge.
		testlib.NeedReal(t, false, "the mppd package is already installed on this machine")
	}

	deb, rpm := pkgBuildPackages(t)
	debVersion := strings.TrimSpace(pkgRun(t, "dpkg-deb", "-f", deb, "Version"))

	// lintian takes seconds and reads only the .deb: it runs while the
	// package is installed and used, and is judged before it is removed.
	type lintianRun struct {
		out []byte
		err error
	}
	lintian := make(chan lintianRun, 1)
	go func() {
		out, err := exec.CommandContext(t.Context(), "lintian", "--tag-display-limit", "0", deb).CombinedOutput()
		lintian <- lintianRun{out, err}
	}()
	t.Run("rpm", func(t *testing.T) {
		// dist/mppd-<version>.<arch>.rpm, the version as in the .deb.
		want := "mppd-" + debVersion + "."
		if !strings.HasPrefix(filepath.Base(rpm), want) {
			t.Errorf("rpm file %s does not start with %s", rpm, want)
		}
		// One description: the .rpm holds the files the .deb holds.
		q, err := exec.Command("rpm", "-qp", "--queryformat", "%{NAME} %{VERSION} %{ARCH}", rpm).Output()
		if err != nil {
			t.Fatalf("rpm -qp %s: %v", rpm, err)
		}
		if f := strings.Fields(string(q)); len(f) != 3 || f[0] != "mppd" || f[1] != debVersion || !strings.HasSuffix(rpm, "."+f[2]+".rpm") {
			t.Errorf("rpm says %q for %s", q, rpm)
		}
		// The PAM helper's library (the .deb's comes from dpkg-shlibdeps).
		if reqs := strings.Fields(pkgRun(t, "rpm", "-qpR", rpm)); !slices.Contains(reqs, "pam") {
			t.Errorf("the .rpm requires %v, not pam", reqs)
		}
		rpmFiles := strings.Fields(pkgRun(t, "rpm", "-qpl", rpm))
		var debFiles []string
		for _, l := range strings.Split(pkgRun(t, "dpkg-deb", "-c", deb), "\n") {
			if f := strings.Fields(l); len(f) == 6 && strings.HasPrefix(f[0], "-") {
				debFiles = append(debFiles, strings.TrimPrefix(f[5], "."))
			}
		}
		sort.Strings(rpmFiles)
		sort.Strings(debFiles)
		if strings.Join(rpmFiles, " ") != strings.Join(debFiles, " ") {
			t.Errorf("the .rpm and the .deb hold different files:\nrpm: %v\ndeb: %v", rpmFiles, debFiles)
		}
	})

	before := pkgSystemState(t)
	pkgDpkg(t, "-i", deb)
	t.Cleanup(func() {
		// Whatever failed: leave the machine as it was.
		if fileExists(pkgMppdPath) || pkgDpkgKnows() {
			pkgDpkg(t, "-P", "mppd")
		}
	})

	t.Run("installed", func(t *testing.T) {
		for _, f := range []string{pkgMppdPath, pkgPAMHelperPath, pkgUnitPath, pkgSocketPath, pkgTLSUnitPath, pkgTLSSocketPath, pkgAgentUnitPath, pkgAgentSockPath, pkgXinetdPath,
			"/usr/share/man/man8/mppd.8.gz", "/usr/bin/mpp", "/usr/share/man/man1/mpp.1.gz", "/etc/pam.d/mpp", "/etc/mppd/mppd.conf", "/usr/share/doc/mppd/copyright", "/usr/share/doc/mppd/changelog.gz",
			pkgFail2banDir + "/filter.d/mppd.conf", pkgFail2banDir + "/jail.d/mppd.conf"} {
			if !fileExists(f) {
				t.Errorf("%s not installed", f)
			}
		}
		if out := pkgRun(t, pkgMppdPath, "-version"); strings.TrimSpace(out) != "mppd "+debVersion {
			t.Errorf("mppd -version = %q, want %q", out, "mppd "+debVersion)
		}
		// The session's user reads /etc/shadow and is in no MTA's group;
		// the delivery agent's user is in none at all.
		for user, want := range map[string]string{"mppd": "mppd shadow", "mppd-deliver": "mppd-deliver"} {
			groups := strings.Fields(pkgRun(t, "id", "-nG", user))
			sort.Strings(groups)
			if strings.Join(groups, " ") != want {
				t.Errorf("user %s in groups %v, want %s", user, groups, want)
			}
			if sh := strings.TrimSpace(pkgRun(t, "getent", "passwd", user)); !strings.HasSuffix(sh, ":/usr/sbin/nologin") {
				t.Errorf("%s's passwd entry %q: want shell /usr/sbin/nologin", user, sh)
			}
		}
	})

	t.Run("static", func(t *testing.T) {
		// mppd links nothing, not even ld.so; PAM's C libraries are the
		// helper's alone.
		f, err := elf.Open(pkgMppdPath)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("%s has a %v program header: not a static program", pkgMppdPath, p.Type)
			}
		}
		h, err := elf.Open(pkgPAMHelperPath)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		if libs, _ := h.ImportedLibraries(); !slices.Contains(libs, "libpam.so.0") {
			t.Errorf("%s links %v, not libpam.so.0", pkgPAMHelperPath, libs)
		}
		if deps := pkgRun(t, "dpkg-query", "-W", "-f", "${Depends}", "mppd"); !strings.Contains(deps, "libpam0g") {
			t.Errorf("the package depends on %q, not on libpam0g", deps)
		}
	})

	t.Run("systemd-analyze", func(t *testing.T) {
		// With the man page check: mppd(8) is installed.
		if out, err := exec.Command("systemd-analyze", "verify", pkgSocketPath, pkgUnitPath).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
		if out, err := exec.Command("systemd-analyze", "verify", pkgTLSSocketPath, pkgTLSUnitPath).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify (TLS units): %v\n%s", err, out)
		}
		if out, err := exec.Command("systemd-analyze", "verify", pkgAgentSockPath, pkgAgentUnitPath).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify (the delivery agent's units): %v\n%s", err, out)
		}
		// The agent reads no network byte and must run set-id programs:
		// its exposure is reported, not bounded (mppd(8), PRIVILEGES).
		t.Logf("systemd-analyze security %s: %.1f", filepath.Base(pkgAgentUnitPath), pkgExposure(t, pkgAgentUnitPath))
		for _, unit := range []string{pkgUnitPath, pkgTLSUnitPath} {
			score := pkgExposure(t, unit)
			t.Logf("systemd-analyze security %s: %.1f", filepath.Base(unit), score)
			if score > 2.5 {
				t.Errorf("%s: exposure level %.1f, want 2.5 or lower", unit, score)
			}
		}
	})

	inetdLine := pkgRegisteredInetdLine(t)
	t.Run("inetd-line-documented", func(t *testing.T) {
		man, err := os.ReadFile("docs/mppd.8.md")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(man), strings.Join(strings.Fields(inetdLine), " ")) {
			t.Errorf("registered inetd line %q is not the one mppd(8) documents", inetdLine)
		}
	})

	u := testlib.NewUser(t, testlib.UserSpec{Prefix: "i3", Hash: "$y$"})

	t.Run("xinetd", func(t *testing.T) {
		addr := pkgStartXinetd(t)
		pkgPostAndFind(t, addr, u, "xinetd")
	})
	t.Run("inetd", func(t *testing.T) {
		addr := pkgStartInetd(t, inetdLine)
		pkgPostAndFind(t, addr, u, "inetd")
	})
	t.Run("systemd-socket-activate", func(t *testing.T) {
		sandbox := pkgNewUnitSandbox(t)
		agent := pkgStartAgent(t)
		t.Run("delivers", func(t *testing.T) {
			// The session in the unit's sandbox hands the message to the
			// installed agent, run as mppd-deliver.service runs it.
			addr := sandbox.start(t, "", []string{"-delivery-socket", agent})
			pkgPostAndFind(t, addr, u, "socket-activate")
		})
		t.Run("without-agent-fails", func(t *testing.T) {
			// The control: without the agent the same sandbox cannot
			// deliver (postdrop's setgid bit is void under no_new_privs,
			// and mppd is in no MTA's group): the test above passes
			// because of the agent.
			addr := sandbox.start(t, "", []string{"-delivery-timeout", "5s"})
			postOne(t, addr, u, pkgMessage(u, "no-agent"), "451")
		})
		t.Run("pam", func(t *testing.T) {
			// -auth pam:mpp with the shipped /etc/pam.d/mpp: mppd runs
			// the installed helper as its child, inside the same sandbox
			// (the seccomp filter, no_new_privs and the mounts are
			// inherited), and pam_unix in it reads /etc/shadow through
			// the group shadow.
			args := []string{"-auth", "pam:mpp", "-fail-delay", "0"}
			addr := sandbox.start(t, "", append(args, "-delivery-socket", agent))
			pkgPostAndFind(t, addr, u, "socket-activate-pam")
			c := newClient(t, testlib.DialRetry(t, addr))
			c.Expect("220")
			c.Cmd("USER "+u.Name, "250")
			c.Cmd("PASS not-"+u.Password, "530")
			c.Cmd("QUIT", "221")
			// The control: without the group shadow, pam_unix cannot
			// read the hash and the right password is refused too.
			addr = sandbox.start(t, "mppd", append(args, "-delivery-socket", agent))
			c = newClient(t, testlib.DialRetry(t, addr))
			c.Expect("220")
			c.Cmd("USER "+u.Name, "250")
			c.Cmd("PASS "+u.Password, "530")
			c.Cmd("QUIT", "221")
		})
	})
	t.Run("fail2ban", func(t *testing.T) { pkgTestFail2ban(t, u) })
	t.Run("lintian", func(t *testing.T) {
		run := <-lintian
		for _, line := range strings.Split(string(run.out), "\n") {
			if strings.HasPrefix(line, "E:") || strings.HasPrefix(line, "W:") {
				t.Errorf("lintian: %s", line)
			}
		}
		// Exit 1 (it could not run) or 2 (an error tag): a run that
		// printed no tag must still have judged the package.
		if run.err != nil {
			t.Errorf("lintian: %v\n%s", run.err, run.out)
		}
	})

	// dpkg -r: the program and units go, the administrator's configuration
	// (the xinetd conffile, the user) stays, the inetd line is off.
	pkgDpkg(t, "-r", "mppd")
	for _, f := range []string{pkgMppdPath, pkgPAMHelperPath, pkgUnitPath, pkgSocketPath, pkgTLSUnitPath, pkgTLSSocketPath} {
		if fileExists(f) {
			t.Errorf("after dpkg -r: %s still there", f)
		}
	}
	for _, f := range []string{pkgXinetdPath, "/etc/mppd/mppd.conf"} {
		if !fileExists(f) {
			t.Errorf("after dpkg -r: conffile %s removed (only purge should)", f)
		}
	}
	if conf, _ := os.ReadFile("/etc/inetd.conf"); regexp.MustCompile(`(?m)^218\s`).Match(conf) {
		t.Errorf("after dpkg -r: the inetd line is enabled")
	}

	// dpkg -P: nothing left.
	pkgDpkg(t, "-P", "mppd")
	if pkgDpkgKnows() {
		t.Errorf("after dpkg -P: dpkg still knows mppd")
	}
	for _, f := range []string{pkgXinetdPath, "/etc/pam.d/mpp", "/etc/mppd/mppd.conf", "/etc/mppd", "/var/lib/mppd", "/usr/share/doc/mppd", "/usr/share/man/man8/mppd.8.gz"} {
		if fileExists(f) {
			t.Errorf("after dpkg -P: %s still there", f)
		}
	}
	after := pkgSystemState(t)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("after dpkg -P: %s is %q, was %q before install", k, after[k], v)
		}
	}
}

var pkgBuilt struct {
	once     sync.Once
	deb, rpm string
	err      error
	out      []byte
	took     time.Duration
}

// pkgBuildPackages runs `make package` once per test run (TestPackage and
// the booted-container tests share its .deb) and returns the .deb and the
// .rpm.
func pkgBuildPackages(t testing.TB) (deb, rpm string) {
	t.Helper()
	pkgBuilt.once.Do(func() {
		os.RemoveAll("dist")
		start := time.Now()
		pkgBuilt.out, pkgBuilt.err = exec.Command("make", "package").CombinedOutput()
		pkgBuilt.took = time.Since(start).Round(time.Second)
		debs, _ := filepath.Glob("dist/mppd_*_*.deb")
		rpms, _ := filepath.Glob("dist/mppd-*.*.rpm")
		if pkgBuilt.err == nil && (len(debs) != 1 || len(rpms) != 1) {
			pkgBuilt.err = fmt.Errorf("make package wrote %v and %v, want one .deb and one .rpm", debs, rpms)
		}
		if pkgBuilt.err == nil {
			pkgBuilt.deb, pkgBuilt.rpm = debs[0], rpms[0]
		}
	})
	if pkgBuilt.err != nil {
		t.Fatalf("make package: %v\n%s", pkgBuilt.err, pkgBuilt.out)
	}
	t.Logf("make package: %v", pkgBuilt.took)
	return pkgBuilt.deb, pkgBuilt.rpm
}

// pkgDpkg runs dpkg, waiting for the lock if another engineer's apt-get holds it.
func pkgDpkg(t *testing.T, args ...string) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(5 * time.Minute)
	for {
		out, err := exec.Command("dpkg", args...).CombinedOutput()
		if err == nil {
			t.Logf("dpkg %s: %v", strings.Join(args, " "), time.Since(start).Round(100*time.Millisecond))
			return
		}
		if time.Now().Before(deadline) && bytes.Contains(out, []byte("lock")) {
			time.Sleep(2 * time.Second)
			continue
		}
		t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func pkgDpkgKnows() bool {
	return exec.Command("dpkg-query", "-W", "mppd").Run() == nil
}

// pkgSystemState is what the package may change and purge must restore: the
// inetd configuration, and every account line that names mppd.
func pkgSystemState(t *testing.T) map[string]string {
	t.Helper()
	st := map[string]string{}
	conf, _ := os.ReadFile("/etc/inetd.conf")
	st["/etc/inetd.conf"] = string(conf)
	mention := regexp.MustCompile(`(^|[:,])mppd(-deliver)?($|[:,])`)
	for _, f := range []string{"/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if mention.MatchString(l) {
				lines = append(lines, l)
			}
		}
		st[f+" lines naming mppd"] = strings.Join(lines, "\n")
	}
	return st
}

// pkgExposure is systemd-analyze security's overall exposure of a unit.
func pkgExposure(t *testing.T, unit string) float64 {
	t.Helper()
	out, _ := exec.Command("systemd-analyze", "security", "--offline=yes", unit).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	return score
}

// pkgStartAgent runs the installed delivery agent as mppd-deliver.service
// and its socket would (ExecStart=, User=, Group=, no no_new_privs; a
// SOCK_SEQPACKET socket, group mppd, mode 0660) under
// systemd-socket-activate, on a socket of its own, and returns its path.
func pkgStartAgent(t *testing.T) string {
	t.Helper()
	unit := pkgParseUnit(t, pkgAgentUnitPath)
	sock := pkgParseUnit(t, pkgAgentSockPath)
	if unit.yes("NoNewPrivileges") || sock.get("ListenSequentialPacket") == "" {
		t.Fatalf("%s: NoNewPrivileges, or no ListenSequentialPacket= in %s", pkgAgentUnitPath, pkgAgentSockPath)
	}
	dir, err := os.MkdirTemp("/run", "mppd-pkgagent-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "deliver.sock")
	args := []string{"-l", path, "--seqpacket", "--", "setpriv", "--reuid", unit.get("User"), "--regid", unit.get("Group"), "--init-groups", "--"}
	args = append(args, strings.Fields(unit.get("ExecStart"))...)
	runLauncher(t, testlib.NeedProgram(t, "systemd-socket-activate"), args...)
	for i := 0; i < 100 && !fileExists(path); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	pkgRun(t, "chown", "root:"+sock.get("SocketGroup"), path)
	pkgRun(t, "chmod", sock.get("SocketMode"), path)
	return path
}

// pkgRegisteredInetdLine is the line the postinst registered with update-inetd,
// without its "#<off># " (it must be there, disabled).
func pkgRegisteredInetdLine(t *testing.T) string {
	t.Helper()
	conf, err := os.ReadFile("/etc/inetd.conf")
	if err != nil {
		t.Fatalf("openbsd-inetd's /etc/inetd.conf: %v", err)
	}
	if regexp.MustCompile(`(?m)^218\s`).Match(conf) {
		t.Errorf("the inetd line is registered enabled; it must start disabled")
	}
	m := regexp.MustCompile(`(?m)^#<off># (218\s.*)$`).FindSubmatch(conf)
	if m == nil {
		t.Fatalf("no disabled line for port 218 in /etc/inetd.conf:\n%s", conf)
	}
	return string(m[1])
}

// pkgPostAndFind posts a message through addr as u and finds it in u's mailbox.
func pkgPostAndFind(t *testing.T, addr string, u testlib.User, how string) {
	t.Helper()
	marker := how + "-" + testlib.RandomHex(6)
	if reply := postOne(t, addr, u, pkgMessage(u, marker), "250"); !strings.HasPrefix(reply, "250 Command OK, message queued") {
		t.Fatalf("message not queued through %s: %q", how, reply)
	}
	box := "/var/mail/" + u.Name
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(box)
		for _, msg := range regexp.MustCompile(`(?m)^From [^\n]*\n`).Split(string(b), -1)[1:] {
			if !slices.Contains(mailHeader(msg, "Subject"), marker) {
				continue
			}
			if !strings.Contains(mailBody(msg), "\n.leading dot\n") {
				t.Errorf("dot-stuffed line not restored in %s:\n%s", box, msg)
			}
			if rp := mailHeader(msg, "Return-Path"); len(rp) != 1 || !strings.HasPrefix(rp[0], "<"+u.Name+"@") {
				t.Errorf("envelope sender is %q, not %s, in %s", rp, u.Name, box)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s not in %s after 30s; postfix log:\n%s", marker, box, postfixLog(u.Name))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// pkgMessage is a message to u with a dot-stuffed line.
func pkgMessage(u testlib.User, subject string) string {
	return "To: " + u.Name + "\r\nSubject: " + subject + "\r\n\r\nfirst line\r\n..leading dot\r\n.\r\n"
}

// pkgStartXinetd runs xinetd with the installed /etc/xinetd.d/mpp, changed only
// to be enabled, on a free port, bound to loopback.
func pkgStartXinetd(t *testing.T) string {
	t.Helper()
	shipped, err := os.ReadFile(pkgXinetdPath)
	if err != nil {
		t.Fatal(err)
	}
	addr := testlib.FreePort(t)
	_, port, _ := net.SplitHostPort(addr)
	svc := string(shipped)
	for _, r := range []struct{ re, repl string }{
		{`(?m)^(\s*disable\s*=\s*)yes\s*$`, "${1}no"},
		{`(?m)^(\s*port\s*=\s*)218\s*$`, "${1}" + port + "\n\tbind\t\t= 127.0.0.1"},
	} {
		re := regexp.MustCompile(r.re)
		if !re.MatchString(svc) {
			t.Fatalf("%s has no line matching %s", pkgXinetdPath, r.re)
		}
		svc = re.ReplaceAllString(svc, r.repl)
	}
	runXinetd(t, svc)
	return addr
}

// pkgStartInetd runs openbsd-inetd with the registered line, its service field
// 218 changed to a free loopback port.
func pkgStartInetd(t *testing.T, line string) string {
	t.Helper()
	addr := testlib.FreePort(t)
	runInetd(t, addr+strings.TrimPrefix(line, "218"))
	return addr
}

// pkgUnitSandbox runs the unit's ExecStart= under systemd-socket-activate
// --accept inside the unit's sandbox as far as it can be had without
// systemd: its user, groups, no_new_privs and capabilities (setpriv), its
// file system settings (a mount namespace, unshare -m) and its seccomp
// settings (packaging/unitseccomp). Not had: PrivateDevices=, Protect*=
// of the kernel, processes, clock and hostname, Restrict*= but address
// families, LockPersonality=, RemoveIPC=, KeyringMode=, RuntimeMaxSec=.
type pkgUnitSandbox struct {
	exe         []string // ExecStart=
	user, group string
	mounts      string // the mount namespace's script
	seccomp     string // the built packaging/unitseccomp
}

// pkgNewUnitSandbox reads the installed unit, and writes the mount script
// and builds unitseccomp once for every start.
func pkgNewUnitSandbox(t *testing.T) *pkgUnitSandbox {
	t.Helper()
	unit := pkgParseUnit(t, pkgUnitPath)
	s := &pkgUnitSandbox{exe: strings.Fields(unit.get("ExecStart")), user: unit.get("User"), group: unit.get("Group")}
	if len(s.exe) == 0 || s.exe[0] != pkgMppdPath {
		t.Fatalf("ExecStart=%q does not run %s", unit.get("ExecStart"), pkgMppdPath)
	}
	if _, set := unit["CapabilityBoundingSet"]; !unit.yes("NoNewPrivileges") || !set || unit.get("CapabilityBoundingSet") != "" {
		t.Fatalf("unit without NoNewPrivileges=yes and an empty CapabilityBoundingSet=: the setpriv line of start would not match it")
	}
	if s.user == "" || s.group == "" {
		t.Fatalf("unit without User= and Group=")
	}
	// Helpers outside /tmp, which the sandbox hides.
	dir, err := os.MkdirTemp("/run", "mppd-pkgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	s.seccomp = filepath.Join(dir, "unitseccomp")
	if out, err := exec.Command("go", "build", "-o", s.seccomp, "./packaging/unitseccomp").CombinedOutput(); err != nil {
		t.Fatalf("build unitseccomp: %v\n%s", err, out)
	}

	if ps := unit.get("ProtectSystem"); ps != "strict" {
		t.Fatalf("ProtectSystem=%s: the test knows only strict", ps)
	}
	var sh strings.Builder
	sh.WriteString("set -e\nmount --make-rprivate /\n")
	// ProtectSystem=strict: every mount read-only but the API file systems.
	sh.WriteString("awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r m; do\n" +
		"  case $m in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue;; esac\n" +
		"  mount -o remount,bind,ro \"$m\" 2>/dev/null || true\ndone\n")
	if unit.yes("PrivateTmp") {
		sh.WriteString("mount -t tmpfs -o mode=1777 tmpfs /tmp\nmount -t tmpfs -o mode=1777 tmpfs /var/tmp\n")
	}
	if unit.yes("ProtectHome") {
		sh.WriteString("for d in /home /root /run/user; do [ -d $d ] && mount -t tmpfs -o mode=0 tmpfs $d; done; true\n")
	}
	for _, p := range strings.Fields(strings.Join(unit.all("ReadWritePaths"), " ")) {
		optional := strings.HasPrefix(p, "-")
		p = strings.TrimPrefix(p, "-")
		if optional {
			fmt.Fprintf(&sh, "if [ -e %s ]; then ", p)
		}
		fmt.Fprintf(&sh, "mount --bind %s %s && mount -o remount,bind,rw %s", p, p, p)
		if optional {
			sh.WriteString("; fi")
		}
		sh.WriteString("\n")
	}
	sh.WriteString("exec \"$@\"\n")
	s.mounts = filepath.Join(dir, "mounts.sh")
	os.WriteFile(s.mounts, []byte(sh.String()), 0o755)
	return s
}

// start runs the sandboxed ExecStart= and extraArgs under
// systemd-socket-activate on a free loopback port until the test ends;
// groups, if set, replaces the user's own groups (setpriv --groups).
func (s *pkgUnitSandbox) start(t *testing.T, groups string, extraArgs []string) string {
	t.Helper()
	priv := []string{"setpriv", "--reuid", s.user, "--regid", s.group}
	if groups != "" {
		priv = append(priv, "--groups", groups)
	} else {
		priv = append(priv, "--init-groups")
	}
	priv = append(priv, "--no-new-privs", "--bounding-set", "-all", "--inh-caps", "-all", "--ambient-caps", "-all", "--")

	argv := append([]string{"unshare", "-m", "sh", s.mounts}, priv...)
	argv = append(argv, s.seccomp, "-unit", pkgUnitPath, "--")
	argv = append(argv, s.exe...)
	return launcherNamed(t, "systemd --accept").start(t, append(argv, extraArgs...)).addr
}

type pkgUnitFile map[string][]string

func pkgParseUnit(t *testing.T, path string) pkgUnitFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := pkgUnitFile{}
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' || l[0] == '[' {
			continue
		}
		if k, v, ok := strings.Cut(l, "="); ok {
			u[k] = append(u[k], v)
		}
	}
	return u
}

func (u pkgUnitFile) all(k string) []string { return u[k] }

func (u pkgUnitFile) get(k string) string {
	if v := u[k]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

func (u pkgUnitFile) yes(k string) bool {
	switch u.get(k) {
	case "yes", "true", "on", "1":
		return true
	}
	return false
}

// pkgTestFail2ban checks the shipped filter against lines the installed mppd
// really writes (-log stderr), and the shipped jail against fail2ban's own
// configuration test.
func pkgTestFail2ban(t *testing.T, u testlib.User) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "mppd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pkgMppdPath, "-listen", "127.0.0.1:0", "-log", "stderr", "-fail-delay", "0",
		"-sendmail", "/bin/true")
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(logPath)
		if m := regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`).FindSubmatch(b); m != nil {
			addr = string(m[1])
		}
	}
	if addr == "" {
		t.Fatal("mppd -listen did not say where it listens")
	}
	// Two failures, one of them with a user name that tries to plant a
	// rip= of its own; one success, which must not count.
	for _, login := range []testlib.User{{Name: u.Name, Password: "wrong"}, {Name: "xrip=198.51.100.9", Password: "x"}, u} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(c)
		r.ReadString('\n')
		fmt.Fprintf(c, "USER %s\r\n", login.Name)
		r.ReadString('\n')
		fmt.Fprintf(c, "PASS %s\r\n", login.Password)
		r.ReadString('\n')
		fmt.Fprintf(c, "QUIT\r\n")
		r.ReadString('\n')
		c.Close()
	}
	// The session-ended lines come after the reply: wait for the last one.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if b, _ := os.ReadFile(logPath); bytes.Count(b, []byte("session ended")) == 3 {
			break
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	logf.Close()

	// fail2ban resolves "before = common.conf" next to the filter.
	fd := filepath.Join(dir, "filter.d")
	os.Mkdir(fd, 0o755)
	pkgCopyFile(t, "/etc/fail2ban/filter.d/common.conf", filepath.Join(fd, "common.conf"))
	pkgCopyFile(t, pkgFail2banDir+"/filter.d/mppd.conf", filepath.Join(fd, "mppd.conf"))
	out, err := exec.Command("fail2ban-regex", "-v", logPath, filepath.Join(fd, "mppd.conf")).CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-regex: %v\n%s", err, out)
	}
	var hits []string
	for _, m := range regexp.MustCompile(`(?m)^\|\s+(\d+\.\d+\.\d+\.\d+)\s`).FindAllSubmatch(out, -1) {
		hits = append(hits, string(m[1]))
	}
	if strings.Join(hits, " ") != "127.0.0.1 127.0.0.1" {
		logText, _ := os.ReadFile(logPath)
		t.Errorf("fail2ban-regex found %v, want the two failures from 127.0.0.1\nlog:\n%s\nfail2ban-regex:\n%s", hits, logText, out)
	}

	// The jail, enabled, in a copy of the system's fail2ban configuration.
	conf := filepath.Join(dir, "fail2ban")
	if out, err := exec.Command("cp", "-r", "/etc/fail2ban", conf).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	jails, _ := filepath.Glob(filepath.Join(conf, "jail.d", "*"))
	for _, j := range jails {
		os.Remove(j)
	}
	pkgCopyFile(t, pkgFail2banDir+"/filter.d/mppd.conf", filepath.Join(conf, "filter.d", "mppd.conf"))
	jail, _ := os.ReadFile(pkgFail2banDir + "/jail.d/mppd.conf")
	enabled := regexp.MustCompile(`(?m)^enabled\s*=\s*false`).ReplaceAll(jail, []byte("enabled = true"))
	os.WriteFile(filepath.Join(conf, "jail.d", "mppd.conf"), enabled, 0o644)
	out, err = exec.Command("fail2ban-client", "-c", conf, "-t").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("configuration test is successful")) {
		t.Errorf("fail2ban-client -t with the mppd jail: %v\n%s", err, out)
	}
	out, _ = exec.Command("fail2ban-client", "-c", conf, "-d").CombinedOutput()
	if !bytes.Contains(out, []byte("['add', 'mppd',")) {
		t.Errorf("the mppd jail is not in fail2ban's configuration:\n%s", out)
	}
}

func pkgCopyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func pkgRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out)
}
