package main

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// getrandom fills b with getrandom(2) as a plain system call, and says
// whether it could: unix.Getrandom's vDSO path and crypto/rand set up state
// on first use, more work than the call itself for a process that wants a
// few bytes once, before its greeting (BENCHMARKS.md, "Start").
func getrandom(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	n, _, errno := unix.Syscall(unix.SYS_GETRANDOM, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0)
	return errno == 0 && int(n) == len(b)
}
