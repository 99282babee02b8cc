package heartbeat

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"
)

// StateVersion is the version of the state document written by
// MarshalJSON. Restore accepts only this version.
const StateVersion = 1

// Limits on a state document, so that a hostile or corrupt file cannot make
// Restore allocate without bound.
const (
	maxStateBytes   = 1 << 20
	maxNetworkIDLen = 256
	maxCount        = 1 << 20
)

// stateDoc is the versioned JSON document of a Tuner's learned state (SPEC
// H12). Durations are Go duration strings ("14m52.5s") so that the file is
// readable and exact.
type stateDoc struct {
	Version   int          `json:"version"`
	Network   string       `json:"network"`
	ServerMin jsonDuration `json:"server_min"`
	ServerMax jsonDuration `json:"server_max"`
	// Networks are listed from the least to the most recently used.
	Networks []networkDoc `json:"networks"`
}

type networkDoc struct {
	ID         string       `json:"id"`
	Interval   jsonDuration `json:"interval"`
	Previous   jsonDuration `json:"previous"` // zero: no unproven raise
	Streak     int          `json:"streak"`
	Confirmed  jsonDuration `json:"confirmed"`
	Lost       bool         `json:"lost"`
	Remembered jsonDuration `json:"remembered"`
	FloorFails int          `json:"floor_timeouts"`
	Ceiling    jsonDuration `json:"ceiling"`
	Stable     int          `json:"stable"`
	// Search is the first search's state (network.search); absent in
	// documents written before it existed, which restores as over.
	Search int `json:"first_search,omitempty"`
}

type jsonDuration time.Duration

func (d jsonDuration) MarshalText() ([]byte, error) {
	return []byte(time.Duration(d).String()), nil
}

func (d *jsonDuration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("negative duration %v", v)
	}
	*d = jsonDuration(v)
	return nil
}

// MarshalJSON returns the tuner's whole learned state, for every network it
// remembers, as a versioned JSON document (SPEC H12). The configuration is
// not part of it: the application owns that.
func (t *Tuner) MarshalJSON() ([]byte, error) {
	t.mu.Lock()
	doc := stateDoc{
		Version:   StateVersion,
		Network:   t.cur.id,
		ServerMin: jsonDuration(t.serverMin),
		ServerMax: jsonDuration(t.serverMax),
		Networks:  make([]networkDoc, 0, len(t.networks)),
	}
	// Least recently used first, so that Restore can rebuild the order.
	byUse := make([]*network, 0, len(t.networks))
	for _, n := range t.networks {
		byUse = append(byUse, n)
	}
	slices.SortFunc(byUse, func(a, b *network) int { return cmp.Compare(a.used, b.used) })
	for _, n := range byUse {
		doc.Networks = append(doc.Networks, networkDoc{
			ID:         n.id,
			Interval:   jsonDuration(n.interval),
			Previous:   jsonDuration(n.prev),
			Streak:     n.streak,
			Confirmed:  jsonDuration(n.confirmed),
			Lost:       n.lost,
			Remembered: jsonDuration(n.remembered),
			FloorFails: n.floorFails,
			Ceiling:    jsonDuration(n.ceiling),
			Stable:     n.stable,
			Search:     n.search,
		})
	}
	t.mu.Unlock()
	return json.Marshal(doc)
}

// UnmarshalJSON is Restore for encoding/json, defined by it the way
// rate.Allow is AllowN: it exists only so that a Tuner inside a larger JSON
// document restores with it (without it encoding/json would decode nothing
// into a Tuner, silently). It drops the change and the adjustments; call
// Restore to see them. The Tuner must have been made by New.
func (t *Tuner) UnmarshalJSON(data []byte) error {
	_, _, err := t.Restore(data)
	return err
}

// Restore replaces the tuner's learned state with a document written by
// MarshalJSON and returns the resulting change of the current interval
// (SPEC H12).
//
// A document that is corrupt, of another version, or inconsistent in itself
// (a network listed twice, a current network that is not listed, a raise
// that is not above the interval before it, an empty server range, a
// counter or duration beyond what a tuner can reach) returns an error
// wrapping ErrInvalidState and leaves the tuner unchanged.
//
// A sound document written under other bounds (another Min, Max or
// MaxNetworks) is restored as far as it fits, so that a changed
// configuration does not throw away what was learned. Each adjustment is
// reported in adjusted, one note per line, for example
//
//	network "wifi:Home": interval 20m0s clamped to 10m0s
//
// and adjusted is nil when the document fit as it was. The rules:
//
//   - an interval above this tuner's maximum is cut to it (the path survived
//     longer, so it survives the maximum); one below its minimum is raised
//     to it, with its confirmation streak and floor timeouts reset;
//   - the interval before an unproven raise is clamped the same way, and
//     dropped where it would no longer be below the interval; the best
//     confirmed interval and the one remembered for coverage's return are
//     kept as they are (the tuner clamps them when it uses them);
//   - with more networks than MaxNetworks, the least recently used are
//     dropped, never the current one;
//   - server bounds that do not overlap the device range any more are
//     dropped (the server states them again).
func (t *Tuner) Restore(data []byte) (_ Change, adjusted []string, _ error) {
	if t == nil || t.networks == nil {
		return Change{}, nil, fmt.Errorf("%w: Restore on a Tuner not made by New", ErrInvalidState)
	}
	doc, err := decodeState(data)
	if err != nil {
		return Change{}, nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	st, err := t.validateState(doc)
	if err != nil {
		return Change{}, nil, err
	}
	from := t.cur.interval
	t.serverMin, t.serverMax = st.serverMin, st.serverMax
	t.lo, t.hi = st.lo, st.hi
	t.networks, t.cur = st.networks, st.cur
	t.clock = uint64(len(doc.Networks))
	return t.change(from, ReasonStateLoaded), st.adjusted, nil
}

func decodeState(data []byte) (stateDoc, error) {
	var doc stateDoc
	if len(data) > maxStateBytes {
		return doc, fmt.Errorf("%w: document of %d bytes exceeds %d", ErrInvalidState, len(data), maxStateBytes)
	}
	if !utf8.Valid(data) {
		// encoding/json would quietly replace the bad bytes.
		return doc, fmt.Errorf("%w: document is not valid UTF-8", ErrInvalidState)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return doc, fmt.Errorf("%w: %v", ErrInvalidState, err)
	}
	if dec.More() {
		return doc, fmt.Errorf("%w: data after the document", ErrInvalidState)
	}
	if doc.Version != StateVersion {
		return doc, fmt.Errorf("%w: version %d, want %d", ErrInvalidState, doc.Version, StateVersion)
	}
	return doc, nil
}

// restoredState is what validateState builds from a document.
type restoredState struct {
	serverMin, serverMax time.Duration
	lo, hi               time.Duration
	networks             map[string]*network
	cur                  *network
	adjusted             []string
}

// validateState checks doc for soundness, fits it to t's configuration and
// builds the state it describes without touching t. The caller holds t.mu.
func (t *Tuner) validateState(doc stateDoc) (restoredState, error) {
	bad := func(format string, args ...any) (restoredState, error) {
		return restoredState{}, fmt.Errorf("%w: "+format, append([]any{ErrInvalidState}, args...)...)
	}
	var st restoredState
	note := func(format string, args ...any) { st.adjusted = append(st.adjusted, fmt.Sprintf(format, args...)) }

	// Soundness first: nothing here depends on this tuner's bounds.
	st.serverMin, st.serverMax = time.Duration(doc.ServerMin), time.Duration(doc.ServerMax)
	switch {
	case st.serverMax > 0 && st.serverMin > st.serverMax:
		return bad("server range [%v, %v] is empty", st.serverMin, st.serverMax)
	case st.serverMin > MaxInterval || st.serverMax > MaxInterval:
		return bad("a server bound exceeds %v", MaxInterval)
	case len(doc.Networks) == 0 || len(doc.Networks) > maxCount:
		return bad("%d networks, want 1 to %d", len(doc.Networks), maxCount)
	}
	atMost := func(d jsonDuration) bool { return time.Duration(d) <= MaxInterval }
	seen := make(map[string]bool, len(doc.Networks))
	current := false
	for i, nd := range doc.Networks {
		where := fmt.Sprintf("network %q", nd.ID)
		switch {
		case len(nd.ID) > maxNetworkIDLen || !utf8.ValidString(nd.ID):
			return bad("network %d: identity is not valid UTF-8 of at most %d bytes", i, maxNetworkIDLen)
		case seen[nd.ID]:
			return bad("%s listed twice", where)
		case nd.Interval <= 0:
			return bad("%s: interval %v is not positive", where, time.Duration(nd.Interval))
		case nd.Previous != 0 && nd.Previous >= nd.Interval:
			return bad("%s: previous interval %v is not below the raised interval %v",
				where, time.Duration(nd.Previous), time.Duration(nd.Interval))
		case !atMost(nd.Interval) || !atMost(nd.Previous) || !atMost(nd.Confirmed) || !atMost(nd.Remembered) || !atMost(nd.Ceiling):
			return bad("%s: a duration exceeds %v", where, MaxInterval)
		case nd.Streak < 0 || nd.Streak > maxCount || nd.FloorFails < 0 || nd.FloorFails > maxCount ||
			nd.Stable < 0 || nd.Stable > maxCount || nd.Search < 0 || nd.Search > maxCount:
			return bad("%s: a counter is outside [0, %d]", where, maxCount)
		}
		seen[nd.ID] = true
		current = current || nd.ID == doc.Network
	}
	if !current {
		return bad("current network %q is not among the networks", doc.Network)
	}

	// Then fit it to this configuration.
	st.lo, st.hi = effectiveBounds(t.cfg, st.serverMin, st.serverMax)
	if st.lo > st.hi {
		note("server range [%v, %v] dropped: it does not overlap the device range [%v, %v]",
			st.serverMin, formatMax(st.serverMax), t.cfg.Min, t.cfg.Max)
		st.serverMin, st.serverMax = 0, 0
		st.lo, st.hi = effectiveBounds(t.cfg, 0, 0)
	}
	list := doc.Networks
	if excess := len(list) - t.cfg.MaxNetworks; excess > 0 {
		kept := make([]networkDoc, 0, t.cfg.MaxNetworks)
		for _, nd := range list { // least recently used first: drop from the front
			if excess > 0 && nd.ID != doc.Network {
				note("network %q dropped: more than %d networks", nd.ID, t.cfg.MaxNetworks)
				excess--
				continue
			}
			kept = append(kept, nd)
		}
		list = kept
	}
	st.networks = make(map[string]*network, len(list))
	for i, nd := range list {
		n := &network{
			id:         nd.ID,
			interval:   time.Duration(nd.Interval),
			prev:       time.Duration(nd.Previous),
			streak:     nd.Streak,
			confirmed:  time.Duration(nd.Confirmed),
			lost:       nd.Lost,
			remembered: time.Duration(nd.Remembered),
			floorFails: nd.FloorFails,
			ceiling:    time.Duration(nd.Ceiling),
			stable:     nd.Stable,
			search:     nd.Search,
			used:       uint64(i + 1),
		}
		st.fit(n, note)
		st.networks[nd.ID] = n
	}
	st.cur = st.networks[doc.Network]
	return st, nil
}

// fit clamps n's interval, and the one before an unproven raise, to
// [st.lo, st.hi], noting every change.
func (st *restoredState) fit(n *network, note func(string, ...any)) {
	where := fmt.Sprintf("network %q", n.id)
	clamp := func(d time.Duration) time.Duration { return min(max(d, st.lo), st.hi) }
	if c := clamp(n.interval); c != n.interval {
		note("%s: interval %v clamped to %v", where, n.interval, c)
		if c > n.interval {
			n.streak, n.floorFails = 0, 0 // nothing was proven at c
		}
		n.interval = c
	}
	if n.prev != 0 {
		if c := clamp(n.prev); c >= n.interval {
			note("%s: interval before the unproven raise (%v) dropped", where, n.prev)
			n.prev = 0
		} else if c != n.prev {
			note("%s: interval before the unproven raise %v clamped to %v", where, n.prev, c)
			n.prev = c
		}
	}
}
