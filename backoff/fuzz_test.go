package backoff

import (
	"math"
	"net/http"
	"testing"
	"time"
)

// FuzzObserve feeds hostile header values, statuses and policies to
// Observe: it never panics, never sets a negative wait, never waits longer
// than the larger of Cap and MaxServerDelay (fuzz included), never reports a
// requested delay above MaxServerDelay, and Status stays consistent with
// Allow (B10).
func FuzzObserve(f *testing.F) {
	f.Add(503, "600", "", "", "", int64(0), 0.0, 0.5)
	f.Add(503, "Wed, 01 Jan 2025 14:10:00 GMT", "", "", "Wed, 01 Jan 2025 13:00:00 GMT", int64(0), 0.0, 0.5)
	f.Add(429, "-1", "1e9", "99999999999999999999", "", int64(0), 0.0, 0.99)
	f.Add(200, "", "1800", "60,3600", "", int64(time.Hour), 1.0, 0.999)
	f.Add(500, "600", "", "18446744073709551616", "", int64(1<<63-1), 1.0, 0.9999)
	f.Add(503, "Fri, 31 Dec 9999 23:59:59 GMT", "", "", "Mon, 01 Jan 0001 00:00:00 GMT", int64(0), -1.0, 0.0)
	f.Add(404, "", ",,,", " , 5", "", int64(1), 0.25, 0.1)
	f.Fuzz(func(t *testing.T, status int, ra, xb, xwb, date string, maxServer int64, fuzz, r float64) {
		c, err := New(Policy{
			MaxServerDelay: time.Duration(maxServer),
			Fuzz:           fuzz,
			Clock:          nil,
			Rand:           func() float64 { return r },
		})
		if err != nil {
			return // an invalid policy is New's business, tested elsewhere
		}
		h := http.Header{}
		for _, kv := range [][2]string{{"Retry-After", ra}, {"X-Backoff", xb}, {"X-Weave-Backoff", xwb}, {"Date", date}} {
			if kv[1] != "" {
				h[kv[0]] = []string{kv[1]}
			}
		}
		limit := max(c.p.Cap, c.p.MaxServerDelay) // B10: the cap holds after fuzz
		now := t0
		for i := 0; i < 3; i++ {
			d := c.observe(now, &http.Response{StatusCode: status, Header: h}, nil)
			if d.Delay < 0 || d.Delay > limit {
				t.Fatalf("step %d: Delay = %v, outside [0, %v]", i, d.Delay, limit)
			}
			if w := c.p.fuzzed(d.Requested, clampUnit(r)); w < d.Requested || w > c.p.MaxServerDelay {
				t.Fatalf("step %d: fuzzed(%v) = %v, outside [%[2]v, %v]", i, d.Requested, w, c.p.MaxServerDelay)
			}
			if d.Requested < 0 || d.Requested > c.p.MaxServerDelay {
				t.Fatalf("step %d: Requested = %v, outside [0, %v]", i, d.Requested, c.p.MaxServerDelay)
			}
			if d.Delay > 0 && !d.Until.Equal(now.Add(d.Delay)) {
				t.Fatalf("step %d: Until %v != now + Delay %v", i, d.Until, d.Delay)
			}
			st := c.status(now)
			if !st.Next.Equal(d.Until) {
				t.Fatalf("step %d: Status().Next %v != Decision.Until %v", i, st.Next, d.Until)
			}
			checkAllow(t, i, c, now, st)
			now = now.Add(time.Duration(i+1) * 7 * time.Minute)
		}
	})
}

// checkCapped observes value in header on a default controller with the
// largest fuzz draw and fails if the wait passes the 24 h cap, fuzz
// included (B10).
func checkCapped(t *testing.T, header, value string) {
	t.Helper()
	c, err := New(Policy{Rand: func() float64 { return math.Nextafter(1, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	status := http.StatusOK // X-Backoff applies on every response
	if header == HeaderRetryAfter {
		status = http.StatusServiceUnavailable
	}
	d := c.observe(t0, &http.Response{StatusCode: status, Header: http.Header{header: {value}}}, nil)
	if d.Delay < 0 || d.Delay > DefaultMaxServerDelay {
		t.Fatalf("%s: %q: wait %v, outside [0, %v]", header, value, d.Delay, DefaultMaxServerDelay)
	}
}
