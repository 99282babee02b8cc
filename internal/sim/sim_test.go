package sim

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/transport"
)

const m = time.Minute

// constant is a test strategy that always asks for iv and records what it
// is told.
type constant struct {
	iv       time.Duration
	outcomes []heartbeat.Outcome
}

func (c *constant) Name() string                             { return "constant" }
func (c *constant) Interval() time.Duration                  { return c.iv }
func (c *constant) Observe(o heartbeat.Outcome)              { c.outcomes = append(c.outcomes, o) }
func (c *constant) SetServerBounds(_, _ time.Duration) error { return nil }
func (c *constant) Workable() bool                           { return true }

// record runs sc with st and returns the result and the ping records.
func record(t *testing.T, sc Scenario, st Strategy) (Result, []Ping) {
	t.Helper()
	var pings []Ping
	sc.OnPing = func(p Ping) { pings = append(pings, p) }
	r, err := Run(sc, st)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return r, pings
}

// runNamed runs sc with a fresh strategy of the given name.
func runNamed(t *testing.T, sc Scenario, name string) Result {
	t.Helper()
	st, err := NewStrategy(name, sc)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(sc, st)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// checkPings compares the first len(want) ping records with want.
func checkPings(t *testing.T, got, want []Ping) {
	t.Helper()
	if len(got) < len(want) {
		t.Fatalf("got %d pings, want at least %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("step %d: ping = %+v want %+v", i, got[i], w)
		}
	}
}

func checkDelays(t *testing.T, got []time.Duration, want ...time.Duration) {
	t.Helper()
	if len(got) < len(want) {
		t.Fatalf("got %d delays %v, want at least %d", len(got), got, len(want))
	}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("mail %d: delay = %v want %v", i, got[i], w)
		}
	}
}

// TestSilentDrop checks the silent drop and the deadline (SPEC T2, E2): on a
// path with a 15-minute idle timeout, an 18-minute ping dies at 15, the
// device notices at 19 (interval + 1 min buffer), and is deaf for 4 minutes.
func TestSilentDrop(t *testing.T) {
	r, pings := record(t, Scenario{Timeout: 15 * m, Days: 1}, &constant{iv: 18 * m})
	checkPings(t, pings, []Ping{
		{Sent: 0, Ended: 19 * m, Interval: 18 * m, Outcome: heartbeat.TimedOut},
		{Sent: 19 * m, Ended: 38 * m, Interval: 18 * m, Outcome: heartbeat.TimedOut},
	})
	// 75 full cycles of 19 minutes fit in the day; the 76th ping, sent at
	// 23h45m, dies exactly at the end of the day.
	d := r.Day1
	if d.Pings != 76 || d.Timeouts != 75 || d.DeafTime != 75*4*m || d.Syncs != 75 {
		t.Errorf("day 1: pings %d timeouts %d deaf %v syncs %d; want 76, 75, %v, 75",
			d.Pings, d.Timeouts, d.DeafTime, d.Syncs, 75*4*m)
	}
	if want := float64(300) / 1440; d.Deaf != want {
		t.Errorf("deaf fraction %v want %v", d.Deaf, want)
	}
}

// TestMailDuringDeafTime checks when mail is delivered (SPEC T4): mail that
// arrives while the connection is silently dead waits for the sync after
// the timeout; mail that arrives while a live ping is held ends it at once
// with changes. A connection idle exactly Timeout survives.
func TestMailDuringDeafTime(t *testing.T) {
	sc := Scenario{Timeout: 15 * m, Mail: 17 * m, Arrivals: Periodic, Days: 1}
	st := &constant{iv: 18 * m}
	r, pings := record(t, sc, st)
	checkPings(t, pings, []Ping{
		// mail at 17 arrives 2 min after the drop at 15: delivered at 19.
		{Sent: 0, Ended: 19 * m, Interval: 18 * m, Outcome: heartbeat.TimedOut},
		// mail at 34: the connection has been idle exactly 15 min, alive.
		{Sent: 19 * m, Ended: 34 * m, Interval: 18 * m, Outcome: heartbeat.Changed},
		// mail at 51 arrives after the drop at 49: delivered at 53.
		{Sent: 34 * m, Ended: 53 * m, Interval: 18 * m, Outcome: heartbeat.TimedOut},
	})
	checkDelays(t, r.Day1.delays, 0, 0) // sorted: the zero delays first
	if r.Day1.DelayMax != 2*m {
		t.Errorf("max delay %v want 2m", r.Day1.DelayMax)
	}
	want := []heartbeat.Outcome{heartbeat.TimedOut, heartbeat.Changed, heartbeat.TimedOut}
	if !reflect.DeepEqual(st.outcomes[:3], want) {
		t.Errorf("strategy observed %v want %v", st.outcomes[:3], want)
	}
}

// TestMailAtAnswerTime checks the tie rule (SPEC E2, T4): mail arriving exactly when the
// server would answer "no changes" makes the answer "changes", delivered
// with no delay.
func TestMailAtAnswerTime(t *testing.T) {
	r, pings := record(t, Scenario{Mail: 10 * m, Arrivals: Periodic, Days: 1}, &constant{iv: 10 * m})
	for i, p := range pings {
		if p.Outcome != heartbeat.Changed {
			t.Fatalf("step %d: ping = %+v want changes", i, p)
		}
	}
	if r.Day1.DelayMax != 0 || r.Day1.Mails != 143 {
		t.Errorf("max delay %v mails %d; want 0, 143", r.Day1.DelayMax, r.Day1.Mails)
	}
}

// TestServerBounds checks the status-5 exchange (SPEC H8): a ping below the
// server's minimum is refused at once, the device learns the minimum and
// pings again at once at the corrected interval.
func TestServerBounds(t *testing.T) {
	st, err := NewStrategy(StrategyAdaptive, Scenario{})
	if err != nil {
		t.Fatal(err)
	}
	r, pings := record(t, Scenario{ServerMin: 20 * m, Days: 1}, st)
	checkPings(t, pings, []Ping{
		{Sent: 0, Ended: 0, Interval: 8 * m, Rejected: true},
		{Sent: 0, Ended: 20 * m, Interval: 20 * m, Outcome: heartbeat.Expired},
		{Sent: 20 * m, Ended: 40 * m, Interval: 20 * m, Outcome: heartbeat.Expired},
		{Sent: 40 * m, Ended: 65 * m, Interval: 25 * m, Outcome: heartbeat.Expired},
	})
	if r.Day1.Rejected != 1 {
		t.Errorf("rejected %d want 1", r.Day1.Rejected)
	}
	// Above the server's maximum, the device learns the maximum.
	st, _ = NewStrategy(StrategyFixedMax, Scenario{})
	_, pings = record(t, Scenario{ServerMax: 10 * m, Days: 1}, st)
	checkPings(t, pings, []Ping{
		{Sent: 0, Ended: 0, Interval: 28 * m, Rejected: true},
		{Sent: 0, Ended: 10 * m, Interval: 10 * m, Outcome: heartbeat.Expired},
	})
}

// TestPushUnavailable checks SPEC H8's empty intersection: the device falls
// back to scheduled sync at once and probes (and is refused) every
// ProbeEvery.
func TestPushUnavailable(t *testing.T) {
	st, _ := NewStrategy(StrategyAdaptive, Scenario{})
	sc := Scenario{ServerMin: 30 * m, Mail: 20 * m, Arrivals: Periodic, Days: 1}
	r, pings := record(t, sc, st)
	checkPings(t, pings, []Ping{
		{Sent: 0, Ended: 0, Interval: 8 * m, Rejected: true},
		{Sent: 60 * m, Ended: 60 * m, Interval: 8 * m, Rejected: true, Probe: true},
		{Sent: 120 * m, Ended: 120 * m, Interval: 8 * m, Rejected: true, Probe: true},
	})
	d := r.Day1
	if d.PushWorks || d.FallbackTime != Day || d.Pings != 24 || d.Syncs != 95 {
		t.Errorf("push works %v fallback %v pings %d syncs %d; want false, 24h, 24, 95",
			d.PushWorks, d.FallbackTime, d.Pings, d.Syncs)
	}
	// Mail every 20 min (71 a day), syncs every 15: delays 10, 5, 0, 10, 5,
	// 0, ..., 10, 5: 360 minutes in all.
	want := 360 * m / 71
	if d.DelayMax != 10*m || (d.DelayMean-want).Abs() > time.Millisecond {
		t.Errorf("delay max %v mean %v; want 10m, %v", d.DelayMax, d.DelayMean, want)
	}
}

// TestFallbackAndProbe checks SPEC H9 in the cycle: three timeouts at the
// floor make the tuner give up; the device syncs every SyncEvery, probes
// every ProbeEvery after a failed probe, and mail waiting when a probe
// starts is answered at once.
func TestFallbackAndProbe(t *testing.T) {
	st, _ := NewStrategy(StrategyClassic, Scenario{})
	sc := Scenario{Timeout: 5 * m, Mail: 80 * m, Arrivals: Periodic, Days: 1, SyncEvery: 45 * m}
	r, pings := record(t, sc, st)
	checkPings(t, pings, []Ping{
		{Sent: 0, Ended: 9 * m, Interval: 8 * m, Outcome: heartbeat.TimedOut},
		{Sent: 9 * m, Ended: 18 * m, Interval: 8 * m, Outcome: heartbeat.TimedOut},
		{Sent: 18 * m, Ended: 27 * m, Interval: 8 * m, Outcome: heartbeat.TimedOut},
		// fallback from 27: syncs at 72, 117, ...; the mail of 80 waits
		// for the probe at 87, which the server answers at once.
		{Sent: 87 * m, Ended: 87 * m, Interval: 8 * m, Outcome: heartbeat.Changed, Probe: true},
		{Sent: 87 * m, Ended: 96 * m, Interval: 8 * m, Outcome: heartbeat.TimedOut, Probe: true},
		// the next probe an hour after the failed one; the mail of 160
		// arrives while its ping is alive.
		{Sent: 156 * m, Ended: 160 * m, Interval: 8 * m, Outcome: heartbeat.Changed, Probe: true},
		{Sent: 160 * m, Ended: 169 * m, Interval: 8 * m, Outcome: heartbeat.TimedOut, Probe: true},
	})
	if !slices.Contains(r.Day1.delays, 7*m) || !slices.Contains(r.Day1.delays, 0) {
		t.Errorf("delays %v: want the mail of 80 delivered after 7m and that of 160 at once", r.Day1.delays)
	}
	if r.Day1.PushWorks {
		t.Errorf("push works on a path that drops connections before the floor")
	}
	if r.Day1.FallbackTime != Day-27*m {
		t.Errorf("fallback %v want %v", r.Day1.FallbackTime, Day-27*m)
	}
}

// TestProbeRestoresPush checks that a probe whose ping expires and leaves
// the strategy workable brings push back (SPEC H9: a later success clears
// it).
func TestProbeRestoresPush(t *testing.T) {
	st := &flaky{}
	sc := Scenario{Days: 1, ProbeEvery: 30 * m}
	r, pings := record(t, sc, st)
	checkPings(t, pings, []Ping{
		{Sent: 0, Ended: 8 * m, Interval: 8 * m, Outcome: heartbeat.Expired},
		{Sent: 38 * m, Ended: 46 * m, Interval: 8 * m, Outcome: heartbeat.Expired, Probe: true},
		{Sent: 46 * m, Ended: 54 * m, Interval: 8 * m, Outcome: heartbeat.Expired},
	})
	if r.Day1.FallbackTime != 38*m {
		t.Errorf("fallback %v want 38m", r.Day1.FallbackTime)
	}
}

// flaky asks for 8 minutes and reports push unworkable after its first
// outcome only.
type flaky struct{ constant }

func (f *flaky) Interval() time.Duration { return 8 * m }
func (f *flaky) Workable() bool          { return len(f.outcomes) != 1 }

// TestMailAfterTheEnd checks (SPEC E2) that mail still pending at the end of the run
// is delivered (and measured) by the next sync after it.
func TestMailAfterTheEnd(t *testing.T) {
	// Pings every 19 min; the one sent at 1425 dies at 1435 and times out
	// at 1444, after the end: the mail of 1437 is delivered then.
	sc := Scenario{Timeout: 10 * m, Mail: 1437 * m, Arrivals: Periodic, Days: 1}
	r, pings := record(t, sc, &constant{iv: 18 * m})
	if r.Day1.Mails != 1 || r.Day1.DelayMax != 7*m {
		t.Errorf("mails %d max delay %v; want 1, 7m", r.Day1.Mails, r.Day1.DelayMax)
	}
	// The run stops there, and sends nothing more; the last timeout counts
	// with its ping, sent on day 1.
	if r.Day1.Pings != 76 || r.Day1.Timeouts != 76 || len(pings) != 76 {
		t.Errorf("pings %d timeouts %d records %d; want 76, 76, 76", r.Day1.Pings, r.Day1.Timeouts, len(pings))
	}
}

// TestDeterminism checks that a run depends only on its scenario and seed
// (SPEC E2), and that the seed matters for Poisson mail.
func TestDeterminism(t *testing.T) {
	sc := Scenario{Timeout: 15 * m, Mail: 20 * m, ServerMin: m, ServerMax: 45 * m, Days: 3, Seed: 42}
	for _, name := range StrategyNames() {
		a, b := runNamed(t, sc, name), runNamed(t, sc, name)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: two runs with seed 42 differ:\n%+v\n%+v", name, a.Steady, b.Steady)
		}
		sc2 := sc
		sc2.Seed = 43
		if c := runNamed(t, sc2, name); reflect.DeepEqual(a.Steady.delays, c.Steady.delays) {
			t.Errorf("%s: seeds 42 and 43 gave the same delays", name)
		}
	}
}

// TestSameMailForEveryStrategy checks common random numbers (SPEC E2): the mail a
// run sees depends on the seed, not on the strategy.
func TestSameMailForEveryStrategy(t *testing.T) {
	sc := Scenario{Timeout: 10 * m, Mail: 20 * m, Days: 2, Seed: 7}
	var mails []int
	for _, name := range StrategyNames() {
		r := runNamed(t, sc, name)
		mails = append(mails, r.Day1.Mails+r.Steady.Mails)
	}
	for i := range mails {
		if mails[i] != mails[0] {
			t.Fatalf("mail counts differ by strategy: %v", mails)
		}
	}
}

// TestPeriods checks that day 1 and the steady state are measured apart
// (SPEC E2's metrics).
func TestPeriods(t *testing.T) {
	r, _ := record(t, Scenario{Days: 3}, &constant{iv: 10 * m})
	if r.Day1.Days != 1 || r.Steady.Days != 2 || r.Day1.Pings != 144 || r.Steady.Pings != 288 {
		t.Errorf("day1 %d days %d pings, steady %d days %d pings; want 1/144, 2/288",
			r.Day1.Days, r.Day1.Pings, r.Steady.Days, r.Steady.Pings)
	}
	if r.Steady.PingsPerDay != 144 || r.Steady.Settled != 10*m || r.Steady.Final != 10*m {
		t.Errorf("steady %v pings/day settled %v final %v", r.Steady.PingsPerDay, r.Steady.Settled, r.Steady.Final)
	}
	// A span past the end adds nothing.
	var per [2]Metrics
	rn := &run{end: 2 * Day}
	rn.span(&per, func(m *Metrics) *time.Duration { return &m.DeafTime }, 2*Day+m, 2*Day+5*m)
	rn.span(&per, func(m *Metrics) *time.Duration { return &m.DeafTime }, Day-m, Day+2*m)
	if per[0].DeafTime != m || per[1].DeafTime != 2*m {
		t.Errorf("spans: day 1 %v, steady %v; want 1m, 2m", per[0].DeafTime, per[1].DeafTime)
	}
	// A deaf span across midnight is split between the periods.
	r, _ = record(t, Scenario{Timeout: 15 * m, Days: 2}, &constant{iv: 18 * m})
	if got := r.Day1.DeafTime + r.Steady.DeafTime; got != time.Duration(r.Day1.Timeouts+r.Steady.Timeouts)*4*m {
		t.Errorf("deaf %v over %d timeouts", got, r.Day1.Timeouts+r.Steady.Timeouts)
	}
}

// TestFallbackDefaults checks that the simulated device falls back to
// scheduled sync and probes push on the transport loop's default schedule
// (SPEC T4, E2), so that the tables measure what the library does. The
// constants are not shared so that the simulator does not link the HTTP
// transport for two numbers.
func TestFallbackDefaults(t *testing.T) {
	if DefaultSyncEvery != transport.DefaultSyncInterval || DefaultProbeEvery != transport.DefaultProbeInterval {
		t.Errorf("sim syncs every %v and probes every %v; transport.Loop %v and %v",
			DefaultSyncEvery, DefaultProbeEvery, transport.DefaultSyncInterval, transport.DefaultProbeInterval)
	}
}

// TestBadScenario checks that every bad field gives an error naming it,
// never a panic or a hang (the rules' bad-input ground rule).
func TestBadScenario(t *testing.T) {
	for i, sc := range []Scenario{
		{Timeout: -1},
		{Mail: -m},
		{Mail: time.Millisecond},
		{Arrivals: 7},
		{ServerMin: -m},
		{ServerMin: 20 * m, ServerMax: 10 * m},
		{Days: -1},
		{Days: MaxDays + 1},
		{Min: 30 * m},
		{Max: 8 * 24 * time.Hour},
		{Buffer: -1},
		{SyncEvery: time.Nanosecond},
		{ProbeEvery: -m},
	} {
		_, err := Run(sc, &constant{iv: 8 * m})
		if !errors.Is(err, ErrInvalidScenario) {
			t.Errorf("step %d: Run(%+v) error = %v want ErrInvalidScenario", i, sc, err)
		}
	}
	if _, err := NewStrategy("nope", Scenario{}); !errors.Is(err, ErrInvalidScenario) {
		t.Errorf("NewStrategy(nope) error = %v", err)
	}
	if _, err := ParseArrivals("bursty"); !errors.Is(err, ErrInvalidScenario) {
		t.Errorf("ParseArrivals(bursty) error = %v", err)
	}
}

// TestMisbehavingStrategy checks (SPEC H8's status-5 loop) that a strategy that keeps asking for an
// interval the server refuses ends the run with an error, not a hang.
func TestMisbehavingStrategy(t *testing.T) {
	// constant accepts any range and keeps asking for 20 minutes.
	_, err := Run(Scenario{ServerMax: 10 * m}, &constant{iv: 20 * m})
	if err == nil {
		t.Fatal("Run with a strategy that ignores the server's range: no error")
	}
	_, err = Run(Scenario{ServerMax: 10 * m}, &failing{constant{iv: 20 * m}})
	if err == nil || errors.Is(err, heartbeat.ErrPushUnavailable) {
		t.Fatalf("Run with a strategy whose SetServerBounds fails: error %v", err)
	}
}

type failing struct{ constant }

func (f *failing) SetServerBounds(_, _ time.Duration) error { return errors.New("boom") }
