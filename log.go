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
// line there would be read as a reply. It returns the target actually used.
func newLogger(target string, stderrFree bool) (*logrus.Logger, string, error) {
	log := logrus.New()
	log.Out = io.Discard
	log.Level = logrus.InfoLevel
	log.Formatter = lineFormatter{}
	switch target {
	case logAuto:
		if journal.Enabled() {
			return newLogger(logJournal, stderrFree)
		}
		if l, used, err := newLogger(logSyslog, stderrFree); err == nil {
			return l, used, nil
		}
		if stderrFree {
			return newLogger(logStderr, stderrFree)
		}
		return log, logNone, nil
	case logJournal:
		if !journal.Enabled() {
			return nil, "", fmt.Errorf("-log journal: no journal socket")
		}
		log.AddHook(journalHook{})
	case logSyslog:
		w, err := syslog.New(syslog.LOG_MAIL|syslog.LOG_INFO, "mppd")
		if err != nil {
			return nil, "", fmt.Errorf("-log syslog: %v", err)
		}
		log.AddHook(syslogHook{w})
	case logStderr:
		if !stderrFree {
			return nil, "", fmt.Errorf("-log stderr: stderr is the client's connection")
		}
		log.Out = os.Stderr
		log.Formatter = lineFormatter{stamp: true}
	case logNone:
	default:
		return nil, "", fmt.Errorf("-log %q: want auto, journal, syslog, stderr or none", target)
	}
	return log, target, nil
}

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

// journalHook sends each entry to the journal, with its fields also as
// journal fields (MPPD_USER=..., for journalctl MPPD_USER=alice).
type journalHook struct{}

func (journalHook) Levels() []logrus.Level { return allLevels }

func (journalHook) Fire(e *logrus.Entry) error {
	line, _ := lineFormatter{}.Format(e)
	vars := map[string]string{"SYSLOG_IDENTIFIER": "mppd", "SYSLOG_FACILITY": "2"}
	for k, v := range e.Data {
		vars["MPPD_"+strings.ToUpper(k)] = fmt.Sprint(v)
	}
	return journal.Send(strings.TrimSuffix(string(line), "\n"), journalPriority(e.Level), vars)
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
	switch e.Level {
	case logrus.PanicLevel, logrus.FatalLevel:
		return h.w.Crit(msg)
	case logrus.ErrorLevel:
		return h.w.Err(msg)
	case logrus.WarnLevel:
		return h.w.Warning(msg)
	case logrus.InfoLevel:
		return h.w.Info(msg)
	}
	return h.w.Debug(msg)
}
