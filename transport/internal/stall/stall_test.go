package stall

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestTrace drives the meter's core over fixed instants: on-time and
// slightly late wake-ups count nothing, a late one counts from when it was
// due, and a stall in progress counts up to now.
func TestTrace(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const ms = time.Millisecond
	at := func(us int) time.Time { return t0.Add(time.Duration(us) * time.Microsecond) }
	var m Meter
	m.last = t0
	// Instants in microseconds since t0.
	steps := []struct {
		wake      int           // < 0: no wake-up at this step
		now       int           // for total and between
		total     time.Duration // want
		from, to  int           // for between
		between   time.Duration // want
		longest   time.Duration // want, over [from, to]
		spanCount int
	}{
		{wake: 1000, now: 1000, total: 0, from: 0, to: 1000, between: 0},
		{wake: 2100, now: 2100, total: 0, from: 0, to: 3000, between: 0},                                                 // jitter
		{wake: 5100, now: 5100, total: 0, from: 0, to: 6000, between: 0},                                                 // Slack late: still jitter
		{wake: 55100, now: 55100, total: 49 * ms, from: 0, to: 100000, between: 49 * ms, longest: 49 * ms, spanCount: 1}, // stalled from 6.1 ms
		{wake: 57000, now: 57000, total: 49 * ms, from: 10000, to: 20000, between: 10 * ms, longest: 49 * ms, spanCount: 1},
		// No wake-up since 57 ms: the stall in progress counts from 58 ms up to now.
		{wake: -1, now: 78000, total: 69 * ms, from: 50100, to: 78000, between: 25 * ms, longest: 49 * ms, spanCount: 1},
		{wake: -1, now: 60000, total: 49 * ms, from: 0, to: 100000, between: 49 * ms, longest: 49 * ms, spanCount: 1}, // Slack late: not yet
	}
	for i, s := range steps {
		if s.wake >= 0 {
			m.wake(at(s.wake))
		}
		if got := m.total(at(s.now)); got != s.total {
			t.Errorf("step %d: total(%v ms) = %v, want %v", i, s.now, got, s.total)
		}
		if got := m.between(at(s.from), at(s.to), at(s.now)); got != s.between {
			t.Errorf("step %d: between(%v, %v ms) = %v, want %v", i, s.from, s.to, got, s.between)
		}
		if got := m.longest(at(s.from), at(s.to), at(s.now)); got != s.longest {
			t.Errorf("step %d: longest(%v, %v ms) = %v, want %v", i, s.from, s.to, got, s.longest)
		}
		if len(m.spans) != s.spanCount {
			t.Errorf("step %d: %d stalls recorded, want %d", i, len(m.spans), s.spanCount)
		}
	}
}

// TestAcquireRelease: the goroutine runs while anyone holds the meter and
// stops with the last Release (TestMain checks that nothing is left).
func TestAcquireRelease(t *testing.T) {
	a, b := Acquire(), Acquire()
	if a != b {
		t.Fatal("two meters for one process")
	}
	from := time.Now()
	deadline := time.After(10 * time.Second)
	for {
		a.mu.Lock()
		woke := a.last.After(from)
		a.mu.Unlock()
		if woke {
			break
		}
		select {
		case <-deadline:
			t.Fatal("the meter's goroutine never woke")
		case <-time.After(Tick):
		}
	}
	if r := a.Running(from, from); r != 0 {
		t.Errorf("Running over an empty interval = %v", r)
	}
	a.Release()
	b.Release()
	c := Acquire() // starts again
	c.Release()
}
