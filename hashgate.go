package main

import (
	"context"
	"runtime"
	"slices"
	"sync"
)

// hashGate bounds the password hashes a process computes at once: a
// yescrypt check holds 16 MiB while it runs, and more checks at once than
// CPUs finish no sooner (BENCHMARKS.md, figure 7). With a slot per CPU the
// memory is that of a few, and clients wait in the order they came (FIFO).
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
