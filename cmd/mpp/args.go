package main

import "strings"

// usagef is a command line mpp cannot run: exit 64 (EX_USAGE).
func usagef(format string, a ...any) error {
	return fail(exUsage, format+" (mpp --help for usage)", a...)
}

// options is what the command line asks for.
type options struct {
	extract    bool   // -t: recipients come from the headers
	ignoreDots bool   // -i, -oi: a line "." does not end the message
	verbose    bool   // -v: the dialogue on stderr
	smtp       bool   // -bs: SMTP on stdin and stdout (the bridge)
	configFile string // -C FILE: this file instead of the usual two
	help       bool
	version    bool
	settings   map[string]string // --host and the like: override the config files
	ignored    []string          // sendmail options accepted and ignored, for -v
	recipients []string
}

// longOptions are mpp's own options, --name=value or --name value, each the
// config file key of the same name (with "-" for "_").
var longOptions = map[string]bool{
	"host": true, "port": true, "tls": true, "tls-trust-file": true,
	"tls-host-override": true, "user": true, "passwordeval": true, "timeout": true,
}

// sendmail(8) options that take a value (sendmail's getopt string, with
// Postfix's additions). The value is glued on or the next argument.
const sendmailWithValue = "BbCdeFfhLMNOopqRrVX"

// Why options that would change what sendmail does are refused: MPP has a
// single verb, post one message under the proven user.
var refusedModes = map[string]string{
	"a": "ARPANET mode (-ba)",
	"d": "running as a daemon (-bd; mpp smtpd listens for SMTP)",
	"D": "running as a daemon (-bD; mpp smtpd listens for SMTP)",
	"h": "the persistent host status (-bh)",
	"H": "the persistent host status (-bH)",
	"i": "alias databases (-bi; no newaliases here)",
	"l": "running as a daemon (-bl)",
	"P": "queue summaries (-bP)",
	"p": "a mail queue (-bp; mpp keeps none)",
	"t": "address test mode (-bt)",
	"v": "address verification (-bv)",
}

// parseArgs reads a sendmail(8) command line: what means something for MPP
// is honoured, options that make no sense for it (-f, -F, -o..., DSN
// options) are accepted and ignored so that programs written for sendmail
// work unchanged, and the modes MPP cannot offer (-bs, -bp, -q, ...) are
// refused with a message saying so.
func parseArgs(args []string) (*options, error) {
	o := &options{settings: map[string]string{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			o.recipients = append(o.recipients, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "--"):
			name, value, hasValue := strings.Cut(a[2:], "=")
			switch name {
			case "help":
				o.help = true
				continue
			case "version":
				o.version = true
				continue
			}
			if !longOptions[name] {
				return nil, usagef("unknown option --%s", name)
			}
			if !hasValue {
				if i+1 >= len(args) {
					return nil, usagef("--%s needs a value", name)
				}
				i++
				value = args[i]
			}
			o.settings[strings.ReplaceAll(name, "-", "_")] = value
		case len(a) > 1 && a[0] == '-':
			next, err := o.shortOptions(a[1:], args[i+1:])
			if err != nil {
				return nil, err
			}
			i += next
		default:
			o.recipients = append(o.recipients, a)
		}
	}
	if o.smtp && len(o.recipients) > 0 {
		return nil, usagef("-bs takes no recipients: they come with RCPT TO")
	}
	if !o.extract && len(o.recipients) == 0 && !o.help && !o.version && !o.smtp {
		return nil, usagef("no recipients: give them on the command line, or use -t to take them from the header")
	}
	return o, nil
}

// shortOptions handles one argument of single-letter options ("-ti",
// "-oi", "-f addr"). It returns how many of the following arguments it
// took as a value.
func (o *options) shortOptions(letters string, rest []string) (int, error) {
	for j := 0; j < len(letters); j++ {
		c := letters[j]
		if strings.IndexByte(sendmailWithValue, c) >= 0 {
			value, took := letters[j+1:], 0
			if value == "" && c != 'q' {
				if len(rest) == 0 {
					return 0, usagef("-%c needs a value", c)
				}
				value, took = rest[0], 1
			}
			return took, o.valueOption(c, value)
		}
		switch c {
		case 't':
			o.extract = true
		case 'i':
			o.ignoreDots = true
		case 'v':
			o.verbose = true
		case 'm', 'n', 'U', 'G', 's':
			// -m (me too), -n (no aliasing), -U (initial submission), -G
			// (gateway), -s (old): nothing to do over MPP.
			o.ignored = append(o.ignored, "-"+string(c))
		case 'I':
			return 0, usagef("-I: mpp has no alias databases (it only posts mail)")
		default:
			return 0, usagef("unknown option -%c", c)
		}
	}
	return 0, nil
}

func (o *options) valueOption(c byte, v string) error {
	switch c {
	case 'C':
		o.configFile = v
	case 'o':
		// Old-style sendmail options: -oi is -i; the rest (-oem, -odi,
		// -om...) concern the local sendmail's own behaviour.
		if v == "i" || v == "i=true" || v == "i=True" {
			o.ignoreDots = true
		} else {
			o.ignored = append(o.ignored, "-o"+v)
		}
	case 'b':
		switch v {
		case "m":
			// -bm: read a message and deliver it, which is what mpp does
		case "s":
			o.smtp = true
		default:
			if why, ok := refusedModes[v]; ok {
				return usagef("-b%s: mpp only posts one message; it does not offer %s", v, why)
			}
			return usagef("unknown mode -b%s", v)
		}
	case 'q':
		return usagef("-q%s: mpp keeps no queue (each message is posted at once or refused)", v)
	case 'f', 'r':
		// The envelope sender is the user who logged in: MPP exists so that
		// no one can post as someone else (RFC 1204 §1).
		o.ignored = append(o.ignored, "-"+string(c)+" "+v+" (the sender is the user who logs in)")
	default:
		// -F full name, -B body type, -N/-R/-V DSN, -X traffic log, -L
		// syslog tag, -h hop count, -p protocol, -O option, -M macro, -d
		// debug, -e error mode: the server's mail system decides these.
		o.ignored = append(o.ignored, "-"+string(c)+" "+v)
	}
	return nil
}
