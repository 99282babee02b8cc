package sim

import (
	"errors"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
)

const (
	E = heartbeat.Expired
	C = heartbeat.Changed
	T = heartbeat.TimedOut
)

// step is one step of a strategy trace: an outcome (or, when bounds is
// set, a SetServerBounds call) and the interval expected after it.
type step struct {
	o      heartbeat.Outcome
	bounds *[2]time.Duration
	want   time.Duration
}

func trace(t *testing.T, name string, sc Scenario, steps []step) {
	t.Helper()
	st, err := NewStrategy(name, sc)
	if err != nil {
		t.Fatal(err)
	}
	if st.Name() != name {
		t.Errorf("Name() = %q want %q", st.Name(), name)
	}
	for i, s := range steps {
		if s.bounds != nil {
			if err := st.SetServerBounds(s.bounds[0], s.bounds[1]); err != nil {
				t.Fatalf("step %d: SetServerBounds(%v) = %v", i, *s.bounds, err)
			}
		} else if s.o != 0 {
			st.Observe(s.o)
		}
		if got := st.Interval(); got != s.want {
			t.Errorf("step %d: %s after %v: Interval() = %v want %v", i, name, s.o, got, s.want)
		}
		if !st.Workable() {
			t.Errorf("step %d: %s reports push unworkable", i, name)
		}
	}
}

func bounds(lo, hi time.Duration) *[2]time.Duration { return &[2]time.Duration{lo, hi} }

// TestAOSPRule checks the AOSP Exchange client's rule (SPEC E2 baseline): +5 min on each
// expiry, -5 min on a timeout, 8 to 28 min, changes neutral, the server's
// limit on status 5.
func TestAOSPRule(t *testing.T) {
	trace(t, StrategyAOSP, Scenario{}, []step{
		{want: 8 * m},
		{o: E, want: 13 * m},
		{o: C, want: 13 * m},
		{o: E, want: 18 * m},
		{o: E, want: 23 * m},
		{o: E, want: 28 * m},
		{o: E, want: 28 * m}, // capped
		{o: T, want: 23 * m},
		{o: heartbeat.NetworkLost, want: 18 * m},
		{o: heartbeat.KnownCause, want: 18 * m},
		{o: T, want: 13 * m},
		{o: T, want: 8 * m},
		{o: T, want: 8 * m}, // floor
		{bounds: bounds(10*m, 0), want: 10 * m},
		{o: E, want: 15 * m},
		{bounds: bounds(10*m, 12*m), want: 12 * m},
		{o: E, want: 12 * m},
	})
}

// TestMicroGRule checks the multiplicative rule (SPEC E2 baseline): ×1.02 after an expiry,
// ×0.95 after a timeout, in whole milliseconds, 8 to 28 min.
func TestMicroGRule(t *testing.T) {
	trace(t, StrategyMicroG, Scenario{}, []step{
		{want: 8 * m},
		{o: E, want: 489600 * time.Millisecond},                         // 480 s × 1.02
		{o: E, want: 499392 * time.Millisecond},                         // × 1.02
		{o: C, want: 499392 * time.Millisecond},                         // neutral
		{o: T, want: 480000 * time.Millisecond},                         // × 0.95 = 474.4224 s, clamped
		{bounds: bounds(0, 9*m), want: 8 * m},                           // unchanged inside
		{o: E, want: 489600 * time.Millisecond},                         // × 1.02
		{bounds: bounds(0, 8*m+5*time.Second), want: 485 * time.Second}, // clamped to the server
		{o: T, want: 480 * time.Second},                                 // 460.75 s, clamped to the floor
	})
	st, _ := NewStrategy(StrategyMicroG, Scenario{})
	for range 200 {
		st.Observe(E)
	}
	if got := st.Interval(); got != 28*m {
		t.Errorf("after 200 expiries: %v want the 28m maximum", got)
	}
	st.Observe(T)
	if got := st.Interval(); got != 1596*time.Second {
		t.Errorf("28m × 0.95 = %v want 26m36s", got)
	}
}

// TestFixedAndOracle checks the fixed baselines and the oracle (SPEC E2), which pings
// at the largest allowed interval not above the network timeout.
func TestFixedAndOracle(t *testing.T) {
	for i, c := range []struct {
		name                string
		timeout, smin, smax time.Duration
		want                time.Duration
	}{
		{StrategyFixedMin, 0, 0, 0, 8 * m},
		{StrategyFixedMax, 0, 0, 0, 28 * m},
		{StrategyFixedMax, 0, 0, 20 * m, 20 * m},
		{StrategyFixedMin, 0, 10 * m, 0, 10 * m},
		{StrategyOracle, 15 * m, 0, 0, 15 * m},
		{StrategyOracle, 0, 0, 0, 28 * m},           // no timeout: the maximum
		{StrategyOracle, 37 * m, 0, 0, 28 * m},      // above the range
		{StrategyOracle, 5 * m, 0, 0, 8 * m},        // below the floor: the floor
		{StrategyOracle, 15 * m, 0, 10 * m, 10 * m}, // the server's maximum
		{StrategyOracle, 15 * m, 20 * m, 0, 20 * m}, // the server's minimum
	} {
		sc := Scenario{Timeout: c.timeout}
		st, err := NewStrategy(c.name, sc)
		if err != nil {
			t.Fatal(err)
		}
		if c.smin > 0 || c.smax > 0 {
			if err := st.SetServerBounds(c.smin, c.smax); err != nil {
				t.Fatal(err)
			}
		}
		for _, o := range []heartbeat.Outcome{E, T, C, E, E} {
			st.Observe(o)
			if got := st.Interval(); got != c.want {
				t.Errorf("step %d: %s (timeout %v, server [%v, %v]) after %v: %v want %v",
					i, c.name, c.timeout, c.smin, c.smax, o, got, c.want)
			}
		}
	}
}

// TestTunerStrategies checks that the tuner strategies are the heartbeat
// package's (SPEC H4, H5, H10) with the scenario's device range.
func TestTunerStrategies(t *testing.T) {
	// heartbeat's own sequence on a 15-minute network (doc.go).
	trace(t, StrategyClassic, Scenario{}, []step{
		{want: 8 * m}, {o: E, want: 8 * m}, {o: E, want: 13 * m}, {o: E, want: 13 * m},
		{o: E, want: 18 * m}, {o: T, want: 13 * m}, {o: E, want: 13 * m}, {o: E, want: 18 * m},
	})
	// Adaptive's first search raises 13 minutes to 28 (H10); after the
	// timeout there, halfway to the ceiling by at most Increment.
	trace(t, StrategyAdaptive, Scenario{}, []step{
		{want: 8 * m}, {o: E, want: 8 * m}, {o: E, want: 13 * m}, {o: E, want: 13 * m},
		{o: E, want: 28 * m}, {o: T, want: 13 * m}, {o: E, want: 13 * m}, {o: E, want: 18 * m},
	})
	trace(t, StrategyAdaptive, Scenario{Min: 2 * m, Max: 4 * m}, []step{
		{want: 2 * m}, {o: E, want: 2 * m}, {o: E, want: 4 * m},
	})
}

// TestNoOverlap checks that every strategy reports SPEC H8's empty
// intersection as heartbeat.ErrPushUnavailable.
func TestNoOverlap(t *testing.T) {
	for _, name := range StrategyNames() {
		st, err := NewStrategy(name, Scenario{Timeout: 15 * m})
		if err != nil {
			t.Fatal(err)
		}
		before := st.Interval()
		if err := st.SetServerBounds(30*m, 45*m); !errors.Is(err, heartbeat.ErrPushUnavailable) {
			t.Errorf("%s: SetServerBounds(30m, 45m) = %v want ErrPushUnavailable", name, err)
		}
		if err := st.SetServerBounds(m, 5*m); !errors.Is(err, heartbeat.ErrPushUnavailable) {
			t.Errorf("%s: SetServerBounds(1m, 5m) = %v want ErrPushUnavailable", name, err)
		}
		if got := st.Interval(); got != before {
			t.Errorf("%s: a refused range moved the interval from %v to %v", name, before, got)
		}
	}
}

// TestTunerUnworkable checks that the tuner strategies report SPEC H9
// through Workable and the baselines never do.
func TestTunerUnworkable(t *testing.T) {
	for _, name := range StrategyNames() {
		st, _ := NewStrategy(name, Scenario{})
		for range 3 {
			st.Observe(T)
		}
		want := name != StrategyAdaptive && name != StrategyClassic
		if got := st.Workable(); got != want {
			t.Errorf("%s after 3 timeouts at the floor: Workable() = %v want %v", name, got, want)
		}
	}
}
