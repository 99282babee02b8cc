package main

import (
	"fmt"
	"time"

	"github.com/pushbeat/pushbeat/internal/durfmt"
	"github.com/pushbeat/pushbeat/transport"
)

// statusLine is the live status line: elapsed, interval (or the ping in
// flight), pings, timeouts, changes, backoff phase.
func (a *app) statusLine() string {
	loop := a.currentLoop()
	snap, bo := loop.Snapshot(), loop.Backoff().Status()
	a.mu.Lock()
	pingStart, beat, changes := a.pingStart, a.pingBeat, a.changes
	a.mu.Unlock()
	now := time.Now()
	elapsed := clockShort(now.Sub(a.start))
	if a.o.duration > 0 {
		elapsed += "/" + clockShort(a.o.duration)
	}
	st := a.out.story
	whole := func(d time.Duration) string { return durfmt.Rounded(a.out.scaled(d).Truncate(time.Second)) }
	what := "interval " + st(snap.Tuner.Interval)
	switch {
	case snap.State == transport.Pinging && !pingStart.IsZero():
		what = fmt.Sprintf("ping %s/%s", whole(now.Sub(pingStart)), st(beat))
	case snap.State == transport.BackingOff && !bo.Next.IsZero():
		what = "waiting " + whole(bo.Next.Sub(now))
	case snap.State == transport.Syncing:
		what = "syncing"
	case snap.State == transport.Scheduled:
		what = "push off, polling"
	}
	return formatStatus(elapsed, what, snap.Counts.Pings, snap.Counts.TimedOut, changes, bo.Phase.String())
}

// formatStatus lays out the status line.
func formatStatus(elapsed, what string, pings, timeouts, changes int, phase string) string {
	return fmt.Sprintf("%s %-20s  pings %d  timeouts %d  changes %d  backoff %s",
		elapsed, what, pings, timeouts, changes, phase)
}

// clockShort formats a duration as m:ss.
func clockShort(d time.Duration) string {
	d = d.Truncate(time.Second)
	return fmt.Sprintf("%d:%02d", int(d/time.Minute), int(d%time.Minute/time.Second))
}
