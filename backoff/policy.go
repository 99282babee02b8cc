package backoff

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/pushbeat/pushbeat/internal/enum"
)

// Defaults for the zero fields of a Policy.
const (
	// DefaultBase is the base interval of the failure schedule (B4): the
	// deployed Sync client's 15 minutes.
	DefaultBase = 15 * time.Minute
	// DefaultCap is the longest scheduled wait after failures (B4): 8 hours.
	DefaultCap = 8 * time.Hour
	// DefaultFuzz is the fraction of a server-requested delay added at
	// random, so that clients told the same time do not return together (B1):
	// up to 25% more.
	DefaultFuzz = 0.25
	// DefaultMaxServerDelay caps every server-directed wait, fuzz included
	// (B10): 24 hours.
	DefaultMaxServerDelay = 24 * time.Hour
	// DefaultReconnectBase is the first wait after an attempt that ended at
	// once (class Instant, SPEC L1): about a second, so that a server
	// back from a restart is found again within seconds.
	DefaultReconnectBase = time.Second
	// DefaultSecondaryAfter is how many failed retries lead to the Secondary
	// phase (B6): three, so the fourth consecutive failure enters it.
	DefaultSecondaryAfter = 3
)

// ErrInvalidPolicy is wrapped by the error New returns for a Policy it
// rejects; the message names the field.
var ErrInvalidPolicy = errors.New("backoff: invalid policy")

// Schedule selects how the wait after consecutive failures grows (B4).
type Schedule int

const (
	// Linear is the deployed Sync client's schedule and the default: after
	// the n-th consecutive failure the wait is uniformly random in
	// [n·Base, 2·n·Base). Once 2·n·Base would pass Cap, the range is clamped
	// to [Cap/2, Cap) rather than every draw being clamped to Cap, so clients
	// that have failed for hours keep their entropy instead of all returning
	// exactly Cap after the same outage.
	Linear Schedule = iota
	// ExponentialJitter is "full jitter": after the n-th consecutive failure
	// the wait is uniformly random in [0, min(Cap, Base·2^(n-1))). Its mean
	// grows faster than Linear's, but any single wait may be short.
	ExponentialJitter
)

var scheduleNames = [...]string{Linear: "linear", ExponentialJitter: "exponential-jitter"}

// String returns "linear" or "exponential-jitter".
func (s Schedule) String() string { return enum.Name("Schedule", s, scheduleNames[:]) }

// Policy configures a Controller. The zero Policy is the Sync client's
// policy (SPEC B1–B10); every zero field means its default.
type Policy struct {
	// Base is the base interval of the failure schedule. Zero means
	// DefaultBase (15 min). Negative is an error.
	Base time.Duration

	// Cap is the longest wait the failure schedule produces. Zero means
	// DefaultCap (8 h). It must not be below Base. Server-requested delays
	// are limited by MaxServerDelay instead.
	Cap time.Duration

	// Schedule is how waits grow with consecutive failures. The zero value
	// is Linear.
	Schedule Schedule

	// ReconnectBase is the first wait of the reconnect ladder, the schedule
	// of attempts that end at once (class Instant, SPEC L1): after the n-th
	// in a row the wait is uniformly random in [ReconnectBase·2^(n-1),
	// ReconnectBase·2^n), at most Base, for as long as ReconnectBase·2^(n-1)
	// is below Base; later ones wait on Schedule like any failure. Zero
	// means DefaultReconnectBase (1 s), or Base if that is shorter.
	// Negative is an error; at or above Base there is no ladder.
	ReconnectBase time.Duration

	// Fuzz is the fraction of a server-requested delay (Retry-After,
	// X-Backoff) added at random: a delay d becomes uniformly random in
	// [d, d+Fuzz·d), or [d, d+Fuzz·Base/15) for delays shorter than Base/15
	// (one minute by default), so that even "now" spreads a fleet. The range
	// ends at MaxServerDelay at the latest. Zero means DefaultFuzz (0.25); a
	// negative value turns fuzz off (every client told the same time returns
	// at the same instant: not recommended). Values above 1, NaN and
	// infinities are errors.
	Fuzz float64

	// MaxServerDelay caps every server-directed wait, fuzz included (B10):
	// a requested delay above it is cut to it, and fuzz never carries a wait
	// past it. A delay d close to the cap is therefore spread over
	// [d, MaxServerDelay) only, and a delay at the cap gets no fuzz at all:
	// the server's time is a floor (B1) and the cap a ceiling, and where they
	// meet both win over spreading the fleet. Zero means
	// DefaultMaxServerDelay (24 h). Negative is an error.
	MaxServerDelay time.Duration

	// HeaderUnit is the unit of X-Weave-Backoff and X-Backoff values. Zero
	// means DefaultHeaderUnit (time.Second); see the package documentation
	// for why not the WEP 106 draft's milliseconds. Negative is an error.
	HeaderUnit time.Duration

	// SecondaryAfter is how many failed retries move the controller from the
	// Initial to the Secondary phase: with n, failure n+1 in a row (the first
	// attempt plus n retries) enters Secondary. Zero means
	// DefaultSecondaryAfter (3). Negative is an error.
	SecondaryAfter int

	// AttemptHeader is the request header that carries the retry number
	// while the controller is failing (B9): the one place that names it.
	// SetAttemptHeader sets it; requests through Transport and the pings
	// of a transport.Loop with this controller carry it, as do requests
	// whose header an application passes to SetAttemptHeader.
	// HeaderRetryAttempt ("X-Retry-Attempt") is the proposed name. Empty
	// means no header is sent. It must be a valid header name; it is used
	// in canonical form.
	AttemptHeader string

	// Clock is the clock the Controller reads and waits on. Nil means the
	// real clock (clock.New()); tests pass clock.NewMock().
	Clock clock.Clock

	// Rand returns uniformly distributed numbers in [0, 1), the entropy of
	// the schedule and of fuzz. Nil means math/rand/v2's Float64, seeded by
	// the runtime and safe for concurrent use. Deterministic tests pass, for
	// example, rand.New(rand.NewPCG(1, 2)).Float64. The Controller calls it
	// with its lock held, so it need not be safe for concurrent use unless
	// several controllers share it. Values outside [0, 1) are clamped.
	Rand func() float64

	// OnChange, if not nil, is called after Observe or ManualRetry changes
	// the phase, reason, failure count, next allowed time or manual-retry
	// permission, with the Status before and after. It is called without the
	// Controller's lock held, so it may call the Controller; when outcomes
	// are observed from several goroutines, calls may overlap and arrive out
	// of order (Status always has the current state). A wait running out is
	// not a change: nothing calls OnChange when Next passes.
	OnChange func(from, to Status)
}

// withDefaults validates p and fills in its zero fields.
func (p Policy) withDefaults() (Policy, error) {
	bad := func(format string, args ...any) (Policy, error) {
		return Policy{}, fmt.Errorf("%w: "+format, append([]any{ErrInvalidPolicy}, args...)...)
	}
	switch {
	case p.Base < 0:
		return bad("Base %v is negative", p.Base)
	case p.ReconnectBase < 0:
		return bad("ReconnectBase %v is negative", p.ReconnectBase)
	case p.Cap < 0:
		return bad("Cap %v is negative", p.Cap)
	case p.MaxServerDelay < 0:
		return bad("MaxServerDelay %v is negative", p.MaxServerDelay)
	case p.HeaderUnit < 0:
		return bad("HeaderUnit %v is negative", p.HeaderUnit)
	case p.SecondaryAfter < 0:
		return bad("SecondaryAfter %d is negative", p.SecondaryAfter)
	case math.IsNaN(p.Fuzz) || math.IsInf(p.Fuzz, 0) || p.Fuzz > 1:
		return bad("Fuzz %v is not a fraction at most 1", p.Fuzz)
	case p.Schedule != Linear && p.Schedule != ExponentialJitter:
		return bad("unknown Schedule %v", p.Schedule)
	case p.AttemptHeader != "" && !validHeaderName(p.AttemptHeader):
		return bad("AttemptHeader %q is not a valid header name", p.AttemptHeader)
	}
	if p.Base == 0 {
		p.Base = DefaultBase
	}
	if p.Cap == 0 {
		p.Cap = DefaultCap
	}
	if p.Cap < p.Base {
		return bad("Cap %v is below Base %v", p.Cap, p.Base)
	}
	if p.ReconnectBase == 0 {
		p.ReconnectBase = min(DefaultReconnectBase, p.Base)
	}
	switch {
	case p.Fuzz == 0:
		p.Fuzz = DefaultFuzz
	case p.Fuzz < 0:
		p.Fuzz = 0
	}
	if p.MaxServerDelay == 0 {
		p.MaxServerDelay = DefaultMaxServerDelay
	}
	if p.HeaderUnit == 0 {
		p.HeaderUnit = DefaultHeaderUnit
	}
	if p.SecondaryAfter == 0 {
		p.SecondaryAfter = DefaultSecondaryAfter
	}
	p.AttemptHeader = http.CanonicalHeaderKey(p.AttemptHeader)
	if p.Clock == nil {
		p.Clock = clock.New()
	}
	if p.Rand == nil {
		p.Rand = rand.Float64
	}
	return p, nil
}

// scheduled returns the wait after the n-th consecutive failure (n >= 1)
// for the random number r in [0, 1). It is pure: p must have its defaults.
// Neither n·Base nor Base·2^(n-1) is ever computed when it could overflow.
func (p *Policy) scheduled(n int, r float64) time.Duration {
	if n < 1 {
		n = 1
	}
	if p.Schedule == ExponentialJitter {
		hi := p.Cap
		if k := n - 1; k < 63 && p.Base <= p.Cap>>k {
			hi = p.Base << k // <= Cap
		}
		return uniform(0, hi, r)
	}
	half := p.Cap / 2
	lo, hi := half, p.Cap
	if int64(n) <= int64(half/p.Base) {
		lo = time.Duration(n) * p.Base // <= Cap/2
		hi = 2 * lo                    // <= Cap
	}
	return uniform(lo, hi, r)
}

// reconnectStep returns the wait after the n-th consecutive attempt that
// ended at once (n >= 1) for the random number r in [0, 1), and true while
// n is on the reconnect ladder: uniformly random in [lo, min(2·lo, Base))
// with lo = ReconnectBase·2^(n-1) < Base. Past the ladder it returns false.
// It is pure: p must have its defaults.
func (p *Policy) reconnectStep(n int, r float64) (time.Duration, bool) {
	if n < 1 {
		n = 1
	}
	k := n - 1
	if k >= 63 || p.ReconnectBase > p.Base>>k {
		return 0, false
	}
	lo := p.ReconnectBase << k // <= Base
	if lo >= p.Base {
		return 0, false
	}
	return uniform(lo, lo+min(lo, p.Base-lo), r), true // no overflow: lo < Base
}

// longestServerWait is the longest server-requested wait the policy
// allows: MaxServerDelay, fuzz included (B10).
func (p *Policy) longestServerWait() time.Duration {
	return p.MaxServerDelay
}

// fuzzed returns d plus a random extra in [0, Fuzz·max(d, Base/15)) for r
// in [0, 1), never more than MaxServerDelay (B10): the range, not each draw,
// is clipped there, and a d at or above the cap is exactly the cap. The
// floor of the extra (one minute with the default Base, and scaled with it)
// keeps a server that says "now" (Retry-After: 0, or a date in the past)
// from getting every client back in the same instant, again and again. For
// a fixed r the result never shrinks as d grows.
func (p *Policy) fuzzed(d time.Duration, r float64) time.Duration {
	if d >= p.MaxServerDelay {
		return p.MaxServerDelay
	}
	hi := min(addSat(d, durationOf(p.Fuzz*float64(max(d, p.Base/15)))), p.MaxServerDelay)
	return uniform(d, hi, r)
}

// uniform maps r in [0, 1) to [lo, hi); it returns lo when hi <= lo. Float
// rounding can never push the result to hi or past it.
func uniform(lo, hi time.Duration, r float64) time.Duration {
	if hi <= lo {
		return lo
	}
	span := hi - lo // lo >= 0 here, so no overflow
	x := durationOf(r * float64(span))
	if x >= span {
		x = span - 1
	}
	if x < 0 {
		x = 0
	}
	return lo + x
}

// durationOf converts f to a Duration, saturating at the int64 limits (a
// plain conversion of an out-of-range float is implementation-defined).
func durationOf(f float64) time.Duration {
	switch {
	case f != f || f <= 0:
		return 0
	case f >= math.MaxInt64:
		return math.MaxInt64
	}
	return time.Duration(f)
}

// addSat returns a+b for non-negative a and b, saturating at the maximum
// Duration.
func addSat(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// clampUnit makes r a usable number in [0, 1) whatever a custom Rand returns.
func clampUnit(r float64) float64 {
	switch {
	case !(r >= 0): // negative or NaN
		return 0
	case r >= 1:
		return math.Nextafter(1, 0)
	}
	return r
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c < 0x80 && isTokenPunct[c]:
		default:
			return false
		}
	}
	return true
}

var isTokenPunct = [128]bool{
	'!': true, '#': true, '$': true, '%': true, '&': true, '\'': true, '*': true,
	'+': true, '-': true, '.': true, '^': true, '_': true, '`': true, '|': true, '~': true,
}
