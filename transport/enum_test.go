package transport_test

import (
	"fmt"
	"testing"

	"github.com/pushbeat/pushbeat/transport"
)

// TestEnumNames: State and EventKind name every value from their tables
// (the names logs, events and the README show) and print a value without
// a name as Type(n).
func TestEnumNames(t *testing.T) {
	for v, want := range map[fmt.Stringer]string{
		transport.Stopped:    "stopped",
		transport.Pinging:    "pinging",
		transport.Syncing:    "syncing",
		transport.BackingOff: "backing-off",
		transport.Scheduled:  "scheduled",
		transport.State(-1):  "State(-1)",
		transport.State(5):   "State(5)",

		transport.PingStarted:     "ping-started",
		transport.PingAnswered:    "ping-answered",
		transport.PingFailed:      "ping-failed",
		transport.IntervalChanged: "interval-changed",
		transport.ServerBounds:    "server-bounds",
		transport.SyncDone:        "sync-done",
		transport.SyncFailed:      "sync-failed",
		transport.BackoffEntered:  "backoff-entered",
		transport.BackoffLeft:     "backoff-left",
		transport.PushUnavailable: "push-unavailable",
		transport.PushAvailable:   "push-available",
		transport.EventKind(0):    "EventKind(0)",
		transport.EventKind(12):   "EventKind(12)",
	} {
		if got := v.String(); got != want {
			t.Errorf("%T(%d).String() = %q want %q", v, v, got, want)
		}
	}
}
