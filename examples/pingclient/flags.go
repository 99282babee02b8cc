package main

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/internal/durfmt"
	"github.com/pushbeat/pushbeat/internal/enum"
)

// Environment variables that carry secrets: never flags, so they do not
// show in ps or shell history, and never printed.
const (
	envEASPassword   = "PUSHBEAT_EAS_PASSWORD"
	envAuthorization = "PUSHBEAT_AUTHORIZATION"
)

// Demo defaults (SPEC E1): the Direct Push documentation's 15-minute network, mail every hour
// on average, 300 times faster than life (1 s stands for 5 min), for a
// minute. At this scale the Adaptive tuner's whole story (8m, 8m, 13m,
// 13m, 18m times out, 13m, 13m, 15m30s times out, 13m, 13m, settled at
// 14m15s) takes about 30 s of the minute; more frequent mail interrupts
// more pings and would push the settling past the end. The demo's
// Resolution is 2m rather than the library's 30s, so that every interval
// the story tries is at least 30 s of story time (100 ms here) from the
// timeout: with 30s it settled 7.5 s (25 ms here) below it and probed
// 11.25 s (37.5 ms) above, closer than a loaded machine keeps its timers.
const (
	defaultScale          = 300
	defaultIdleTimeout    = 15 * time.Minute
	defaultDemoResolution = 2 * time.Minute
	defaultMail           = time.Hour
	defaultDemoRun        = time.Minute
)

// mode is what the client talks to.
type mode int

const (
	demoMode mode = iota // an embedded pingtest server behind a middlebox
	urlMode              // a server of the default JSON protocol
	easMode              // an Exchange ActiveSync server
	imapMode             // an IMAP server, with IDLE
)

var modeNames = [...]string{demoMode: "demo", urlMode: "url", easMode: "eas", imapMode: "imap"}

func (m mode) String() string { return enum.Name("mode", m, modeNames[:]) }

// options are the parsed and checked flags. Durations of the tuner and the
// backoff policy are in story time: the demo divides them by scale.
type options struct {
	mode     mode
	duration time.Duration // 0: until Ctrl-C
	json     bool

	tuner   heartbeat.Config
	backoff backoff.Policy
	folders []string
	network string
	state   string

	url          string // -url or -eas
	insecureHTTP bool
	roots        *x509.CertPool // from -cacert; nil: the system's
	user, device string
	password     string // EAS, from the environment
	auth         string // -url, from the environment
	imap         imapOptions

	scale       float64 // story seconds per second; 1 outside the demo
	idleTimeout time.Duration
	mail        time.Duration
	seed        uint64
}

// usageError is a bad flag or value: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

const usageHead = `Usage: pingclient [flags]

pingclient holds push pings open with pushbeat's heartbeat tuner and backoff
rules, and shows what they decide.

With no -url or -eas it runs a demo: a TLS ping server on loopback behind a
middlebox that silently drops connections idle longer than -idle-timeout,
mail arriving at random, and every time scaled down by -scale so that the
tuner's discovery of the timeout and its settling fit in about a minute.

With -url https://host/path it pings a server of pushbeat's JSON long-poll
protocol (docs/protocol.md in the repository); the Authorization header, if
one is needed, comes from the environment variable ` + envAuthorization + `.

With -eas https://host/Microsoft-Server-ActiveSync -user NAME -device ID it
runs Exchange ActiveSync Direct Push: FolderSync, an initial Sync of the
pinged folders, then Ping. The password comes from the environment variable
` + envEASPassword + `, never from a flag.

With -imap imaps://host[:port]/MAILBOX -user NAME it holds IMAP IDLE on the
mailbox (imap:// for STARTTLS) and prints the subjects of new messages. The
password comes from the environment variable ` + envIMAPPassword + `.

Durations are Go durations (90s, 8m, 1h30m). In the demo they are story
time: -min 8m is 8 minutes of the story, 1.6 s of the run at -scale 300.
Ctrl-C ends the run with its summary.
`

// flagGroups orders the flags in the help text.
var flagGroups = []struct {
	title string
	names []string
}{
	{"Run", []string{"duration", "json", "folders", "network", "state"}},
	{"Heartbeat tuner", []string{"strategy", "default", "min", "max", "increment", "buffer", "confirmations",
		"resolution", "ceiling-ttl", "unworkable-after"}},
	{"Backoff", []string{"backoff-base", "backoff-cap", "backoff-schedule"}},
	{"Server (-url, -eas)", []string{"url", "insecure-http", "cacert"}},
	{"Exchange ActiveSync (-eas)", []string{"eas", "user", "device"}},
	{"IMAP (-imap, with -user and -cacert)", []string{"imap"}},
	{"Demo only", []string{"scale", "idle-timeout", "mail", "seed"}},
}

// parse parses and checks args. It returns flag.ErrHelp after printing the
// help to stdout, a *usageError for anything wrong (exit 2), and otherwise
// the options.
func parse(args []string, stdout io.Writer) (options, error) {
	fs := flag.NewFlagSet("pingclient", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		o options
		r rawFlags
	)
	defineFlags(fs, &o, &r)
	d := &o.tuner
	fs.Usage = func() {} // the help goes to stdout on -h only; run reports errors
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(fs, stdout)
			return o, err
		}
		return o, usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return o, usagef("unexpected argument %q: every setting is a flag", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	// Mode, and flags that belong to another mode.
	switch {
	case o.url != "" && r.easURL != "":
		return o, usagef("-url and -eas exclude each other")
	case r.imapURL != "" && (o.url != "" || r.easURL != ""):
		return o, usagef("-imap excludes -url and -eas")
	case r.imapURL != "":
		o.mode = imapMode
	case r.easURL != "":
		o.mode, o.url = easMode, r.easURL
	case o.url != "":
		o.mode = urlMode
	}
	for _, g := range flagGroups {
		for _, name := range g.names {
			if !set[name] {
				continue
			}
			switch {
			case g.title == "Demo only" && o.mode != demoMode:
				return o, usagef("-%s applies to the demo only, not with -url or -eas", name)
			case (name == "insecure-http" || name == "cacert") && o.mode == demoMode:
				return o, usagef("-%s applies with -url or -eas only (the demo verifies its own server's certificate)", name)
			case name == "user" && o.mode == imapMode, name == "cacert" && o.mode == imapMode:
			case name == "insecure-http" && o.mode == imapMode:
				return o, usagef("-insecure-http does not apply with -imap: use imaps:// or imap:// (STARTTLS)")
			case (name == "user" || name == "device") && o.mode != easMode:
				return o, usagef("-%s applies with -eas only", name)
			}
		}
	}
	if o.mode == demoMode {
		if o.duration == 0 {
			o.duration = defaultDemoRun
		}
		if !set["resolution"] {
			d.Resolution = defaultDemoResolution
		}
	} else {
		o.scale = 1
	}

	// Values.
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"duration", o.duration}, {"default", d.Default}, {"min", d.Min}, {"max", d.Max}, {"increment", d.Increment},
		{"buffer", d.Buffer}, {"resolution", d.Resolution}, {"backoff-base", o.backoff.Base}, {"backoff-cap", o.backoff.Cap},
		{"idle-timeout", o.idleTimeout}, {"mail", o.mail},
	} {
		if f.v < 0 {
			return o, usagef("-%s %v: must not be negative", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"confirmations", r.confirmations}, {"ceiling-ttl", r.ttl}, {"unworkable-after", r.unwk}} {
		if f.v < 1 {
			return o, usagef("-%s %d: must be at least 1", f.name, f.v)
		}
	}
	for _, name := range []string{"min", "max", "increment", "buffer", "backoff-base", "backoff-cap"} {
		if v := fs.Lookup(name).Value.(flag.Getter).Get().(time.Duration); v == 0 {
			return o, usagef("-%s 0: must be positive", name)
		}
	}
	if d.Min > d.Max {
		return o, usagef("-min %v is above -max %v", d.Min, d.Max)
	}
	if d.Default != 0 && (d.Default < d.Min || d.Default > d.Max) {
		return o, usagef("-default %v is outside -min %v to -max %v", d.Default, d.Min, d.Max)
	}
	if o.backoff.Cap < o.backoff.Base {
		return o, usagef("-backoff-cap %v is below -backoff-base %v", o.backoff.Cap, o.backoff.Base)
	}
	s, err := heartbeat.ParseStrategy(r.strategy)
	if err != nil {
		return o, usagef("-strategy %q: want adaptive or classic", r.strategy)
	}
	d.Strategy, d.Confirmations, d.CeilingTTL, d.UnworkableAfter = s, r.confirmations, r.ttl, r.unwk
	switch r.schedule {
	case backoff.Linear.String():
		o.backoff.Schedule = backoff.Linear
	case backoff.ExponentialJitter.String():
		o.backoff.Schedule = backoff.ExponentialJitter
	default:
		return o, usagef("-backoff-schedule %q: want linear or exponential-jitter", r.schedule)
	}
	if math.IsNaN(o.scale) || math.IsInf(o.scale, 0) || o.scale < 1 || o.scale > 1e6 {
		return o, usagef("-scale %v: want a number from 1 (real time) to 1000000", o.scale)
	}
	if r.folders != "" {
		for f := range strings.SplitSeq(r.folders, ",") {
			if f = strings.TrimSpace(f); f != "" {
				o.folders = append(o.folders, f)
			}
		}
		if len(o.folders) == 0 {
			return o, usagef("-folders %q names no folder", r.folders)
		}
	}
	if o.mode == demoMode {
		if o.folders == nil {
			o.folders = []string{"inbox"}
		}
		return o, nil
	}

	// The server.
	if o.mode == imapMode {
		return o, parseIMAP(&o, r.imapURL, r.cacert)
	}
	name := "-" + o.mode.String()
	if err := checkURL(name, o.url, o.insecureHTTP); err != nil {
		return o, err
	}
	if r.cacert != "" {
		if o.roots, err = loadRoots(r.cacert); err != nil {
			return o, err
		}
	}
	if o.mode == urlMode {
		o.auth = os.Getenv(envAuthorization)
		return o, nil
	}
	switch o.password = os.Getenv(envEASPassword); {
	case o.user == "":
		return o, usagef("-eas needs -user")
	case o.device == "":
		return o, usagef("-eas needs -device")
	case o.password == "":
		return o, usagef("-eas needs the password in the environment variable %s", envEASPassword)
	}
	return o, nil
}

// rawFlags are flag values that parse turns into options.
type rawFlags struct {
	strategy, schedule, folders, cacert, easURL string
	imapURL                                     string
	confirmations, ttl, unwk                    int
}

// defineFlags defines every flag on fs.
func defineFlags(fs *flag.FlagSet, o *options, r *rawFlags) {
	d := &o.tuner
	fs.DurationVar(&o.duration, "duration", 0, "how long to run; 0 means "+durfmt.Rounded(defaultDemoRun)+" in the demo, until Ctrl-C otherwise")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per event per line, ending with a summary object")
	fs.StringVar(&r.folders, "folders", "", "comma-separated `list` of folders to watch (demo: \"inbox\"; -url: all; -eas: the inbox, else every mail folder)")
	fs.StringVar(&o.network, "network", "", "network `identity` for the tuner's per-network memory, e.g. wifi:home or cell:310-260")
	fs.StringVar(&o.state, "state", "", "load learned intervals from this `file` at start, save them after each change and at exit; it must be a regular file (or not exist yet) in an existing directory")

	fs.StringVar(&r.strategy, "strategy", heartbeat.Adaptive.String(), "tuner `strategy`: adaptive or classic")
	fs.DurationVar(&d.Default, "default", 0, "interval of the first ping on a new network; 0 means -min")
	fs.DurationVar(&d.Min, "min", heartbeat.DefaultMin, "smallest heartbeat interval")
	fs.DurationVar(&d.Max, "max", heartbeat.DefaultMax, "largest heartbeat interval")
	fs.DurationVar(&d.Increment, "increment", heartbeat.DefaultIncrement, "largest single increase of the interval")
	fs.DurationVar(&d.Buffer, "buffer", heartbeat.DefaultBuffer, "how long past the interval to wait for an answer before the ping counts as timed out")
	fs.IntVar(&r.confirmations, "confirmations", heartbeat.DefaultConfirmations, "full-length pings at an interval before it is increased")
	fs.DurationVar(&d.Resolution, "resolution", 0, "adaptive: stop probing when this close below an interval that failed; 0 means the library's rule, 1/32 of that interval and at most "+durfmt.Rounded(heartbeat.DefaultResolution)+" (the demo's is "+durfmt.Rounded(defaultDemoResolution)+" unless set)")
	fs.IntVar(&r.ttl, "ceiling-ttl", heartbeat.DefaultCeilingTTL, "adaptive: full-length pings before probing above a failed interval again")
	fs.IntVar(&r.unwk, "unworkable-after", heartbeat.DefaultUnworkableAfter, "timeouts in a row at the smallest interval before push counts as unworkable")

	fs.DurationVar(&o.backoff.Base, "backoff-base", backoff.DefaultBase, "base of the wait after failed attempts: the n-th failure waits n to 2n times it")
	fs.DurationVar(&o.backoff.Cap, "backoff-cap", backoff.DefaultCap, "longest wait after failed attempts")
	fs.StringVar(&r.schedule, "backoff-schedule", backoff.Linear.String(), "how the waits grow with failures, `schedule` linear or exponential-jitter")

	fs.StringVar(&o.url, "url", "", "ping this `URL` of a JSON-protocol server instead of running the demo")
	fs.BoolVar(&o.insecureHTTP, "insecure-http", false, "allow a plain http:// URL (credentials and mail travel unencrypted)")
	fs.StringVar(&r.cacert, "cacert", "", "also trust the CA certificates in this PEM `file` (a private CA)")

	fs.StringVar(&r.easURL, "eas", "", "run EAS Direct Push against this `URL`, e.g. https://host/Microsoft-Server-ActiveSync")
	fs.StringVar(&o.user, "user", "", "EAS or IMAP user `name`, e.g. alice or DOMAIN\\alice")
	fs.StringVar(&r.imapURL, "imap", "", "watch this IMAP mailbox `URL` with IDLE: imaps://host[:port]/MAILBOX, or imap:// for STARTTLS")
	fs.StringVar(&o.device, "device", "", "EAS device `id`; keep it the same across runs (the server keeps state per device)")

	fs.Float64Var(&o.scale, "scale", defaultScale, "demo: time runs this `factor` faster than life")
	fs.DurationVar(&o.idleTimeout, "idle-timeout", defaultIdleTimeout, "demo: the middlebox silently drops connections idle longer than this; 0 means never")
	fs.DurationVar(&o.mail, "mail", defaultMail, "demo: mean time between mails, arriving at random (Poisson); 0 means no mail")
	fs.Uint64Var(&o.seed, "seed", 1, "demo: seed `n` of the random mail arrivals")

}

// checkURL accepts https URLs, and http ones with -insecure-http. It never
// repeats credentials found in the URL.
func checkURL(flagName, raw string, insecure bool) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return usagef("%s: not a URL", flagName)
	case u.User != nil:
		return usagef("%s: the URL carries a user name or password; pass credentials through the environment (%s, %s)",
			flagName, envAuthorization, envEASPassword)
	case u.Host == "":
		return usagef("%s %s: no host", flagName, u.Redacted())
	case u.Scheme == "https":
	case u.Scheme == "http" && !insecure:
		return usagef("%s %s is plain HTTP: use https, or add -insecure-http to allow it", flagName, u.Redacted())
	case u.Scheme != "http":
		return usagef("%s %s: scheme must be https (or http with -insecure-http)", flagName, u.Redacted())
	}
	return nil
}

// loadRoots returns the system's roots plus the certificates in a PEM file.
func loadRoots(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("-cacert: %v", err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, usagef("-cacert %s: no PEM certificate in it", path)
	}
	return roots, nil
}

func printUsage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprint(w, usageHead)
	for _, g := range flagGroups {
		fmt.Fprintf(w, "\n%s:\n", g.title)
		for _, name := range g.names {
			f := fs.Lookup(name)
			arg, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(w, "  -%s", name)
			if arg != "" {
				fmt.Fprintf(w, " %s", arg)
			}
			fmt.Fprintf(w, "\n    \t%s", strings.ReplaceAll(usage, "\n", "\n    \t"))
			if def := defaultText(f); def != "" {
				fmt.Fprintf(w, " (default %s)", def)
			}
			fmt.Fprintln(w)
		}
	}
}

// defaultText is a flag's default for the help, or "" for a zero default
// whose meaning the usage text already gives.
func defaultText(f *flag.Flag) string {
	switch v := f.Value.(flag.Getter).Get().(type) {
	case time.Duration:
		if v != 0 {
			return durfmt.Rounded(v)
		}
	case string:
		if v != "" {
			return fmt.Sprintf("%q", v)
		}
	case bool:
	default:
		if f.DefValue != "0" {
			return f.DefValue
		}
	}
	return ""
}
