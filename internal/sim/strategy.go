package sim

import (
	"fmt"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
)

// Strategy decides the heartbeat interval of a simulated device. The
// simulator asks Interval before each ping and reports each ping's outcome
// (Expired, Changed or TimedOut) to Observe. A strategy is stateful: use a
// fresh one per run (NewStrategy).
type Strategy interface {
	// Name identifies the strategy in tables and JSON rows.
	Name() string
	// Interval returns the heartbeat for the next ping.
	Interval() time.Duration
	// Observe records the outcome of the ping that used Interval.
	Observe(heartbeat.Outcome)
	// SetServerBounds passes on what the server has said of its permissible
	// range (zero: not known). It returns an error wrapping
	// heartbeat.ErrPushUnavailable when that range and the device's do not
	// overlap; the device then falls back to scheduled sync.
	SetServerBounds(min, max time.Duration) error
	// Workable reports whether the strategy still believes in push; when it
	// turns false the device falls back to scheduled sync and probes push
	// again later.
	Workable() bool
}

// Names of the strategies NewStrategy knows, in table order.
const (
	StrategyAdaptive = "adaptive"  // heartbeat.Adaptive, the library's default
	StrategyClassic  = "classic"   // heartbeat.Classic, the Direct Push rules to the letter
	StrategyAOSP     = "aosp"      // the AOSP Exchange client's rule
	StrategyMicroG   = "microg"    // microG's multiplicative GCM rule
	StrategyFixedMin = "fixed-min" // always the device minimum (8 min)
	StrategyFixedMax = "fixed-max" // always the device maximum (28 min)
	StrategyOracle   = "oracle"    // knows the network's idle timeout
)

// StrategyNames returns the names NewStrategy knows, in table order.
func StrategyNames() []string {
	return []string{StrategyAdaptive, StrategyClassic, StrategyAOSP, StrategyMicroG,
		StrategyFixedMin, StrategyFixedMax, StrategyOracle}
}

// Step sizes of the baselines (see the package documentation for sources).
const (
	// AOSPStep is the AOSP Exchange client's MAXIMUM_HEARTBEAT_INCREMENT.
	AOSPStep = 5 * time.Minute
	// MicroGGrow and MicroGShrink are microG's learnReached and
	// learnTimeout factors.
	MicroGGrow   = 1.02
	MicroGShrink = 0.95
)

// NewStrategy returns a fresh strategy by name for scenario sc (whose
// device range, buffer and, for the oracle, network timeout it uses). An
// unknown name is an error wrapping ErrInvalidScenario.
func NewStrategy(name string, sc Scenario) (Strategy, error) {
	sc = sc.withDefaults()
	if err := sc.validate(); err != nil {
		return nil, err
	}
	r := deviceRange{devMin: sc.Min, devMax: sc.Max, lo: sc.Min, hi: sc.Max}
	switch name {
	case StrategyAdaptive, StrategyClassic:
		s := heartbeat.Adaptive
		if name == StrategyClassic {
			s = heartbeat.Classic
		}
		t, err := heartbeat.New(heartbeat.Config{Strategy: s, Min: sc.Min, Max: sc.Max, Buffer: sc.Buffer})
		if err != nil {
			return nil, err
		}
		return &tuner{name: name, t: t}, nil
	case StrategyAOSP:
		return &aosp{moving{deviceRange: r, iv: r.lo}}, nil
	case StrategyMicroG:
		return &microG{moving{deviceRange: r, iv: r.lo}}, nil
	case StrategyFixedMin:
		return &fixed{deviceRange: r, name: name, want: sc.Min}, nil
	case StrategyFixedMax:
		return &fixed{deviceRange: r, name: name, want: sc.Max}, nil
	case StrategyOracle:
		want := sc.Max
		if sc.Timeout > 0 {
			want = sc.Timeout
		}
		return &fixed{deviceRange: r, name: name, want: want}, nil
	}
	return nil, fmt.Errorf("%w: unknown strategy %q (want one of %v)", ErrInvalidScenario, name, StrategyNames())
}

// tuner is a heartbeat.Tuner as a Strategy. The simulator never calls
// SwitchNetwork, and never reports KnownCause or NetworkLost.
type tuner struct {
	name string
	t    *heartbeat.Tuner
}

func (s *tuner) Name() string                { return s.name }
func (s *tuner) Interval() time.Duration     { return s.t.Interval() }
func (s *tuner) Observe(o heartbeat.Outcome) { s.t.Observe(o) }
func (s *tuner) Workable() bool              { return s.t.Workable() }
func (s *tuner) SetServerBounds(lo, hi time.Duration) error {
	_, err := s.t.SetServerBounds(lo, hi)
	return err
}

// deviceRange is the baselines' shared handling of the device range and the
// server's: every baseline clamps its interval to their intersection, which
// is what the AOSP client's "use the server's heartbeat" on status 5
// amounts to.
type deviceRange struct {
	devMin, devMax time.Duration
	lo, hi         time.Duration // effective range
}

func (r *deviceRange) setServerBounds(smin, smax time.Duration) error {
	lo, hi := max(r.devMin, smin), r.devMax
	if smax > 0 {
		hi = min(hi, smax)
	}
	if lo > hi {
		return fmt.Errorf("%w: server range [%v, %v] and device range [%v, %v] do not overlap",
			heartbeat.ErrPushUnavailable, smin, smax, r.devMin, r.devMax)
	}
	r.lo, r.hi = lo, hi
	return nil
}

func (r *deviceRange) clamp(d time.Duration) time.Duration { return min(max(d, r.lo), r.hi) }

// Workable is true for every baseline: none of them gives up on push.
func (r *deviceRange) Workable() bool { return true }

// moving is a baseline whose interval moves with the outcomes, starting at
// the minimum and clamped to the effective range.
type moving struct {
	deviceRange
	iv time.Duration
}

func (s *moving) Interval() time.Duration { return s.iv }
func (s *moving) SetServerBounds(lo, hi time.Duration) error {
	if err := s.setServerBounds(lo, hi); err != nil {
		return err
	}
	s.iv = s.clamp(s.iv)
	return nil
}

// aosp is the AOSP Exchange client's rule: +AOSPStep on each expiry,
// -AOSPStep on a network problem, clamped to the range, starting at the
// minimum.
type aosp struct{ moving }

func (s *aosp) Name() string { return StrategyAOSP }
func (s *aosp) Observe(o heartbeat.Outcome) {
	switch o {
	case heartbeat.Expired:
		s.iv = s.clamp(s.iv + AOSPStep)
	case heartbeat.TimedOut, heartbeat.NetworkLost:
		s.iv = s.clamp(s.iv - AOSPStep)
	}
}

// microG is the multiplicative rule of microG's GCM client: ×MicroGGrow
// after an idle-enough answer, ×MicroGShrink after a timeout, clamped to the
// range (microG's own is 5 to 30 min; here the device's), starting at the
// minimum (microG starts at its own minimum, 5 min). Intervals are kept in
// whole milliseconds, as microG keeps them.
type microG struct{ moving }

func (s *microG) Name() string { return StrategyMicroG }
func (s *microG) Observe(o heartbeat.Outcome) {
	switch o {
	case heartbeat.Expired:
		s.iv = s.scale(MicroGGrow)
	case heartbeat.TimedOut:
		s.iv = s.scale(MicroGShrink)
	}
}
func (s *microG) scale(f float64) time.Duration {
	return s.clamp(time.Duration(float64(s.iv) * f).Truncate(time.Millisecond))
}

// fixed always asks for want, clamped to the effective range: the fixed
// baselines, and the oracle (want = the network timeout, so it pings at the
// largest allowed interval not above the timeout, or at the floor when even
// the floor is above it).
type fixed struct {
	deviceRange
	name string
	want time.Duration
}

func (s *fixed) Name() string              { return s.name }
func (s *fixed) Interval() time.Duration   { return s.clamp(s.want) }
func (s *fixed) Observe(heartbeat.Outcome) {}
func (s *fixed) SetServerBounds(lo, hi time.Duration) error {
	return s.setServerBounds(lo, hi)
}
