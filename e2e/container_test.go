package e2e

// A Debian bookworm host booted with systemd as PID 1 in systemd-nspawn,
// for the tests that need real systemd. The root is built and cached once
// per machine (.ci/container/build-root); each container is an overlay on
// it, on a network of its own (loopback only), so a case starts clean in
// seconds and leaves nothing behind.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
	"golang.org/x/sys/unix"
)

type container struct {
	t      testing.TB
	dir    string // the overlay's upper, work and merged directories
	root   string // the container's / as the host sees it
	nspawn *exec.Cmd
	pid1   int
}

// ctPath is the container's PATH: openbsd-inetd-era tools, apt, systemctl.
const ctPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// containerRoot builds (or finds) the cached root, skipping the test where
// that cannot be had.
func containerRoot(t testing.TB) string {
	t.Helper()
	testlib.NeedRoot(t)
	testlib.NeedProgram(t, "systemd-nspawn")
	testlib.NeedProgram(t, "debootstrap")
	out, err := exec.Command(".ci/container/build-root").Output()
	testlib.NeedReal(t, err == nil, fmt.Sprintf("no container root: .ci/container/build-root: %v", err))
	return strings.TrimSpace(string(out))
}

// bootContainer boots a fresh container and waits until systemd says the
// system is up. It is shut down cleanly when the test ends.
func bootContainer(t testing.TB) *container {
	t.Helper()
	lower := containerRoot(t)
	dir, err := os.MkdirTemp("/var/tmp", "mppd-ct-")
	if err != nil {
		t.Fatal(err)
	}
	c := &container{t: t, dir: dir, root: filepath.Join(dir, "merged")}
	for _, d := range []string{"upper", "work", "merged"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s/upper,workdir=%s/work", lower, dir, dir)
	if err := unix.Mount("overlay", c.root, "overlay", 0, opts); err != nil {
		os.RemoveAll(dir)
		testlib.NeedReal(t, false, "cannot mount an overlay for the container: "+err.Error())
	}
	console, _ := os.Create(filepath.Join(dir, "console.log"))
	c.nspawn = exec.Command("systemd-nspawn", "-D", c.root, "-b", "--console=read-only",
		"--register=no", "--keep-unit", "--private-network", "--machine=mppd-ct")
	c.nspawn.Stdout, c.nspawn.Stderr = console, console
	if err := c.nspawn.Start(); err != nil {
		c.cleanup()
		t.Fatal(err)
	}
	t.Cleanup(c.cleanup)
	deadline := time.Now().Add(60 * time.Second)
	for c.pid1 == 0 && time.Now().Before(deadline) {
		c.pid1 = c.findInit()
		time.Sleep(50 * time.Millisecond)
	}
	if c.pid1 == 0 {
		t.Fatalf("systemd-nspawn started no PID 1:\n%s", c.console())
	}
	for {
		out, _ := c.run(nil, "systemctl", "is-system-running", "--wait")
		if s := strings.TrimSpace(out); s == "running" || s == "degraded" {
			if s == "degraded" {
				failed, _ := c.run(nil, "systemctl", "--failed", "--no-legend")
				t.Logf("container booted degraded: %s", failed)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container not up after 60 s (%q):\n%s", out, c.console())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return c
}

// findInit is the container's PID 1 as the host sees it: the child of
// systemd-nspawn that runs systemd. (nspawn forks an intermediate child
// first, which exits once the container's init is started: under load a
// first look finds that one.)
func (c *container) findInit() int {
	pid := c.nspawn.Process.Pid
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	for _, f := range strings.Fields(string(b)) {
		comm, err := os.ReadFile("/proc/" + f + "/comm")
		if err == nil && strings.TrimSpace(string(comm)) == "systemd" {
			n, _ := strconv.Atoi(f)
			return n
		}
	}
	return 0
}

func (c *container) console() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "console.log"))
	return string(b)
}

func (c *container) cleanup() {
	if c.nspawn != nil && c.nspawn.Process != nil {
		// SIGTERM: systemd-nspawn asks the container's systemd to shut
		// down cleanly.
		c.nspawn.Process.Signal(unix.SIGTERM)
		done := make(chan struct{})
		go func() { c.nspawn.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			c.nspawn.Process.Kill()
			<-done
		}
	}
	unix.Unmount(c.root, unix.MNT_DETACH)
	os.RemoveAll(c.dir)
}

// run runs a command inside the container (all its namespaces, an
// administrator's environment) and returns its combined output.
func (c *container) run(stdin []byte, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{"-t", strconv.Itoa(c.pid1), "-a", "env", "-i", ctPath,
		"DEBIAN_FRONTEND=noninteractive", "HOME=/root", "LANG=C.UTF-8"}, argv...)
	cmd := exec.CommandContext(ctx, "nsenter", args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// must runs a command inside and fails the test if it fails.
func (c *container) must(argv ...string) string {
	c.t.Helper()
	out, err := c.run(nil, argv...)
	if err != nil {
		c.t.Fatalf("in the container: %s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return out
}

// sh runs a shell script inside and fails the test if it fails.
func (c *container) sh(script string) string {
	c.t.Helper()
	return c.must("sh", "-ec", script)
}

// put writes a file into the container (not under /tmp or /run, which are
// the container's own tmpfs).
func (c *container) put(path string, data []byte, mode os.FileMode) {
	c.t.Helper()
	p := filepath.Join(c.root, path)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, data, mode); err != nil {
		c.t.Fatal(err)
	}
	os.Chmod(p, mode)
}

// dial connects from inside the container's network (from source address
// src, if given) to addr there: the socket is made in its network
// namespace, which it keeps.
func (c *container) dial(src, addr string) (net.Conn, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(self)
	ns, err := unix.Open(fmt.Sprintf("/proc/%d/ns/net", c.pid1), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(ns)
	if err := unix.Setns(ns, unix.CLONE_NEWNET); err != nil {
		return nil, err
	}
	defer unix.Setns(self, unix.CLONE_NEWNET)
	d := net.Dialer{Timeout: 10 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	return d.Dial("tcp", addr)
}

// journal is the container's journal since the cursor after, as JSON lines.
func (c *container) journal(args ...string) string {
	c.t.Helper()
	return c.must(append([]string{"journalctl", "--no-pager", "-o", "cat"}, args...)...)
}

// journalHas waits up to 10 s for the journal lines journalctl args
// select to hold every one of want (journald takes lines in asynchronously:
// a reply can reach the client before its log line is in the journal), and
// returns them.
func (c *container) journalHas(args []string, want ...string) (string, bool) {
	var j string
	ok := testlib.WaitFor(10*time.Second, func() bool {
		j, _ = c.run(nil, append([]string{"journalctl", "--no-pager", "-o", "cat"}, args...)...)
		for _, w := range want {
			if !strings.Contains(j, w) {
				return false
			}
		}
		return true
	})
	return j, ok
}
