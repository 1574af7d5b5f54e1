package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mppd/mppd/internal/testlib"
)

// waitQueued waits until n callers wait at the gate.
func waitQueued(t *testing.T, g *hashGate, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		g.mu.Lock()
		got := len(g.waiting)
		g.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiting at the gate, want %d", got, n)
		}
	}
}

// TestHashGateFIFO: callers that wait get the slot in the order they came.
func TestHashGateFIFO(t *testing.T) {
	g := newHashGate(1)
	if err := g.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	order := make(chan int, 5)
	for i := 0; i < 5; i++ {
		go func() {
			g.acquire(context.Background())
			order <- i
			g.release()
		}()
		waitQueued(t, g, i+1) // the next one comes after this one
	}
	g.release()
	for want := 0; want < 5; want++ {
		if got := <-order; got != want {
			t.Fatalf("caller %d got the slot as number %d", got, want)
		}
	}
}

// TestHashGateBounds: no more checks run at once than the gate has slots,
// and all of them get done.
func TestHashGateBounds(t *testing.T) {
	var running, most, done atomic.Int32
	slow := authFunc(func() error {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(2 * time.Millisecond)
		running.Add(-1)
		done.Add(1)
		return nil
	})
	a := gatedAuth{newHashGate(2), slow}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.Authenticate(context.Background(), "u", "p")
		}()
	}
	wg.Wait()
	if most.Load() > 2 || done.Load() != 20 {
		t.Errorf("%d checks at once (want at most 2), %d done (want 20)", most.Load(), done.Load())
	}
}

type authFunc func() error

func (f authFunc) Authenticate(context.Context, string, string) error { return f() }

// TestHashGateGiveUp: a caller whose context ends while it waits gets a
// 451 and leaves the queue; the slot goes on to the next.
func TestHashGateGiveUp(t *testing.T) {
	g := newHashGate(1)
	g.acquire(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error)
	go func() {
		gaveUp <- gatedAuth{g, authFunc(func() error { return nil })}.Authenticate(ctx, "u", "p")
	}()
	waitQueued(t, g, 1)
	next := make(chan struct{})
	go func() { g.acquire(context.Background()); close(next) }()
	waitQueued(t, g, 2)
	cancel()
	err := <-gaveUp
	if re := asReplyError(err); re.code != codeLocalError || !errors.Is(err, context.Canceled) {
		t.Errorf("gave up with %v, want 451 and the context's error", err)
	}
	waitQueued(t, g, 1)
	g.release()
	select {
	case <-next:
	case <-time.After(10 * time.Second):
		t.Fatal("the slot did not go on to the next caller")
	}
	g.release()
	if g.free != 1 || len(g.waiting) != 0 {
		t.Errorf("after all: %d free, %d waiting; want 1, 0", g.free, len(g.waiting))
	}
}

// TestShadowChecksGated: the shadow backend's checks, where mppd computes
// the hash in its own memory, pass through the gate (a check waits while
// every slot is taken), and by default a process has one slot per CPU.
func TestShadowChecksGated(t *testing.T) {
	passwd := filepath.Join(t.TempDir(), "passwd")
	os.WriteFile(passwd, []byte("alice:"+testlib.FixtureHashes["yescrypt"]+"\n"), 0o600)
	o := authOptions{passwd: passwd, connectTimeout: time.Second, timeout: time.Second}
	c, err := newAuthChain(nil, o)
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := c.backends[0].auth.(gatedAuth); !ok || g.gate.free != runtime.GOMAXPROCS(0) {
		t.Fatalf("shadow backend %#v: want a gate of %d slots", c.backends[0].auth, runtime.GOMAXPROCS(0))
	}

	o.hashes = newHashGate(1)
	if c, err = newAuthChain(nil, o); err != nil {
		t.Fatal(err)
	}
	o.hashes.acquire(context.Background()) // every slot taken
	result := make(chan error)
	go func() { result <- c.Authenticate(context.Background(), "alice", testlib.FixturePassword) }()
	waitQueued(t, o.hashes, 1)
	o.hashes.release()
	if err := <-result; err != nil {
		t.Errorf("after waiting: %v", err)
	}
}
