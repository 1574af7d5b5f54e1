package main

import (
	"errors"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

// shutdown ends the sessions of a process that has been asked to stop:
// systemd's SIGTERM at RuntimeMaxSec= or at shutdown, an administrator's
// kill, a -listen server's stop. A session waiting for the client gets a
// last "451 Server shutting down" (RFC 1204 §2.4: the client keeps its
// message and tries again), as Dovecot ends its sessions with "BYE Server
// shutting down"; one delivering a text is answered first. A text not yet
// complete is not delivered, as when the client goes away.
type shutdown struct {
	begun atomic.Bool
	mu    sync.Mutex
	conns map[*tracked]struct{}
}

// tracked is one session's connection in shutdown.conns, by pointer: a
// Conn's own type need not be comparable.
type tracked struct{ conn Conn }

// errShuttingDown is what a session's read returns once shutdown has begun.
var errShuttingDown = errors.New("server shutting down")

func newShutdown() *shutdown { return &shutdown{conns: map[*tracked]struct{}{}} }

// requested says whether shutdown has begun; false for a nil one (a
// Config without, as in the protocol tests).
func (d *shutdown) requested() bool { return d != nil && d.begun.Load() }

// track counts conn among the sessions to end, until the returned func is
// called.
func (d *shutdown) track(conn Conn) (untrack func()) {
	if d == nil {
		return func() {}
	}
	t := &tracked{conn}
	d.mu.Lock()
	d.conns[t] = struct{}{}
	d.mu.Unlock()
	return func() {
		d.mu.Lock()
		delete(d.conns, t)
		d.mu.Unlock()
	}
}

// begin starts the shutdown: every read waiting on a tracked connection
// ends now (a net.Conn's deadline applies to a pending read; sockConn and
// pipeConn look at theirs at least once a second), and each session then
// sees requested and says goodbye.
func (d *shutdown) begin() {
	if d.begun.Swap(true) {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for t := range d.conns {
		t.conn.SetReadDeadline(time.Unix(1, 0))
	}
}

// onSignal begins d at the first SIGTERM or SIGINT. A second one has its
// default effect again, so an administrator who will not wait can still
// end the process at once, as a second Ctrl-C does.
func (d *shutdown) onSignal(log *logrus.Logger, what string, then func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig := <-sigs
		signal.Reset(syscall.SIGTERM, syscall.SIGINT)
		log.WithField("signal", sig.String()).Info(what)
		if then != nil {
			then()
		}
		d.begin()
	}()
}
