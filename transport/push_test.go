package transport

import (
	"errors"
	"fmt"
	"testing"

	"github.com/pushbeat/pushbeat/heartbeat"
)

// TestPushState: push availability as a trace over its two inputs, the
// tuner's verdict (H9) and the server's range (H8), announcing each change
// once, with the cause (L1: nothing else switches push off).
func TestPushState(t *testing.T) {
	bounds := fmt.Errorf("%w: server range [30m, none]", heartbeat.ErrPushUnavailable)
	type step struct {
		workable  bool
		bounds    error // set before update
		kind      EventKind
		cause     error // matched with errors.Is; nil: no error
		available bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"workable stays available, silently", []step{
			{true, nil, 0, nil, true},
			{true, nil, 0, nil, true},
		}},
		{"unworkable, then a probe works (H9)", []step{
			{false, nil, PushUnavailable, ErrPushUnworkable, false},
			{false, nil, 0, nil, false},
			{true, nil, PushAvailable, nil, true},
			{true, nil, 0, nil, true},
		}},
		{"bounds exclude the device, then fit (H8)", []step{
			{true, bounds, PushUnavailable, heartbeat.ErrPushUnavailable, false},
			{true, bounds, 0, nil, false},
			{true, nil, PushAvailable, nil, true},
		}},
		{"both: the bounds are the cause; available only when both clear", []step{
			{false, bounds, PushUnavailable, heartbeat.ErrPushUnavailable, false},
			{true, bounds, 0, nil, false},
			{false, nil, 0, nil, false},
			{true, nil, PushAvailable, nil, true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p pushState
			for i, s := range tt.steps {
				p.bounds = s.bounds
				kind, cause := p.update(s.workable)
				if kind != s.kind || (s.cause == nil) != (cause == nil) || s.cause != nil && !errors.Is(cause, s.cause) {
					t.Fatalf("step %d: update(%v) = %v, %v want %v, %v", i, s.workable, kind, cause, s.kind, s.cause)
				}
				if got := p.available(s.workable); got != s.available || p.unavailable == s.available {
					t.Fatalf("step %d: available(%v) = %v, announced unavailable %v; want %v", i, s.workable, got, p.unavailable, s.available)
				}
			}
		})
	}
}

// TestCounts: each event kind counts where Counts documents it; a refused
// connection counts as closed (it matches ErrClosed), not as network loss.
func TestCounts(t *testing.T) {
	var c Counts
	for _, e := range []Event{
		{Kind: PingStarted}, {Kind: PingStarted},
		{Kind: PingAnswered, Status: Expired}, {Kind: PingAnswered, Status: Changed}, {Kind: PingAnswered, Status: OutOfBounds},
		{Kind: PingFailed, Err: &PingError{Kind: ErrTimedOut}}, {Kind: PingFailed, Err: &PingError{Kind: ErrProxyTimeout}},
		{Kind: PingFailed, Err: &PingError{Kind: ErrClosed}}, {Kind: PingFailed, Err: &PingError{Kind: ErrRefused}},
		{Kind: PingFailed, Err: &PingError{Kind: ErrNetworkLost}},
		{Kind: PingFailed, Err: &PingError{Kind: ErrServer}}, {Kind: PingFailed, Err: &PingError{Kind: ErrProtocol}},
		{Kind: SyncDone}, {Kind: SyncFailed},
		{Kind: IntervalChanged}, {Kind: BackoffEntered}, {Kind: PushUnavailable},
	} {
		c.add(e)
	}
	want := Counts{Pings: 2, Expired: 1, Changed: 1, OutOfBounds: 1, TimedOut: 2, Closed: 2, NetworkLost: 1, Errors: 2, Syncs: 1, SyncErrors: 1}
	if c != want {
		t.Fatalf("counts %+v want %+v", c, want)
	}
}
