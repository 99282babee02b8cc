package backoff

import (
	"testing"
	"time"
)

// TestFleetSpread simulates the end of a maintenance window (B1): 1,000
// clients, each with its own controller and independently seeded
// randomness, receive the same 503 with Retry-After: 600 at the same
// instant. Without fuzz every one of them would return in the same second.
// With the default 25% fuzz their next attempts spread uniformly over
// [600 s, 750 s).
//
// What the fuzz promises, and what is asserted:
//   - no attempt before 600 s (the server's time is honoured) or at or after
//     750 s (the fuzz is bounded);
//   - the busiest second has at most 3× the mean (1000/150 ≈ 6.7 clients a
//     second). For 1,000 independent uniform draws over 150 seconds the
//     busiest second typically holds 13–16 clients (2.0–2.4× the mean; ≤ 2×
//     only about a quarter of the time), and above 20 with probability
//     about 0.2%, so 3× is a bound the promise keeps for any seeds, not a
//     lucky pick of them;
//   - every 10-second slice holds between 0.5× and 1.5× its mean of ~67;
//   - the busiest second is at least 50 times smaller than without fuzz.
func TestFleetSpread(t *testing.T) {
	const clients = 1000
	const lo, hi = 600, 750 // seconds: Retry-After and Retry-After·1.25
	spread := func(fuzz float64) (perSecond map[int]int, first, last time.Duration) {
		perSecond = make(map[int]int)
		first = time.Duration(1<<63 - 1)
		for i := range clients {
			c, err := New(Policy{Fuzz: fuzz, Rand: pcg(uint64(i) + 1)})
			if err != nil {
				t.Fatal(err)
			}
			d := c.observe(t0, response(503, "Retry-After", "600"), nil)
			perSecond[int(d.Delay/time.Second)]++
			first, last = min(first, d.Delay), max(last, d.Delay)
		}
		return perSecond, first, last
	}

	perSecond, first, last := spread(0) // the default, 0.25
	if first < lo*time.Second || last >= hi*time.Second {
		t.Fatalf("attempts span [%v, %v], want within [%ds, %ds)", first, last, lo, hi)
	}
	mean := float64(clients) / (hi - lo)
	peak, peakAt := 0, 0
	for s := lo; s < hi; s++ {
		if perSecond[s] > peak {
			peak, peakAt = perSecond[s], s
		}
	}
	const slice = 10
	sliceMean := mean * slice
	sliceMin, sliceMax := clients, 0
	for s := lo; s < hi; s += slice {
		n := 0
		for k := s; k < s+slice; k++ {
			n += perSecond[k]
		}
		sliceMin, sliceMax = min(sliceMin, n), max(sliceMax, n)
	}
	noFuzz, _, _ := spread(-1)
	peakNoFuzz := noFuzz[lo]

	t.Logf("fleet of %d, Retry-After 600 s, fuzz 25%%: attempts from %v to %v", clients, first.Round(time.Millisecond), last.Round(time.Millisecond))
	t.Logf("per second: peak %d at %d s, mean %.2f, peak/mean %.2f", peak, peakAt, mean, float64(peak)/mean)
	t.Logf("per 10 s: min %d, max %d, mean %.1f (max/mean %.2f)", sliceMin, sliceMax, sliceMean, float64(sliceMax)/sliceMean)
	t.Logf("without fuzz: %d attempts in the second at %d s (peak/mean %.0f)", peakNoFuzz, lo, float64(peakNoFuzz)/mean)

	if float64(peak) > 3*mean {
		t.Errorf("busiest second has %d attempts, more than 3× the mean %.2f", peak, mean)
	}
	if float64(sliceMax) > 1.5*sliceMean || float64(sliceMin) < 0.5*sliceMean {
		t.Errorf("10-second slices hold %d..%d attempts, want within [0.5, 1.5]× %.1f", sliceMin, sliceMax, sliceMean)
	}
	if peakNoFuzz != clients || peak*50 > peakNoFuzz {
		t.Errorf("peak %d with fuzz vs %d without: fuzz does not spread the fleet", peak, peakNoFuzz)
	}
}
