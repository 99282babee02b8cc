package sim

import (
	"fmt"
	"strings"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
)

// newFleetStrategy returns a fresh strategy by name for fleet device dv
// (nil: only check the name). Each baseline keeps its own documented range
// (SPEC S3):
//
//   - adaptive: heartbeat.Adaptive, FleetMin to FleetMax starting at
//     FleetStart, with per-network memory (SwitchNetwork, H11).
//   - classic: heartbeat.Classic as the Direct Push documentation configures it (8-28 min),
//     with per-network memory.
//   - aosp: the AOSP Exchange client, +5/-5 min in 8-28 min, one state.
//   - microg: microG's GCM client, x1.02/x0.95 in its 5-30 min (GcmPrefs
//     MIN_INTERVAL, MAX_INTERVAL), one state.
//   - mars: Tencent Mars' smart heartbeat (marsStrategy).
//   - gcm: fixed 15 min on Wi-Fi, 28 min on mobile networks.
//   - fixed-min: fixed 8 min, the Direct Push minimum (H1).
//   - oracle: the current path's idle timeout exactly, within FleetMin to
//     FleetMax.
func newFleetStrategy(name string, dv *device) (Strategy, error) {
	dp := deviceRange{devMin: heartbeat.DefaultMin, devMax: heartbeat.DefaultMax,
		lo: heartbeat.DefaultMin, hi: heartbeat.DefaultMax}
	switch name {
	case StrategyAdaptive, StrategyClassic:
		cfg := heartbeat.Config{Strategy: heartbeat.Adaptive, Min: FleetMin, Max: FleetMax, Default: FleetStart,
			Buffer: fleetBuffer}
		if name == StrategyClassic {
			cfg = heartbeat.Config{Strategy: heartbeat.Classic, Buffer: fleetBuffer}
		}
		t, err := heartbeat.New(cfg)
		if err != nil {
			return nil, err
		}
		return &tuner{name: name, t: t}, nil
	case StrategyAOSP:
		return &aosp{moving{deviceRange: dp, iv: dp.lo}}, nil
	case StrategyMicroG:
		r := deviceRange{devMin: 5 * time.Minute, devMax: 30 * time.Minute, lo: 5 * time.Minute, hi: 30 * time.Minute}
		return &microG{moving{deviceRange: r, iv: r.lo}}, nil
	case StrategyMars:
		return newMars(), nil
	case StrategyGCM:
		return &gcm{}, nil
	case StrategyFixedMin:
		return &fixed{deviceRange: dp, name: name, want: heartbeat.DefaultMin}, nil
	case StrategyOracle:
		return &fleetOracle{dv: dv}, nil
	}
	return nil, fmt.Errorf("%w: unknown fleet strategy %q (want one of %v)", ErrInvalidScenario, name, FleetStrategyNames())
}

// SwitchNetwork passes a network change on to the heartbeat tuner (H11).
func (s *tuner) SwitchNetwork(id string) { s.t.SwitchNetwork(id) }

// gcm is Google's push client's fixed heartbeat: 15 minutes on Wi-Fi, 28
// on mobile networks, as the Pacemaker library (raveeshbhalla/pacemaker,
// README) and the "push notifications fixer" apps it cites describe Play
// Services' GCM connection; Google does not document the values.
type gcm struct {
	deviceRange
	wifi bool
}

// GCM's fixed heartbeats.
const (
	GCMWiFi   = 15 * time.Minute
	GCMMobile = 28 * time.Minute
)

func (s *gcm) Name() string                             { return StrategyGCM }
func (s *gcm) Observe(heartbeat.Outcome)                {}
func (s *gcm) SetServerBounds(_, _ time.Duration) error { return nil }
func (s *gcm) SwitchNetwork(id string)                  { s.wifi = strings.HasPrefix(id, "wifi:") }
func (s *gcm) Interval() time.Duration {
	if s.wifi {
		return GCMWiFi
	}
	return GCMMobile
}

// fleetOracle knows the current path's idle timeout, including changes.
type fleetOracle struct {
	deviceRange
	dv  *device
	now time.Duration
}

func (s *fleetOracle) Name() string                             { return StrategyOracle }
func (s *fleetOracle) Observe(heartbeat.Outcome)                {}
func (s *fleetOracle) SetServerBounds(_, _ time.Duration) error { return nil }
func (s *fleetOracle) setNow(t time.Duration)                   { s.now = t }
func (s *fleetOracle) Interval() time.Duration {
	to := s.dv.nets[s.dv.cur].timeoutAt(s.now)
	if to == 0 {
		return FleetMax
	}
	return min(max(to, FleetMin), FleetMax)
}

// Mars smart heartbeat parameters: Tencent/mars, mars/stn/config.h
// (MinHeartInterval 3.5 min, MaxHeartInterval 10 min, HeartStep 60 s,
// SuccessStep 20 s, MaxHeartFailCount 2, BaseSuccCount 5,
// NetStableTestCount 3).
const (
	marsMin        = 3*time.Minute + 30*time.Second
	marsMax        = 10 * time.Minute
	marsStep       = time.Minute
	marsSuccStep   = 20 * time.Second
	marsFails      = 2
	marsBaseSucc   = 5
	marsStableTest = 3
)

// marsNet is what Mars keeps per network (its Heartbeat.ini section).
type marsNet struct {
	cur      time.Duration
	stable   bool
	succ     int // successes at cur
	fails    int
	modified time.Duration
}

// marsStrategy follows mars/stn/src/smart_heartbeat.cc: every new
// connection sends its first NetStableTestCount heartbeats at the minimum;
// then, per network, the interval grows by HeartStep after BaseSuccCount
// successes; after MaxHeartFailCount failures at an interval it settles
// HeartStep + SuccessStep below it and is "stable"; reaching the maximum
// settles at maximum - SuccessStep. A stable network that fails twice
// starts over from the minimum. A stable interval is probed SuccessStep
// higher once a week (Mars: on a Tuesday, at least a day after the last
// change). Failures of heartbeats at the minimum teach nothing.
type marsStrategy struct {
	nets     map[string]*marsNet
	n        *marsNet
	connSucc int // successful heartbeats on this connection
	last     time.Duration
	now      time.Duration
}

func newMars() *marsStrategy {
	m := &marsStrategy{nets: make(map[string]*marsNet)}
	m.SwitchNetwork("")
	return m
}

func (m *marsStrategy) Name() string                             { return StrategyMars }
func (m *marsStrategy) SetServerBounds(_, _ time.Duration) error { return nil }
func (m *marsStrategy) Workable() bool                           { return true }
func (m *marsStrategy) setNow(t time.Duration)                   { m.now = t }

func (m *marsStrategy) SwitchNetwork(id string) {
	n, ok := m.nets[id]
	if !ok {
		n = &marsNet{cur: marsMin, modified: m.now}
		m.nets[id] = n
	}
	m.n = n
	m.connSucc = 0 // a new long link
}

func (m *marsStrategy) Interval() time.Duration {
	if m.connSucc < marsStableTest {
		m.last = marsMin
	} else {
		m.last = m.n.cur
	}
	return m.last
}

func (m *marsStrategy) Observe(o heartbeat.Outcome) {
	switch o {
	case heartbeat.Expired:
		m.success()
	case heartbeat.TimedOut:
		m.failure()
		m.connSucc = 0 // the link is re-established
	case heartbeat.KnownCause:
		m.connSucc = 0 // a reset link is re-established too
	}
}

func (m *marsStrategy) success() {
	n := m.n
	m.connSucc++
	if n.stable {
		// Weekly probe: day 1 of each week is the Tuesday of a run that
		// starts on a Monday.
		day := int(m.now / Day)
		if m.connSucc >= marsStableTest && n.cur < marsMax-marsSuccStep &&
			m.now-n.modified >= Day && day%7 == 1 {
			n.cur += marsSuccStep
			n.succ, n.fails, n.stable, n.modified = 0, 0, false, m.now
		}
		return
	}
	if m.last != n.cur || m.connSucc < marsStableTest {
		return
	}
	n.succ++
	switch {
	case n.cur >= marsMax:
		n.cur, n.succ, n.stable, n.modified = marsMax-marsSuccStep, 0, true, m.now
	case n.succ >= marsBaseSucc:
		n.cur, n.succ, n.modified = min(n.cur+marsStep, marsMax), 0, m.now
	}
	n.fails = 0
}

func (m *marsStrategy) failure() {
	n := m.n
	if m.last == marsMin || m.last != n.cur {
		return
	}
	n.fails++
	if n.fails < marsFails {
		return
	}
	n.succ, n.fails, n.modified = 0, 0, m.now
	if n.stable {
		n.cur, n.stable = marsMin, false
		return
	}
	n.cur, n.stable = max(marsMin, n.cur-marsStep-marsSuccStep), true
}
