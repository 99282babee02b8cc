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
		})
	}
	t.mu.Unlock()
	return json.Marshal(doc)
}

// UnmarshalJSON restores state written by MarshalJSON; see Restore. It lets a
// Tuner be a field of a larger JSON document. The Tuner must have been made
// by New.
func (t *Tuner) UnmarshalJSON(data []byte) error {
	_, err := t.Restore(data)
	return err
}

// Restore replaces the tuner's learned state with a document written by
// MarshalJSON and returns the resulting change of the current interval. A
// document that is corrupt, of another version, or out of this tuner's
// bounds returns an error wrapping ErrInvalidState and leaves the tuner
// unchanged (SPEC H12).
func (t *Tuner) Restore(data []byte) (Change, error) {
	if t == nil || t.networks == nil {
		return Change{}, fmt.Errorf("%w: Restore on a Tuner not made by New", ErrInvalidState)
	}
	doc, err := decodeState(data)
	if err != nil {
		return Change{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	lo, hi, networks, cur, err := t.validateState(doc)
	if err != nil {
		return Change{}, err
	}
	from := t.cur.interval
	t.serverMin, t.serverMax = time.Duration(doc.ServerMin), time.Duration(doc.ServerMax)
	t.lo, t.hi = lo, hi
	t.networks, t.cur = networks, cur
	t.clock = uint64(len(doc.Networks))
	return t.change(from, ReasonRestore), nil
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

// validateState checks doc against t's configuration and builds the state it
// describes without touching t. The caller holds t.mu.
func (t *Tuner) validateState(doc stateDoc) (lo, hi time.Duration, networks map[string]*network, cur *network, err error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidState}, args...)...)
	}
	smin, smax := time.Duration(doc.ServerMin), time.Duration(doc.ServerMax)
	if smax > 0 && smin > smax {
		return 0, 0, nil, nil, bad("server range [%v, %v] is empty", smin, smax)
	}
	lo, hi = effectiveBounds(t.cfg, smin, smax)
	if lo > hi {
		return 0, 0, nil, nil, bad("server range [%v, %v] does not overlap the device range [%v, %v]",
			smin, formatMax(smax), t.cfg.Min, t.cfg.Max)
	}
	if len(doc.Networks) == 0 || len(doc.Networks) > t.cfg.MaxNetworks {
		return 0, 0, nil, nil, bad("%d networks, want 1 to %d", len(doc.Networks), t.cfg.MaxNetworks)
	}
	inRange := func(d jsonDuration) bool { return time.Duration(d) >= lo && time.Duration(d) <= hi }
	atMost := func(d jsonDuration) bool { return time.Duration(d) <= MaxInterval }
	networks = make(map[string]*network, len(doc.Networks))
	for i, nd := range doc.Networks {
		where := fmt.Sprintf("network %q", nd.ID)
		switch {
		case len(nd.ID) > maxNetworkIDLen || !utf8.ValidString(nd.ID):
			return 0, 0, nil, nil, bad("network %d: identity is not valid UTF-8 of at most %d bytes", i, maxNetworkIDLen)
		case networks[nd.ID] != nil:
			return 0, 0, nil, nil, bad("%s listed twice", where)
		case !inRange(nd.Interval):
			return 0, 0, nil, nil, bad("%s: interval %v outside [%v, %v]", where, time.Duration(nd.Interval), lo, hi)
		case nd.Previous != 0 && (!inRange(nd.Previous) || nd.Previous >= nd.Interval):
			return 0, 0, nil, nil, bad("%s: previous interval %v is not below the raised interval %v within bounds",
				where, time.Duration(nd.Previous), time.Duration(nd.Interval))
		case !atMost(nd.Previous) || !atMost(nd.Confirmed) || !atMost(nd.Remembered) || !atMost(nd.Ceiling):
			return 0, 0, nil, nil, bad("%s: a duration exceeds %v", where, MaxInterval)
		case nd.Streak < 0 || nd.Streak > maxCount || nd.FloorFails < 0 || nd.FloorFails > maxCount ||
			nd.Stable < 0 || nd.Stable > maxCount:
			return 0, 0, nil, nil, bad("%s: a counter is outside [0, %d]", where, maxCount)
		}
		networks[nd.ID] = &network{
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
			used:       uint64(i + 1),
		}
	}
	cur = networks[doc.Network]
	if cur == nil {
		return 0, 0, nil, nil, bad("current network %q is not among the networks", doc.Network)
	}
	return lo, hi, networks, cur, nil
}
