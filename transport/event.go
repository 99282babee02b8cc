package transport

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/internal/enum"
)

// EventKind says what happened in a Loop.
type EventKind int

const (
	// PingStarted: a ping was sent with Event.Interval as its heartbeat.
	PingStarted EventKind = iota + 1
	// PingAnswered: the server answered: Event.Status says how, with
	// Event.Folders for changes.
	PingAnswered
	// PingFailed: the ping was not answered; Event.Err says why (match it
	// against ErrTimedOut, ErrClosed, ...).
	PingFailed
	// IntervalChanged: the tuner moved the heartbeat; Event.Change says from
	// where, to where, and why.
	IntervalChanged
	// ServerBounds: the server stated its permissible heartbeat range,
	// Event.ServerMin to Event.ServerMax (zero: no limit).
	ServerBounds
	// SyncDone: the application's sync of Event.Folders succeeded (nil
	// Folders: all of them, after a heartbeat failure or on schedule).
	SyncDone
	// SyncFailed: the application's sync failed with Event.Err.
	SyncFailed
	// BackoffEntered: the backoff controller started refusing requests;
	// Event.Backoff says until when and why.
	BackoffEntered
	// BackoffLeft: requests are allowed again.
	BackoffLeft
	// PushUnavailable: push does not work (the tuner reports it unworkable,
	// or the server's heartbeat range excludes the device's): the loop syncs
	// on a schedule and probes push now and then. Event.Err says why.
	PushUnavailable
	// PushAvailable: a probe succeeded and pinging resumed.
	PushAvailable
)

var eventNames = [...]string{
	PingStarted:     "ping-started",
	PingAnswered:    "ping-answered",
	PingFailed:      "ping-failed",
	IntervalChanged: "interval-changed",
	ServerBounds:    "server-bounds",
	SyncDone:        "sync-done",
	SyncFailed:      "sync-failed",
	BackoffEntered:  "backoff-entered",
	BackoffLeft:     "backoff-left",
	PushUnavailable: "push-unavailable",
	PushAvailable:   "push-available",
}

// String returns the kind's name, e.g. "ping-answered", or "EventKind(n)"
// for a value without one.
func (k EventKind) String() string { return enum.Name("EventKind", k, eventNames[:]) }

// Event is something that happened in a Loop, for logs, status lines and
// charts. Which fields are set depends on Kind.
type Event struct {
	// Kind says what happened.
	Kind EventKind
	// Time is when it happened, on the loop's clock.
	Time time.Time
	// Interval is the tuner's heartbeat after the event.
	Interval time.Duration
	// Elapsed is how long the ping or sync took.
	Elapsed time.Duration
	// Status is the answer of a PingAnswered event.
	Status Status
	// Folders are the changed or synced folders.
	Folders []string
	// Change is the tuner's change for IntervalChanged.
	Change heartbeat.Change
	// ServerMin and ServerMax are the server's stated range for
	// ServerBounds; zero means no limit.
	ServerMin, ServerMax time.Duration
	// Backoff is the controller's status for BackoffEntered and BackoffLeft.
	Backoff backoff.Status
	// Err is the failure, for PingFailed, SyncFailed and PushUnavailable.
	Err error
}

// String formats the event as one log line: its kind, then the same
// attributes the Logger gets, as key=value pairs, e.g. "ping-answered
// interval=8m0s status=changed elapsed=1.5s folders=[inbox]".
func (e Event) String() string {
	_, attrs := e.attrs()
	var b strings.Builder
	b.WriteString(e.Kind.String())
	for _, a := range attrs {
		b.WriteByte(' ')
		b.WriteString(a.Key)
		b.WriteByte('=')
		v := a.Value.String()
		if a.Value.Kind() == slog.KindString && (v == "" || strings.ContainsAny(v, " =\"")) {
			v = strconv.Quote(v)
		}
		b.WriteString(v)
	}
	return b.String()
}

// log writes e to logger at a level that matches its weight.
func (e Event) log(ctx context.Context, logger *slog.Logger) {
	level, attrs := e.attrs()
	logger.LogAttrs(ctx, level, "pushbeat: "+e.Kind.String(), attrs...)
}

// attrs returns the level e is logged at and its attributes: the one list
// of what each kind of event shows, for String and for the Logger.
func (e Event) attrs() (slog.Level, []slog.Attr) {
	level := slog.LevelDebug
	attrs := []slog.Attr{slog.Duration("interval", e.Interval)}
	switch e.Kind {
	case PingAnswered:
		attrs = append(attrs, slog.String("status", e.Status.String()), slog.Duration("elapsed", e.Elapsed))
		if len(e.Folders) > 0 {
			level = slog.LevelInfo
			attrs = append(attrs, slog.Any("folders", e.Folders))
		}
	case PingFailed, SyncFailed:
		level = slog.LevelWarn
		attrs = append(attrs, slog.Duration("elapsed", e.Elapsed), slog.String("err", errString(e.Err)))
	case IntervalChanged:
		level = slog.LevelInfo
		attrs = append(attrs, slog.Duration("from", e.Change.From), slog.String("reason", e.Change.Reason.String()))
	case ServerBounds:
		level = slog.LevelInfo
		attrs = append(attrs, slog.Duration("server_min", e.ServerMin), slog.Duration("server_max", e.ServerMax))
	case SyncDone:
		attrs = append(attrs, slog.Any("folders", e.Folders), slog.Duration("elapsed", e.Elapsed))
	case BackoffEntered, BackoffLeft:
		level = slog.LevelWarn
		if e.Kind == BackoffLeft {
			level = slog.LevelInfo
		}
		attrs = append(attrs, slog.String("backoff", e.Backoff.String()), slog.String("message", e.Backoff.Message))
	case PushUnavailable:
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("err", errString(e.Err)))
	case PushAvailable:
		level = slog.LevelInfo
	}
	return level, attrs
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Counts are a Loop's running totals since it was made.
type Counts struct {
	Pings       int // pings sent
	Expired     int // answered "no changes"
	Changed     int // answered with changes
	OutOfBounds int // answered with the server's heartbeat limit
	TimedOut    int // silent drops and proxy idle timeouts
	Closed      int // connections closed, reset or refused before the deadline
	NetworkLost int // no connectivity
	Errors      int // server, protocol and other failures
	Syncs       int // successful syncs
	SyncErrors  int // failed syncs
}

// add counts e.
func (c *Counts) add(e Event) {
	switch e.Kind {
	case PingStarted:
		c.Pings++
	case PingAnswered:
		switch e.Status {
		case Expired:
			c.Expired++
		case Changed:
			c.Changed++
		case OutOfBounds:
			c.OutOfBounds++
		}
	case PingFailed:
		switch {
		case errors.Is(e.Err, ErrTimedOut), errors.Is(e.Err, ErrProxyTimeout):
			c.TimedOut++
		case errors.Is(e.Err, ErrClosed):
			c.Closed++
		case errors.Is(e.Err, ErrNetworkLost):
			c.NetworkLost++
		default:
			c.Errors++
		}
	case SyncDone:
		c.Syncs++
	case SyncFailed:
		c.SyncErrors++
	}
}
