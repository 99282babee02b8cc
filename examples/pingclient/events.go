package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/internal/durfmt"
	"github.com/pushbeat/pushbeat/transport"
)

// onEvent reports a loop event. The loop calls it from its own goroutine.
func (a *app) onEvent(e transport.Event) {
	st := a.out.story
	rec := record{event: e.Kind.String(), at: e.Time, interval: e.Interval}
	a.mu.Lock()
	beat, deadline := a.pingBeat, a.pingDeadline
	a.mu.Unlock()
	ping := func(format string, args ...any) string {
		return fmt.Sprintf("ping     %s: ", st(beat)) + fmt.Sprintf(format, args...)
	}
	switch e.Kind {
	case transport.PingStarted:
		a.mu.Lock()
		a.pingStart, a.pingBeat, a.pingDeadline = e.Time, e.Interval, a.tuner.Deadline()
		a.mu.Unlock()
		rec.fields = []field{{"deadline_s", a.tuner.Deadline()}}
	case transport.PingAnswered:
		a.mu.Lock()
		a.pingStart, a.answered = time.Time{}, true
		a.changes += len(e.Folders)
		a.mu.Unlock()
		rec.fields = []field{{"status", e.Status.String()}, {"elapsed_s", e.Elapsed}}
		switch e.Status {
		case transport.Expired:
			if e.Elapsed < beat*9/10 {
				rec.text = ping("answered \"no changes\" early, after %s: that proves nothing about idle time", st(e.Elapsed))
			} else {
				rec.text = ping("expired, no %s: the connection survived %s idle", a.news(), st(beat))
			}
		case transport.Changed:
			rec.fields = append(rec.fields, field{"folders", e.Folders})
			rec.text = ping("%s in %s after %s", a.news(), strings.Join(e.Folders, ", "), st(e.Elapsed))
			if a.demo != nil {
				if d, ok := a.demo.delivered(); ok {
					rec.text += ", pushed " + a.delay(d)
					rec.fields = append(rec.fields, field{"delay_s", d})
				}
			}
		case transport.OutOfBounds:
			rec.text = ping("refused: outside the server's heartbeat range")
		}
	case transport.PingFailed:
		a.mu.Lock()
		a.pingStart = time.Time{}
		a.mu.Unlock()
		kind := errKind(e.Err)
		rec.fields = []field{{"error_kind", kind}, {"error", errText(e.Err)}, {"elapsed_s", e.Elapsed}}
		switch kind {
		case "timed-out":
			why := "something on the path dropped the idle connection"
			if a.demo != nil {
				why = fmt.Sprintf("the middlebox cut it at %s idle", st(a.demo.idle))
				a.mu.Lock()
				a.deaf += max(deadline-a.demo.idle, 0)
				a.mu.Unlock()
			}
			rec.text = ping("TIMED OUT, no answer by %s: %s", st(deadline), why)
		case "proxy-timeout":
			rec.text = ping("TIMED OUT: a proxy answered %s after %s: its idle timeout cut the ping", respStatus(e.Err), st(e.Elapsed))
		case "closed":
			rec.text = ping("connection closed after %s; reconnecting", st(e.Elapsed))
		default:
			rec.text = ping("failed after %s: %s", st(e.Elapsed), errText(e.Err))
		}
		if kind == "network-lost" || kind == "protocol" || errors.Is(e.Err, transport.ErrRefused) {
			a.failStart(e.Err)
		}
	case transport.IntervalChanged:
		ch := e.Change
		snap := a.tuner.Snapshot()
		rec.fields = []field{{"from_s", ch.From}, {"to_s", ch.To}, {"reason", ch.Reason.String()}}
		if snap.Ceiling > 0 {
			rec.fields = append(rec.fields, field{"ceiling_s", snap.Ceiling})
		}
		rec.text = fmt.Sprintf("interval %s -> %s: %s", st(ch.From), st(ch.To), a.reason(ch, snap))
		a.saveState()
	case transport.ServerBounds:
		rec.fields = []field{{"server_min_s", e.ServerMin}, {"server_max_s", e.ServerMax}}
		rec.text = "server   " + boundsText(st, e.ServerMin, e.ServerMax)
	case transport.SyncDone:
		rec.fields = []field{{"folders", e.Folders}, {"elapsed_s", e.Elapsed}}
		if a.eas == nil {
			return // nothing is synced outside EAS: the event says nothing
		}
	case transport.SyncFailed:
		rec.fields = []field{{"folders", e.Folders}, {"elapsed_s", e.Elapsed}, {"error", errText(e.Err)}}
		rec.text = fmt.Sprintf("sync     failed: %s", errText(e.Err))
	case transport.BackoffEntered, transport.BackoffLeft:
		rec.fields, rec.text = a.backoffText(e.Kind, e.Backoff, e.Time)
	case transport.PushUnavailable:
		rec.fields = []field{{"error", errText(e.Err)}}
		rec.text = fmt.Sprintf("push     UNAVAILABLE: %s\n"+
			"         syncing every %s instead, and trying push again every %s", errText(e.Err),
			st(scaleDown(transport.DefaultSyncInterval, a.o.scale)), st(scaleDown(transport.DefaultProbeInterval, a.o.scale)))
	case transport.PushAvailable:
		rec.text = "push     works again"
	}
	a.out.emit(rec)
}

// news is what a changed answer brings: mail in the demo, changes from a
// real server (which may watch calendars as well as mail).
func (a *app) news() string {
	if a.demo != nil {
		return "mail"
	}
	return "changes"
}

// delay describes how long a mail waited before it was pushed.
func (a *app) delay(d time.Duration) string {
	if a.out.scaled(d) < time.Second {
		return "at once"
	}
	return a.out.story(d) + " after it arrived"
}

// reason explains an interval change in words.
func (a *app) reason(ch heartbeat.Change, snap heartbeat.Snapshot) string {
	st := a.out.story
	switch ch.Reason {
	case heartbeat.ReasonConfirmed:
		s := fmt.Sprintf("%d pings survived %s idle", a.cfg.Confirmations, st(ch.From))
		if a.cfg.Confirmations == 1 {
			s = fmt.Sprintf("a ping survived %s idle", st(ch.From))
		}
		if snap.Ceiling > 0 && ch.To-ch.From < a.cfg.Increment && ch.To < a.cfg.Max {
			s += fmt.Sprintf("; halfway to %s, which failed", st(snap.Ceiling))
		}
		return s
	case heartbeat.ReasonReverted:
		return fmt.Sprintf("back, the first ping at %s timed out", st(ch.From))
	case heartbeat.ReasonTimedOut:
		return "down to the minimum: a ping timed out at an interval that had worked"
	case heartbeat.ReasonNetworkLost:
		return "down to the minimum while the network is gone; the best interval is remembered"
	case heartbeat.ReasonCoverageRegained:
		return "the network is back: the remembered interval is restored"
	case heartbeat.ReasonServerBounds:
		return "moved into the server's heartbeat range"
	case heartbeat.ReasonNetworkSwitch:
		return "switched network"
	case heartbeat.ReasonStateLoaded:
		return "restored from the state file"
	}
	return ch.Reason.String()
}

// backoffText describes a backoff status.
func (a *app) backoffText(kind transport.EventKind, s backoff.Status, now time.Time) ([]field, string) {
	fields := []field{{"phase", s.Phase.String()}, {"reason", s.Reason.String()}, {"failures", s.Failures},
		{"message", s.Message}}
	if kind == transport.BackoffLeft {
		return fields, "backoff  over: requests are allowed again"
	}
	if s.Next.IsZero() {
		fields = append(fields, field{"next", nil}, field{"next_in_s", 0})
		return fields, fmt.Sprintf("backoff  %s (%s): retrying now", s.Reason, s.Phase)
	}
	in := s.Next.Sub(now)
	fields = append(fields, field{"next", s.Next.UTC().Format(time.RFC3339Nano)}, field{"next_in_s", in})
	if a.demo != nil { // the wall-clock time means nothing in the story
		return fields, fmt.Sprintf("backoff  %s (%s): next attempt in %s", s.Reason, s.Phase, a.out.story(in))
	}
	return fields, fmt.Sprintf("backoff  %s\n         (%s, %s: next attempt at %s, in %s)", s.Message, s.Reason, s.Phase,
		s.Next.Format("15:04:05"), durfmt.Rounded(in.Round(time.Second)))
}

// errKind names the kind of a ping failure for humans and JSON.
func errKind(err error) string {
	for _, k := range []struct {
		err  error
		name string
	}{
		{transport.ErrTimedOut, "timed-out"}, {transport.ErrProxyTimeout, "proxy-timeout"},
		{transport.ErrClosed, "closed"}, {transport.ErrNetworkLost, "network-lost"},
		{transport.ErrServer, "server"}, {transport.ErrRejected, "rejected"},
		{transport.ErrProtocol, "protocol"},
	} {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "other"
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// respStatus is the HTTP status of a failed ping's answer, if any.
func respStatus(err error) string {
	var pe *transport.PingError
	if errors.As(err, &pe) && pe.Response != nil {
		return pe.Response.Status
	}
	return "an error"
}

// boundsText states the server's heartbeat range.
func boundsText(st func(time.Duration) string, lo, hi time.Duration) string {
	switch {
	case lo > 0 && hi > 0:
		return fmt.Sprintf("the heartbeat must be between %s and %s", st(lo), st(hi))
	case lo > 0:
		return "the heartbeat must be at least " + st(lo)
	case hi > 0:
		return "the heartbeat must be at most " + st(hi)
	}
	return "no limits on the heartbeat"
}
