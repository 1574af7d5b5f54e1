package main

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// getrandom fills b with getrandom(2) as a plain system call, and says
// whether it could.
//
// unix.Getrandom prefers the vDSO's getrandom, whose first call in a
// process maps state for it (an mmap and its page faults), and crypto/rand
// sets up state of its own on first use: either costs more than the call
// itself when a process wants a few bytes once, for its session id, before
// its greeting (BENCHMARKS.md, "Start").
func getrandom(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	n, _, errno := unix.Syscall(unix.SYS_GETRANDOM, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0)
	return errno == 0 && int(n) == len(b)
}
