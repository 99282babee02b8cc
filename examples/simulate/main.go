// Command simulate runs pushbeat's deterministic push-client simulator
// (SPEC E2, package internal/sim) and prints what each heartbeat strategy
// costs and delivers.
//
// With no scenario flags it prints two tables: the Direct Push table's eight examples
// (periodic mail) with the library's Adaptive and Classic results next to
// the document's stated result, and the strategy comparison over published
// network idle timeouts with Poisson mail. With -timeout, -mail,
// -arrivals, -server-min, -server-max or -svg it runs one custom scenario.
// See -h.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/internal/durfmt"
	"github.com/pushbeat/pushbeat/internal/sim"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Comparison scenarios: network idle timeouts drawn from published
// measurements of carrier NATs and firewalls, up to RFC 5382's 2 h 4 min
// minimum for NAT TCP mappings, with Poisson mail every 20 min and 2 h.
var (
	compareTimeouts = []time.Duration{
		4 * time.Minute, 4*time.Minute + 15*time.Second, 5 * time.Minute,
		5*time.Minute + 48*time.Second, 6 * time.Minute, 10 * time.Minute,
		15 * time.Minute, 30 * time.Minute, 37 * time.Minute, time.Hour,
		2*time.Hour + 4*time.Minute,
	}
	compareMail = []time.Duration{20 * time.Minute, 2 * time.Hour}
)

// Exchange's default permissible heartbeat range, used by every comparison
// and custom scenario unless -server-min/-server-max say otherwise.
const (
	exchangeMin = time.Minute
	exchangeMax = 45 * time.Minute
)

// options are the parsed flags.
type options struct {
	sc         sim.Scenario // the custom scenario; Days, Seed, SyncEvery, ProbeEvery apply to all
	custom     bool
	seeds      int
	strategies []string
	json       bool
	svg        string
	fleet      int // devices of the fleet run; 0: no fleet run
	fleetOnly  []string
	workers    int
	outage     time.Duration
	search     bool // print the first search's table instead (SPEC S5)
}

const usageHead = `Usage: simulate [flags]

Simulates a push client (Exchange ActiveSync Direct Push style) on a
network path that silently drops idle connections, and compares heartbeat
strategies on the same scenarios and seeds. Time is virtual: a week of
pings takes well under a millisecond.

With no scenario flag it prints (1) the Direct Push table's eight examples (periodic
mail, as the document means it) with the library's Adaptive and Classic results
next to the document's stated result, and (2) the strategy comparison over
network idle timeouts 4m to 2h4m with Poisson mail every 20m and 2h, over
-seeds seeds, then checks the comparison's goals (E2, H10).

With any of -timeout, -mail, -arrivals, -server-min, -server-max or -svg it
runs one custom scenario, one seed (-seed), every chosen strategy.

With -fleet N it simulates N devices over -days (seed -seed) moving between
home Wi-Fi, cellular and office networks with idle timeouts drawn from
documented mixes, and compares the fleet strategies by what users pay:
requests, radio wake-ups and energy per device-day, delivery delay, deaf
time and connections killed; -outage adds a 503 + Retry-After outage and
reports the busiest second after it; -svg draws each strategy's CDF of
energy per device-day.

With -search it prints how long the fleet's Adaptive takes to reach 95% of
a new network's idle timeout, per timeout, silent and resetting, beside one
optimal search and the least worst case any single-connection search can
promise (SPEC S5).

Steady state means days 2 to -days; day 1 is discovery.
Strategies: adaptive, classic (the heartbeat package), aosp (+5/-5 min),
microg (x1.02/x0.95), fixed-min (8m), fixed-max (28m), oracle (knows the
timeout).

Flags:
`

// parse parses args. It returns flag.ErrHelp for -h, and an error for
// anything else wrong, which the caller reports with exit status 2.
func parse(args []string, stdout, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o                    options
		timeout, mail        time.Duration
		serverMin, serverMax time.Duration
		syncEvery, probe     time.Duration
		arrivals, strategies string
		days                 int
		seed                 uint64
	)
	fs.DurationVar(&timeout, "timeout", 15*time.Minute, "custom scenario: network idle timeout; a connection idle longer dies silently (0: never)")
	fs.DurationVar(&mail, "mail", 2*time.Hour, "custom scenario: mean gap between mails (0: no mail)")
	fs.StringVar(&arrivals, "arrivals", "poisson", "custom scenario: mail arrivals, poisson (random) or periodic (exactly every -mail)")
	fs.DurationVar(&serverMin, "server-min", exchangeMin, "custom scenario: the server's minimum heartbeat (0: none)")
	fs.DurationVar(&serverMax, "server-max", exchangeMax, "custom scenario: the server's maximum heartbeat (0: none)")
	fs.IntVar(&days, "days", sim.DefaultDays, fmt.Sprintf("days per run, 1 to %d; day 1 is discovery, the rest steady state", sim.MaxDays))
	fs.Uint64Var(&seed, "seed", 1, "seed of the custom scenario's run, and the first seed of the comparison's")
	fs.IntVar(&o.seeds, "seeds", 5, "comparison: seeds per scenario, 1 to 100 (seed, seed+1, ...)")
	fs.StringVar(&strategies, "strategy", "all", "strategies of the comparison and the custom scenario, comma-separated, or all: "+
		strings.Join(sim.StrategyNames(), ",")+" (the Direct Push table always shows adaptive and classic)")
	fs.DurationVar(&syncEvery, "sync-every", sim.DefaultSyncEvery, "scheduled-sync interval of a device that gave up on push")
	fs.DurationVar(&probe, "probe-every", sim.DefaultProbeEvery, "how long a device that gave up on push waits before trying it again")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per run per line instead of tables (fields: see internal/sim's package doc)")
	fs.StringVar(&o.svg, "svg", "", "write the custom scenario's interval over time (with -fleet: each strategy's CDF of energy per device-day), one line per strategy, to this SVG `file`")
	fs.IntVar(&o.fleet, "fleet", 0, "simulate a fleet of this many devices over -days (SPEC S1-S6) instead of the tables: home Wi-Fi, cellular and office networks, every fleet strategy")
	fs.Func("fleet-strategy", "fleet: strategies to run, comma-separated (default all: "+strings.Join(sim.FleetStrategyNames(), ",")+")", func(s string) error {
		for _, name := range strings.Split(s, ",") {
			if !slices.Contains(sim.FleetStrategyNames(), name) {
				return fmt.Errorf("unknown fleet strategy %q", name)
			}
			o.fleetOnly = append(o.fleetOnly, name)
		}
		return nil
	})
	fs.BoolVar(&o.search, "search", false, "print instead how long the fleet's Adaptive takes to reach 95% of a new network's idle timeout, per timeout, and the least any search can take (SPEC S5)")
	fs.IntVar(&o.workers, "workers", 0, "fleet: goroutines sharing the devices (0: one per CPU); the result does not depend on it")
	fs.DurationVar(&o.outage, "outage", 30*time.Minute, "fleet: a server outage (503 + Retry-After) of this length at noon of day 3 (0: none)")
	// The flag package calls Usage on -h and on a bad flag alike; print it
	// once, after Parse, to stdout for -h and to stderr otherwise.
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
		}
		fmt.Fprint(fs.Output(), usageHead)
		fs.PrintDefaults()
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (every option is a flag; see -h)", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "timeout", "mail", "arrivals", "server-min", "server-max":
			o.custom = true
		case "svg":
			o.custom = o.fleet == 0
		}
	})
	a, err := sim.ParseArrivals(arrivals)
	if err != nil {
		return o, fmt.Errorf("-arrivals: %w", err)
	}
	if o.seeds < 1 || o.seeds > 100 {
		return o, fmt.Errorf("-seeds %d: want 1 to 100", o.seeds)
	}
	if strategies == "all" {
		o.strategies = sim.StrategyNames()
	} else {
		for _, name := range strings.Split(strategies, ",") {
			if !slices.Contains(sim.StrategyNames(), name) {
				return o, fmt.Errorf("-strategy: unknown strategy %q (want all or some of %s)", name, strings.Join(sim.StrategyNames(), ","))
			}
			o.strategies = append(o.strategies, name)
		}
	}
	if days < 1 {
		return o, fmt.Errorf("-days %d: want 1 to %d", days, sim.MaxDays)
	}
	o.sc = sim.Scenario{Name: "custom", Timeout: timeout, Mail: mail, Arrivals: a,
		ServerMin: serverMin, ServerMax: serverMax, Days: days, Seed: seed,
		SyncEvery: syncEvery, ProbeEvery: probe}
	if err := o.sc.Validate(); err != nil {
		return o, err
	}
	return o, nil
}

// run is the whole command: it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stdout, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "simulate: %v\n", err)
		return 2
	}
	if err := execute(o, stdout); err != nil {
		fmt.Fprintf(stderr, "simulate: %v\n", err)
		return 1
	}
	return 0
}

func execute(o options, w io.Writer) error {
	if o.search {
		return search(w)
	}
	if o.fleet > 0 {
		return fleet(o, w)
	}
	if o.custom {
		return custom(o, w)
	}
	seed, err := seedTable(o)
	if err != nil {
		return err
	}
	cmp, err := comparison(o)
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(w, seed, cmp)
	}
	printSeedTable(w, o, seed)
	fmt.Fprintln(w)
	printComparison(w, o, cmp)
	fmt.Fprintln(w)
	printGoals(w, o, cmp)
	return nil
}

// group is the runs of one strategy on one scenario, over seeds.
type group struct {
	strategy string
	runs     []sim.Result
	merged   sim.Result
}

func runGroup(sc sim.Scenario, name string, seeds int) (group, error) {
	rs, err := sim.RunSeeds(sc, name, seeds)
	if err != nil {
		return group{}, err
	}
	return group{strategy: name, runs: rs, merged: sim.Merge(rs)}, nil
}

// seedRow is one of the Direct Push table's examples with the tuner strategies' runs.
type seedRow struct {
	ex      sim.SeedExample
	groups  []group // adaptive, classic, fixed-min
	poisson group   // fixed-min with Poisson mail of the same mean, for example 2's note
}

// seedStrategies are the strategies shown for the Direct Push table: the
// library's two, and fixed-min for example 2's note.
var seedStrategies = []string{sim.StrategyAdaptive, sim.StrategyClassic, sim.StrategyFixedMin}

func seedTable(o options) ([]seedRow, error) {
	var rows []seedRow
	for _, e := range sim.SeedExamples() {
		sc := e.Scenario(o.sc.Days)
		sc.Seed, sc.SyncEvery, sc.ProbeEvery = o.sc.Seed, o.sc.SyncEvery, o.sc.ProbeEvery
		row := seedRow{ex: e}
		for _, name := range seedStrategies {
			g, err := runGroup(sc, name, 1) // periodic mail: the random seed changes nothing
			if err != nil {
				return nil, err
			}
			row.groups = append(row.groups, g)
		}
		if e.N == 2 {
			sc.Arrivals = sim.Poisson
			g, err := runGroup(sc, sim.StrategyFixedMin, o.seeds)
			if err != nil {
				return nil, err
			}
			row.poisson = g
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// cmpBlock is one comparison scenario with every chosen strategy's runs.
type cmpBlock struct {
	sc     sim.Scenario
	groups []group
}

func comparison(o options) ([]cmpBlock, error) {
	var blocks []cmpBlock
	for _, timeout := range compareTimeouts {
		for _, mail := range compareMail {
			sc := sim.Scenario{Name: "compare", Timeout: timeout, Mail: mail, Arrivals: sim.Poisson,
				ServerMin: exchangeMin, ServerMax: exchangeMax, Days: o.sc.Days, Seed: o.sc.Seed,
				SyncEvery: o.sc.SyncEvery, ProbeEvery: o.sc.ProbeEvery}
			b := cmpBlock{sc: sc}
			for _, name := range o.strategies {
				g, err := runGroup(sc, name, o.seeds)
				if err != nil {
					return nil, err
				}
				b.groups = append(b.groups, g)
			}
			blocks = append(blocks, b)
		}
	}
	return blocks, nil
}

func custom(o options, w io.Writer) error {
	var groups []group
	series := make(map[string][]sim.Ping)
	for _, name := range o.strategies {
		sc := o.sc
		if o.svg != "" {
			sc.OnPing = func(p sim.Ping) { series[name] = append(series[name], p) }
		}
		g, err := runGroup(sc, name, 1)
		if err != nil {
			return err
		}
		groups = append(groups, g)
	}
	if o.svg != "" {
		if err := writeSVGFile(o.svg, o.sc, o.strategies, series); err != nil {
			return err
		}
	}
	if o.json {
		return writeJSON(w, nil, []cmpBlock{{sc: o.sc, groups: groups}})
	}
	fmt.Fprintf(w, "Custom scenario: %s, seed %d, %d days\n\n", describe(o.sc), o.sc.Seed, o.sc.Days)
	printMetricsTable(w, groups)
	if o.svg != "" {
		fmt.Fprintf(w, "\nwrote %s\n", o.svg)
	}
	return nil
}

func writeJSON(w io.Writer, seed []seedRow, cmp []cmpBlock) error {
	enc := json.NewEncoder(w)
	for _, row := range seed {
		for _, g := range row.groups {
			if err := enc.Encode(g.runs[0]); err != nil {
				return err
			}
		}
	}
	for _, b := range cmp {
		for _, g := range b.groups {
			for _, r := range g.runs {
				if err := enc.Encode(r); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func describe(sc sim.Scenario) string {
	timeout := "no idle timeout"
	if sc.Timeout > 0 {
		timeout = "idle timeout " + durfmt.Short(sc.Timeout)
	}
	mail := "no mail"
	if sc.Mail > 0 {
		mail = fmt.Sprintf("%s mail every %s", sc.Arrivals, durfmt.Short(sc.Mail))
	}
	return fmt.Sprintf("%s, %s, server %s", timeout, mail, serverRange(sc.ServerMin, sc.ServerMax))
}

func serverRange(lo, hi time.Duration) string {
	if lo == 0 && hi == 0 {
		return "unrestricted"
	}
	h := "none"
	if hi > 0 {
		h = durfmt.Short(hi)
	}
	return durfmt.Short(lo) + "-" + h
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func percent(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

// delay formats a delay to the second.
func delay(d time.Duration) string { return durfmt.Short(d.Round(time.Second)) }

func printSeedTable(w io.Writer, o options, rows []seedRow) {
	fmt.Fprintf(w, "(1) The Direct Push table's eight examples: device 8-28m, buffer 1m, PERIODIC mail, %d days; steady state (days 2-%d).\n\n", o.sc.Days, o.sc.Days)
	fmt.Fprintf(w, "%-2s %-7s %-5s %-7s  %-8s %-9s %7s %6s %6s %9s %4s   %s\n",
		"#", "timeout", "mail", "server", "strategy", "settled", "pings/d", "t/o/d", "deaf", "max delay", "push", "the document says")
	for _, row := range rows {
		e := row.ex
		for i, g := range row.groups[:2] {
			m := g.merged.Steady
			lead := fmt.Sprintf("%-2d %-7s %-5s %-7s", e.N, durfmt.Short(e.Timeout), durfmt.Short(e.Mail), serverRange(e.ServerMin, e.ServerMax))
			says := e.Says
			if i > 0 {
				lead, says = strings.Repeat(" ", len(lead)), ""
			}
			row := fmt.Sprintf("%s  %-8s %-9s %7.1f %6.1f %6s %9s %4s   %s", lead, g.strategy, durfmt.Short(m.Settled),
				m.PingsPerDay, m.TimeoutsPerDay, percent(m.Deaf), delay(m.DelayMax), yesNo(m.PushWorks), says)
			fmt.Fprintln(w, strings.TrimRight(row, " "))
		}
	}
	fmt.Fprintln(w, "\nWhere the document's results contradict its own rules, or the rules give more than it says:")
	steady := func(n int, s int) sim.Metrics { return rows[n-1].groups[s].merged.Steady }
	a2, f2, p2 := steady(2, 0), steady(2, 2), rows[1].poisson.merged.Steady
	a3, c3 := steady(3, 0), steady(3, 1)
	a4 := steady(4, 0)
	for _, note := range []string{
		fmt.Sprintf("2: the 5m timeout is below the 8m floor, so every ping times out. Under SPEC H9 Adaptive and "+
			"Classic give up on push after 3 timeouts at the floor and sync every %s, probing push hourly: delays up to %s "+
			"(mean %s). The document's \"delays up to 4 min\" is what a client that keeps pinging at the floor gets: fixed-min "+
			"here has max delay %s (mean %s) for %.0f pings/day, %.0f of them timing out. The 4-minute worst case needs "+
			"mail right after a drop, which mail every 7m exactly never brings here; Poisson mail of the same mean "+
			"does: max %s (mean %s).",
			durfmt.Short(o.sc.SyncEvery), delay(a2.DelayMax), delay(a2.DelayMean), delay(f2.DelayMax), delay(f2.DelayMean),
			f2.PingsPerDay, f2.TimeoutsPerDay, delay(p2.DelayMax), delay(p2.DelayMean)),
		fmt.Sprintf("3: \"increased to between 15 and 17 minutes\" cannot follow from the rules: 5m steps from 8m give 8, 13, 18, "+
			"and anything above 15m dies on this path. Classic settles at %s and times out %.0f times a day (at 18m); "+
			"Adaptive settles at %s with %.1f timeouts a day (its periodic probes above the ceiling), whose deaf "+
			"time can delay mail (max %s). Classic's zero delay is luck of regular mail, which never lands in its "+
			"deaf windows; with Poisson mail Classic has the longer delays (table 2).",
			durfmt.Short(c3.Settled), c3.TimeoutsPerDay, durfmt.Short(a3.Settled), a3.TimeoutsPerDay, delay(a3.DelayMax)),
		fmt.Sprintf("4: the server's 15m minimum equals the timeout: the interval can only be exactly 15m (a connection idle "+
			"exactly the timeout survives here), and every raise above it dies. Both settle at %s; the document's "+
			"\"between 15 and 17\" is again impossible.", durfmt.Short(a4.Settled)),
		"5: the document says push does not work because the device maximum is below the server minimum; it is not " +
			"(28m > 1m). The ranges overlap in 8-10m: the first raise to 13m is refused (status 5, limit 10m) and push works at 10m.",
		"6: as the document says: the server minimum 20m is above the 15m timeout, every allowed ping dies, and SPEC H9 " +
			"gives up on push (scheduled sync, hourly probes).",
	} {
		fmt.Fprintln(w, wrap(note, 100, "   "))
	}
}

// wrap wraps text to width, indenting continuation lines.
func wrap(text string, width int, indent string) string {
	var b strings.Builder
	line := 0
	for i, word := range strings.Fields(text) {
		if i > 0 {
			if line+1+len(word) > width {
				b.WriteString("\n" + indent)
				line = len(indent)
			} else {
				b.WriteByte(' ')
				line++
			}
		}
		b.WriteString(word)
		line += len(word)
	}
	return b.String()
}

const metricsHead = "%-9s %7s %6s %7s %6s %10s %7s %7s %9s %6s\n"

func printMetricsHeader(w io.Writer, lead string) {
	fmt.Fprintf(w, lead+metricsHead, "strategy", "pings/d", "t/o/d", "syncs/d", "deaf", "mean delay", "p99", "max", "settled", "push")
}

func printMetricsRow(w io.Writer, lead string, g group) {
	m := g.merged.Steady
	fmt.Fprintf(w, lead+"%-9s %7.1f %6.2f %7.1f %6s %10s %7s %7s %9s %6s\n", g.strategy, m.PingsPerDay, m.TimeoutsPerDay,
		m.SyncsPerDay, percent(m.Deaf), delay(m.DelayMean), delay(m.DelayP99), delay(m.DelayMax),
		durfmt.Short(m.Settled.Round(100*time.Millisecond)), percent(m.PushFraction))
}

func printMetricsTable(w io.Writer, groups []group) {
	printMetricsHeader(w, "")
	for _, g := range groups {
		printMetricsRow(w, "", g)
	}
}

func printComparison(w io.Writer, o options, blocks []cmpBlock) {
	fmt.Fprintf(w, "(2) Strategy comparison: POISSON mail, server 1-45m, device 8-28m, buffer 1m; steady state (days 2-%d) "+
		"over seeds %d-%d.\n", o.sc.Days, o.sc.Seed, o.sc.Seed+uint64(o.seeds)-1)
	fmt.Fprintln(w, "Per day: pings (incl. probes and refused ones), timeouts, syncs (after changes or a timeout, and scheduled")
	fmt.Fprintln(w, "ones while push is given up). deaf: share of time the connection was dead unnoticed. Delay: mail arrival")
	fmt.Fprintln(w, "to delivery. settled: median requested interval. push: share of time not on the fallback schedule.")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-7s %-5s ", "timeout", "mail")
	printMetricsHeader(w, "")
	for i, b := range blocks {
		if i > 0 {
			fmt.Fprintln(w)
		}
		for j, g := range b.groups {
			lead := fmt.Sprintf("%-7s %-5s ", durfmt.Short(b.sc.Timeout), durfmt.Short(b.sc.Mail))
			if j > 0 {
				lead = strings.Repeat(" ", len(lead))
			}
			printMetricsRow(w, lead, g)
		}
	}
}

// printGoals checks the comparison's goals (E2, H10) on the comparison's scenarios whose
// timeout lies inside the device range.
func printGoals(w io.Writer, o options, blocks []cmpBlock) {
	fmt.Fprintln(w, "Goals (steady state, timeout inside the device range 8-28m): Adaptive <= 1.10x the oracle's pings,")
	fmt.Fprintln(w, "<= 0.10x Classic's timeouts, deaf time and mean delay <= Classic's.")
	find := func(b cmpBlock, name string) (sim.Metrics, bool) {
		for _, g := range b.groups {
			if g.strategy == name {
				return g.merged.Steady, true
			}
		}
		return sim.Metrics{}, false
	}
	mark := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT MET"
	}
	var as, cs, os []sim.Metrics
	line := func(label string, a, c, or sim.Metrics) {
		pr := float64(a.Pings) / float64(or.Pings)
		tr := float64(a.Timeouts) / float64(c.Timeouts)
		fmt.Fprintf(w, "  %-22s pings %.3f %-7s  timeouts %.3f %-7s  deaf %s vs %s %-7s  mean delay %s vs %s %s\n",
			label, pr, mark(pr <= 1.10), tr, mark(tr <= 0.10),
			percent(a.Deaf), percent(c.Deaf), mark(a.DeafTime <= c.DeafTime),
			delay(a.DelayMean), delay(c.DelayMean), mark(a.DelayMean <= c.DelayMean))
	}
	for _, b := range blocks {
		if b.sc.Timeout < heartbeat.DefaultMin || b.sc.Timeout > heartbeat.DefaultMax {
			continue
		}
		a, ok1 := find(b, sim.StrategyAdaptive)
		c, ok2 := find(b, sim.StrategyClassic)
		or, ok3 := find(b, sim.StrategyOracle)
		if !ok1 || !ok2 || !ok3 {
			fmt.Fprintln(w, "  (needs -strategy to include adaptive, classic and oracle)")
			return
		}
		as, cs, os = append(as, a), append(cs, c), append(os, or)
		line(fmt.Sprintf("timeout %s mail %s:", durfmt.Short(b.sc.Timeout), durfmt.Short(b.sc.Mail)), a, c, or)
	}
	line("all four together:", sim.MergeMetrics(as...), sim.MergeMetrics(cs...), sim.MergeMetrics(os...))
}
