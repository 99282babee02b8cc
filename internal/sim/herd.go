package sim

import "time"

// Herd describes the load after a server outage (SPEC S6).
type Herd struct {
	// SteadyMean is the mean requests per second in the hour before the
	// outage.
	SteadyMean float64
	// Window is the recovery window: from the end of the outage for a
	// quarter of its length (the largest fuzz of a Retry-After of the
	// whole outage, SPEC B1). WindowMean is its mean requests per second.
	Window     time.Duration
	WindowMean float64
	// Peak is the busiest second of the window, at PeakAt; PeakRatio is
	// Peak / WindowMean and PeakVsSteady Peak / SteadyMean.
	Peak                    int32
	PeakAt                  time.Duration
	PeakRatio, PeakVsSteady float64
}

// AnalyzeHerd measures the recovery from an outage of length outage at at
// in load, requests per second (FleetResult.Load).
func AnalyzeHerd(load []int32, at, outage time.Duration) Herd {
	sec := func(d time.Duration) int { return min(max(int(d/time.Second), 0), len(load)) }
	h := Herd{Window: outage / 4}
	mean := func(lo, hi int) float64 {
		if hi <= lo {
			return 0
		}
		var n int64
		for _, c := range load[lo:hi] {
			n += int64(c)
		}
		return float64(n) / float64(hi-lo)
	}
	h.SteadyMean = mean(sec(at-time.Hour), sec(at))
	lo, hi := sec(at+outage), sec(at+outage+h.Window)
	h.WindowMean = mean(lo, hi)
	for i := lo; i < hi; i++ {
		if load[i] > h.Peak {
			h.Peak, h.PeakAt = load[i], time.Duration(i)*time.Second
		}
	}
	if h.WindowMean > 0 {
		h.PeakRatio = float64(h.Peak) / h.WindowMean
	}
	if h.SteadyMean > 0 {
		h.PeakVsSteady = float64(h.Peak) / h.SteadyMean
	}
	return h
}
