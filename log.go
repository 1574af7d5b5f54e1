package main

import (
	"bytes"
	"fmt"
	"io"
	"log/syslog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/sirupsen/logrus"
)

// Log targets for -log.
const (
	logAuto    = "auto" // journal, else syslog, else stderr when stderr is not the client, else none
	logJournal = "journal"
	logSyslog  = "syslog"
	logStderr  = "stderr"
	logNone    = "none"
)

// newLogger sets up logging to target. stderrFree says whether fd 2 may be
// written: under inetd and xinetd it is the client's connection, and a log
// line there would be read as a reply. It returns the target used, "auto"
// when it is yet to be chosen.
//
// Every target is a hook that formats its own lines; the logger's own
// output is discarded, and so is its formatting (discardFormatter).
func newLogger(target string, stderrFree bool) (*logrus.Logger, string, error) {
	log := logrus.New()
	log.Out = io.Discard
	log.Level = logrus.InfoLevel
	log.Formatter = discardFormatter{}
	if target == logAuto {
		// Which of them there is is found out at the first line logged, not
		// here: looking for the journal and syslog opens sockets, and under
		// inetd or Accept=yes every client would wait for that before its
		// greeting (BENCHMARKS.md, "Start").
		log.AddHook(&autoHook{stderrFree: stderrFree})
		return log, target, nil
	}
	h, err := openLogTarget(target, stderrFree)
	if err != nil {
		return nil, "", err
	}
	if h != nil {
		log.AddHook(h)
	}
	return log, target, nil
}

// openLogTarget opens one -log target other than auto: its hook, or nil for
// none.
func openLogTarget(target string, stderrFree bool) (logrus.Hook, error) {
	switch target {
	case logJournal:
		if !journalEnabled() {
			return nil, fmt.Errorf("-log journal: no journal socket")
		}
		return journalHook{}, nil
	case logSyslog:
		// Where no socket is, syslog.New would try each path twice,
		// datagram and stream, only to fail.
		if !syslogSocketExists() {
			return nil, fmt.Errorf("-log syslog: no syslog socket")
		}
		w, err := syslog.New(syslog.LOG_MAIL|syslog.LOG_INFO, "mppd")
		if err != nil {
			return nil, fmt.Errorf("-log syslog: %v", err)
		}
		return syslogHook{w}, nil
	case logStderr:
		if !stderrFree {
			return nil, fmt.Errorf("-log stderr: stderr is the client's connection")
		}
		return &stderrHook{}, nil
	case logNone:
		return nil, nil
	}
	return nil, fmt.Errorf("-log %q: want auto, journal, syslog, stderr or none", target)
}

// discardFormatter formats nothing: the logger's output is discarded, and
// logrus would otherwise format every line for it before the hooks format
// it again.
type discardFormatter struct{}

func (discardFormatter) Format(*logrus.Entry) ([]byte, error) { return nil, nil }

// lineFormatter writes "message key=value ..." with the keys sorted, and
// quotes any value that holds a space, a quote or a byte that is not
// printable: a client-supplied string can never forge a second log line or
// a field. With stamp, a time and the level come first (for stderr; the
// journal and syslog stamp lines themselves).
type lineFormatter struct{ stamp bool }

func (f lineFormatter) Format(e *logrus.Entry) ([]byte, error) {
	var b bytes.Buffer
	if f.stamp {
		b.WriteString(e.Time.Format(time.RFC3339))
		b.WriteString(" mppd[" + strconv.Itoa(os.Getpid()) + "] ")
		b.WriteString(e.Level.String())
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	keys := make([]string, 0, len(e.Data))
	for k := range e.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteByte(' ')
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(quoteValue(fmt.Sprint(e.Data[k])))
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

func quoteValue(v string) string {
	if v == "" {
		return `""`
	}
	for _, r := range v {
		if r <= ' ' || r == '"' || r == '\\' || r == 0x7f || !strconv.IsPrint(r) {
			return strconv.Quote(v)
		}
	}
	return v
}

var allLevels = logrus.AllLevels

// autoHook is -log auto: the journal, else syslog, else stderr when stderr is
// not the client's connection, else nowhere; chosen when the first line is
// logged (in a session, after the greeting).
type autoHook struct {
	stderrFree bool
	once       sync.Once
	hook       logrus.Hook // the target; nil: none
}

func (h *autoHook) Levels() []logrus.Level { return allLevels }

func (h *autoHook) Fire(e *logrus.Entry) error {
	h.once.Do(h.choose)
	if h.hook == nil {
		return nil
	}
	return h.hook.Fire(e)
}

func (h *autoHook) choose() {
	for _, target := range []string{logJournal, logSyslog, logStderr} {
		if hook, err := openLogTarget(target, h.stderrFree); err == nil {
			h.hook = hook
			return
		}
	}
}

// stderrHook writes each entry to stderr, stamped, a line at a time
// (sessions of a -listen server log at once).
type stderrHook struct{ mu sync.Mutex }

func (*stderrHook) Levels() []logrus.Level { return allLevels }

func (h *stderrHook) Fire(e *logrus.Entry) error {
	line, _ := lineFormatter{stamp: true}.Format(e)
	h.mu.Lock()
	defer h.mu.Unlock()
	os.Stderr.Write(line)
	return nil
}

// syslogSocketExists says whether one of the paths log/syslog tries is a
// socket.
func syslogSocketExists() bool {
	for _, p := range []string{"/dev/log", "/var/run/syslog", "/var/run/log"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return true
		}
	}
	return false
}

// journalSocket is where journald takes native messages.
const journalSocket = "/run/systemd/journal/socket"

// journalEnabled is journal.Enabled, which opens two sockets to find out,
// after a look for the socket file, which costs one system call where
// there is no journal.
func journalEnabled() bool {
	if _, err := os.Stat(journalSocket); err != nil {
		return false
	}
	return journal.Enabled()
}

// journalHook sends each entry to the journal, with its fields also as
// journal fields (MPPD_USER=..., for journalctl MPPD_USER=alice).
type journalHook struct{}

func (journalHook) Levels() []logrus.Level { return allLevels }

func (journalHook) Fire(e *logrus.Entry) error {
	line, _ := lineFormatter{}.Format(e)
	msg := strings.TrimSuffix(string(line), "\n")
	vars := map[string]string{"SYSLOG_IDENTIFIER": "mppd", "SYSLOG_FACILITY": "2"}
	for k, v := range e.Data {
		vars[journalFieldName(k)] = fmt.Sprint(v)
	}
	prio := journalPriority(e.Level)
	logSink.send(func() error { return journal.Send(msg, prio, vars) })
	return nil
}

// journalFieldName is MPPD_ and the key in the journal's field alphabet
// (A-Z, 0-9, _): go-systemd writes a complaint to stderr about any other.
func journalFieldName(k string) string {
	b := []byte("MPPD_" + strings.ToUpper(k))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

func journalPriority(l logrus.Level) journal.Priority {
	switch l {
	case logrus.PanicLevel, logrus.FatalLevel:
		return journal.PriCrit
	case logrus.ErrorLevel:
		return journal.PriErr
	case logrus.WarnLevel:
		return journal.PriWarning
	case logrus.InfoLevel:
		return journal.PriInfo
	}
	return journal.PriDebug
}

// syslogHook sends each entry to syslog, facility mail, as mail daemons do.
type syslogHook struct{ w *syslog.Writer }

func (syslogHook) Levels() []logrus.Level { return allLevels }

func (h syslogHook) Fire(e *logrus.Entry) error {
	line, _ := lineFormatter{}.Format(e)
	msg := strings.TrimSuffix(string(line), "\n")
	write := h.w.Debug
	switch e.Level {
	case logrus.PanicLevel, logrus.FatalLevel:
		write = h.w.Crit
	case logrus.ErrorLevel:
		write = h.w.Err
	case logrus.WarnLevel:
		write = h.w.Warning
	case logrus.InfoLevel:
		write = h.w.Info
	}
	logSink.send(func() error { return write(msg) })
	return nil
}

// logSendTimeout bounds how long logging may hold up a session.
const logSendTimeout = time.Second

// logSink is the one way lines reach journald or syslogd. A daemon that
// stops reading must not stop the sessions (a write to a full datagram
// socket blocks, and go-systemd's journal.Send even spins on it): a line
// not sent within logSendTimeout is given up, and while a send is stuck the
// lines after it are dropped, not queued. Failures are never returned to
// logrus, which would report them on stderr.
var logSink boundedSender

type boundedSender struct {
	busy    atomic.Bool
	dropped atomic.Int64 // lines given up or dropped
}

func (b *boundedSender) send(f func() error) {
	if !b.busy.CompareAndSwap(false, true) {
		b.dropped.Add(1)
		return
	}
	done := make(chan error, 1)
	go func() {
		err := f()
		b.busy.Store(false) // before the caller learns it is done: its next line must find the sender free
		done <- err
	}()
	t := time.NewTimer(logSendTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			b.dropped.Add(1)
		}
	case <-t.C:
		b.dropped.Add(1)
	}
}
