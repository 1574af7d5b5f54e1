package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/mppd/mppd/internal/mpp"
)

// configErrorf is a configuration mpp cannot work with: exit 78 (EX_CONFIG).
func configErrorf(format string, a ...any) error { return fail(exConfig, format, a...) }

// config is everything needed to reach the server and log in.
type config struct {
	host         string
	port         int         // 0: mpp.DefaultPort, or mpp.DefaultTLSPort with TLS
	servers      []hostEntry // host, parsed; the servers to try (failover.go)
	tls          bool
	trustFile    string        // CA certificates (PEM); "": the system's
	hostOverride string        // name the certificate must carry; "": host
	user         string        // "": the login name
	passwordeval string        // command printing the password; "": ask on the terminal
	timeout      time.Duration // each wait for the server
	sources      []string      // files read, for -v
}

// maxConfigFile bounds what is read of a config file.
const maxConfigFile = 1 << 20

// userConfigFile is $XDG_CONFIG_HOME/mpp/config, else ~/.config/mpp/config
// (on macOS too, as msmtp and git have it); on Windows
// %APPDATA%\mpp\config.
func userConfigFile() string {
	if d := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "mpp", "config")
	}
	if runtime.GOOS == "windows" {
		if d, err := os.UserConfigDir(); err == nil {
			return filepath.Join(d, "mpp", "config")
		}
		return ""
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".config", "mpp", "config")
	}
	return ""
}

// defaultConfigFiles are read in this order when -C is not given.
func defaultConfigFiles() []string {
	files := []string{systemConfig}
	if f := userConfigFile(); f != "" {
		files = append(files, f)
	}
	return files
}

// loadConfig reads the config files (only -C FILE if given, else files, of
// which those missing are skipped), then applies the command line's
// settings.
func loadConfig(o *options, files []string) (*config, error) {
	c := &config{timeout: 60 * time.Second}
	if o.configFile != "" {
		if err := c.readFile(o.configFile, true); err != nil {
			return nil, err
		}
	} else {
		for _, f := range files {
			if err := c.readFile(f, false); err != nil {
				return nil, err
			}
		}
	}
	for k, v := range o.settings {
		if err := c.set(k, v); err != nil {
			return nil, configErrorf("--%s: %v", strings.ReplaceAll(k, "_", "-"), err)
		}
	}
	if c.host == "" {
		return nil, configErrorf("no server: set \"host\" in %s or %s, or give --host", userConfigFile(), systemConfig)
	}
	if c.port == 0 {
		c.port = mpp.DefaultPort
		if c.tls {
			c.port = mpp.DefaultTLSPort
		}
	}
	var err error
	if c.servers, err = parseHosts(c.host, c.port); err != nil {
		return nil, err
	}
	if c.user == "" {
		c.user = loginName()
	}
	if c.user == "" {
		return nil, configErrorf("no user name: set \"user\" in the config file or give --user")
	}
	return c, nil
}

// readFile reads "key value" lines ("key = value" too); "#" starts a
// comment line. A file that does not exist is skipped unless it was named
// with -C.
func (c *config) readFile(path string, mustExist bool) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && !mustExist {
		return nil
	}
	if err != nil {
		return configErrorf("%v", err)
	}
	defer f.Close()
	c.sources = append(c.sources, path)
	sc := bufio.NewScanner(&limitedReader{f: f, n: maxConfigFile})
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		key, value := line, ""
		if i := strings.IndexAny(line, " \t="); i >= 0 {
			key = line[:i]
			value = strings.TrimSpace(line[i:])
			value = strings.TrimSpace(strings.TrimPrefix(value, "="))
		}
		value, err := unquote(value)
		if err != nil {
			return configErrorf("%s:%d: %v", path, n, err)
		}
		if err := c.set(key, value); err != nil {
			return configErrorf("%s:%d: %v", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return configErrorf("%s: %v", path, err)
	}
	return nil
}

// unquote removes the double quotes around a value, as msmtp allows them
// (passwordeval "gpg -q -d ~/.mpp-password.gpg"); inside, \" and \\ stand
// for " and \.
func unquote(v string) (string, error) {
	if !strings.HasPrefix(v, "\"") {
		return v, nil
	}
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		switch v[i] {
		case '\\':
			if i+1 < len(v) {
				i++
			}
			b.WriteByte(v[i])
		case '"':
			if i != len(v)-1 {
				return "", errors.New("text after the closing quote")
			}
			return b.String(), nil
		default:
			b.WriteByte(v[i])
		}
	}
	return "", errors.New("no closing quote")
}

// set applies one setting from a file or the command line.
func (c *config) set(key, value string) error {
	switch key {
	case "host":
		c.host = value
	case "port":
		p, err := strconv.Atoi(value)
		if err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("port %q: not a port number", value)
		}
		c.port = p
	case "tls":
		switch strings.ToLower(value) {
		case "on":
			c.tls = true
		case "off":
			c.tls = false
		default:
			return fmt.Errorf("tls %q: on or off", value)
		}
	case "tls_trust_file":
		c.trustFile = value
	case "tls_host_override":
		c.hostOverride = value
	case "user":
		c.user = value
	case "passwordeval":
		c.passwordeval = value
	case "timeout":
		d, err := time.ParseDuration(value)
		if err != nil {
			// msmtp gives seconds as a bare number
			s, err2 := strconv.Atoi(value)
			if err2 != nil {
				return fmt.Errorf("timeout %q: a duration such as 30s", value)
			}
			d = time.Duration(s) * time.Second
		}
		if d <= 0 {
			return fmt.Errorf("timeout %q: must be positive", value)
		}
		c.timeout = d
	case "password":
		return errors.New("\"password\" is not supported: use passwordeval, or let mpp ask on the terminal")
	default:
		return fmt.Errorf("unknown setting %q", key)
	}
	return nil
}

// loginName is the name of the user running mpp: by default the identity
// it posts under.
func loginName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		// Windows says DOMAIN\name
		return u.Username[strings.LastIndexByte(u.Username, '\\')+1:]
	}
	for _, v := range []string{"LOGNAME", "USER"} {
		if s := os.Getenv(v); s != "" {
			return s
		}
	}
	return ""
}

// limitedReader fails once more than n bytes have been read: a config file
// is small, and a huge one is a mistake.
type limitedReader struct {
	f *os.File
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("file too large")
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.f.Read(p)
	l.n -= int64(n)
	return n, err
}
