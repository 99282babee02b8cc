package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/pushbeat/pushbeat/internal/durfmt"
	"github.com/pushbeat/pushbeat/transport/pingtest"
)

// summary reports how the run went: the interval it settled on (against
// the middlebox's real timeout in the demo), pings, timeouts,
// notifications and their worst delay.
func (a *app) summary() {
	now := time.Now()
	loop := a.currentLoop()
	snap, bo := loop.Snapshot(), loop.Backoff().Status()
	c := snap.Counts
	st := a.out.story
	ran := now.Sub(a.start)
	interval := snap.Tuner.Interval

	a.mu.Lock()
	changes, deaf := a.changes, a.deaf
	a.mu.Unlock()
	var maxDelay, meanDelay, ceiling any // null in JSON when unknown or none
	var stats pingtest.Stats
	if a.demo != nil {
		// The demo's server counts the changes it delivered, and their
		// delays, which a real server does not tell.
		stats = a.demo.srv.Stats()
		changes, maxDelay, meanDelay = stats.Deliveries, stats.MaxDelay, stats.MeanDelay
	}
	if snap.Tuner.Ceiling > 0 {
		ceiling = snap.Tuner.Ceiling
	}
	fields := []field{{"settled_interval_s", interval}, {"pings", c.Pings}, {"timeouts", c.TimedOut},
		{"changes", changes}, {"max_delay_s", maxDelay}, {"mean_delay_s", meanDelay},
		{"expired", c.Expired}, {"changed", c.Changed}, {"out_of_bounds", c.OutOfBounds}, {"closed", c.Closed},
		{"network_lost", c.NetworkLost}, {"errors", c.Errors}, {"syncs", c.Syncs}, {"sync_errors", c.SyncErrors},
		{"ceiling_s", ceiling}, {"workable", snap.Tuner.Workable}, {"backoff_phase", bo.Phase.String()},
		{"duration_s", ran}, {"scale", a.o.scale}}

	var b strings.Builder
	fmt.Fprintf(&b, "\nSummary after %s", durfmt.Rounded(ran.Round(100*time.Millisecond)))
	if a.o.scale != 1 {
		fmt.Fprintf(&b, " (%s of story time)", st(ran.Round(time.Second/10)))
	}
	b.WriteString(":\n")
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "  %-16s %s\n", label, fmt.Sprintf(format, args...))
	}

	settled := st(interval)
	if a.demo != nil {
		settled += fmt.Sprintf(" (%s here)", durfmt.Rounded(interval))
		idle := a.demo.idle
		switch gap := idle - interval; {
		case idle == 0:
			settled += ", and the middlebox never drops idle connections"
		case gap > 0:
			settled += fmt.Sprintf(", %s below the middlebox's %s timeout (%s here)", st(gap), st(idle), durfmt.Rounded(idle))
		default:
			settled += fmt.Sprintf(", %s ABOVE the middlebox's %s timeout: the next ping would time out", st(-gap), st(idle))
		}
	}
	if snap.Tuner.Ceiling > 0 {
		settled += fmt.Sprintf("\n%19s(%s failed; the tuner stays below it)", "", st(snap.Tuner.Ceiling))
	}
	label := "settled interval"
	if a.demo != nil && a.demo.idle > 0 && interval >= a.demo.idle {
		label = "final interval" // not settled: the next ping fails
	}
	line(label, "%s", settled)
	held := c.Pings - c.Expired - c.Changed - c.OutOfBounds - c.TimedOut - c.Closed - c.NetworkLost - c.Errors
	line("pings", "%d: %d expired, %d with changes, %d timed out%s", c.Pings, c.Expired, c.Changed, c.TimedOut,
		others(c.Closed, c.NetworkLost, c.Errors, c.OutOfBounds, held))
	timeouts := fmt.Sprint(c.TimedOut)
	if a.demo != nil && c.TimedOut > 0 {
		timeouts += fmt.Sprintf(", deaf for %s in all: dead connections the client could not see yet", st(deaf))
	}
	line("timeouts", "%s", timeouts)

	if a.demo != nil {
		mails := a.demo.mailCount()
		n := fmt.Sprintf("%d changes delivered for %d mails", changes, mails)
		if stats.Pending > 0 {
			n += fmt.Sprintf(" (%d still waiting at the end)", stats.Pending)
		}
		switch {
		case changes == 0:
		case a.out.scaled(stats.MaxDelay) < time.Second:
			n += fmt.Sprintf("\n%19severy one pushed at once (worst delay %s here)", "", durfmt.Rounded(stats.MaxDelay))
		default:
			n += fmt.Sprintf("\n%19sworst delay %s (%s here), mean %s", "", st(stats.MaxDelay), durfmt.Rounded(stats.MaxDelay), a.short(stats.MeanDelay))
		}
		line("notifications", "%s", n)
		fields = append(fields, field{"middlebox_timeout_s", a.demo.idle}, field{"mails", mails}, field{"pending", stats.Pending},
			field{"deaf_s", deaf})
	} else {
		line("notifications", "%d changed folders reported", changes)
	}
	phase := bo.Phase.String()
	if !bo.Next.IsZero() {
		phase += ": " + bo.Message
	}
	line("backoff", "%s", phase)
	if !snap.Tuner.Workable {
		line("push", "unworkable on this network: idle connections die sooner than the shortest allowed heartbeat")
	}

	a.out.say(b.String())
	a.out.emit(record{event: "summary", at: now, interval: interval, fields: fields})
}

// short formats a story duration, under a second as "under 1s".
func (a *app) short(d time.Duration) string {
	if a.out.scaled(d) < time.Second {
		return "under 1s"
	}
	return a.out.story(d)
}

// others lists the rarer ping outcomes, if any.
func others(closed, lost, errs, oob, held int) string {
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{{closed, "closed early"}, {lost, "without network"}, {errs, "failed"}, {oob, "out of bounds"}, {held, "cut short by the end"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return ", " + strings.Join(parts, ", ")
}
