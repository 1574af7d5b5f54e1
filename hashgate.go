package main

import (
	"context"
	"runtime"
	"slices"
	"sync"
)

// hashGate bounds the password hashes a process computes at once. A
// yescrypt check holds 16 MiB for its whole run: 100 clients sending USER
// and a wrong PASS at once took a -listen server to 1.5 GiB and more
// (BENCHMARKS.md), and more of them computing at once finish no sooner on
// the same CPUs. With a slot per CPU the hashes take what they took, the
// memory that of a few, and the clients wait in the order they came
// (FIFO), so that none waits longer than those before it.
type hashGate struct {
	mu      sync.Mutex
	free    int
	waiting []chan struct{} // in order of arrival; closed when given the slot
}

// newHashGate is a gate of n slots, or one per CPU the Go runtime uses
// (GOMAXPROCS, which follows the CPU affinity and cgroup quota) if n <= 0.
func newHashGate(n int) *hashGate {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return &hashGate{free: n}
}

// acquire waits for a slot, or for ctx to end (then its error).
func (g *hashGate) acquire(ctx context.Context) error {
	g.mu.Lock()
	if g.free > 0 && len(g.waiting) == 0 {
		g.free--
		g.mu.Unlock()
		return nil
	}
	ready := make(chan struct{})
	g.waiting = append(g.waiting, ready)
	g.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		select {
		case <-ready:
			// Given the slot as ctx ended: hand it on.
			g.releaseLocked()
		default:
			if i := slices.Index(g.waiting, ready); i >= 0 {
				g.waiting = slices.Delete(g.waiting, i, i+1)
			}
		}
		return ctx.Err()
	}
}

// release gives the slot to the first waiting, or back.
func (g *hashGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.releaseLocked()
}

func (g *hashGate) releaseLocked() {
	if len(g.waiting) == 0 {
		g.free++
		return
	}
	close(g.waiting[0])
	g.waiting = slices.Delete(g.waiting, 0, 1)
}

// gatedAuth is a backend whose checks pass through a hashGate.
type gatedAuth struct {
	gate *hashGate
	auth Authenticator
}

func (a gatedAuth) Authenticate(ctx context.Context, user, password string) error {
	if err := a.gate.acquire(ctx); err != nil {
		return tempError("Local error encountered: cannot check passwords now", err)
	}
	defer a.gate.release()
	return a.auth.Authenticate(ctx, user, password)
}
