package heartbeat

import (
	"errors"
	"fmt"
	"time"

	"github.com/pushbeat/pushbeat/internal/enum"
)

// Defaults from the Direct Push documentation (SPEC H1) and pushbeat's own
// tuning component (SPEC H10).
const (
	// DefaultIncrement is the largest single increase of the interval: the
	// Direct Push documentation's HeartbeatIncrement, 300 seconds.
	DefaultIncrement = 300 * time.Second
	// DefaultMin is the device's smallest interval: the Direct Push documentation's HeartbeatMin,
	// 480 seconds. It is also the starting interval (the Direct Push documentation's
	// HeartbeatDefault is 480 seconds too).
	DefaultMin = 480 * time.Second
	// DefaultMax is the device's largest interval: the Direct Push documentation's HeartbeatMax,
	// 1680 seconds (28 minutes), just below the 30-minute idle timeout that
	// Microsoft asks operators and firewalls to allow.
	DefaultMax = 1680 * time.Second
	// DefaultBuffer is how long past the interval a client waits for an
	// answer before it assumes the network dropped the connection: the
	// Direct Push documentation's "+1 minute".
	DefaultBuffer = 60 * time.Second
	// DefaultConfirmations is how many successive full-interval round trips
	// confirm an interval before it is increased.
	DefaultConfirmations = 2
	// DefaultUnworkableAfter is how many successive timeouts at the lowest
	// allowed interval make the tuner report push as unworkable.
	DefaultUnworkableAfter = 3
	// DefaultResolution caps the default rule for Config.Resolution: how close
	// below a failed interval the Adaptive
	// strategy gets before it stops probing.
	DefaultResolution = 30 * time.Second
	// DefaultCeilingTTL is how many Expired round trips the Adaptive strategy
	// trusts a failed interval before it probes above it again. 500, chosen
	// from the fleet simulation's cost curve (internal/sim, SPEC S5): at 50
	// the probes alone killed 4.8 connections per network per week; 200
	// gives 1.5, 500 gives 0.8 (goal: at most 1) for 0.6% more energy than
	// 200, and 1000 saves little more while it learns of a timeout that
	// grew twice as slowly.
	DefaultCeilingTTL = 500
	// DefaultMaxNetworks is how many networks' learned state a Tuner keeps.
	DefaultMaxNetworks = 16

	// MaxInterval is the largest Max (and Buffer) a Config may ask for. No
	// push protocol holds a request for longer, and the bound keeps every
	// sum of durations far from overflow.
	MaxInterval = 7 * 24 * time.Hour
)

// Strategy selects how the interval is increased (SPEC H10).
type Strategy int

const (
	// Adaptive follows the Direct Push rules and also remembers the interval
	// that failed. On a network it has no learned state for, until the
	// first timeout there, its raises grow geometrically (Increment, then 3
	// x Increment, 9 x ..., capped by Max and the server's maximum; from 8
	// minutes: 13, then 28), each still after Confirmations expiries: the
	// first search reaches the 28-minute Max in 42 minutes instead of 2 h 4
	// min (SPEC S5). The interval that failed becomes a ceiling: later increases go at
	// most half the way to it, and probing stops once the gap is within
	// Config.Resolution (by default 1/32 of the ceiling, at most 30 s), so
	// the tuner settles just below the network's idle
	// timeout instead of failing at the same step forever. After
	// Config.CeilingTTL Expired round trips the ceiling is tested again by
	// one probe at the ceiling plus Resolution (reached in raises of at most
	// Increment): if it survives, the ceiling is forgotten; if not, it is
	// trusted for another CeilingTTL. Any Expired answer at or above the
	// ceiling forgets it too.
	// It is the default.
	Adaptive Strategy = iota
	// Classic is the Direct Push algorithm exactly as documented: fixed
	// increments, revert on failure. Kept for comparison and for
	// applications that want the documented behaviour to the letter.
	Classic
)

var strategyNames = [...]string{Adaptive: "adaptive", Classic: "classic"}

// String returns "adaptive" or "classic".
func (s Strategy) String() string { return enum.Name("Strategy", s, strategyNames[:]) }

// ParseStrategy returns the Strategy whose String is name.
func ParseStrategy(name string) (Strategy, error) {
	if s, ok := enum.Parse[Strategy](name, strategyNames[:]); ok {
		return s, nil
	}
	return 0, fmt.Errorf("%w: unknown strategy %q (want adaptive or classic)", ErrInvalidConfig, name)
}

// Config holds a Tuner's parameters. The zero value of every field means its
// default, so Config{} is the documented Direct Push configuration with the
// Adaptive strategy.
type Config struct {
	// Default is the interval of the first ping on a network the tuner has
	// not seen. Zero means Min: start at the safe floor and climb, as the
	// Direct Push documentation does (its HeartbeatDefault equals its HeartbeatMin, 480 s).
	Default time.Duration
	// Increment is the largest single increase. Zero means DefaultIncrement.
	Increment time.Duration
	// Min is the device's smallest interval. Zero means DefaultMin.
	Min time.Duration
	// Max is the device's largest interval. Zero means DefaultMax.
	Max time.Duration
	// Buffer is how long past the interval the client waits for an answer
	// before it counts the ping as TimedOut (see Tuner.Deadline). Zero means
	// DefaultBuffer; a deadline with no buffer at all would race the
	// server's own answer, so there is no way to ask for one.
	Buffer time.Duration
	// Confirmations is how many successive Expired round trips at an
	// interval are needed before it is increased. Zero means
	// DefaultConfirmations.
	Confirmations int
	// UnworkableAfter is how many successive timeouts at the lowest allowed
	// interval make the tuner report push as unworkable (see
	// Tuner.Workable). Zero means DefaultUnworkableAfter.
	UnworkableAfter int
	// Strategy is Adaptive (the zero value) or Classic.
	Strategy Strategy
	// Resolution is, for Adaptive, how close below a failed interval the
	// tuner must be to stop probing, and how far above it a probe goes.
	// Zero means the default rule: 1/32 of the failed interval, at most
	// DefaultResolution (30 s) — 7.5 s below a 4-minute timeout, which the
	// fleet simulation found worth its extra probe (SPEC S5). A positive
	// value is used as it is: choose one when the path's timeout is not
	// sharp (a middlebox that sweeps its table every few seconds, timers
	// that run late), so that the tuner settles further below it.
	Resolution time.Duration
	// CeilingTTL is, for Adaptive, how many Expired round trips a failed
	// interval is trusted before one probe above it. Changed answers do not
	// count: they say nothing about idle time, and on a busy mailbox they
	// would make the tuner probe (and time out) several times a day. Zero
	// means DefaultCeilingTTL.
	CeilingTTL int
	// MaxNetworks is how many networks' learned state the tuner keeps (SPEC
	// H11); when a new network would exceed it, the least recently used
	// other network is forgotten. Zero means DefaultMaxNetworks.
	MaxNetworks int
}

// withDefaults returns c with every zero field replaced by its default.
func (c Config) withDefaults() Config {
	orDefault(&c.Increment, DefaultIncrement)
	orDefault(&c.Min, DefaultMin)
	orDefault(&c.Max, DefaultMax)
	orDefault(&c.Default, c.Min)
	orDefault(&c.Buffer, DefaultBuffer)
	orDefault(&c.Confirmations, DefaultConfirmations)
	orDefault(&c.UnworkableAfter, DefaultUnworkableAfter)
	// A zero Resolution stays zero: it selects the default rule
	// (Tuner.resolution).
	orDefault(&c.CeilingTTL, DefaultCeilingTTL)
	orDefault(&c.MaxNetworks, DefaultMaxNetworks)
	return c
}

func orDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

// validate reports the first field of c (with defaults applied) that breaks
// the rules of SPEC H2.
func (c Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	switch {
	case c.Min < 0:
		return bad("Min (%v) must be positive", c.Min)
	case c.Max > MaxInterval:
		return bad("Max (%v) must be at most %v", c.Max, MaxInterval)
	case c.Min > c.Max:
		return bad("Min (%v) must not exceed Max (%v)", c.Min, c.Max)
	case c.Default < c.Min:
		return bad("Default (%v) must not be below Min (%v)", c.Default, c.Min)
	case c.Default > c.Max:
		return bad("Default (%v) must not exceed Max (%v)", c.Default, c.Max)
	case c.Increment < 0:
		return bad("Increment (%v) must be positive", c.Increment)
	case c.Buffer < 0:
		return bad("Buffer (%v) must not be negative", c.Buffer)
	case c.Buffer > MaxInterval:
		return bad("Buffer (%v) must be at most %v", c.Buffer, MaxInterval)
	case c.Confirmations < 0:
		return bad("Confirmations (%d) must be at least 1", c.Confirmations)
	case c.UnworkableAfter < 0:
		return bad("UnworkableAfter (%d) must be at least 1", c.UnworkableAfter)
	case c.Strategy != Adaptive && c.Strategy != Classic:
		return bad("Strategy (%v) is not Adaptive or Classic", c.Strategy)
	case c.Resolution < 0:
		return bad("Resolution (%v) must not be negative", c.Resolution)
	case c.CeilingTTL < 0:
		return bad("CeilingTTL (%d) must be at least 1", c.CeilingTTL)
	case c.MaxNetworks < 0:
		return bad("MaxNetworks (%d) must be at least 1", c.MaxNetworks)
	}
	return nil
}

// Errors returned by this package. They are matched with errors.Is; the
// returned errors wrap them with the details.
var (
	// ErrInvalidConfig reports a Config or bound that breaks SPEC H2.
	ErrInvalidConfig = errors.New("heartbeat: invalid configuration")
	// ErrPushUnavailable reports that the server's permissible heartbeat
	// range does not overlap the device's (SPEC H8): direct push cannot
	// work, and the application should fall back to scheduled sync.
	ErrPushUnavailable = errors.New("heartbeat: push unavailable")
	// ErrInvalidState reports a state document that is corrupt, of an
	// unknown version, or inconsistent in itself (SPEC H12). A sound document
	// written under other bounds is not invalid: Restore fits it.
	ErrInvalidState = errors.New("heartbeat: invalid state")
)
