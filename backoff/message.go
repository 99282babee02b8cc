package backoff

import (
	"fmt"
	"strings"
	"time"
)

// Status is a snapshot of the controller for a user interface (B7).
type Status struct {
	// Phase is the UI phase (B6).
	Phase Phase
	// Reason is why the controller is waiting while Next is set; otherwise
	// the Reason of the last failure counted, or ReasonNone after a
	// success.
	Reason Reason
	// Failures is the number of consecutive failed attempts.
	Failures int
	// Next is the earliest time the next attempt is allowed, or the zero
	// time if an attempt is allowed now. Allow returns nil exactly when Next
	// is zero.
	Next time.Time
	// ManualRetryAllowed reports whether ManualRetry would succeed now.
	ManualRetryAllowed bool
	// Message is a one-line text for the user, such as "Server maintenance:
	// next sync at 14:05" (times in Next's location, rounded up to the
	// minute).
	Message string
}

// String formats the status for logs, for example "phase=initial
// reason=server-error failures=1 next=2025-01-01T14:20:00Z manual-retry=true".
func (s Status) String() string {
	next := "now"
	if !s.Next.IsZero() {
		next = s.Next.Format(time.RFC3339)
	}
	return fmt.Sprintf("phase=%s reason=%s failures=%d next=%s manual-retry=%t",
		s.Phase, s.Reason, s.Failures, next, s.ManualRetryAllowed)
}

// same reports whether two snapshots describe the same state.
func (s Status) same(t Status) bool {
	return s.Phase == t.Phase && s.Reason == t.Reason && s.Failures == t.Failures &&
		s.Next.Equal(t.Next) && s.ManualRetryAllowed == t.ManualRetryAllowed
}

// message builds Status.Message.
func message(s Status, now time.Time) string {
	var what string
	switch s.Reason {
	case ReasonMaintenance:
		what = "Server maintenance"
	case ReasonRateLimited:
		what = "Server overloaded"
	case ReasonServerBackoff:
		what = "Server busy"
	case ReasonServerError:
		what = "Server error"
	case ReasonNetworkError:
		what = "Network problem"
	case ReasonReconnecting:
		what = "Reconnecting"
	default:
		if s.Next.IsZero() {
			return "Syncing normally"
		}
		what = "Waiting"
	}
	var b strings.Builder
	if s.Phase == Secondary {
		fmt.Fprintf(&b, "Data is not syncing (%d failed attempts). ", s.Failures)
	}
	b.WriteString(what)
	switch {
	case s.Next.IsZero():
		b.WriteString(": retrying automatically")
	case s.Phase == Initial && (s.Reason == ReasonServerError || s.Reason == ReasonNetworkError || s.Reason == ReasonReconnecting):
		b.WriteString(": retrying automatically at ")
		b.WriteString(clockTime(s.Next, now))
	default:
		b.WriteString(": next sync at ")
		b.WriteString(clockTime(s.Next, now))
	}
	return b.String()
}

// clockTime formats t for a user as "15:04", or "Jan 2 15:04" when it is not
// on the same day as now, rounded up to the minute so that the time shown
// is never before the time allowed.
func clockTime(t, now time.Time) string {
	if r := t.Round(0).Truncate(time.Minute); !r.Equal(t) {
		t = r.Add(time.Minute)
	}
	now = now.In(t.Location())
	if y, m, d := t.Date(); y != now.Year() || m != now.Month() || d != now.Day() {
		return t.Format("Jan 2 15:04")
	}
	return t.Format("15:04")
}
