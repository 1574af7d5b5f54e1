// Command unitseccomp runs a program under the seccomp part of a systemd
// service unit's sandbox, for tests where systemd is not PID 1:
// SystemCallFilter= and its errno, SystemCallArchitectures=native,
// RestrictAddressFamilies=, MemoryDenyWriteExecute= and UMask=, as systemd
// applies them (groups expanded by systemd-analyze, amd64 only):
//
//	unitseccomp -unit mppd@.service -- /usr/sbin/mppd ARGS
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

const unistdHeader = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"

func main() {
	unitPath := flag.String("unit", "", "service unit `file` to read the settings from")
	flag.Parse()
	if *unitPath == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: unitseccomp -unit FILE -- PROGRAM ARGS")
		os.Exit(64)
	}
	if err := run(*unitPath, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "unitseccomp:", err)
		os.Exit(71)
	}
}

func run(unitPath string, argv []string) error {
	if runtime.GOARCH != "amd64" {
		return fmt.Errorf("only amd64 is supported, not %s", runtime.GOARCH)
	}
	u, err := readUnit(unitPath)
	if err != nil {
		return err
	}
	numbers, err := syscallNumbers()
	if err != nil {
		return err
	}
	prog, err := u.filter(numbers)
	if err != nil {
		return err
	}
	if m, ok := u.last("UMask"); ok {
		v, err := strconv.ParseUint(m, 8, 32)
		if err != nil {
			return fmt.Errorf("UMask=%s: %v", m, err)
		}
		unix.Umask(int(v))
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	// Everything from here to exec on this thread: the filter is installed
	// for the calling thread only (no TSYNC), which exec makes the process.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %v", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if _, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return fmt.Errorf("seccomp: %v", e)
	}
	return syscall.Exec(path, argv, os.Environ())
}

// unit holds the [Service] settings, in order, a setting given more than
// once keeping every value.
type unit map[string][]string

func readUnit(path string) (unit, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = line
		case section == "[Service]":
			k, v, ok := strings.Cut(line, "=")
			if ok {
				k = strings.TrimSpace(k)
				v = strings.TrimSpace(v)
				if v == "" {
					delete(u, k) // an empty assignment resets the list
				} else {
					u[k] = append(u[k], v)
				}
			}
		}
	}
	return u, sc.Err()
}

func (u unit) last(key string) (string, bool) {
	v := u[key]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

func (u unit) yes(key string) bool {
	v, _ := u.last(key)
	b, _ := strconv.ParseBool(strings.NewReplacer("yes", "true", "no", "false", "on", "true", "off", "false").Replace(v))
	return b
}

// allowedCalls is the set SystemCallFilter= leaves: the first list an
// allow-list (or, if it starts with ~, everything but it), later lines
// adding to it or, with ~, taking away, as systemd.exec(5) says.
func (u unit) allowedCalls(numbers map[string]uint32) (map[uint32]bool, bool, error) {
	lines := u["SystemCallFilter"]
	if len(lines) == 0 {
		return nil, false, nil
	}
	groups, err := syscallGroups()
	if err != nil {
		return nil, false, err
	}
	allowList := !strings.HasPrefix(lines[0], "~")
	set := map[uint32]bool{}
	if !allowList {
		for _, n := range numbers {
			set[n] = true
		}
	}
	for _, line := range lines {
		deny := strings.HasPrefix(line, "~")
		names, err := expandCalls(groups, strings.Fields(strings.TrimPrefix(line, "~")))
		if err != nil {
			return nil, false, err
		}
		for _, name := range names {
			n, ok := numbers[name]
			if !ok {
				continue // not a system call on this architecture
			}
			if deny {
				delete(set, n)
			} else {
				set[n] = true
			}
		}
	}
	return set, true, nil
}

// syscallGroups reads every @group's members, system calls and other
// groups, from one run of `systemd-analyze syscall-filter`: a group's name
// at the start of a line, its members indented under it; comments, and the
// calls in no group at the end, start with #.
func syscallGroups() (map[string][]string, error) {
	b, err := exec.Command("systemd-analyze", "syscall-filter").Output()
	if err != nil {
		return nil, fmt.Errorf("systemd-analyze syscall-filter: %v", err)
	}
	groups := map[string][]string{}
	group := ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "@"):
			group = f
			groups[group] = nil
		case strings.HasPrefix(line, " ") && f != "" && !strings.HasPrefix(f, "#"):
			groups[group] = append(groups[group], f)
		}
	}
	return groups, nil
}

// expandCalls turns names and @groups into system call names.
func expandCalls(groups map[string][]string, items []string) ([]string, error) {
	var out []string
	for _, it := range items {
		if !strings.HasPrefix(it, "@") {
			out = append(out, it)
			continue
		}
		members, ok := groups[it]
		if !ok {
			return nil, fmt.Errorf("systemd-analyze syscall-filter has no group %s", it)
		}
		sub, err := expandCalls(groups, members)
		if err != nil {
			return nil, err
		}
		out = append(out, sub...)
	}
	return out, nil
}

func syscallNumbers() (map[string]uint32, error) {
	b, err := os.ReadFile(unistdHeader)
	if err != nil {
		return nil, fmt.Errorf("%v (package linux-libc-dev)", err)
	}
	m := map[string]uint32{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "#define" && strings.HasPrefix(f[1], "__NR_") {
			if n, err := strconv.ParseUint(f[2], 10, 32); err == nil {
				m[strings.TrimPrefix(f[1], "__NR_")] = uint32(n)
			}
		}
	}
	if len(m) < 300 {
		return nil, errors.New(unistdHeader + ": too few system calls found")
	}
	return m, nil
}

var addressFamilies = map[string]uint32{
	"AF_UNIX": unix.AF_UNIX, "AF_LOCAL": unix.AF_UNIX, "AF_INET": unix.AF_INET,
	"AF_INET6": unix.AF_INET6, "AF_NETLINK": unix.AF_NETLINK, "AF_PACKET": unix.AF_PACKET,
}

// Offsets in struct seccomp_data.
const (
	offNr    = 0
	offArch  = 4
	offArg0  = 16
	offArg2  = 32
	auditX86 = 0xc000003e // AUDIT_ARCH_X86_64
)

// filter builds the BPF program. Each rule is a small block; blocks are
// joined with relative jumps, so they are written as "if it matches, jump
// to the verdict in this block, else fall through to the next block".
func (u unit) filter(numbers map[string]uint32) ([]unix.SockFilter, error) {
	errno := uint32(unix.EPERM)
	if e, ok := u.last("SystemCallErrorNumber"); ok {
		n, ok := map[string]uint32{"EPERM": uint32(unix.EPERM), "EACCES": uint32(unix.EACCES), "ENOSYS": uint32(unix.ENOSYS)}[e]
		if !ok {
			return nil, fmt.Errorf("SystemCallErrorNumber=%s: not supported here", e)
		}
		errno = n
	}
	ld := func(off uint32) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}
	}
	jeq := func(k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: k, Jt: jt, Jf: jf}
	}
	jset := func(k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, K: k, Jt: jt, Jf: jf}
	}
	ret := func(k uint32) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k}
	}
	fail := func(e uint32) unix.SockFilter { return ret(unix.SECCOMP_RET_ERRNO | e) }

	// Another architecture (x32, i386 through int 0x80): refused, as
	// SystemCallArchitectures=native does.
	prog := []unix.SockFilter{ld(offArch), jeq(auditX86, 1, 0), fail(errno)}

	if fams, ok := u.last("RestrictAddressFamilies"); ok {
		var allowed []uint32
		for _, name := range strings.Fields(strings.Join(u["RestrictAddressFamilies"], " ")) {
			n, ok := addressFamilies[name]
			if !ok {
				return nil, fmt.Errorf("RestrictAddressFamilies=%s: %s not supported here", fams, name)
			}
			allowed = append(allowed, n)
		}
		// if nr != socket: skip the block
		block := []unix.SockFilter{ld(offArg0)}
		for i, n := range allowed {
			// on a match jump past the remaining tests and the fail
			block = append(block, jeq(n, uint8(len(allowed)-i), 0))
		}
		block = append(block, fail(uint32(unix.EAFNOSUPPORT)))
		prog = append(prog, ld(offNr), jeq(unix.SYS_SOCKET, 0, uint8(len(block))))
		prog = append(prog, block...)
	}

	if u.yes("MemoryDenyWriteExecute") {
		// mmap with PROT_WRITE and PROT_EXEC: EPERM.
		prog = append(prog,
			ld(offNr), jeq(unix.SYS_MMAP, 0, 4),
			ld(offArg2), jset(unix.PROT_EXEC, 0, 2), jset(unix.PROT_WRITE, 0, 1), fail(uint32(unix.EPERM)),
		)
		// mprotect and pkey_mprotect adding PROT_EXEC: EPERM.
		for _, nr := range []uint32{unix.SYS_MPROTECT, unix.SYS_PKEY_MPROTECT} {
			prog = append(prog, ld(offNr), jeq(nr, 0, 3), ld(offArg2), jset(unix.PROT_EXEC, 0, 1), fail(uint32(unix.EPERM)))
		}
	}

	allowed, filtered, err := u.allowedCalls(numbers)
	if err != nil {
		return nil, err
	}
	prog = append(prog, ld(offNr))
	if filtered {
		nrs := make([]int, 0, len(allowed))
		for n := range allowed {
			nrs = append(nrs, int(n))
		}
		sort.Ints(nrs)
		for _, n := range nrs {
			prog = append(prog, jeq(uint32(n), 0, 1), ret(unix.SECCOMP_RET_ALLOW))
		}
		prog = append(prog, fail(errno))
	} else {
		prog = append(prog, ret(unix.SECCOMP_RET_ALLOW))
	}
	if len(prog) > 4096 {
		return nil, fmt.Errorf("filter too long: %d instructions", len(prog))
	}
	return prog, nil
}
