package main

// /etc/mppd/mppd.conf: the one place an administrator sets mppd's settings
// for every launcher (systemd units, inetd, xinetd, -listen), as Postfix
// has main.cf and Dovecot dovecot.conf. Its keys are the flags' names and
// mean the same; a flag on the command line wins over the file. It is read
// at every process start (under inetd and Accept=yes, every connection),
// and a server of many (-listen, Accept=no) reads it again when it changes,
// before its next session.

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

const defaultConfigPath = "/etc/mppd/mppd.conf"

// Bounds on the file: a configuration is a few hundred bytes.
const (
	maxConfigFile = 64 << 10
	maxConfigLine = 4096
)

// notInFile are the flags that are no setting of the file: ways of starting
// mppd, or of asking it something. A "listen" in the file would turn every
// inetd session into a server.
var notInFile = map[string]bool{"config": true, "print-config": true, "version": true, "listen": true, "delivery-agent": true}

// repeatable flags take one value per line; the others once.
var repeatable = map[string]bool{"auth": true}

// configEntry is one "name = value" line.
type configEntry struct {
	name, value string
	line        int
}

// configError is a fault in the file, with where it is.
type configError struct {
	path string
	line int // 0: the file as a whole
	err  error
}

func (e *configError) Unwrap() error { return e.err }

func (e *configError) Error() string {
	if e.line == 0 {
		return fmt.Sprintf("%s: %v", e.path, e.err)
	}
	return fmt.Sprintf("%s:%d: %v", e.path, e.line, e.err)
}

// readConfigFile reads and parses path. A missing file is no error unless
// it was named (-config).
func readConfigFile(path string, named bool) ([]configEntry, error) {
	if path == "" {
		return nil, nil
	}
	f, err := openPlain(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && !named {
			return nil, nil
		}
		return nil, &configError{path: path, err: err}
	}
	defer f.Close()
	size, err := checkConfigOwner(f, path)
	if err != nil {
		return nil, &configError{path: path, err: err}
	}
	if size > maxConfigFile {
		return nil, &configError{path: path, err: fmt.Errorf("larger than %d bytes", maxConfigFile)}
	}
	// A buffer of the size fstat gave: one read, and one more to see the
	// end.
	data, err := readUpTo(f, make([]byte, 0, size+1), maxConfigFile+1)
	if err != nil {
		return nil, &configError{path: path, err: err}
	}
	if len(data) > maxConfigFile {
		return nil, &configError{path: path, err: fmt.Errorf("larger than %d bytes", maxConfigFile)}
	}
	return parseConfig(path, data)
}

// readUpTo reads r to its end into buf, at most max bytes.
func readUpTo(r io.Reader, buf []byte, max int) ([]byte, error) {
	for len(buf) < max {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), max)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// checkConfigOwner refuses a file that someone other than root or mppd's
// own user could have written, as sshd's StrictModes does: the file and
// its directory must belong to one of them and be writable by nobody else
// (a directory with the sticky bit, such as /tmp, protects its files).
func checkConfigOwner(f *os.File, path string) (size int64, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, errors.New("not a regular file")
	}
	if err := checkOwner("the file", st); err != nil {
		return 0, err
	}
	size = st.Size
	dir := filepath.Dir(path)
	if err := unix.Stat(dir, &st); err != nil {
		return 0, err
	}
	if st.Mode&unix.S_ISVTX != 0 {
		return size, nil
	}
	return size, checkOwner("its directory "+dir, st)
}

func checkOwner(what string, st unix.Stat_t) error {
	if st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s belongs to uid %d, not to root or to mppd's user: not read", what, st.Uid)
	}
	if st.Mode&0o022 != 0 {
		return fmt.Errorf("%s may be written by group or others (mode %04o): not read; chmod go-w", what, st.Mode&0o7777)
	}
	return nil
}

// parseConfig reads "name = value" lines. A line whose first non-blank is
// "#" is a comment (not the rest of a line: a value may hold "#"). The value
// is the rest of the line without the white space around it; "" stands for
// the empty value.
func parseConfig(path string, data []byte) ([]configEntry, error) {
	var entries []configEntry
	seen := map[string]int{}
	line := 0
	for len(data) > 0 {
		var raw []byte
		raw, data, _ = bytes.Cut(data, []byte("\n"))
		line++
		if len(raw) > maxConfigLine {
			return nil, &configError{path, line, fmt.Errorf("line longer than %d bytes", maxConfigLine)}
		}
		// Most lines of a commented file are comments: no string for them.
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || raw[0] == '#' {
			continue
		}
		s := string(raw)
		name, value, ok := strings.Cut(s, "=")
		if !ok {
			return nil, &configError{path, line, fmt.Errorf("%q: not \"name = value\"", s)}
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if value == `""` {
			value = ""
		}
		if strings.ContainsFunc(value, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
			return nil, &configError{path, line, fmt.Errorf("%s: control character in the value", name)}
		}
		if first, dup := seen[name]; dup && !repeatable[name] {
			return nil, &configError{path, line, fmt.Errorf("%s: set a second time (first on line %d)", name, first)}
		}
		seen[name] = line
		entries = append(entries, configEntry{name: name, value: value, line: line})
	}
	return entries, nil
}

// settings is what the process runs with: the options, and where each came
// from, for -print-config.
type settings struct {
	o       options
	sources map[string]string // flag name → "command line", "PATH:LINE", "systemd credential"; absent: default
	flags   *flag.FlagSet     // bound to o: what print reads the values from
	set     map[string]bool   // the flags the command line gave
	authAt  []string          // where each -auth value came from
	stamp   fileStamp         // the file as it was before it was read
}

// loadSettings makes the options from the command line and the file it
// names (-config, default /etc/mppd/mppd.conf): defaults, then the file,
// then the command line. One flag set does both: the command line is
// parsed first, and the file then sets only what the command line left
// alone. Errors: the flag package's (usage, -h), or a *configError. cmdLog
// is the -log of the command line alone, to report a bad file with.
func loadSettings(args []string, diag io.Writer) (s *settings, cmdLog string, err error) {
	s = &settings{sources: map[string]string{}}
	fs := newFlagSet(&s.o, diag)
	s.flags = fs
	if err := fs.Parse(args); err != nil {
		return nil, "", err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(diag, "mppd: unexpected argument %q\n", fs.Arg(0))
		return nil, "", errUsage
	}
	cmdLog = s.o.logTarget
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	s.set = set
	if s.o.showVersion {
		return s, cmdLog, nil
	}
	// Stat first: an edit landing while the file is read must look like a
	// change to the next session's check (reloader.get), not like this read.
	s.stamp = stampOf(s.o.configPath)
	entries, err := readConfigFile(s.o.configPath, set["config"])
	if err != nil {
		return nil, cmdLog, err
	}
	path := s.o.configPath
	for _, e := range entries {
		f := fs.Lookup(e.name)
		if f == nil || notInFile[e.name] {
			if f == nil {
				err = fmt.Errorf("unknown setting %q", e.name)
			} else {
				err = fmt.Errorf("%s is not a setting of the file: give it on the command line", e.name)
			}
			return nil, cmdLog, &configError{path, e.line, err}
		}
		if set[e.name] {
			continue // the command line wins, every value of it
		}
		v := e.value
		if isBoolFlag(f) {
			if v, err = parseBool(v); err != nil {
				return nil, cmdLog, &configError{path, e.line, fmt.Errorf("%s: %v", e.name, err)}
			}
		}
		if err := fs.Set(e.name, v); err != nil {
			return nil, cmdLog, &configError{path, e.line, fmt.Errorf("%s = %s: %v", e.name, e.value, err)}
		}
		at := path + ":" + strconv.Itoa(e.line)
		s.sources[e.name] = at
		if e.name == "auth" {
			s.authAt = append(s.authAt, at)
		}
	}
	for name := range set {
		s.sources[name] = "command line"
	}
	if set["auth"] {
		s.authAt = nil
		for range s.o.auth {
			s.authAt = append(s.authAt, "command line")
		}
	}
	s.credentials()
	return s, cmdLog, nil
}

// errUsage is a command line with stray arguments (exit 64).
var errUsage = errors.New("usage")

// credentials: under mppd-tls@.service systemd hands over the certificate
// and key (LoadCredential=tls-cert, tls-key) in $CREDENTIALS_DIRECTORY; they
// are -tls-cert and -tls-key unless the file or the command line says
// otherwise. So the unit needs no flags, and the plain units, which get no
// credentials, stay plain.
func (s *settings) credentials() {
	dir := os.Getenv("CREDENTIALS_DIRECTORY")
	if dir == "" || s.sources["tls-cert"] != "" || s.sources["tls-key"] != "" {
		return
	}
	cert, key := filepath.Join(dir, "tls-cert"), filepath.Join(dir, "tls-key")
	if unix.Access(cert, unix.R_OK) == nil && unix.Access(key, unix.R_OK) == nil {
		s.o.tlsCert, s.o.tlsKey = cert, key
		s.sources["tls-cert"], s.sources["tls-key"] = "systemd credential", "systemd credential"
	}
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// parseBool takes what administrators write in configuration files.
func parseBool(v string) (string, error) {
	switch strings.ToLower(v) {
	case "yes", "true", "on", "1":
		return "true", nil
	case "no", "false", "off", "0":
		return "false", nil
	}
	return "", fmt.Errorf("%q: yes or no", v)
}

// print writes the settings as the file would hold them, each with where
// it came from (-print-config), sorted by name.
func (s *settings) print(w io.Writer) {
	fs := s.flags
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if !notInFile[f.Name] {
			names = append(names, f.Name)
		}
	})
	sort.Strings(names)
	for _, name := range names {
		src := s.sources[name]
		if src == "" {
			src = "default"
		}
		values, at := []string{fs.Lookup(name).Value.String()}, []string{src}
		if name == "auth" && len(s.o.auth) > 0 {
			values, at = s.o.auth, s.authAt
		} else if name == "auth" {
			values = []string{"shadow"}
		}
		for i, v := range values {
			if v == "" {
				v = `""`
			}
			fmt.Fprintf(w, "%s = %s\t# %s\n", name, v, at[i])
		}
	}
}

// reloader is the configuration of a server of many sessions: it reads the
// file again when it changed, before the next session, and keeps what it
// had if the new one is bad (logged, never half applied).
type reloader struct {
	args []string
	path string // the file, as the command line gave it
	log  *logrus.Logger

	mu      sync.Mutex
	stamp   fileStamp
	cfg     *Config
	tr      *transport
	current options
}

// newReloader starts from the configuration built of s: the file as it
// was before s read it (s.stamp), so that an edit made meanwhile is read
// at the first session.
func newReloader(args []string, s *settings, cfg *Config, tr *transport, log *logrus.Logger) *reloader {
	return &reloader{args: args, path: s.o.configPath, log: log, stamp: s.stamp, cfg: cfg, tr: tr, current: s.o}
}

// onHangup has each SIGHUP read the file now if it changed, as inetd,
// Postfix and Dovecot reload on it: the administrator used to them sees in
// the log at once whether the edit was taken. (It would be read before the
// next session anyway; and SIGHUP's default would end the server.)
func (r *reloader) onHangup() {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, unix.SIGHUP)
	go func() {
		for range hup {
			r.mu.Lock()
			unchanged := stampOf(r.path) == r.stamp
			r.mu.Unlock()
			if unchanged {
				r.log.WithField("file", r.path).Info("SIGHUP: configuration file unchanged")
				continue
			}
			r.get() // logs whether it was reloaded
		}
	}()
}

// fileStamp tells whether a file changed: what stat says of it.
type fileStamp struct {
	ok                 bool
	dev, ino, size     uint64
	mtime, ctime       int64
	mtimeNsec, ctimeNs int64
}

func stampOf(path string) fileStamp {
	var st unix.Stat_t
	if path == "" || unix.Stat(path, &st) != nil {
		return fileStamp{}
	}
	return fileStamp{ok: true, dev: st.Dev, ino: st.Ino, size: uint64(st.Size),
		mtime: st.Mtim.Sec, mtimeNsec: st.Mtim.Nsec, ctime: st.Ctim.Sec, ctimeNs: st.Ctim.Nsec}
}

// get returns the configuration for the next session.
func (r *reloader) get() (*Config, *transport) {
	r.mu.Lock()
	defer r.mu.Unlock()
	stamp := stampOf(r.path)
	if stamp == r.stamp {
		return r.cfg, r.tr
	}
	r.stamp = stamp
	s, _, err := loadSettings(r.args, io.Discard)
	var cfg *Config
	var tr *transport
	if err == nil {
		cfg, tr, err = s.o.build(r.log)
	}
	if err != nil {
		r.log.WithError(err).Error("configuration not reloaded: keeping the one in use")
		return r.cfg, r.tr
	}
	if s.o.logTarget != r.current.logTarget || s.o.maxSessions != r.current.maxSessions ||
		s.o.maxPerAddress != r.current.maxPerAddress || s.o.deliverySocket != r.current.deliverySocket {
		r.log.Warn("configuration reloaded, but log, max-sessions, max-sessions-per-address and delivery-socket take effect at the next start")
	} else {
		r.log.Info("configuration reloaded")
	}
	cfg.ReadBuffer = r.cfg.ReadBuffer
	cfg.Shutdown = r.cfg.Shutdown
	r.cfg, r.tr = cfg, tr
	return cfg, tr
}
