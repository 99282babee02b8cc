package sim

import (
	"fmt"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
)

// The first search on a network new to the device (SPEC S5): how long a
// strategy takes to reach 95% of the path's idle timeout, and the least
// time any search could take.
//
// Definition used throughout (README, tests, docs/requirements.md S5): on
// a path whose idle timeout is T, the target is T* = T capped at the
// tuner's Max (and raised to its Min); a ping is "at 95%" when its interval
// x satisfies 0.95·T* <= x <= T* (it uses at least 95% of the idle time
// the path allows, and the path does not kill it). The time to 95% is the
// time from joining the network (the first ping's send) to the send of
// the first ping at 95% after which no ping survives below 95%: from then
// on the device rests at a near-optimal interval, and what it still pays
// for the search is the probes above the timeout that the path kills
// (SearchResult.Probes), counted apart. Pings answered early with changes
// do not occur (no mail): they would only delay the search.

// SearchBand is the share of the target a ping must reach to count as at
// 95% (SPEC S5).
const SearchBand = 0.95

// SearchHorizon is how long Search follows a network: long enough for
// every search to end, and shorter than the first retest of an Adaptive
// ceiling (DefaultCeilingTTL round trips of at least 57 s each, 7.9 h),
// which is a planned probe and not part of the search.
const SearchHorizon = 6 * time.Hour

// SearchResult is how one tuner fared on a network new to it.
type SearchResult struct {
	Timeout time.Duration // the path's idle timeout
	Target  time.Duration // T*: Timeout within the tuner's Min and Max
	// Reached is the time to 95%; negative if the tuner was not at 95%
	// for good within SearchHorizon.
	Reached time.Duration
	// Deaths counts the pings the path killed before Reached (all of
	// them, when Reached is negative); Probes those it killed after
	// Reached within SearchHorizon: tests above the timeout from which
	// the tuner came back to its interval at 95%.
	Deaths, Probes int
	// Pings counts the pings sent before Reached.
	Pings int
	// Intervals lists the intervals of the pings sent before Reached and of
	// the first ping at 95%, for tables and traces.
	Intervals []time.Duration
}

// Search runs a fresh heartbeat.Tuner with cfg on a path that drops
// connections idle for longer than timeout (silently, or with a reset if
// reset is true: then, as the transport loop rules (SPEC T3), a first
// reset is reported as KnownCause and a second at the same interval as
// TimedOut, each after timeout of idle time) and no mail, for
// SearchHorizon, and reports its time to 95% (see SearchBand). A timeout
// that is not positive is an error wrapping ErrInvalidScenario.
func Search(cfg heartbeat.Config, timeout time.Duration, reset bool) (SearchResult, error) {
	if timeout <= 0 {
		return SearchResult{}, fmt.Errorf("%w: search on a path with idle timeout %v", ErrInvalidScenario, timeout)
	}
	t, err := heartbeat.New(cfg)
	if err != nil {
		return SearchResult{}, err
	}
	snap := t.Snapshot()
	target := min(max(timeout, snap.Min), snap.Max)
	buffer := snap.Deadline - snap.Interval
	inBand := func(x time.Duration) bool {
		return x <= target && float64(x) >= SearchBand*float64(target)
	}
	res := SearchResult{Timeout: timeout, Target: target, Reached: -1}
	var now time.Duration
	type ping struct {
		at, iv time.Duration
		died   bool
	}
	var pings []ping
	resets := 0
	for now < SearchHorizon {
		iv := t.Interval()
		p := ping{at: now, iv: iv}
		switch {
		case iv <= timeout:
			now += iv
			t.Observe(heartbeat.Expired)
		case reset:
			p.died = true
			now += timeout
			resets++
			if resets%2 == 1 {
				t.Observe(heartbeat.KnownCause)
			} else {
				t.Observe(heartbeat.TimedOut)
			}
		default:
			p.died = true
			now += iv + buffer
			t.Observe(heartbeat.TimedOut)
		}
		if !p.died {
			resets = 0
		}
		pings = append(pings, p)
	}
	// The last ping that survived below 95%; the first that survived at
	// 95% after it is the end of the search.
	first := 0
	for i, p := range pings {
		if !p.died && !inBand(p.iv) {
			first = i + 1
		}
	}
	for first < len(pings) && pings[first].died {
		first++
	}
	for i, p := range pings {
		switch {
		case i >= first:
			if p.died {
				res.Probes++
			}
		case p.died:
			res.Deaths++
		}
	}
	res.Pings = first
	if first == len(pings) {
		return res, nil
	}
	res.Reached = pings[first].at
	for _, p := range pings[:first+1] {
		res.Intervals = append(res.Intervals, p.iv)
	}
	return res, nil
}

// SearchBound is the least worst-case time to 95% of any single-connection
// sequential search over a range of idle timeouts (SearchLowerBound).
type SearchBound struct {
	Lo, Hi time.Duration // the range of timeouts; Hi at the largest interval stands for every timeout at or above it
	// Worst is the least time to 95% that any search can guarantee for
	// every timeout of the range on the grid.
	Worst time.Duration
	// First is the first ping of an optimal search.
	First time.Duration
	// Times is, for each timeout of the grid in Lo..Hi, the time to 95%
	// of the optimal search found (one of possibly many).
	Times map[time.Duration]time.Duration
}

// SearchLowerBound computes, by exact minimax over the timeouts lo, lo+step,
// ..., hi (hi at most ceil; the timeout ceil stands for every timeout >= ceil,
// which no interval in range can exceed), the least worst-case time to
// reach 95% (see SearchBand) that any search can achieve when each ping
// at interval x in [floor, ceil] costs x if the path survives it (x <= T) and
// x + buffer if not, and a ping reaches 95% at its send. The search knows
// nothing but the range and the outcomes of its own pings; it may choose
// any interval (not only grid points), so no search can promise less than
// Worst for every timeout of the grid, nor therefore for every timeout of
// the continuous range, which includes the grid.
//
// It models no confirmations: a search that waits for Confirmations
// expiries before each raise (SPEC H4) can only be slower.
func SearchLowerBound(lo, hi, step, floor, ceil, buffer time.Duration) (SearchBound, error) {
	if step <= 0 || lo < floor || hi > ceil || lo > hi || floor <= 0 || buffer < 0 {
		return SearchBound{}, fmt.Errorf("%w: search bound over [%v, %v] step %v in [%v, %v]", ErrInvalidScenario, lo, hi, step, floor, ceil)
	}
	var grid []time.Duration
	for t := lo; t < hi; t += step {
		grid = append(grid, t)
	}
	grid = append(grid, hi)
	n := len(grid)
	// Candidate intervals: each grid timeout (the least interval that
	// survives it) and 95% of each (the least interval that reaches 95%
	// of it); any other interval is beaten by the next candidate above it:
	// the same outcomes for every grid timeout, at a lower cost.
	type cand struct {
		x    time.Duration
		g, e int // grid[g] is the least timeout x survives; grid[g..e] are reached by x
	}
	var cands []cand
	add := func(x time.Duration) {
		if x < floor || x > ceil {
			return
		}
		g := 0
		for g < n && grid[g] < x {
			g++
		}
		e := g - 1
		for e+1 < n && float64(x) >= SearchBand*float64(grid[e+1]) {
			e++
		}
		if e < g {
			return // reaches nothing: never useful
		}
		cands = append(cands, cand{x: x, g: g, e: e})
	}
	for _, t := range grid {
		add(t)
		add(time.Duration(SearchBand*float64(t) + 0.999))
	}
	// v[i][j]: the least worst-case remaining time when the timeout is
	// known to be one of grid[i..j] and none of them is reached yet.
	v := make([][]time.Duration, n+1)
	choice := make([][]int32, n+1)
	for i := range v {
		v[i] = make([]time.Duration, n+1)
		choice[i] = make([]int32, n+1)
	}
	get := func(i, j int) time.Duration {
		if i > j {
			return 0
		}
		return v[i][j]
	}
	for length := 1; length <= n; length++ {
		for i := 0; i+length-1 < n; i++ {
			j := i + length - 1
			best, bc := time.Duration(-1), int32(-1)
			for c, cd := range cands {
				if cd.g > j || cd.e < i {
					continue // all fail, or all survive unreached: no progress
				}
				var worst time.Duration
				if cd.g > i { // grid[i..g-1] kill it
					worst = cd.x + buffer + get(i, cd.g-1)
				}
				if rest := max(cd.e+1, i); rest <= j {
					worst = max(worst, cd.x+get(rest, j))
				}
				if best < 0 || worst < best {
					best, bc = worst, int32(c)
				}
			}
			v[i][j], choice[i][j] = best, bc
		}
	}
	b := SearchBound{Lo: lo, Hi: hi, Worst: v[0][n-1], First: cands[choice[0][n-1]].x,
		Times: make(map[time.Duration]time.Duration, n)}
	for k, to := range grid {
		i, j := 0, n-1
		var el time.Duration
		for {
			cd := cands[choice[i][j]]
			if k >= cd.g && k <= cd.e {
				break
			}
			if k < cd.g {
				el += cd.x + buffer
				j = cd.g - 1
			} else {
				el += cd.x
				i = max(cd.e+1, i)
			}
		}
		b.Times[to] = el
	}
	return b, nil
}
