package heartbeat_test

import (
	"cmp"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/pushbeat/pushbeat/heartbeat"
)

// genConfig draws a valid Config in whole seconds, small enough that random
// walks reach every rule.
func genConfig(t *rapid.T) heartbeat.Config {
	sec := func(lo, hi int, label string) time.Duration {
		return time.Duration(rapid.IntRange(lo, hi).Draw(t, label)) * time.Second
	}
	minimum := sec(1, 600, "min")
	maximum := minimum + sec(0, 3600, "span")
	return heartbeat.Config{
		Min:             minimum,
		Max:             maximum,
		Default:         minimum + time.Duration(rapid.Int64Range(0, int64(maximum-minimum)).Draw(t, "default")),
		Increment:       sec(1, 900, "increment"),
		Buffer:          sec(1, 120, "buffer"),
		Confirmations:   rapid.IntRange(1, 4).Draw(t, "confirmations"),
		UnworkableAfter: rapid.IntRange(1, 5).Draw(t, "unworkableAfter"),
		Strategy:        rapid.SampledFrom([]heartbeat.Strategy{heartbeat.Adaptive, heartbeat.Classic}).Draw(t, "strategy"),
		Resolution:      sec(1, 120, "resolution"),
		CeilingTTL:      rapid.IntRange(1, 20).Draw(t, "ceilingTTL"),
		MaxNetworks:     rapid.IntRange(1, 4).Draw(t, "maxNetworks"),
	}
}

var genOutcome = rapid.SampledFrom([]heartbeat.Outcome{
	heartbeat.Expired, heartbeat.Expired, heartbeat.Expired, heartbeat.Changed,
	heartbeat.TimedOut, heartbeat.KnownCause, heartbeat.NetworkLost,
})

// op is one random call on a Tuner.
type op struct {
	kind    int // 0 Observe, 1 SwitchNetwork, 2 SetServerBounds
	outcome heartbeat.Outcome
	network string
	smin    time.Duration
	smax    time.Duration
}

func genOp(t *rapid.T, label string) op {
	switch rapid.IntRange(0, 19).Draw(t, label+".kind") {
	case 0:
		id := rapid.SampledFrom([]string{"", "wifi", "cell", "hotel"}).Draw(t, label+".network")
		return op{kind: 1, network: id}
	case 1:
		smin := time.Duration(rapid.IntRange(0, 1200).Draw(t, label+".smin")) * time.Second
		smax := time.Duration(rapid.IntRange(0, 3600).Draw(t, label+".smax")) * time.Second
		return op{kind: 2, smin: smin, smax: smax}
	}
	return op{kind: 0, outcome: genOutcome.Draw(t, label+".outcome")}
}

func apply(tr *heartbeat.Tuner, o op) (heartbeat.Change, error) {
	switch o.kind {
	case 1:
		return tr.SwitchNetwork(o.network), nil
	case 2:
		return tr.SetServerBounds(o.smin, o.smax)
	}
	return tr.Observe(o.outcome), nil
}

// raiseLimit is the largest raise allowed from the state document doc:
// Increment (H4), or for raise k (from 0) of Adaptive's first search on the
// current network Increment x 3^k (H10).
func raiseLimit(cfg heartbeat.Config, doc []byte) time.Duration {
	inc := cmp.Or(cfg.Increment, heartbeat.DefaultIncrement)
	if cfg.Strategy != heartbeat.Adaptive {
		return inc
	}
	var d struct {
		Network  string
		Networks []struct {
			ID     string
			Search int `json:"first_search"`
		}
	}
	if json.Unmarshal(doc, &d) != nil {
		return inc
	}
	for _, n := range d.Networks {
		if n.ID == d.Network {
			for k := n.Search - 1; k > 0 && inc < heartbeat.MaxInterval; k-- {
				inc *= 3
			}
		}
	}
	return inc
}

// TestPropertyInvariants checks, over random configurations and random
// sequences of calls: the interval never leaves the effective bounds (H8);
// no confirmed raise exceeds Increment (or, in Adaptive's first search on
// a network, Increment x 3^k at raise k, H10), and an outcome moves the interval
// up only by such a raise or an H7 restore (H4); KnownCause is the
// identity on the whole state (H6); a TimedOut right after a raise returns
// exactly to the interval before it (H5); every change reports the
// interval before and after it, and Reason is none exactly when the
// interval stays (H13); Deadline is Interval + Buffer (T2).
func TestPropertyInvariants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := genConfig(t)
		tr, err := heartbeat.New(cfg)
		if err != nil {
			t.Fatalf("New(%+v): %v", cfg, err)
		}
		var raisedFrom time.Duration // interval before the last raise, while unproven
		steps := rapid.IntRange(1, 200).Draw(t, "steps")
		for i := 0; i < steps; i++ {
			o := genOp(t, "op")
			was := tr.Interval()
			before, _ := tr.MarshalJSON()
			ch, err := apply(tr, o)
			after, _ := tr.MarshalJSON()
			s := tr.Snapshot()

			if err != nil {
				invalid := o.smax > 0 && o.smin > o.smax
				if !errors.Is(err, heartbeat.ErrPushUnavailable) && !(invalid && errors.Is(err, heartbeat.ErrInvalidConfig)) {
					t.Fatalf("step %d: %+v: unexpected error %v", i, o, err)
				}
				if string(before) != string(after) {
					t.Fatalf("step %d: failed SetServerBounds changed the state", i)
				}
				continue
			}
			if s.Interval < s.Min || s.Interval > s.Max || s.Min < cfg.Min || s.Max > cfg.Max {
				t.Fatalf("step %d: interval %v outside [%v, %v] (device [%v, %v])", i, s.Interval, s.Min, s.Max, cfg.Min, cfg.Max)
			}
			if s.Deadline != s.Interval+cfg.Buffer || tr.Deadline() != s.Interval+cfg.Buffer {
				t.Fatalf("step %d: deadline %v, interval %v", i, s.Deadline, s.Interval)
			}
			if (ch.Reason == heartbeat.ReasonNone) != (ch.From == ch.To) || ch.From != was || ch.To != s.Interval {
				t.Fatalf("step %d: %+v at %v gave %v with interval %v", i, o, was, ch, s.Interval)
			}
			if limit := raiseLimit(cfg, before); ch.Reason == heartbeat.ReasonConfirmed && (ch.To <= ch.From || ch.To-ch.From > limit) {
				t.Fatalf("step %d: raise %v exceeds %v (increment %v)", i, ch, limit, cfg.Increment)
			}
			// An outcome moves the interval up only by a raise (at most
			// Increment, above) or by restoring it after coverage returns.
			if o.kind == 0 && ch.To > ch.From && ch.Reason != heartbeat.ReasonConfirmed && ch.Reason != heartbeat.ReasonCoverageRegained {
				t.Fatalf("step %d: %v moved the interval up: %v", i, o.outcome, ch)
			}
			if o.kind == 0 && o.outcome == heartbeat.KnownCause && string(before) != string(after) {
				t.Fatalf("step %d: KnownCause changed the state:\n%s\n%s", i, before, after)
			}
			if o.kind == 0 && o.outcome == heartbeat.TimedOut && raisedFrom != 0 && ch.To != raisedFrom {
				t.Fatalf("step %d: timeout right after a raise from %v went to %v", i, raisedFrom, ch.To)
			}
			switch {
			case ch.Reason == heartbeat.ReasonConfirmed:
				raisedFrom = ch.From
			case o.kind == 0 && (o.outcome == heartbeat.Changed || o.outcome == heartbeat.KnownCause) && ch.Reason == heartbeat.ReasonNone:
				// neutral: the raise is still unproven
			default:
				raisedFrom = 0
			}
		}
	})
}

// classicModel is an independent model of SPEC H4 and H5 (with H6 and the
// neutral Changed), written from the Direct Push documentation's words rather than from the
// Tuner's code: it keeps a log of full-length pings, as the Direct Push documentation's client
// "keeps a log of ping requests".
type classicModel struct {
	cfg      heartbeat.Config
	lo, hi   time.Duration
	interval time.Duration
	log      []logEntry // Expired and TimedOut pings only
	// lastMoveWasRaise: the interval last moved up, from raisedFrom, when
	// the log had raisedAt entries.
	lastMoveWasRaise bool
	raisedFrom       time.Duration
	raisedAt         int // len(log) when the raise happened
	floorTimeouts    int
	unworkable       bool
}

type logEntry struct {
	interval time.Duration
	expired  bool
}

func (m *classicModel) observe(o heartbeat.Outcome) {
	switch o {
	case heartbeat.Expired:
		m.log = append(m.log, logEntry{m.interval, true})
		m.floorTimeouts, m.unworkable = 0, false
		// Successive Expired answers at this interval since the last move.
		n := 0
		for i := len(m.log) - 1; i >= 0 && m.log[i].expired && m.log[i].interval == m.interval; i-- {
			n++
		}
		if n >= m.cfg.Confirmations && m.interval < m.hi {
			m.raisedFrom = m.interval
			m.interval = min(m.interval+m.cfg.Increment, m.hi)
			m.lastMoveWasRaise, m.raisedAt = true, len(m.log)
		}
	case heartbeat.TimedOut:
		failed := m.interval
		// "If the heartbeat was increased during the last ping, then it is
		// changed back to the previous heartbeat", else to the minimum.
		if m.lastMoveWasRaise && len(m.log) == m.raisedAt {
			m.interval = m.raisedFrom
		} else {
			m.interval = m.lo
		}
		m.lastMoveWasRaise = false
		m.log = append(m.log, logEntry{failed, false})
		if failed == m.lo {
			m.floorTimeouts++
			m.unworkable = m.floorTimeouts >= m.cfg.UnworkableAfter
		}
	}
	// Changed and KnownCause: nothing.
}

// TestClassicMatchesModel runs the Classic strategy against classicModel,
// step by step, as a rapid state machine.
func TestClassicMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := genConfig(t)
		cfg.Strategy = heartbeat.Classic
		tr, err := heartbeat.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		m := &classicModel{cfg: cfg, lo: cfg.Min, hi: cfg.Max, interval: cfg.Default}
		outcome := rapid.SampledFrom([]heartbeat.Outcome{
			heartbeat.Expired, heartbeat.Changed, heartbeat.TimedOut, heartbeat.KnownCause,
		})
		t.Repeat(map[string]func(*rapid.T){
			"observe": func(t *rapid.T) {
				o := outcome.Draw(t, "outcome")
				m.observe(o)
				tr.Observe(o)
			},
			"": func(t *rapid.T) {
				if got := tr.Interval(); got != m.interval {
					t.Fatalf("Interval() = %v, model says %v", got, m.interval)
				}
				if got := tr.Workable(); got != !m.unworkable {
					t.Fatalf("Workable() = %v, model says %v", got, !m.unworkable)
				}
			},
		})
	})
}

// withHistory returns a tuner for cfg after up to n random calls.
func withHistory(t *rapid.T, cfg heartbeat.Config, n int) *heartbeat.Tuner {
	tr, err := heartbeat.New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	for i, n := 0, rapid.IntRange(0, n).Draw(t, "history"); i < n; i++ {
		_, _ = apply(tr, genOp(t, "past"))
	}
	return tr
}

// TestPropertyStateRoundTrip checks H12: after any history, a restored copy
// behaves exactly like the original for any future.
func TestPropertyStateRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := genConfig(t)
		a := withHistory(t, cfg, 100)
		doc, err := a.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := heartbeat.New(cfg)
		if _, adjusted, err := b.Restore(doc); err != nil || adjusted != nil {
			t.Fatalf("Restore of our own document: %v, adjusted %q\n%s", err, adjusted, doc)
		}
		for i, n := 0, rapid.IntRange(0, 100).Draw(t, "future"); i < n; i++ {
			o := genOp(t, "future")
			ca, ea := apply(a, o)
			cb, eb := apply(b, o)
			if ca != cb || (ea == nil) != (eb == nil) {
				t.Fatalf("step %d: %+v: original %v %v, restored %v %v", i, o, ca, ea, cb, eb)
			}
		}
		ja, _ := a.MarshalJSON()
		jb, _ := b.MarshalJSON()
		if string(ja) != string(jb) {
			t.Fatalf("states diverged:\n%s\n%s", ja, jb)
		}
	})
}

// TestPropertyRestoreGarbage checks H12: restoring mutated or random bytes
// never panics; it either fails and leaves the tuner unchanged, or succeeds
// with a state inside the bounds.
func TestPropertyRestoreGarbage(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tr := withHistory(t, genConfig(t), 30)
		doc, _ := tr.MarshalJSON()
		var data []byte
		if rapid.Bool().Draw(t, "random") {
			data = rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "bytes")
		} else {
			data = append([]byte(nil), doc...)
			for i, n := 0, rapid.IntRange(1, 5).Draw(t, "flips"); i < n && len(data) > 0; i++ {
				pos := rapid.IntRange(0, len(data)-1).Draw(t, "pos")
				data[pos] = rapid.Byte().Draw(t, "byte")
			}
		}
		checkRestore(t, tr, data)
	})
}

// checkRestore restores data into tr and checks the H12 contract.
func checkRestore(t interface{ Fatalf(string, ...any) }, tr *heartbeat.Tuner, data []byte) {
	before, _ := tr.MarshalJSON()
	_, _, err := tr.Restore(data)
	after, _ := tr.MarshalJSON()
	if err != nil {
		if !errors.Is(err, heartbeat.ErrInvalidState) {
			t.Fatalf("Restore error %v does not wrap ErrInvalidState", err)
		}
		if string(before) != string(after) {
			t.Fatalf("failed Restore changed the state")
		}
		return
	}
	s := tr.Snapshot()
	if s.Interval < s.Min || s.Interval > s.Max {
		t.Fatalf("restored interval %v outside [%v, %v]", s.Interval, s.Min, s.Max)
	}
	// What was accepted must survive its own round trip.
	if _, adjusted, err := tr.Restore(after); err != nil || adjusted != nil {
		t.Fatalf("accepted state does not restore again as it is: %v, adjusted %q\n%s", err, adjusted, after)
	}
}

// TestPropertyRestoreOtherConfig checks H12 across configurations: a
// tuner's own document restored under any other configuration is never
// refused; the result lies within the new bounds, keeps the current
// network, and restores again as it is (nothing left to adjust).
func TestPropertyRestoreOtherConfig(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := withHistory(t, genConfig(t), 60)
		doc, _ := a.MarshalJSON()
		cfg := genConfig(t)
		b, _ := heartbeat.New(cfg)
		_, adjusted, err := b.Restore(doc)
		if err != nil {
			t.Fatalf("Restore under another configuration: %v\n%s", err, doc)
		}
		s := b.Snapshot()
		if s.Interval < s.Min || s.Interval > s.Max || s.Network != a.Snapshot().Network {
			t.Fatalf("restored %+v from %s (adjusted %q)", s, doc, adjusted)
		}
		again, _ := heartbeat.New(cfg)
		after, _ := b.MarshalJSON()
		if _, adj, err := again.Restore(after); err != nil || adj != nil {
			t.Fatalf("the fitted state does not restore as it is: %v, %q\n%s", err, adj, after)
		}
	})
}
