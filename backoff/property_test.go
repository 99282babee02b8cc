package backoff

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// outcomes is what a server and network may do to one attempt.
var outcomes = []struct {
	status int
	kv     []string
	err    error
}{
	{status: 200},
	{status: 201, kv: []string{"X-Backoff", "900"}},
	{status: 200, kv: []string{"X-Weave-Backoff", "30", "X-Backoff", "7200"}},
	{status: 304},
	{status: 404},
	{status: 404, kv: []string{"X-Backoff", "60"}},
	{status: 429},
	{status: 429, kv: []string{"Retry-After", "120"}},
	{status: 500},
	{status: 502, kv: []string{"X-Backoff", "3600"}},
	{status: 503},
	{status: 503, kv: []string{"Retry-After", "600"}},
	{status: 503, kv: []string{"Retry-After", "Wed, 01 Jan 2025 16:00:00 GMT"}},
	{status: 503, kv: []string{"Retry-After", "garbage", "X-Backoff", "-1"}},
	{status: 503, kv: []string{"Retry-After", "999999999999999999999"}},
	{status: 503, kv: []string{"Retry-After", "0"}},
	{err: netErr},
	{err: errSyncDeadline},
	{err: errors.New("tls: handshake failure")},
	{err: errInstant},
}

// TestPropertyStateMachine drives a controller with random outcomes, manual
// retries and time steps, against a small model (STYLE 8). At every step:
// the next allowed time is never earlier than any server-requested delay
// still running (B1, B5, B6); Status agrees with Allow and with ManualRetry
// (B7); the wait is never negative or beyond its caps (B10); the failure
// count and phase follow B3/B6.
func TestPropertyStateMachine(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		seed := rapid.Uint64().Draw(rt, "seed")
		policy := Policy{
			Schedule:       rapid.SampledFrom([]Schedule{Linear, ExponentialJitter}).Draw(rt, "schedule"),
			MaxServerDelay: rapid.SampledFrom([]time.Duration{0, time.Hour, 48 * time.Hour}).Draw(rt, "maxServer"),
			Fuzz:           rapid.SampledFrom([]float64{0, -1, 0.1, 1}).Draw(rt, "fuzz"),
			SecondaryAfter: rapid.IntRange(0, 4).Draw(rt, "secondaryAfter"),
			Rand:           pcg(seed),
		}
		c, _ := newTestController(rt, policy)
		limit := max(c.p.Cap, c.p.MaxServerDelay) // B10: the cap holds after fuzz
		now := t0
		var floor time.Time // the latest end of a server-requested delay seen
		failures := 0       // the model's consecutive failure count
		reconnects := 0     // the model's consecutive Instant failures

		rt.Repeat(map[string]func(*rapid.T){
			"advance": func(rt *rapid.T) {
				now = now.Add(time.Duration(rapid.Int64Range(0, int64(3*time.Hour)).Draw(rt, "dt")))
			},
			"observe": func(rt *rapid.T) {
				o := rapid.SampledFrom(outcomes).Draw(rt, "outcome")
				var resp *http.Response
				if o.err == nil && o.status != 0 {
					resp = response(o.status, o.kv...)
				}
				waiting := c.allow(now) != nil
				d := c.observe(now, resp, o.err)
				switch {
				case d.Class == Success:
					failures, reconnects = 0, 0
				case d.Class == Instant && (!waiting || failures == 0):
					// L1, B6: the reconnect ladder is one failed attempt.
					reconnects++
					if _, ladder := c.p.reconnectStep(reconnects, 0); ladder {
						failures = max(failures, 1)
					} else {
						failures++
					}
				case (d.Class == Maintenance || d.Class == RateLimited || d.Class == ServerError ||
					d.Class == NetworkError) && (!waiting || failures == 0):
					failures++
				}
				if d.Failures != failures {
					rt.Fatalf("Failures = %d, model %d (decision %+v)", d.Failures, failures, d)
				}
				if d.Requested > 0 {
					if end := now.Add(d.Requested); end.After(floor) {
						floor = end
					}
				}
			},
			"manual": func(rt *rapid.T) {
				allowed := c.status(now).ManualRetryAllowed
				err := c.manualRetry(now)
				if allowed != (err == nil) {
					rt.Fatalf("ManualRetryAllowed = %v but ManualRetry() = %v", allowed, err)
				}
				if err != nil && !errors.Is(err, ErrManualRetryDenied) {
					rt.Fatalf("ManualRetry() = %v, not ErrManualRetryDenied", err)
				}
			},
			"": func(rt *rapid.T) {
				st := c.status(now)
				checkAllow(rt, 0, c, now, st)
				if now.Before(floor) && (st.Next.Before(floor) || st.ManualRetryAllowed) {
					rt.Fatalf("server asked for no attempt before %v, but Status() = %v", floor, st)
				}
				if !st.Next.IsZero() && (!st.Next.After(now) || st.Next.Sub(now) > limit) {
					rt.Fatalf("Next %v is outside (now, now+%v]", st.Next, limit)
				}
				wantPhase := None
				if failures > 0 {
					wantPhase = Initial
				}
				if failures > c.p.SecondaryAfter {
					wantPhase = Secondary
				}
				if st.Phase != wantPhase || st.Failures != failures {
					rt.Fatalf("Status() = %v, model has %d failures, phase %v", st, failures, wantPhase)
				}
				if st.Next.IsZero() && (failures == 0) != (st.Reason == ReasonNone) {
					rt.Fatalf("Status() = %v after %d failures: the reason is not the last failure's", st, failures)
				}
				if !st.Next.IsZero() && st.Reason == ReasonNone {
					rt.Fatalf("Status() = %v: waiting without a reason", st)
				}
				if st.Phase == Secondary && st.ManualRetryAllowed {
					rt.Fatalf("manual retry allowed in Secondary: %v", st)
				}
			},
		})
	})
}

// TestPropertyFuzzBounds: a server-requested delay d (capped at
// MaxServerDelay) becomes a wait in [d, min(d + Fuzz·max(d, 1 min), 24 h)],
// exactly d when the random draw is 0, and grows with the draw (B1, B10).
func TestPropertyFuzzBounds(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		secs := rapid.Int64Range(0, 400000).Draw(rt, "seconds")
		fuzz := rapid.Float64Range(0, 1).Draw(rt, "fuzz")
		r1 := rapid.Float64Range(0, 1).Draw(rt, "r1")
		r2 := rapid.Float64Range(r1, 1).Draw(rt, "r2")
		header := rapid.SampledFrom([]string{"Retry-After", "X-Backoff"}).Draw(rt, "header")
		wait := func(r float64) Decision {
			f := fuzz
			if f == 0 {
				f = -1 // zero would mean the default
			}
			c, _ := newTestController(rt, Policy{Fuzz: f, Rand: func() float64 { return r }})
			status := 503 // Retry-After is read on 503 and 429
			if header == "X-Backoff" {
				status = 200 // X-Backoff is read on every response
			}
			return c.observe(t0, response(status, header, strconv.FormatInt(secs, 10)), nil)
		}
		d1, d2 := wait(r1), wait(r2)
		want := min(time.Duration(secs)*time.Second, DefaultMaxServerDelay)
		if d1.Requested != want || d1.Capped != (time.Duration(secs)*time.Second > DefaultMaxServerDelay) {
			rt.Fatalf("Requested = %v capped %v, want %v", d1.Requested, d1.Capped, want)
		}
		hi := min(want+durationOf(fuzz*float64(max(want, time.Minute))), DefaultMaxServerDelay)
		if d1.Delay < want || d1.Delay > hi || d2.Delay < d1.Delay {
			rt.Fatalf("delays %v (r=%v), %v (r=%v) outside [%v, %v] or decreasing", d1.Delay, r1, d2.Delay, r2, want, hi)
		}
		if d0 := wait(0); d0.Delay != want {
			rt.Fatalf("with a zero draw the wait is %v, want exactly %v", d0.Delay, want)
		}
	})
}

// TestPropertyReconnectLadder: for any ReconnectBase and Base, the
// reconnect ladder's waits stay within [ReconnectBase·2^(n-1), Base],
// grow with n for the same draw, and end once the step's lower bound
// reaches Base (SPEC L1).
func TestPropertyReconnectLadder(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		base := time.Duration(rapid.Int64Range(1, int64(24*time.Hour)).Draw(rt, "base"))
		rb := time.Duration(rapid.Int64Range(0, int64(base)*2).Draw(rt, "reconnectBase"))
		p, err := Policy{Base: base, Cap: base, ReconnectBase: rb}.withDefaults()
		if err != nil {
			rt.Fatal(err)
		}
		r := clampUnit(rapid.Float64Range(0, 1).Draw(rt, "r"))
		prev := time.Duration(0)
		for n := 1; n < 80; n++ {
			w, ok := p.reconnectStep(n, r)
			lo := p.ReconnectBase
			for i := 1; i < n && lo < base; i++ {
				lo *= 2
			}
			if ok != (lo < base) {
				rt.Fatalf("step %d: on the ladder %v, but its lower bound %v vs Base %v", n, ok, lo, base)
			}
			if !ok {
				break
			}
			if w < lo || w > base || w < prev {
				rt.Fatalf("step %d: wait %v outside [%v, %v] or below the step before (%v)", n, w, lo, base, prev)
			}
			prev = w
		}
	})
}

// TestPropertySchedule: for any Base <= Cap and either schedule, the wait
// after failure n is within [0, Cap], the wait for the same draw never
// shrinks as n grows (so the expectation is non-decreasing too), and the
// exact expectation (lo+hi)/2 is non-decreasing (B4).
func TestPropertySchedule(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		base := time.Duration(rapid.Int64Range(1, int64(24*time.Hour)).Draw(rt, "base"))
		cp := time.Duration(rapid.Int64Range(int64(base), 1<<62).Draw(rt, "cap"))
		p := Policy{Base: base, Cap: cp, Schedule: rapid.SampledFrom([]Schedule{Linear, ExponentialJitter}).Draw(rt, "schedule")}
		n1 := rapid.IntRange(1, 1<<20).Draw(rt, "n1")
		n2 := rapid.IntRange(n1, 1<<30).Draw(rt, "n2")
		r := rapid.Float64Range(0, 1).Draw(rt, "r")
		w1, w2 := p.scheduled(n1, clampUnit(r)), p.scheduled(n2, clampUnit(r))
		if w1 < 0 || w2 > cp || w2 < w1 {
			rt.Fatalf("scheduled(%d) = %v, scheduled(%d) = %v with cap %v", n1, w1, n2, w2, cp)
		}
		mean := func(n int) float64 {
			return (float64(p.scheduled(n, 0)) + float64(p.scheduled(n, clampUnit(1)))) / 2
		}
		if mean(n2) < mean(n1) {
			rt.Fatalf("expected wait after %d failures %v < after %d failures %v", n2, mean(n2), n1, mean(n1))
		}
		if p.Schedule == Linear && int64(n1) <= int64(cp/2/base) {
			lo, hi := time.Duration(n1)*base, time.Duration(2*n1)*base
			if w1 < lo || w1 >= hi {
				rt.Fatalf("Linear scheduled(%d) = %v outside [%v, %v)", n1, w1, lo, hi)
			}
		}
	})
}

// TestPropertyFuzzCap: for any policy, requested delay and draw, the fuzzed
// wait lies in [min(d, MaxServerDelay), MaxServerDelay]: the cap holds after
// fuzz (B10); it never shrinks as the delay or the draw grows (a larger
// number never earns a shorter wait); and below the cap it keeps the
// documented spread [d, d+Fuzz·max(d, Base/15)) (B1).
func TestPropertyFuzzCap(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		p, err := Policy{
			Base:           time.Duration(rapid.Int64Range(0, int64(24*time.Hour)).Draw(rt, "base")),
			Cap:            48 * time.Hour,
			MaxServerDelay: time.Duration(rapid.Int64Range(0, 1<<62).Draw(rt, "maxServer")),
			Fuzz:           rapid.Float64Range(-1, 1).Draw(rt, "fuzz"),
		}.withDefaults()
		if err != nil {
			rt.Fatal(err)
		}
		d1 := time.Duration(rapid.Int64Range(0, 1<<63-1).Draw(rt, "d1"))
		d2 := time.Duration(rapid.Int64Range(int64(d1), 1<<63-1).Draw(rt, "d2"))
		r1 := clampUnit(rapid.Float64Range(0, 1).Draw(rt, "r1"))
		r2 := clampUnit(rapid.Float64Range(r1, 1).Draw(rt, "r2"))
		w := p.fuzzed(d1, r1)
		if w < min(d1, p.MaxServerDelay) || w > p.MaxServerDelay {
			rt.Fatalf("fuzzed(%v, %v) = %v, outside [%v, %v]", d1, r1, w, min(d1, p.MaxServerDelay), p.MaxServerDelay)
		}
		if w2 := p.fuzzed(d2, r1); w2 < w {
			rt.Fatalf("fuzzed(%v, %v) = %v < fuzzed(%v, %v) = %v", d2, r1, w2, d1, r1, w)
		}
		if w2 := p.fuzzed(d1, r2); w2 < w {
			rt.Fatalf("fuzzed(%v, %v) = %v < fuzzed(%v, %v) = %v", d1, r2, w2, d1, r1, w)
		}
		spread := durationOf(p.Fuzz * float64(max(d1, p.Base/15)))
		if d1 < p.MaxServerDelay && d1 <= math.MaxInt64-spread && d1+spread <= p.MaxServerDelay && spread > 0 && w >= d1+spread {
			rt.Fatalf("fuzzed(%v, %v) = %v, not below d + spread %v", d1, r1, w, spread)
		}
		if p.longestServerWait() != p.MaxServerDelay {
			rt.Fatalf("longestServerWait = %v, want MaxServerDelay %v", p.longestServerWait(), p.MaxServerDelay)
		}
	})
}
