package heartbeat_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
)

const (
	E = heartbeat.Expired
	C = heartbeat.Changed
	T = heartbeat.TimedOut
	K = heartbeat.KnownCause
	L = heartbeat.NetworkLost
)

const minute = time.Minute

// step is one observation in a trace and what must follow from it.
type step struct {
	o      heartbeat.Outcome
	want   time.Duration    // interval after the observation
	reason heartbeat.Reason // reason reported for the change
}

// runTrace feeds steps to tr, failing with the step number on the first
// disagreement.
func runTrace(t *testing.T, tr *heartbeat.Tuner, steps []step) {
	t.Helper()
	for i, s := range steps {
		before := tr.Interval()
		ch := tr.Observe(s.o)
		if ch.From != before || ch.To != s.want || ch.Reason != s.reason {
			t.Fatalf("step %d: Observe(%v) at %v = %v, want %v -> %v (%v)", i, s.o, before, ch, before, s.want, s.reason)
		}
		if got := tr.Interval(); got != s.want {
			t.Fatalf("step %d: Interval() = %v want %v", i, got, s.want)
		}
	}
}

func newTuner(t *testing.T, cfg heartbeat.Config) *heartbeat.Tuner {
	t.Helper()
	tr, err := heartbeat.New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return tr
}

const (
	none      = heartbeat.ReasonNone
	confirmed = heartbeat.ReasonConfirmed
	reverted  = heartbeat.ReasonReverted
	timedOut  = heartbeat.ReasonTimedOut
	lost      = heartbeat.ReasonNetworkLost
	restored  = heartbeat.ReasonCoverageRegained
)

// TestTraces covers every tuning rule (H4-H7, H10). A trace whose config
// names no strategy runs under both, since the rules it shows are common to
// them; where Adaptive's first search on a network (H10: steps of 5, then
// 15 minutes, capped at Max) makes its intervals differ, the trace states
// Adaptive's steps apart. Intervals are in minutes from the Direct Push documentation's defaults: Min 8, Increment
// 5, Max 28.
func TestTraces(t *testing.T) {
	tests := []struct {
		name  string
		cfg   heartbeat.Config
		only  bool // run with cfg.Strategy only
		steps []step
		// adaptive, if set, replaces steps under Adaptive: its first
		// search raises 13 minutes to 28, not 18 (H10).
		adaptive []step
	}{
		{
			// H4: two successive Expired raise by Increment; the streak
			// restarts after each raise; the raise is capped at Max.
			name: "H4 climb to Max",
			steps: []step{
				{E, 8 * minute, none}, {E, 13 * minute, confirmed},
				{E, 13 * minute, none}, {E, 18 * minute, confirmed},
				{E, 18 * minute, none}, {E, 23 * minute, confirmed},
				{E, 23 * minute, none}, {E, 28 * minute, confirmed},
				{E, 28 * minute, none}, {E, 28 * minute, none}, {E, 28 * minute, none},
			},
			adaptive: []step{
				{E, 8 * minute, none}, {E, 13 * minute, confirmed},
				{E, 13 * minute, none}, {E, 28 * minute, confirmed},
				{E, 28 * minute, none}, {E, 28 * minute, none}, {E, 28 * minute, none},
			},
		},
		{
			// H4: an early Changed answer neither confirms nor breaks the streak.
			name: "H4 Changed is neutral",
			steps: []step{
				{C, 8 * minute, none}, {C, 8 * minute, none}, {C, 8 * minute, none},
				{E, 8 * minute, none}, {C, 8 * minute, none}, {E, 13 * minute, confirmed},
			},
		},
		{
			// The Direct Push documentation's worked example: a 15-minute heartbeat whose answer
			// is lost, the client wakes at 16 minutes, and because the
			// heartbeat was not increased for that ping it drops to the
			// 8-minute minimum (H5).
			name:  "H5 seed example: 15 min lost, drop to 8",
			cfg:   heartbeat.Config{Default: 15 * minute},
			steps: []step{{T, 8 * minute, timedOut}},
		},
		{
			// H5: the first ping at a newly raised interval times out: back
			// to the previous interval, and the streak restarts there.
			name: "H5 revert after raise",
			cfg:  heartbeat.Config{Strategy: heartbeat.Classic},
			only: true,
			steps: []step{
				{E, 8 * minute, none}, {E, 13 * minute, confirmed},
				{T, 8 * minute, reverted},
				{E, 8 * minute, none}, {E, 13 * minute, confirmed},
			},
		},
		{
			// H5: once one full ping succeeded at the raised interval, a
			// later timeout is no longer "the first at a newly raised
			// interval": it drops to Min.
			name: "H5 timeout after a confirmed ping drops to Min",
			steps: []step{
				{E, 8 * minute, none}, {E, 13 * minute, confirmed},
				{E, 13 * minute, none}, {E, 18 * minute, confirmed},
				{E, 18 * minute, none},
				{T, 8 * minute, timedOut},
			},
			adaptive: []step{
				{E, 8 * minute, none}, {E, 13 * minute, confirmed},
				{E, 13 * minute, none}, {E, 28 * minute, confirmed},
				{E, 28 * minute, none},
				{T, 8 * minute, timedOut},
			},
		},
		{
			// H4 + H5: an early Changed answer after a raise is not a full
			// ping at the new interval, so a timeout after it still reverts.
			name: "H5 Changed between raise and timeout still reverts",
			steps: []step{
				{E, 8 * minute, none}, {E, 13 * minute, confirmed},
				{E, 13 * minute, none}, {E, 18 * minute, confirmed},
				{C, 18 * minute, none}, {C, 18 * minute, none},
				{T, 13 * minute, reverted},
			},
			adaptive: []step{
				{E, 8 * minute, none}, {E, 13 * minute, confirmed},
				{E, 13 * minute, none}, {E, 28 * minute, confirmed},
				{C, 28 * minute, none}, {C, 28 * minute, none},
				{T, 13 * minute, reverted},
			},
		},
		{
			// H5: a timeout restarts the streak even without a move.
			name: "H5 streak restarts on timeout at the floor",
			steps: []step{
				{E, 8 * minute, none}, {T, 8 * minute, none},
				{E, 8 * minute, none}, {E, 13 * minute, confirmed},
			},
		},
		{
			// H6: KnownCause changes nothing, wherever it falls.
			name: "H6 KnownCause is ignored",
			steps: []step{
				{K, 8 * minute, none}, {E, 8 * minute, none}, {K, 8 * minute, none},
				{E, 13 * minute, confirmed}, {K, 13 * minute, none}, {K, 13 * minute, none},
				{T, 8 * minute, reverted},
			},
		},
		{
			// H7: network loss drops to Min; the first answer after coverage
			// returns restores the best confirmed interval at once.
			name: "H7 NetworkLost then Expired restores",
			steps: []step{
				{E, 8 * minute, none}, {E, 13 * minute, confirmed},
				{E, 13 * minute, none}, {E, 18 * minute, confirmed},
				{E, 18 * minute, none},
				{L, 8 * minute, lost}, {L, 8 * minute, none}, {K, 8 * minute, none},
				{E, 18 * minute, restored},
				{E, 18 * minute, none}, {E, 23 * minute, confirmed},
			},
			adaptive: []step{
				{E, 8 * minute, none}, {E, 13 * minute, confirmed},
				{E, 13 * minute, none}, {E, 28 * minute, confirmed},
				{E, 28 * minute, none},
				{L, 8 * minute, lost}, {L, 8 * minute, none}, {K, 8 * minute, none},
				{E, 28 * minute, restored},
				{E, 28 * minute, none}, {E, 28 * minute, none},
			},
		},
		{
			// H7: a Changed answer also proves coverage is back.
			name: "H7 NetworkLost then Changed restores",
			steps: []step{
				{E, 8 * minute, none}, {E, 13 * minute, confirmed}, {E, 13 * minute, none},
				{L, 8 * minute, lost},
				{C, 13 * minute, restored},
			},
		},
		{
			// H7: "best confirmed": an interval raised but not yet proven is
			// not what comes back; the one before it is.
			name: "H7 unproven raise is not remembered",
			steps: []step{
				{E, 8 * minute, none}, {E, 13 * minute, confirmed},
				{E, 13 * minute, none}, {E, 18 * minute, confirmed},
				{L, 8 * minute, lost},
				{E, 13 * minute, restored},
			},
			adaptive: []step{
				{E, 8 * minute, none}, {E, 13 * minute, confirmed},
				{E, 13 * minute, none}, {E, 28 * minute, confirmed},
				{L, 8 * minute, lost},
				{E, 13 * minute, restored},
			},
		},
		{
			// H7: a timeout while waiting for coverage does not throw the
			// remembered optimum away.
			name: "H7 timeout during loss keeps the memory",
			steps: []step{
				{E, 8 * minute, none}, {E, 13 * minute, confirmed}, {E, 13 * minute, none},
				{L, 8 * minute, lost}, {T, 8 * minute, none},
				{E, 13 * minute, restored},
			},
		},
		{
			// H7 + H5: a timeout contradicts what was confirmed: nothing
			// above the floor is remembered any more.
			name: "H7 timeout forgets the confirmed interval",
			steps: []step{
				{E, 8 * minute, none}, {E, 13 * minute, confirmed}, {E, 13 * minute, none},
				{T, 8 * minute, timedOut},
				{L, 8 * minute, none},
				{E, 8 * minute, none},
			},
		},
		{
			// Classic (H10): fixed increments fail at the same step forever
			// on a network that drops connections idle for 15 minutes.
			name: "Classic repeats the failing step",
			cfg:  heartbeat.Config{Strategy: heartbeat.Classic},
			only: true,
			steps: []step{
				{E, 8 * minute, none}, {E, 13 * minute, confirmed},
				{E, 13 * minute, none}, {E, 18 * minute, confirmed},
				{T, 13 * minute, reverted},
				{E, 13 * minute, none}, {E, 18 * minute, confirmed},
				{T, 13 * minute, reverted},
				{E, 13 * minute, none}, {E, 18 * minute, confirmed},
				{T, 13 * minute, reverted},
			},
		},
		{
			// Adaptive (H10): the first search raises 8 minutes by 5 and
			// 13 by 15; the failed 28 minutes become a ceiling, the first
			// search is over, and the next raises go at most half the way
			// there (by at most Increment), until the gap is within the
			// resolution (1/32 of the ceiling, at most 30 s).
			name: "Adaptive halves towards the ceiling",
			only: true,
			steps: []step{
				{E, 8 * minute, none}, {E, 13 * minute, confirmed},
				{E, 13 * minute, none}, {E, 28 * minute, confirmed},
				{T, 13 * minute, reverted}, // ceiling 28
				{E, 13 * minute, none}, {E, 18 * minute, confirmed},
				{T, 13 * minute, reverted}, // ceiling 18
				{E, 13 * minute, none}, {E, 15*minute + 30*time.Second, confirmed},
				{T, 13 * minute, reverted}, // ceiling 15:30
				{E, 13 * minute, none}, {E, 14*minute + 15*time.Second, confirmed},
				{E, 14*minute + 15*time.Second, none}, {E, 14*minute + 52500*time.Millisecond, confirmed},
				{E, 14*minute + 52500*time.Millisecond, none}, {E, 15*minute + 11250*time.Millisecond, confirmed},
				{T, 14*minute + 52500*time.Millisecond, reverted}, // ceiling 15:11.25, gap 18.75s
				{E, 14*minute + 52500*time.Millisecond, none}, {E, 14*minute + 52500*time.Millisecond, none},
				{E, 14*minute + 52500*time.Millisecond, none},
			},
		},
		{
			// Adaptive (H10): a timeout at the floor is not a ceiling (it
			// would forbid every increase); climbing resumes once Expired
			// answers prove the floor.
			name: "Adaptive timeout at the floor sets no ceiling",
			only: true,
			steps: []step{
				{T, 8 * minute, none}, {E, 8 * minute, none}, {E, 13 * minute, confirmed},
			},
		},
	}
	for _, tc := range tests {
		strategies := []heartbeat.Strategy{heartbeat.Classic, heartbeat.Adaptive}
		if tc.only {
			strategies = []heartbeat.Strategy{tc.cfg.Strategy}
		}
		for _, s := range strategies {
			t.Run(tc.name+"/"+s.String(), func(t *testing.T) {
				cfg := tc.cfg
				cfg.Strategy = s
				steps := tc.steps
				if s == heartbeat.Adaptive && tc.adaptive != nil {
					steps = tc.adaptive
				}
				runTrace(t, newTuner(t, cfg), steps)
			})
		}
	}
}

// TestCeilingTTL shows the Adaptive ceiling being re-tested after
// CeilingTTL Expired round trips (H10): one probe at the ceiling plus
// Resolution; a timeout re-arms the ceiling, a success forgets it. Changed
// answers do not age the ceiling.
func TestCeilingTTL(t *testing.T) {
	cfg := heartbeat.Config{CeilingTTL: 6}
	tr := newTuner(t, cfg)
	runTrace(t, tr, []step{
		{E, 8 * minute, none}, {E, 13 * minute, confirmed},
		{T, 8 * minute, reverted}, // ceiling 13, gap 5 min
		{E, 8 * minute, none}, {E, 10*minute + 30*time.Second, confirmed},
		{E, 10*minute + 30*time.Second, none}, {E, 11*minute + 45*time.Second, confirmed},
		{E, 11*minute + 45*time.Second, none},
		{E, 13*minute + 30*time.Second, confirmed}, // 6 expiries: probe at ceiling + 30s
		{T, 11*minute + 45*time.Second, reverted},  // probe failed: ceiling stays 13
		{E, 11*minute + 45*time.Second, none}, {E, 12*minute + 22500*time.Millisecond, confirmed},
		{C, 12*minute + 22500*time.Millisecond, none}, {E, 12*minute + 22500*time.Millisecond, none},
		{E, 12*minute + 41250*time.Millisecond, confirmed}, // gap 37.5s > 30s: one more half step
		{E, 12*minute + 41250*time.Millisecond, none},      // gap 18.75s: settled
	})
	if got := tr.Snapshot().Ceiling; got != 13*minute {
		t.Fatalf("ceiling after a failed probe = %v, want 13m", got)
	}

	// A probe that survives means the network changed: the ceiling goes.
	tr = newTuner(t, cfg)
	runTrace(t, tr, []step{
		{E, 8 * minute, none}, {E, 13 * minute, confirmed},
		{T, 8 * minute, reverted},
		{E, 8 * minute, none}, {E, 10*minute + 30*time.Second, confirmed},
		{E, 10*minute + 30*time.Second, none}, {E, 11*minute + 45*time.Second, confirmed},
		{E, 11*minute + 45*time.Second, none},
		{E, 13*minute + 30*time.Second, confirmed}, // the probe
		{E, 13*minute + 30*time.Second, none},      // survived
		{E, 18*minute + 30*time.Second, confirmed}, // full increments again
	})
	if got := tr.Snapshot().Ceiling; got != 0 {
		t.Fatalf("ceiling after a surviving probe = %v, want none", got)
	}
}

// TestProbeAboveCeiling checks that the H10 probe goes to the ceiling plus
// Resolution even when Increment makes it take several raises: the raises
// on the way are below the ceiling, so surviving them proves nothing about
// it, and a failed probe leaves the ceiling where it was.
func TestProbeAboveCeiling(t *testing.T) {
	tr := newTuner(t, heartbeat.Config{Default: 20 * minute, CeilingTTL: 4})
	runTrace(t, tr, []step{
		{T, 8 * minute, timedOut},                          // ceiling 20, 12 min above the floor
		{E, 8 * minute, none}, {E, 13 * minute, confirmed}, // half the gap, at most Increment
		{E, 13 * minute, none}, {E, 18 * minute, confirmed}, // 4 expiries: on the way to the probe
		{E, 18 * minute, none}, {E, 20*minute + 30*time.Second, confirmed}, // the probe
		{T, 18 * minute, reverted},                          // failed: the ceiling stays 20
		{E, 18 * minute, none}, {E, 19 * minute, confirmed}, // half the way to 20 again
	})
	if got := tr.Snapshot().Ceiling; got != 20*minute {
		t.Fatalf("ceiling after a failed probe = %v, want 20m", got)
	}
}

// TestResolutionOnShortTimeouts shows Adaptive settling within 1/32 of a
// short ceiling (H10): on a path that drops connections idle for more than
// 4 minutes, 30 s would leave it at 3m37.5s, 10% more pings an hour than
// the path allows; it settles at 3m57.2s instead, one probe later.
func TestResolutionOnShortTimeouts(t *testing.T) {
	tr := newTuner(t, heartbeat.Config{Min: minute, Default: 8 * minute})
	s := time.Second
	runTrace(t, tr, []step{
		{T, minute, timedOut},                              // ceiling 8 min
		{E, minute, none}, {E, 4*minute + 30*s, confirmed}, // half the gap
		{T, minute, reverted}, // ceiling 4m30s
		{E, minute, none}, {E, 2*minute + 45*s, confirmed},
		{E, 2*minute + 45*s, none}, {E, 3*minute + 37500*time.Millisecond, confirmed},
		// The gap, 52.5 s, is above 30 s: one more raise, which fails.
		{E, 3*minute + 37500*time.Millisecond, none}, {E, 4*minute + 3750*time.Millisecond, confirmed},
		{T, 3*minute + 37500*time.Millisecond, reverted}, // ceiling 4m3.75s
		// The gap, 26.25 s, is within 30 s but above 1/32 of the ceiling
		// (7.6 s): two more raises, both below 4 min.
		{E, 3*minute + 37500*time.Millisecond, none}, {E, 3*minute + 50625*time.Millisecond, confirmed},
		{E, 3*minute + 50625*time.Millisecond, none}, {E, 3*minute + 57187500*time.Microsecond, confirmed},
		{E, 3*minute + 57187500*time.Microsecond, none}, {E, 3*minute + 57187500*time.Microsecond, none}, // settled
	})
}

// TestUnworkable covers H9: timeouts at the floor, in a row, make push
// unworkable; only an Expired answer makes it workable again.
func TestUnworkable(t *testing.T) {
	for _, s := range []heartbeat.Strategy{heartbeat.Adaptive, heartbeat.Classic} {
		t.Run(s.String(), func(t *testing.T) {
			tr := newTuner(t, heartbeat.Config{Strategy: s})
			seq := []struct {
				o        heartbeat.Outcome
				workable bool
			}{
				{T, true}, {T, true}, {C, true}, {K, true}, {T, false},
				{T, false}, {C, false}, {K, false}, {L, false},
				{E, true},
				{T, true}, {T, true}, {E, true}, {T, true}, {T, true}, {T, false},
			}
			for i, st := range seq {
				tr.Observe(st.o)
				if got := tr.Workable(); got != st.workable {
					t.Fatalf("step %d: after %v Workable() = %v want %v", i, st.o, got, st.workable)
				}
				if got := tr.Snapshot().Workable; got != st.workable {
					t.Fatalf("step %d: Snapshot().Workable = %v want %v", i, got, st.workable)
				}
			}
		})
	}

	// Timeouts above the floor do not count: they drop to the floor first.
	tr := newTuner(t, heartbeat.Config{UnworkableAfter: 2})
	runTrace(t, tr, []step{{E, 8 * minute, none}, {E, 13 * minute, confirmed}, {T, 8 * minute, reverted}})
	if !tr.Workable() {
		t.Fatal("a reverted raise made push unworkable")
	}
	tr.Observe(T)
	if !tr.Workable() {
		t.Fatal("unworkable after 1 floor timeout, UnworkableAfter is 2")
	}
	tr.Observe(T)
	if tr.Workable() {
		t.Fatal("still workable after 2 floor timeouts")
	}
}

// TestServerBounds covers H8 with the Direct Push documentation's example ranges.
func TestServerBounds(t *testing.T) {
	tests := []struct {
		name             string
		serverMin, sMax  time.Duration
		wantErr          error
		wantLo, wantHi   time.Duration
		wantAfterClimbTo time.Duration
	}{
		{"exchange default 1-45 min", 1 * minute, 45 * minute, nil, 8 * minute, 28 * minute, 28 * minute},
		{"example 4: 15-30 min", 15 * minute, 30 * minute, nil, 15 * minute, 28 * minute, 28 * minute},
		{"example 5: 1-10 min", 1 * minute, 10 * minute, nil, 8 * minute, 10 * minute, 10 * minute},
		{"example 6: 20-45 min", 20 * minute, 45 * minute, nil, 20 * minute, 28 * minute, 28 * minute},
		{"only a minimum", 10 * minute, 0, nil, 10 * minute, 28 * minute, 28 * minute},
		{"only a maximum", 0, 20 * minute, nil, 8 * minute, 20 * minute, 20 * minute},
		{"server minimum above device maximum", 29 * minute, 45 * minute, heartbeat.ErrPushUnavailable, 8 * minute, 28 * minute, 0},
		{"server maximum below device minimum", 1 * minute, 7 * minute, heartbeat.ErrPushUnavailable, 8 * minute, 28 * minute, 0},
		{"negative", -1, 45 * minute, heartbeat.ErrInvalidConfig, 8 * minute, 28 * minute, 0},
		{"empty server range", 30 * minute, 20 * minute, heartbeat.ErrInvalidConfig, 8 * minute, 28 * minute, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTuner(t, heartbeat.Config{})
			before, _ := tr.MarshalJSON()
			ch, err := tr.SetServerBounds(tc.serverMin, tc.sMax)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("SetServerBounds(%v, %v) error = %v, want %v", tc.serverMin, tc.sMax, err, tc.wantErr)
			}
			s := tr.Snapshot()
			if s.Min != tc.wantLo || s.Max != tc.wantHi {
				t.Fatalf("bounds = [%v, %v], want [%v, %v]", s.Min, s.Max, tc.wantLo, tc.wantHi)
			}
			if err != nil {
				after, _ := tr.MarshalJSON()
				if string(before) != string(after) {
					t.Fatalf("failed SetServerBounds changed the state:\n%s\n%s", before, after)
				}
				return
			}
			if ch.To != tc.wantLo || (ch.From != ch.To) != (ch.Reason == heartbeat.ReasonServerBounds) {
				t.Fatalf("change = %v, want to %v", ch, tc.wantLo)
			}
			for i := 0; i < 20; i++ {
				tr.Observe(E)
				if iv := tr.Interval(); iv < tc.wantLo || iv > tc.wantHi {
					t.Fatalf("interval %v left [%v, %v]", iv, tc.wantLo, tc.wantHi)
				}
			}
			if got := tr.Interval(); got != tc.wantAfterClimbTo {
				t.Fatalf("climbed to %v, want %v", got, tc.wantAfterClimbTo)
			}
			// H5 within bounds: a timeout drops to the effective minimum.
			tr.Observe(E)
			if ch := tr.Observe(T); ch.To != tc.wantLo {
				t.Fatalf("timeout dropped to %v, want %v", ch.To, tc.wantLo)
			}
		})
	}
}

// TestServerBoundsMoveInterval checks that narrowing bounds moves the
// interval into them and reports it (H8, H13).
func TestServerBoundsMoveInterval(t *testing.T) {
	tr := newTuner(t, heartbeat.Config{Default: 20 * minute})
	ch, err := tr.SetServerBounds(1*minute, 10*minute)
	if err != nil || ch != (heartbeat.Change{From: 20 * minute, To: 10 * minute, Reason: heartbeat.ReasonServerBounds}) {
		t.Fatalf("SetServerBounds = %v, %v", ch, err)
	}
	if d := tr.Deadline(); d != 11*minute {
		t.Fatalf("Deadline() = %v want 11m", d)
	}
	// Widening again does not move the interval by itself.
	ch, err = tr.SetServerBounds(0, 0)
	if err != nil || ch.Reason != heartbeat.ReasonNone || tr.Interval() != 10*minute {
		t.Fatalf("widening: %v, %v, interval %v", ch, err, tr.Interval())
	}
}

// TestNetworks covers H11: each network keeps what it learned.
func TestNetworks(t *testing.T) {
	tr := newTuner(t, heartbeat.Config{})
	climb := func(n int) {
		for i := 0; i < n; i++ {
			tr.Observe(E)
		}
	}
	climb(4) // 28 min on the default network "": 8, 13, 28 (the first search, H10)
	if ch := tr.SwitchNetwork("wifi:Home"); ch != (heartbeat.Change{From: 28 * minute, To: 8 * minute, Reason: heartbeat.ReasonNetworkSwitch}) {
		t.Fatalf("switch to a new network: %v", ch)
	}
	climb(2) // 13 min at home
	if ch := tr.SwitchNetwork("cell:310-260"); ch.To != 8*minute {
		t.Fatalf("new cell network starts at %v", ch.To)
	}
	tr.Observe(T)
	if ch := tr.SwitchNetwork("wifi:Home"); ch.To != 13*minute || ch.Reason != heartbeat.ReasonNetworkSwitch {
		t.Fatalf("back home: %v", ch)
	}
	if ch := tr.SwitchNetwork("wifi:Home"); ch.Reason != heartbeat.ReasonNone {
		t.Fatalf("switching to the current network: %v", ch)
	}
	if ch := tr.SwitchNetwork(""); ch.To != 28*minute {
		t.Fatalf("back to the first network: %v", ch)
	}
	if got := tr.Network(); got != "" {
		t.Fatalf("Network() = %q", got)
	}
	// H9 state is per network too.
	tr.SwitchNetwork("cell:310-260")
	tr.Observe(T)
	tr.Observe(T)
	if tr.Workable() {
		t.Fatal("cell network should be unworkable after 3 floor timeouts")
	}
	tr.SwitchNetwork("wifi:Home")
	if !tr.Workable() {
		t.Fatal("home network inherited the cell network's H9 state")
	}
}

// TestMaxNetworks checks that the least recently used network is forgotten
// when MaxNetworks is exceeded (H11), even the one being left when the
// limit is 1.
func TestMaxNetworks(t *testing.T) {
	tr := newTuner(t, heartbeat.Config{MaxNetworks: 2})
	tr.Observe(E)
	tr.Observe(E) // "" at 13 min
	tr.SwitchNetwork("a")
	tr.Observe(E)
	tr.Observe(E)
	tr.Observe(E)
	tr.Observe(E)         // "a" at 28 min: 8, 13, 28 (the first search, H10)
	tr.SwitchNetwork("b") // evicts "", the least recently used
	if ch := tr.SwitchNetwork("a"); ch.To != 28*minute {
		t.Fatalf("a was forgotten: %v", ch)
	}
	if ch := tr.SwitchNetwork(""); ch.To != 8*minute {
		t.Fatalf("\"\" should have been forgotten and start over: %v", ch)
	}
}

// TestUnknownOutcomeChangesNothing: an Outcome outside H3's five changes
// nothing, as Observe documents.
func TestUnknownOutcomeChangesNothing(t *testing.T) {
	tr := newTuner(t, heartbeat.Config{})
	before, _ := tr.MarshalJSON()
	for _, o := range []heartbeat.Outcome{0, -1, 99} {
		if ch := tr.Observe(o); ch.Reason != heartbeat.ReasonNone {
			t.Fatalf("Observe(%v) = %v", o, ch)
		}
	}
	after, _ := tr.MarshalJSON()
	if string(before) != string(after) {
		t.Fatal("an unknown outcome changed the state")
	}
}

// TestNewNetworkStartsAtDefault checks SPEC H11's "starts from Default on
// a new one": Default, not Min, and within the server's range (H8).
func TestNewNetworkStartsAtDefault(t *testing.T) {
	tr := newTuner(t, heartbeat.Config{Default: 13 * minute})
	tr.Observe(T) // the first network drops to Min
	if ch := tr.SwitchNetwork("wifi:Home"); ch.To != 13*minute {
		t.Fatalf("a new network: %v, want Default 13m", ch)
	}
	if _, err := tr.SetServerBounds(0, 10*minute); err != nil {
		t.Fatal(err)
	}
	if ch := tr.SwitchNetwork("cell:310-260"); ch.To != 10*minute {
		t.Fatalf("a new network under a 10m server maximum: %v, want 10m", ch)
	}
}

// TestSeedWorkedExample: the Direct Push documentation's 15-minute heartbeat is given up at 16
// minutes (the interval plus the 1-minute buffer, SPEC T2), and since it
// was not just raised it drops to the 8-minute minimum (H5).
func TestSeedWorkedExample(t *testing.T) {
	tr := newTuner(t, heartbeat.Config{Default: 15 * minute})
	if d := tr.Deadline(); d != 16*minute {
		t.Fatalf("Deadline() = %v, want 16m", d)
	}
	if ch := tr.Observe(T); ch != (heartbeat.Change{From: 15 * minute, To: 8 * minute, Reason: timedOut}) {
		t.Fatalf("Observe(TimedOut) = %v, want 15m0s -> 8m0s (timed-out)", ch)
	}
}

// TestMaxNetworksOne checks that with MaxNetworks 1 the network being left
// is forgotten (H11).
func TestMaxNetworksOne(t *testing.T) {
	tr := newTuner(t, heartbeat.Config{MaxNetworks: 1})
	tr.Observe(E)
	tr.Observe(E)
	tr.SwitchNetwork("a")
	if ch := tr.SwitchNetwork(""); ch.To != 8*minute {
		t.Fatalf("with MaxNetworks 1 the old network should be forgotten: %v", ch)
	}
	if b, _ := tr.MarshalJSON(); strings.Count(string(b), `"id"`) != 1 {
		t.Fatalf("state keeps more than one network: %s", b)
	}
}

// TestResolutionRule: behind a path that drops connections idle for 4
// minutes or more, Adaptive settles within the default rule's 1/32 of the
// failed interval (7.5 s at 4 min) when Config.Resolution is zero, and
// as far below as the Resolution it is given otherwise: a coarse
// Resolution is a margin the application chose, never narrowed (H10).
func TestResolutionRule(t *testing.T) {
	const timeout = 4 * minute
	for _, tc := range []struct {
		resolution time.Duration
		lo, hi     time.Duration // the settled interval lies in [lo, hi]
	}{
		{0, timeout - timeout/32, timeout - time.Millisecond},
		{30 * time.Second, timeout - 30*time.Second, timeout - 30*time.Second/4},
		{time.Minute, timeout - time.Minute, timeout - time.Minute/4},
	} {
		tr := newTuner(t, heartbeat.Config{Min: time.Minute, Max: 28 * minute, Increment: 5 * minute,
			Resolution: tc.resolution})
		for range 200 {
			if tr.Interval() < timeout {
				tr.Observe(heartbeat.Expired)
			} else {
				tr.Observe(heartbeat.TimedOut)
			}
		}
		if iv := tr.Interval(); iv < tc.lo || iv > tc.hi {
			t.Errorf("Resolution %v: settled at %v, want in [%v, %v]", tc.resolution, iv, tc.lo, tc.hi)
		}
	}
}
