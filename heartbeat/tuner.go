package heartbeat

import (
	"cmp"
	"fmt"
	"sync"
	"time"

	"github.com/pushbeat/pushbeat/internal/enum"
)

// Outcome is what became of one ping (SPEC H3).
type Outcome int

const (
	// Expired means the server held the request for the whole interval and
	// answered "no changes": the path survived that much idle time.
	Expired Outcome = iota + 1
	// Changed means the server answered early with changes. It proves the
	// path works but nothing about idle time.
	Changed
	// TimedOut means no answer arrived by the deadline (interval + Buffer):
	// a middlebox dropped the idle connection.
	TimedOut
	// KnownCause means the ping failed for a known reason unrelated to idle
	// timeouts: a phone call, the radio switched off, a server error.
	KnownCause
	// NetworkLost means there was no connectivity at all: a dial failure, no
	// route, a DNS failure.
	NetworkLost
)

var outcomeNames = [...]string{
	Expired:     "expired",
	Changed:     "changed",
	TimedOut:    "timed-out",
	KnownCause:  "known-cause",
	NetworkLost: "network-lost",
}

// String returns the outcome's name in lower case, e.g. "timed-out".
func (o Outcome) String() string { return enum.Name("Outcome", o, outcomeNames[:]) }

// Reason says why the interval changed (SPEC H13).
type Reason int

const (
	// ReasonNone means the interval did not change.
	ReasonNone Reason = iota
	// ReasonConfirmed: Confirmations successive Expired round trips raised
	// the interval (H4).
	ReasonConfirmed
	// ReasonReverted: the first full ping at a newly raised interval timed
	// out, so the interval went back to the one before the raise (H5).
	ReasonReverted
	// ReasonTimedOut: a ping at an interval that had not just been raised
	// timed out, so the interval dropped to the minimum (H5).
	ReasonTimedOut
	// ReasonNetworkLost: connectivity was lost, so the interval dropped to
	// the minimum while the best confirmed one is remembered (H7).
	ReasonNetworkLost
	// ReasonCoverageRegained: coverage returned, so the remembered interval
	// was restored at once (H7).
	ReasonCoverageRegained
	// ReasonServerBounds: the server's permissible range moved the interval
	// (H8).
	ReasonServerBounds
	// ReasonNetworkSwitch: the tuner switched to another network's learned
	// interval, or to the starting interval on a new network (H11).
	ReasonNetworkSwitch
	// ReasonStateLoaded: learned state was loaded from a document (H12,
	// Tuner.Restore).
	ReasonStateLoaded
)

var reasonNames = [...]string{
	ReasonNone:             "none",
	ReasonConfirmed:        "confirmed",
	ReasonReverted:         "reverted",
	ReasonTimedOut:         "timed-out",
	ReasonNetworkLost:      "network-lost",
	ReasonCoverageRegained: "coverage-regained",
	ReasonServerBounds:     "server-bounds",
	ReasonNetworkSwitch:    "network-switch",
	ReasonStateLoaded:      "state-loaded",
}

// String returns the reason's name in lower case, e.g. "reverted".
func (r Reason) String() string { return enum.Name("Reason", r, reasonNames[:]) }

// Change reports an interval change (SPEC H13). Reason is ReasonNone exactly
// when From equals To.
type Change struct {
	From   time.Duration // the interval before
	To     time.Duration // the interval after
	Reason Reason        // why it moved; ReasonNone if it did not
}

// String formats the change for logs, e.g. "8m0s -> 13m0s (confirmed)".
func (c Change) String() string {
	if c.Reason == ReasonNone {
		return fmt.Sprintf("%v (unchanged)", c.To)
	}
	return fmt.Sprintf("%v -> %v (%v)", c.From, c.To, c.Reason)
}

// Snapshot is a copy of a Tuner's state, for status displays and logs.
type Snapshot struct {
	// Network is the current network identity ("" until SwitchNetwork).
	Network string
	// Interval is the heartbeat for the next ping; Deadline adds Buffer.
	Interval, Deadline time.Duration
	// Min and Max are the effective bounds: the device's range intersected
	// with the server's.
	Min, Max time.Duration
	// ServerMin and ServerMax are the server's stated range; zero means the
	// server stated no such limit.
	ServerMin, ServerMax time.Duration
	// Streak is the number of successive Expired round trips at Interval.
	Streak int
	// Ceiling is, for Adaptive, the lowest interval known to fail on this
	// network; zero means none.
	Ceiling time.Duration
	// Remembered is the interval to restore when coverage returns after
	// NetworkLost; zero means none is pending.
	Remembered time.Duration
	// Workable is false when push has been reported unworkable (H9).
	Workable bool
}

// Tuner decides the heartbeat interval for the next ping from the outcomes
// of earlier pings, per network. It is pure (no clock, goroutines or I/O),
// Observe does not allocate, and all methods are safe for concurrent use: a
// mutex inside serializes them.
type Tuner struct {
	mu  sync.Mutex
	cfg Config // with defaults applied

	serverMin, serverMax time.Duration // stated by the server; 0 = none
	lo, hi               time.Duration // effective bounds

	cur      *network
	networks map[string]*network
	clock    uint64 // recency counter for MaxNetworks eviction
}

// network is the learned state of one network (SPEC H11). Flags that a
// value already implies are read off it (prev > 0: raised and unproven;
// floorFails: unworkable; interval > ceiling: probing) rather than kept
// beside it, so that the two cannot disagree.
type network struct {
	id       string
	interval time.Duration
	// prev is the interval before the last raise while no full-length ping
	// has completed at the raised interval, zero otherwise: a timeout goes
	// back to prev if it is set, else to the minimum (H5).
	prev   time.Duration
	streak int // successive Expired at interval (H4)
	// confirmed is the largest interval the path survived idle, not since
	// contradicted by a timeout (H7).
	confirmed time.Duration
	// lost and remembered: the best confirmed interval saved when the
	// network was lost, restored when coverage returns (H7).
	lost       bool
	remembered time.Duration
	// floorFails counts successive timeouts at the floor; push is
	// unworkable once it reaches UnworkableAfter (H9).
	floorFails int
	// Adaptive (H10): the lowest interval that failed, above every
	// interval proven since (zero: none), and the Expired round trips since
	// it was set.
	ceiling time.Duration
	stable  int
	// search is, while Adaptive's first search on the network lasts
	// (from joining it with no learned state until the first timeout
	// there), 1 + the raises made so far, whose steps grow geometrically;
	// 0 once it is over (H10).
	search int
	used   uint64
}

// New returns a Tuner for cfg, or an error naming the field that breaks the
// rules of SPEC H2 (wrapping ErrInvalidConfig).
func New(cfg Config) (*Tuner, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	t := &Tuner{cfg: cfg, lo: cfg.Min, hi: cfg.Max, networks: make(map[string]*network)}
	t.cur = t.newNetwork("")
	return t, nil
}

// newNetwork adds a network at the starting interval, forgetting the least
// recently used network if MaxNetworks would be exceeded. It is called only
// to make the new network current, so the current one may be forgotten too
// (when MaxNetworks is 1).
func (t *Tuner) newNetwork(id string) *network {
	if len(t.networks) >= t.cfg.MaxNetworks {
		var oldest *network
		for _, n := range t.networks {
			if oldest == nil || n.used < oldest.used {
				oldest = n
			}
		}
		delete(t.networks, oldest.id)
	}
	n := &network{id: id, interval: t.clamp(t.cfg.Default), search: 1}
	t.clock++
	n.used = t.clock
	t.networks[id] = n
	return n
}

func (t *Tuner) clamp(d time.Duration) time.Duration {
	return min(max(d, t.lo), t.hi)
}

// Interval returns the heartbeat interval for the next ping.
func (t *Tuner) Interval() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cur.interval
}

// Deadline returns how long to wait for the next ping's answer before it
// counts as TimedOut: Interval plus Buffer (SPEC T2).
func (t *Tuner) Deadline() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cur.interval + t.cfg.Buffer
}

// Workable reports whether push works on the current network. It turns
// false after UnworkableAfter successive timeouts at the lowest allowed
// interval: the network drops idle connections sooner than any interval the
// device and server allow (SPEC H9). The application should then fall back
// to scheduled sync and probe push again later; the next Expired answer
// turns it true again. Changed answers do not, because they prove nothing
// about idle time.
func (t *Tuner) Workable() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.unworkable(t.cur)
}

func (t *Tuner) unworkable(n *network) bool { return n.floorFails >= t.cfg.UnworkableAfter }

// Network returns the current network identity.
func (t *Tuner) Network() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cur.id
}

// Snapshot returns a copy of the tuner's state for the current network.
func (t *Tuner) Snapshot() Snapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.cur
	s := Snapshot{
		Network:   n.id,
		Interval:  n.interval,
		Deadline:  n.interval + t.cfg.Buffer,
		Min:       t.lo,
		Max:       t.hi,
		ServerMin: t.serverMin,
		ServerMax: t.serverMax,
		Streak:    n.streak,
		Workable:  !t.unworkable(n),
	}
	if t.cfg.Strategy == Adaptive {
		s.Ceiling = n.ceiling
	}
	if n.lost {
		s.Remembered = n.remembered
	}
	return s
}

// Observe records the outcome of the ping that used the current interval
// and returns the resulting change, which has Reason ReasonNone when the
// interval stayed (SPEC H3-H7, H9, H10). An Outcome outside the defined
// constants changes nothing.
func (t *Tuner) Observe(o Outcome) Change {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.cur
	from := n.interval
	reason := ReasonNone
	switch o {
	case Expired:
		reason = t.expired(n)
	case Changed:
		reason = t.changed(n)
	case TimedOut:
		reason = t.timedOut(n)
	case NetworkLost:
		reason = t.networkLost(n)
	}
	// KnownCause (H6) and unknown outcomes change nothing at all.
	return t.change(from, reason)
}

// expired handles a full-interval round trip (H4, H7, H9, H10).
func (t *Tuner) expired(n *network) Reason {
	n.floorFails = 0
	if n.lost {
		return t.restore(n)
	}
	n.prev = 0
	n.confirmed = n.interval
	switch {
	case n.ceiling > 0 && n.interval >= n.ceiling:
		// The path survived the interval that failed (a probe above the
		// ceiling, or an interval the server's range forced): the network
		// changed, and the ceiling is disproved.
		n.ceiling, n.stable = 0, 0
	case n.ceiling > 0:
		n.stable++
	}
	n.streak++
	if n.streak < t.cfg.Confirmations {
		return ReasonNone
	}
	return t.raise(n)
}

// changed handles an early answer with changes: neutral for every rule about
// idle time (H4, and the ceiling's age, H10), but proof that coverage is
// back (H7).
func (t *Tuner) changed(n *network) Reason {
	if n.lost {
		return t.restore(n)
	}
	return ReasonNone
}

// raise increases the interval after enough confirmations (H4, H10).
func (t *Tuner) raise(n *network) Reason {
	if n.interval >= t.hi {
		return ReasonNone
	}
	step := t.cfg.Increment
	if t.cfg.Strategy == Adaptive && n.search > 0 {
		// The first search on a network (no timeout there yet, so no
		// ceiling): steps grow geometrically, as the Direct Push
		// documentation lets a tuning component change the increments.
		step = t.firstSearchStep(n.search - 1)
		n.search = min(n.search+1, maxCount)
	}
	if t.cfg.Strategy == Adaptive && n.ceiling > 0 {
		gap := n.ceiling - n.interval // positive: expired forgets a lower ceiling
		switch {
		case n.stable >= t.cfg.CeilingTTL:
			// Test the old ceiling: just above it, so that a failed probe
			// costs little deaf time (Resolution, or DefaultResolution
			// under the default rule), and by at most Increment per raise.
			step = min(step, gap+cmp.Or(t.cfg.Resolution, DefaultResolution))
		case gap <= t.resolution(n):
			// Settled just below the ceiling.
			return ReasonNone
		default:
			step = min(step, gap/2)
		}
	}
	n.prev = n.interval
	n.interval = min(n.interval+step, t.hi)
	n.streak = 0
	return ReasonConfirmed
}

// firstSearchGrowth is how much each raise of Adaptive's first search on
// a network outgrows the one before (H10): steps of Increment, 3 x
// Increment, 9 x Increment ..., so that from the Direct Push start of 8
// minutes the tuner reaches the 28-minute maximum in two raises (8, 13, 28
// minutes: at 42 minutes instead of 2 h 4 min). Growth 2 needs three
// raises (88 minutes); the fleet simulation (SPEC S5) found 3 cheaper in
// energy and requests, and 4 the same as 3.
const firstSearchGrowth = 3

// firstSearchStep is the step of raise k (from 0) of the first search on a
// network: Increment times firstSearchGrowth^k, no more than the upper
// bound needs.
func (t *Tuner) firstSearchStep(k int) time.Duration {
	step := t.cfg.Increment
	for ; k > 0 && step < t.hi; k-- {
		step *= firstSearchGrowth
	}
	return step
}

// resolution is how close below n's ceiling the Adaptive strategy settles
// (H10): Config.Resolution when set; otherwise 1/32 of the ceiling, at most
// DefaultResolution. On short timeouts a fixed 30 s is a large share of the
// interval, and pings per hour go as its inverse: within 1/32 the tuner
// settles 7.5 s below a 4-minute timeout, which the fleet simulation found
// worth the extra probe it costs (SPEC S5).
func (t *Tuner) resolution(n *network) time.Duration {
	if t.cfg.Resolution > 0 {
		return t.cfg.Resolution
	}
	return min(DefaultResolution, n.ceiling/32)
}

// timedOut handles a silent drop (H5, H9, H10).
func (t *Tuner) timedOut(n *network) Reason {
	failed := n.interval
	n.streak = 0
	n.search = 0
	if t.cfg.Strategy == Adaptive {
		// A timeout at the floor is no ceiling: it would forbid every
		// increase, while the floor's own fate is H9's business.
		if failed > t.lo && (n.ceiling == 0 || failed < n.ceiling) {
			n.ceiling = failed
		}
		n.stable = 0
	}
	if failed <= t.lo {
		n.floorFails++
	}
	reason := ReasonTimedOut
	if n.prev > 0 {
		n.interval = n.prev
		reason = ReasonReverted
	} else {
		n.interval = t.lo
	}
	n.prev = 0
	n.confirmed = min(n.confirmed, n.interval)
	return reason
}

// networkLost drops to the floor and remembers the best confirmed interval
// for when coverage returns (H7).
func (t *Tuner) networkLost(n *network) Reason {
	if !n.lost {
		n.lost = true
		n.remembered = n.confirmed
	}
	n.interval = t.lo
	n.prev, n.streak = 0, 0
	return ReasonNetworkLost
}

// restore brings back the remembered interval when coverage returns (H7).
func (t *Tuner) restore(n *network) Reason {
	n.lost = false
	n.interval = t.clamp(max(n.remembered, n.interval))
	n.confirmed = n.interval
	n.remembered = 0
	n.prev, n.streak = 0, 0
	return ReasonCoverageRegained
}

// SetServerBounds records the server's permissible heartbeat range and
// clamps the tuner to its intersection with the device's range (SPEC H8). A
// zero min or max means the server states no such limit. EAS servers report
// a violated limit in Ping status 5; Exchange's default range is 1 to 45
// minutes.
//
// If the ranges do not overlap, SetServerBounds returns an error wrapping
// ErrPushUnavailable and leaves the tuner unchanged: direct push cannot work
// with this server, and the application should fall back to scheduled sync.
// Negative bounds, or min > max, wrap ErrInvalidConfig.
func (t *Tuner) SetServerBounds(min, max time.Duration) (Change, error) {
	if min < 0 || max < 0 || (max > 0 && min > max) {
		return Change{}, fmt.Errorf("%w: server bounds [%v, %v]", ErrInvalidConfig, min, max)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	lo, hi := effectiveBounds(t.cfg, min, max)
	from := t.cur.interval
	if lo > hi {
		return Change{From: from, To: from}, fmt.Errorf("%w: server range [%v, %v] and device range [%v, %v] do not overlap",
			ErrPushUnavailable, min, formatMax(max), t.cfg.Min, t.cfg.Max)
	}
	t.serverMin, t.serverMax, t.lo, t.hi = min, max, lo, hi
	for _, n := range t.networks {
		n.interval = t.clamp(n.interval)
		if n.prev > 0 {
			n.prev = t.clamp(n.prev)
			if n.prev >= n.interval {
				n.prev = 0 // clamped back to where the raise started
			}
		}
	}
	return t.change(from, ReasonServerBounds), nil
}

func effectiveBounds(cfg Config, serverMin, serverMax time.Duration) (lo, hi time.Duration) {
	lo, hi = max(cfg.Min, serverMin), cfg.Max
	if serverMax > 0 {
		hi = min(hi, serverMax)
	}
	return lo, hi
}

func formatMax(d time.Duration) string {
	if d == 0 {
		return "none"
	}
	return d.String()
}

// change builds the Change from `from` to the current interval.
func (t *Tuner) change(from time.Duration, reason Reason) Change {
	if t.cur.interval == from {
		reason = ReasonNone
	}
	return Change{From: from, To: t.cur.interval, Reason: reason}
}

// SwitchNetwork makes id the current network (SPEC H11): its learned
// interval comes back, or a new network starts at Default. The identity is
// any string the application chooses, e.g. "wifi:HomeAP" or "cell:310-260".
// Switching to the current network changes nothing.
func (t *Tuner) SwitchNetwork(id string) Change {
	t.mu.Lock()
	defer t.mu.Unlock()
	from := t.cur.interval
	if id == t.cur.id {
		return t.change(from, ReasonNone)
	}
	n, ok := t.networks[id]
	if !ok {
		n = t.newNetwork(id)
	}
	t.clock++
	n.used = t.clock
	t.cur = n
	return t.change(from, ReasonNetworkSwitch)
}
