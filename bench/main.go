// Command mppbench measures mppd side by side with the physical limit of
// what it does and with a peer, msmtpd, in one table of ratios and bounds
// taken in the same run (the machines are shared and noisy). bench/run.sh
// builds and calls it; BENCHMARKS.md keeps the latest table. Programs are
// started as inetd does (a TCP connection as fds 0, 1 and 2) and under
// systemd-socket-activate --accept.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// benchHash is the $6$ (sha512crypt, 5000 rounds: what chpasswd -c SHA512
// writes) hash of benchPassword, made with mkpasswd.
const (
	benchUser     = "bench"
	benchPassword = "bench password"
	benchHash     = "$6$benchsaltbenchsa$u53LMMs7h/6HFzpFAMbiH8VBvzI/AFOGpAF/UaCzlMdrXS34iNx0DThJBKUy7W9DH3yWIc9FDjcoyId7lVByR1"
	// The same password as yescrypt with libxcrypt's default cost (what
	// chpasswd writes on Debian 12), for figure 7: each check of it holds
	// 16 MiB.
	benchYescrypt = "$y$j9T$66r3f8V5uD2SyZIjbyXPF0$4XwsOsMiuG0InYMY0mC/sQecrgRh3g/lAQDrMPQDMv4"
)

// The delivery command of every program: a sink. mppd splits -sendmail at
// white space and appends "-f USER", which sh takes as $0 and $1; msmtpd
// appends the recipients, which the "#" makes a comment.
const (
	sinkShell  = "cat >/dev/null"
	mppdSink   = "/bin/sh -c cat>/dev/null"
	msmtpdSink = "cat >/dev/null #"
	pipeLimit  = "cat | cat >/dev/null"
	// The same bytes spooled as mppd spools them: written to a file in
	// /tmp in pieces of mppd's read buffer size, then read by the sink once
	// the input has ended; the file is removed after the exit, as mppd
	// closes its spool after the reply. What the spool-then-deliver design
	// costs by itself, before any work of mppd's.
	spoolLimit = `f=$(mktemp) && dd of="$f" bs=256k iflag=fullblock status=none && cat "$f" >/dev/null; (rm -f "$f" </dev/null >/dev/null 2>&1 &)`
)

type options struct {
	mppd, floor, msmtpd, activate string
	size, bigSize                 int64
	rounds                        int
	greetings                     int
	sessionTime                   time.Duration
	passBench                     string
	loginClients                  int           // figure 7: clients at once
	trickleFor                    time.Duration // figure 7: how long to watch a trickling client; 0: not
	only                          string        // figures to measure, "1,3"; "": all
	mppdFlags                     string        // more flags for mppd
	mppdEnv                       string        // environment for mppd under systemd-socket-activate
	conf                          string        // figure 3: the shipped mppd.conf; "": not measured
	dir                           string
}

// want says whether figure n (1 to 4, 7; the peer's rows go with them) is
// to be measured.
func (o *options) want(n int) bool {
	return o.only == "" || slices.Contains(strings.Split(o.only, ","), strconv.Itoa(n))
}

func main() {
	var o options
	flag.StringVar(&o.mppd, "mppd", "", "mppd `binary` to measure")
	flag.StringVar(&o.conf, "conf", "packaging/mppd.conf", "the shipped settings `file`, for the start with a configuration file (figure 3); empty: not measured")
	flag.StringVar(&o.floor, "floor", "", "minimal C `program` that writes one line to fd 3 (the process-start floor)")
	flag.StringVar(&o.msmtpd, "msmtpd", "/opt/msmtp/usr/bin/msmtpd", "the peer's `binary`; empty: no peer figures")
	flag.StringVar(&o.activate, "activate", "systemd-socket-activate", "systemd-socket-activate `binary`")
	size := flag.String("size", "128MiB", "message `size` for throughput")
	big := flag.String("big", "1GiB", "second message `size` for the memory figure; 0: skip")
	flag.IntVar(&o.rounds, "rounds", 5, "throughput rounds, each program once a round (ratios: the median of the rounds' own)")
	flag.IntVar(&o.greetings, "greetings", 200, "connections timed to the greeting, per program")
	flag.DurationVar(&o.sessionTime, "session-time", 2*time.Second, fmt.Sprintf("`duration` of each sessions-per-second run (%d runs each)", sessionRuns))
	flag.StringVar(&o.only, "only", "", "measure only these `figures` (1 throughput and memory, 3 start, 4 sessions, 7 clients that never log in), e.g. 1,3")
	flag.IntVar(&o.loginClients, "login-clients", 100, "figure 7: `clients` at once, each sending USER and a wrong PASS, or never logging in")
	flag.DurationVar(&o.trickleFor, "trickle-for", 0, "figure 7: watch a client that never logs in but sends NOOP every 2 s for at most this `duration` (0: not measured)")
	flag.StringVar(&o.mppdFlags, "mppd-flags", "", "more `flags` for mppd, split at white space (to compare settings)")
	flag.StringVar(&o.mppdEnv, "mppd-env", "GOMAXPROCS=1", "`VAR=value ...` for mppd under systemd-socket-activate (GOMAXPROCS=1: as systemd/mppd@.service sets it)")
	flag.StringVar(&o.passBench, "pass-bench", "", "`file` with the output of go test -bench PASSOverhead; empty: no PASS figures")
	flag.Parse()
	var err error
	if o.size, err = parseSize(*size); err == nil {
		o.bigSize, err = parseSize(*big)
	}
	if err != nil || o.mppd == "" || o.floor == "" {
		fmt.Fprintln(os.Stderr, "mppbench: need -mppd and -floor, and sizes like 128MiB:", err)
		os.Exit(64)
	}
	dir, err := os.MkdirTemp("", "mppbench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "mppbench:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	o.dir = dir
	t, err := run(&o, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mppbench:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	fmt.Print(t)
}

// parseSize reads "128MiB", "1GiB", "64KiB" or a number of bytes.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suffix) {
			s, mult = strings.TrimSuffix(s, suffix), m
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

func sizeName(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// row is one line of the table.
type row struct{ figure, value, target, detail string }

type table struct {
	header []string
	rows   []row
}

func (t *table) add(figure, value, target, detail string) {
	t.rows = append(t.rows, row{figure, value, target, detail})
}

func (t *table) String() string {
	var b strings.Builder
	for _, h := range t.header {
		b.WriteString(h + "\n")
	}
	b.WriteString("\n| figure | measured | target | detail |\n|---|---|---|---|\n")
	rows := slices.Clone(t.rows)
	slices.SortStableFunc(rows, func(a, b row) int { return strings.Compare(a.figure[:2], b.figure[:2]) })
	cell := strings.NewReplacer("|", `\|`).Replace // a | in a Markdown table cell
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", cell(r.figure), cell(r.value), cell(r.target), cell(r.detail))
	}
	return b.String()
}

func run(o *options, progress io.Writer) (*table, error) {
	say := func(format string, a ...any) { fmt.Fprintf(progress, "mppbench: "+format+"\n", a...) }
	passwd := filepath.Join(o.dir, "passwd")
	if err := os.WriteFile(passwd, []byte(benchUser+":"+benchHash+"\n"), 0o600); err != nil {
		return nil, err
	}
	// -config "": the figures do not depend on this machine's
	// /etc/mppd/mppd.conf (figure 3 measures a file of its own).
	mppdArgs := []string{o.mppd, "-config", "", "-passwd", passwd, "-sendmail", mppdSink,
		"-max-message-size", "0", "-hostname", "bench", "-fail-delay", "0"}
	mppdArgs = append(mppdArgs, strings.Fields(o.mppdFlags)...)
	msmtpdArgs := []string{o.msmtpd, "--inetd", "--log=none", "--command=" + msmtpdSink}

	t := &table{header: header(o)}

	if o.want(1) {
		if err := throughput(o, t, mppdArgs, msmtpdArgs, say); err != nil {
			return nil, err
		}
	}
	if o.want(3) || o.want(4) {
		if err := startAndSessions(o, t, mppdArgs, msmtpdArgs, say); err != nil {
			return nil, err
		}
	}

	if o.want(7) {
		if err := unauthenticated(o, t, mppdArgs, say); err != nil {
			return nil, err
		}
	}

	// 6: PASS over the bare hash verification.
	if o.passBench != "" {
		rows, err := passOverhead(o.passBench)
		if err != nil {
			return nil, err
		}
		t.rows = append(t.rows, rows...)
	} else {
		t.add("6. PASS / bare hash", "not measured", "", "no -pass-bench")
	}
	return t, nil
}

// throughput: figures 1, 2 and the peer's throughput and memory, the three
// programs taking turns.
func throughput(o *options, t *table, mppdArgs, msmtpdArgs []string, say func(string, ...any)) error {
	peer := o.msmtpd != ""
	say("throughput: %d rounds of %s", o.rounds, sizeName(o.size))
	// Each round runs every program once, back to back, and each ratio is
	// the median of the rounds' own ratios: a round's programs share
	// whatever else the machine was doing then.
	var pipe, spool, mpp, smtp rounds
	for r := 0; r < o.rounds; r++ {
		res, err := postInetd(pipeClient, []string{"/bin/sh", "-c", pipeLimit}, o.size)
		if err != nil {
			return fmt.Errorf("pipe limit: %w", err)
		}
		pipe = append(pipe, res)
		if res, err = postInetd(pipeClient, []string{"/bin/sh", "-c", spoolLimit}, o.size); err != nil {
			return fmt.Errorf("spool limit: %w", err)
		}
		spool = append(spool, res)
		if res, err = postInetd(mppProtocol.post, mppdArgs, o.size); err != nil {
			return fmt.Errorf("mppd: %w", err)
		}
		mpp = append(mpp, res)
		if peer {
			if res, err = postInetd(smtpProtocol.post, msmtpdArgs, o.size); err != nil {
				return fmt.Errorf("msmtpd: %w", err)
			}
			smtp = append(smtp, res)
		}
	}
	byTime := func(r result) time.Duration { return r.time }
	byCPU := func(r result) time.Duration { return r.cpu }
	t.add("1. throughput, "+sizeName(o.size)+": mppd / pipe limit", mpp.ratio(pipe, byTime), "≤ 1.2",
		fmt.Sprintf("medians of %d rounds: mppd %s (%s), `sh -c '%s'` %s (%s)", o.rounds,
			secs(mpp.median(byTime)), rate(o.size, mpp.median(byTime)), pipeLimit,
			secs(pipe.median(byTime)), rate(o.size, pipe.median(byTime))))
	t.add("1. throughput: spool limit / pipe limit", spool.ratio(pipe, byTime), "",
		fmt.Sprintf("what spooling in /tmp costs by itself: `sh -c '%s'` %s (%s)", spoolLimit,
			secs(spool.median(byTime)), rate(o.size, spool.median(byTime))))
	t.add("1. throughput: mppd / spool limit", mpp.ratio(spool, byTime), "",
		"mppd's own cost: the protocol, the unstuffing, the delivery command's start")
	t.add("1. CPU time, "+sizeName(o.size)+": mppd / pipe limit", mpp.ratio(pipe, byCPU), "",
		fmt.Sprintf("user+system of each program and its children: mppd and its delivery %s, the pipeline %s",
			secs(mpp.median(byCPU)), secs(pipe.median(byCPU))))
	mppRSS, smtpRSS := mpp.maxRSS(), smtp.maxRSS()

	var bigRSS int64
	if o.bigSize > 0 {
		say("memory: one post of %s", sizeName(o.bigSize))
		res, err := postInetd(mppProtocol.post, mppdArgs, o.bigSize)
		if err != nil {
			return fmt.Errorf("mppd, %s: %w", sizeName(o.bigSize), err)
		}
		bigRSS = res.rss
	}
	t.add("2. peak RSS, "+sizeName(o.size), mib(mppRSS), "≤ 16 MiB", "mppd's own VmHWM after the 250, highest of the rounds")
	if o.bigSize > 0 {
		t.add("2. peak RSS, "+sizeName(o.bigSize), mib(bigRSS), "≤ 16 MiB, flat",
			fmt.Sprintf("%s / %s = %.2f", sizeName(o.bigSize), sizeName(o.size), float64(bigRSS)/float64(mppRSS)))
	}

	if peer {
		t.add("5. throughput: mppd / msmtpd", mpp.ratio(smtp, byTime), "< 1",
			fmt.Sprintf("time for %s; msmtpd %s (%s), CPU %s", sizeName(o.size),
				secs(smtp.median(byTime)), rate(o.size, smtp.median(byTime)), secs(smtp.median(byCPU))))
		t.add("5. peak RSS: mppd / msmtpd", fmt.Sprintf("%.2f", float64(mppRSS)/float64(smtpRSS)), "",
			fmt.Sprintf("%s; msmtpd %s", sizeName(o.size), mib(smtpRSS)))
	}
	return nil
}

// rounds are one program's results, a round each.
type rounds []result

// ratio is the median over the rounds of this program's figure over other's.
func (rs rounds) ratio(other rounds, figure func(result) time.Duration) string {
	var q []float64
	for i := range rs {
		q = append(q, float64(figure(rs[i]))/float64(max(figure(other[i]), 1)))
	}
	return fmt.Sprintf("%.2f", median(q))
}

func (rs rounds) median(figure func(result) time.Duration) time.Duration {
	var ds []time.Duration
	for _, r := range rs {
		ds = append(ds, figure(r))
	}
	return median(ds)
}

func (rs rounds) maxRSS() int64 {
	var m int64
	for _, r := range rs {
		m = max(m, r.rss)
	}
	return m
}

// startAndSessions: figures 3, 4 and the peer's, under
// systemd-socket-activate --accept (and mppd -listen).
func startAndSessions(o *options, t *table, mppdArgs, msmtpdArgs []string, say func(string, ...any)) error {
	peer := o.msmtpd != ""
	floor, err := startActivate(o.activate, false, []string{o.floor})
	if err != nil {
		return err
	}
	defer floor.stop()
	mppdAccept, err := startActivate(o.activate, false, mppdArgs, strings.Fields(o.mppdEnv)...)
	if err != nil {
		return err
	}
	defer mppdAccept.stop()
	var smtpAccept *launcher
	if peer {
		if smtpAccept, err = startActivate(o.activate, true, msmtpdArgs); err != nil {
			return err
		}
		defer smtpAccept.stop()
	}
	if o.want(3) {
		var withConf *launcher
		if o.conf != "" {
			args, err := withConfigFile(o, mppdArgs)
			if err != nil {
				return err
			}
			if withConf, err = startActivate(o.activate, false, args, strings.Fields(o.mppdEnv)...); err != nil {
				return err
			}
			defer withConf.stop()
		}
		if err := start(o, t, floor, mppdAccept, smtpAccept, withConf, say); err != nil {
			return err
		}
	}
	if o.want(4) {
		return sessions(o, t, mppdArgs, mppdAccept, smtpAccept, say)
	}
	return nil
}

// start: figure 3, connect to greeting, the programs taking turns.
func start(o *options, t *table, floor, mppdAccept, smtpAccept, withConf *launcher, say func(string, ...any)) error {
	say("start: %d connections each to the greeting", o.greetings)
	var floorT, mppT, smtpT, confT []time.Duration
	for i := 0; i < o.greetings; i++ {
		for _, x := range []struct {
			l *launcher
			d *[]time.Duration
		}{{floor, &floorT}, {mppdAccept, &mppT}, {smtpAccept, &smtpT}, {withConf, &confT}} {
			if x.l == nil {
				continue
			}
			d, err := timeGreeting(x.l.addr)
			if err != nil {
				return fmt.Errorf("greeting of %s: %w", x.l.name, err)
			}
			*x.d = append(*x.d, d)
			// Let the process just served exit before the next starts: two
			// cores, and the figure is a start, not contention.
			time.Sleep(2 * time.Millisecond)
		}
	}
	t.add("3. exec to 220 greeting: mppd / C floor", ratio(median(mppT), median(floorT)), "as low as it goes",
		fmt.Sprintf("medians of %d: mppd %s, one-line C program %s (p90 %s / %s)", o.greetings,
			ms(median(mppT)), ms(median(floorT)), ms(pct(mppT, 90)), ms(pct(floorT, 90))))
	if withConf != nil {
		t.add("3. exec to 220: with the shipped mppd.conf / without", ratio(median(confT), median(mppT)), "≤ 1.05",
			fmt.Sprintf("the packaged file, every setting commented, and three set; median %s", ms(median(confT))))
	}
	if smtpAccept != nil {
		t.add("5. exec to greeting: mppd / msmtpd", ratio(median(mppT), median(smtpT)), "< 1",
			fmt.Sprintf("msmtpd median %s (`--accept --inetd`: it reads stdin)", ms(median(smtpT))))
	}
	return nil
}

// sessionRuns is how many times each server's sessions are counted.
const sessionRuns = 3

// sessions: figure 4, whole sessions from 2 clients at once.
func sessions(o *options, t *table, mppdArgs []string, mppdAccept, smtpAccept *launcher, say func(string, ...any)) error {
	say("sessions: 2 clients, %d runs of %v per server", sessionRuns, o.sessionTime)
	listenAddr, err := freeAddr()
	if err != nil {
		return err
	}
	listen, err := startListen(append(slices.Clone(mppdArgs), "-listen", listenAddr), listenAddr)
	if err != nil {
		return err
	}
	defer listen.stop()
	agent, agentArgs, err := startAgent(o, mppdArgs)
	if err != nil {
		return err
	}
	defer agent.stop()
	viaAgent, err := startActivate(o.activate, false, agentArgs, strings.Fields(o.mppdEnv)...)
	if err != nil {
		return err
	}
	defer viaAgent.stop()
	// The servers take turns; ratios are medians of each run's own.
	var acc, lis, smtp, lisOverAcc, accOverSMTP, agentOverAcc []float64
	for r := 0; r < sessionRuns; r++ {
		a, err := sessionRate(mppdAccept.addr, mppProtocol.session, o.sessionTime)
		if err != nil {
			return fmt.Errorf("mppd sessions (--accept): %w", err)
		}
		g, err := sessionRate(viaAgent.addr, mppProtocol.session, o.sessionTime)
		if err != nil {
			return fmt.Errorf("mppd sessions (--accept, through the delivery agent): %w", err)
		}
		agentOverAcc = append(agentOverAcc, g/a)
		l, err := sessionRate(listen.addr, mppProtocol.session, o.sessionTime)
		if err != nil {
			return fmt.Errorf("mppd sessions (-listen): %w", err)
		}
		acc, lis, lisOverAcc = append(acc, a), append(lis, l), append(lisOverAcc, l/a)
		if smtpAccept != nil {
			m, err := sessionRate(smtpAccept.addr, smtpProtocol.session, o.sessionTime)
			if err != nil {
				return fmt.Errorf("msmtpd sessions: %w", err)
			}
			smtp, accOverSMTP = append(smtp, m), append(accOverSMTP, a/m)
		}
	}
	t.add("4. sessions/s, --accept (a process each)", fmt.Sprintf("%.0f/s", median(acc)), "",
		fmt.Sprintf("connect, USER, PASS ($6$), DATA 4 KiB into `%s`, QUIT; 2 clients; median of %d runs of %v", sinkShell, sessionRuns, o.sessionTime))
	t.add("4. sessions/s, -listen / --accept", fmt.Sprintf("%.2f", median(lisOverAcc)), "",
		fmt.Sprintf("-listen %.0f/s", median(lis)))
	t.add("4. sessions/s, --accept through the delivery agent / direct", fmt.Sprintf("%.2f", median(agentOverAcc)), "≥ 0.90",
		"each message handed to mppd -delivery-agent (the systemd units' path) rather than run by the session")
	if smtpAccept != nil {
		t.add("5. sessions/s: mppd / msmtpd", fmt.Sprintf("%.2f", median(accOverSMTP)), "> 1",
			fmt.Sprintf("msmtpd %.0f/s (EHLO, MAIL, RCPT, DATA, QUIT; it checks no password)", median(smtp)))
	}
	return nil
}

func header(o *options) []string {
	host, _ := os.Hostname()
	var uts syscall.Utsname
	syscall.Uname(&uts)
	release := func(a [65]int8) string {
		var b []byte
		for _, c := range a {
			if c == 0 {
				break
			}
			b = append(b, byte(c))
		}
		return string(b)
	}
	fs := "?"
	if out, err := exec.Command("findmnt", "-n", "-o", "FSTYPE", "-T", os.TempDir()).Output(); err == nil {
		fs = strings.TrimSpace(string(out))
	}
	return []string{
		fmt.Sprintf("mppbench on %s: %d CPUs, Linux %s, %s; %s (spool) is %s; %s",
			host, runtime.NumCPU(), release(uts.Release), runtime.Version(), os.TempDir(), fs,
			time.Now().UTC().Format("2006-01-02 15:04 UTC")),
		fmt.Sprintf("message: %s of 76-character lines, every tenth dot-stuffed, CRLF", sizeName(o.size)),
	}
}

func ratio(a, b time.Duration) string { return fmt.Sprintf("%.2f", float64(a)/float64(b)) }
func secs(d time.Duration) string     { return fmt.Sprintf("%.3f s", d.Seconds()) }
func ms(d time.Duration) string       { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }
func mib(kib int64) string            { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }
func rate(n int64, d time.Duration) string {
	return fmt.Sprintf("%.0f MiB/s", float64(n)/(1<<20)/d.Seconds())
}

func median[T cmp.Ordered](v []T) T { return pct(v, 50) }

// pct is the p-th percentile of v, rounded down to one of its values (the
// median of an even count is the lower middle one).
func pct[T cmp.Ordered](v []T, p int) T {
	if len(v) == 0 {
		var zero T
		return zero
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

// The message: 76-character lines, every tenth starting with a dot (sent
// stuffed, "..", RFC 821 §4.5.2), CRLF line ends; made of one block of about
// 1 MiB sent again and again, so the driver holds no copy of the message.
func textBlock() []byte {
	line := strings.Repeat("abcdefghij", 8)[:76]
	var b bytes.Buffer
	for b.Len() < 1<<20-780 {
		for i := 0; i < 10; i++ {
			if i == 0 {
				b.WriteString(".." + line[2:] + "\r\n")
			} else {
				b.WriteString(line + "\r\n")
			}
		}
	}
	return b.Bytes()
}

var block = textBlock()

// writeText sends at least n bytes of message text (whole blocks), and the
// final dot when dot is set.
func writeText(w io.Writer, n int64, dot bool) error {
	for sent := int64(0); sent < n; sent += int64(len(block)) {
		if _, err := w.Write(block); err != nil {
			return err
		}
	}
	if dot {
		_, err := io.WriteString(w, ".\r\n")
		return err
	}
	return nil
}

// postInetd starts argv as inetd does, on a fresh TCP connection, runs
// client on the other end, and returns the time client measured and the
// child's peak RSS in KiB: its VmHWM when the text has been taken, since
// wait4's ru_maxrss holds the parent's high-water mark after a vfork.
func postInetd(client func(*conn, int64, func()) (time.Duration, error), argv []string, n int64) (res result, err error) {
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return res, err
	}
	defer l.Close()
	c, err := net.DialTCP("tcp", nil, l.Addr().(*net.TCPAddr))
	if err != nil {
		return res, err
	}
	defer c.Close()
	cmd, err := startOnConn(l, argv)
	if err != nil {
		return res, err
	}
	var peak int64
	var perr error
	d, cerr := client(newConn(c), n, func() { peak, perr = vmHWM(cmd.Process.Pid) })
	c.Close()
	werr := cmd.Wait()
	if cerr == nil {
		cerr = perr
	}
	if cerr != nil {
		return res, cerr
	}
	if werr != nil {
		return res, fmt.Errorf("%s: %v", argv[0], werr)
	}
	return result{d, peak, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}, nil
}

// result is one inetd-style post: the time the client measured, the peak
// RSS of the program in KiB, and the CPU time of the program and the
// children it waited for (its delivery command).
type result struct {
	time time.Duration
	rss  int64
	cpu  time.Duration
}

// vmHWM is a process's peak resident set size so far, in KiB.
func vmHWM(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM for pid %d", pid)
}

func startOnConn(l *net.TCPListener, argv []string) (*exec.Cmd, error) {
	s, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	f, err := s.File()
	s.Close()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, f
	cmd.Env = []string{} // inetd drops the environment
	return cmd, cmd.Start()
}

// conn is the client's end of a session.
type conn struct {
	c *net.TCPConn
	r *bufio.Reader
}

func newConn(c *net.TCPConn) *conn {
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	return &conn{c: c, r: bufio.NewReader(c)}
}

// expect reads one reply (the last line of a multi-line SMTP reply) and
// checks its code.
func (c *conn) expect(code string) error {
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("waiting for %s: %v (got %q)", code, err, line)
		}
		if strings.HasPrefix(line, code+"-") {
			continue
		}
		if !strings.HasPrefix(line, code+" ") {
			return fmt.Errorf("got %q, want %s", strings.TrimSpace(line), code)
		}
		return nil
	}
}

func (c *conn) cmd(line, code string) error {
	if _, err := io.WriteString(c.c, line+"\r\n"); err != nil {
		return err
	}
	return c.expect(code)
}

// steps runs command/reply pairs, stopping at the first failure.
func (c *conn) steps(pairs ...string) error {
	for i := 0; i < len(pairs); i += 2 {
		if err := c.cmd(pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// pipeClient sends the bytes and closes its sending side; the time runs
// until the pipeline has exited, which postInetd waits for.
func pipeClient(c *conn, n int64, _ func()) (time.Duration, error) {
	start := time.Now()
	if err := writeText(c.c, n, true); err != nil {
		return 0, err
	}
	c.c.CloseWrite()
	if _, err := io.Copy(io.Discard, c.r); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// protocol is the commands, each followed by the reply it wants, that lead
// up to a message's text.
type protocol []string

var (
	mppProtocol  = protocol{"USER " + benchUser, "250", "PASS " + benchPassword, "250", "DATA", "354"}
	smtpProtocol = protocol{"EHLO bench.test", "250", "MAIL FROM:<bench@bench.test>", "250",
		"RCPT TO:<sink@bench.test>", "250", "DATA", "354"}
)

// post posts one message; the time runs from the first byte of text to the
// 250 that says the delivery command took it. taken is called then.
func (p protocol) post(c *conn, n int64, taken func()) (time.Duration, error) {
	if err := c.expect("220"); err != nil {
		return 0, err
	}
	if err := c.steps(p...); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := writeText(c.c, n, true); err != nil {
		return 0, err
	}
	if err := c.expect("250"); err != nil {
		return 0, err
	}
	d := time.Since(start)
	taken()
	return d, c.cmd("QUIT", "221")
}

// launcher is a server the driver started: systemd-socket-activate or mppd
// -listen.
type launcher struct {
	name string
	addr string
	cmd  *exec.Cmd
	out  *lockedBuffer
}

func (l *launcher) stop() {
	if l == nil || l.cmd.Process == nil {
		return
	}
	l.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { l.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		l.cmd.Process.Kill()
		<-done
	}
}

// lockedBuffer keeps a launcher's output: it says when it listens, and
// why it failed.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 1<<20 {
		return len(p), nil
	}
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// freeAddr finds a free loopback port (others run tests on this machine).
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startActivate runs argv under systemd-socket-activate --accept, a process
// a connection; with inetd, the connection is on stdin and stdout
// (--inetd), else on fd 3.
func startActivate(activate string, inetd bool, argv []string, env ...string) (*launcher, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"-l", addr, "--accept"}
	if inetd {
		args = append(args, "--inetd")
	}
	for _, e := range env {
		args = append(args, "-E", e)
	}
	args = append(args, "--")
	args = append(args, argv...)
	l := &launcher{name: filepath.Base(argv[0]) + " under " + filepath.Base(activate), addr: addr,
		cmd: exec.Command(activate, args...), out: &lockedBuffer{}}
	l.cmd.Stdout, l.cmd.Stderr = l.out, l.out
	if err := l.cmd.Start(); err != nil {
		return nil, err
	}
	return l, l.waitFor("Listening on")
}

// startListen runs mppd -listen and waits until it says it listens.
func startListen(argv []string, addr string) (*launcher, error) {
	l := &launcher{name: "mppd -listen", addr: addr, cmd: exec.Command(argv[0], argv[1:]...), out: &lockedBuffer{}}
	l.cmd.Stdout, l.cmd.Stderr = l.out, l.out
	if err := l.cmd.Start(); err != nil {
		return nil, err
	}
	return l, l.waitFor("listening on")
}

func (l *launcher) waitFor(s string) error {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if strings.Contains(l.out.String(), s) {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	l.stop()
	return fmt.Errorf("%s did not start: %q", l.name, l.out.String())
}

// timeGreeting connects and times the first line.
func timeGreeting(addr string) (time.Duration, error) {
	start := time.Now()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	if !strings.HasPrefix(line, "220 ") {
		return 0, fmt.Errorf("greeting %q", line)
	}
	return d, nil
}

// small is the text of a session-rate post: the whole lines of the
// message that fit in 4 KiB.
var small = block[:4096-4096%78]

// session is one session of the sessions-per-second figure, its text small.
func (p protocol) session(c *conn) error {
	if err := c.expect("220"); err != nil {
		return err
	}
	if err := c.steps(p...); err != nil {
		return err
	}
	c.c.Write(small)
	return c.steps(".", "250", "QUIT", "221")
}

// sessionRate runs whole sessions from 2 clients at once for d and returns
// sessions per second.
func sessionRate(addr string, session func(*conn) error, d time.Duration) (float64, error) {
	var done atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	start := time.Now()
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				c, err := net.Dial("tcp", addr)
				if err == nil {
					err = session(newConn(c.(*net.TCPConn)))
					c.Close()
				}
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}

// passOverhead reads the output of go test -bench PASSOverhead: per hash
// kind, a PASS as the session handles it over the bare verification of the
// same hash, both timed in the same loop.
func passOverhead(path string) ([]row, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rows []row
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "BenchmarkPASSOverhead/") {
			continue
		}
		kind := strings.TrimPrefix(f[0], "BenchmarkPASSOverhead/")
		if i := strings.LastIndexByte(kind, '-'); i > 0 {
			kind = kind[:i] // GOMAXPROCS suffix
		}
		kind = strings.ReplaceAll(kind, "_", " ")
		metrics := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				metrics[f[i+1]] = v
			}
		}
		r, ok1 := metrics["pass/verify"]
		v, ok2 := metrics["verify-µs"]
		p, ok3 := metrics["pass-µs"]
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("%s: unexpected line %q", path, line)
		}
		rows = append(rows, row{"6. PASS / bare hash, " + kind, fmt.Sprintf("%.3f", r), "→ 1",
			fmt.Sprintf("PASS %.0f µs, hash %.0f µs: ours %.1f µs", p, v, p-v)})
	}
	if len(rows) == 0 {
		return nil, errors.New(path + ": no BenchmarkPASSOverhead lines")
	}
	return rows, nil
}

// unauthenticated: figure 7, what clients that never log in cost a
// -listen server (one process, goroutines), and a per-connection session.
func unauthenticated(o *options, t *table, mppdArgs []string, say func(string, ...any)) error {
	yescrypt := filepath.Join(o.dir, "passwd-yescrypt")
	if err := os.WriteFile(yescrypt, []byte(benchUser+":"+benchYescrypt+"\n"), 0o600); err != nil {
		return err
	}
	// The same flags, the yescrypt file last (the last -passwd counts).
	yArgs := append(slices.Clone(mppdArgs), "-passwd", yescrypt)
	n := max(o.loginClients, 1)

	// Memory: n clients from n addresses (127.0.0.1 to ...) at once, so
	// that no limit per address turns any away: USER x, PASS y.
	say("unauthenticated: %d clients at once, USER x / PASS y against yescrypt", n)
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	l, err := startListen(append(slices.Clone(yArgs), "-listen", addr), addr)
	if err != nil {
		return err
	}
	waits, refused, err := wrongPasswords(addr, n)
	if err != nil {
		l.stop()
		return err
	}
	peak, err := vmHWM(l.cmd.Process.Pid)
	l.stop()
	if err != nil {
		return err
	}
	t.add(fmt.Sprintf("7. peak RSS, %d clients' USER x / PASS y at once, -listen, yescrypt", n), mib(peak), "",
		fmt.Sprintf("mppd's VmHWM after the last 530, each client from its own 127.0.0.x; PASS to reply median %s, slowest %s (%d got no 530)",
			secs(median(waits)), secs(slices.Max(waits)), refused))

	// The same check in a process of its own, as under inetd or
	// Accept=yes: what one such session needs of a unit's memory.
	res, err := postInetd(func(c *conn, _ int64, taken func()) (time.Duration, error) {
		if err := c.expect("220"); err != nil {
			return 0, err
		}
		start := time.Now()
		if err := c.steps("USER x", "250", "PASS y", "530"); err != nil {
			return 0, err
		}
		d := time.Since(start)
		taken()
		return d, c.cmd("QUIT", "221")
	}, yArgs, 0)
	if err != nil {
		return fmt.Errorf("one session's yescrypt PASS: %w", err)
	}
	t.add("7. peak RSS, one --accept session's yescrypt PASS", mib(res.rss), "",
		"mppd's VmHWM after the 530, a process started on the connection as inetd does")

	// Slots: n clients from one address that never log in, then another
	// address that does.
	say("unauthenticated: %d clients from 127.0.0.1 that never log in", n)
	if addr, err = freeAddr(); err != nil {
		return err
	}
	if l, err = startListen(append(slices.Clone(mppdArgs), "-listen", addr), addr); err != nil {
		return err
	}
	defer l.stop()
	held, closeHeld, err := holdSessions(addr, n)
	if err != nil {
		return err
	}
	other := "served"
	if err := loginFrom(addr, net.IPv4(127, 0, 0, 200)); err != nil {
		other = "refused: " + err.Error()
	}
	closeHeld()
	t.add(fmt.Sprintf("7. sessions %d idle clients from one address hold, -listen", n), fmt.Sprintf("%d", held), "≤ 10",
		fmt.Sprintf("each read the greeting and sent USER x, then nothing; a login from 127.0.0.200 meanwhile: %s", other))

	if o.trickleFor > 0 {
		say("unauthenticated: one client sending NOOP every 2 s, for at most %v", o.trickleFor)
		d, last, err := trickleNOOP(addr, o.trickleFor)
		if err != nil {
			return err
		}
		t.add("7. time a client that never logs in keeps its session", fmt.Sprintf("%.0f s", d.Seconds()), "≤ 60 s",
			fmt.Sprintf("USER x, then NOOP every 2 s; last line %q", last))
	}
	return nil
}

// wrongPasswords connects n clients, each from its own loopback address,
// lets them all read the greeting, then has them send USER x and PASS y at
// the same moment. It returns the time from PASS to each 530, and how many
// got something else.
func wrongPasswords(addr string, n int) ([]time.Duration, int, error) {
	conns := make([]*conn, n)
	for i := range conns {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+i/250), byte(1+i%250))}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			return nil, 0, err
		}
		defer c.Close()
		conns[i] = newConn(c.(*net.TCPConn))
		if err := conns[i].expect("220"); err != nil {
			return nil, 0, err
		}
	}
	waits := make([]time.Duration, n)
	var refused atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t0 := time.Now()
			if err := c.steps("USER x", "250", "PASS y", "530"); err != nil {
				refused.Add(1)
			}
			waits[i] = time.Since(t0)
		}()
	}
	close(start)
	wg.Wait()
	return waits, int(refused.Load()), nil
}

// holdSessions opens n sessions from 127.0.0.1 that read the greeting and
// send USER x, and returns how many got a 220, and a function closing them.
func holdSessions(addr string, n int) (int, func(), error) {
	var conns []net.Conn
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	held := 0
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			closeAll()
			return 0, nil, err
		}
		conns = append(conns, c)
		cc := newConn(c.(*net.TCPConn))
		if cc.expect("220") == nil && cc.cmd("USER x", "250") == nil {
			held++
		}
	}
	return held, closeAll, nil
}

// loginFrom logs in from the address ip (USER, PASS of the bench user).
func loginFrom(addr string, ip net.IP) error {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	cc := newConn(c.(*net.TCPConn))
	if err := cc.expect("220"); err != nil {
		return err
	}
	return cc.steps("USER "+benchUser, "250", "PASS "+benchPassword, "250", "QUIT", "221")
}

// trickleNOOP is a client that never logs in but is never idle: USER x,
// then NOOP every 2 s. It returns how long mppd kept the session (at most
// limit: then it still had it) and the last line it got.
func trickleNOOP(addr string, limit time.Duration) (time.Duration, string, error) {
	// The sessions just closed may still hold their slots for a moment.
	var c net.Conn
	var r *bufio.Reader
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var err error
		if c, err = net.Dial("tcp", addr); err != nil {
			return 0, "", err
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		r = bufio.NewReader(c)
		greeting, err := r.ReadString('\n')
		if strings.HasPrefix(greeting, "220 ") {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			return 0, "", fmt.Errorf("no session for the trickling client: %q %v", greeting, err)
		}
	}
	defer c.Close()
	start := time.Now()
	c.SetReadDeadline(start.Add(limit))
	ended := make(chan struct{})
	go func() {
		for line := "USER x"; ; line = "NOOP" {
			if _, err := io.WriteString(c, line+"\r\n"); err != nil {
				return
			}
			select {
			case <-ended:
				return
			case <-time.After(2 * time.Second):
			}
		}
	}()
	defer close(ended)
	last, lastAt := "", time.Duration(0)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if strings.HasPrefix(last, "451 ") {
				return lastAt, last, nil // mppd's last reply
			}
			return time.Since(start), last, nil
		}
		last, lastAt = strings.TrimSpace(line), time.Since(start)
	}
}

// withConfigFile is mppdArgs reading a copy of the shipped mppd.conf (its
// settings all commented out) with three settings of its own, at their
// defaults, instead of none: what the file costs a process at start.
func withConfigFile(o *options, mppdArgs []string) ([]string, error) {
	shipped, err := os.ReadFile(o.conf)
	if err != nil {
		return nil, err
	}
	p := filepath.Join(o.dir, "mppd.conf")
	text := string(shipped) + "idle-timeout = 5m\nmax-errors = 10\nfrom-policy = sender\n"
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		return nil, err
	}
	if err := os.Chmod(p, 0o644); err != nil {
		return nil, err
	}
	args := slices.Clone(mppdArgs)
	for i := range args {
		if args[i] == "-config" {
			args[i+1] = p
		}
	}
	return args, nil
}
