package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/internal/enum"
)

// Defaults of a Scenario's zero fields.
const (
	// DefaultDays is the length of a run: day 1 (discovery) and six days of
	// steady state.
	DefaultDays = 7
	// DefaultSyncEvery is how often a device that has given up on push syncs
	// on a schedule: 15 minutes, the shortest scheduled-sync interval the
	// usual EAS clients offer besides push, and the transport loop's
	// DefaultSyncInterval (a test keeps the two equal).
	DefaultSyncEvery = 15 * time.Minute
	// DefaultProbeEvery is how long a device that has given up on push waits
	// before it tries push again: the transport loop's DefaultProbeInterval.
	DefaultProbeEvery = time.Hour

	// MaxDays bounds a run's length, and with MinGap the number of events.
	MaxDays = 366
	// MinGap is the smallest non-zero Mail, SyncEvery and ProbeEvery.
	MinGap = time.Second
)

// Day is the length of a simulated day.
const Day = 24 * time.Hour

// ErrInvalidScenario reports a Scenario that breaks a rule of its fields'
// documentation; the returned error wraps it and names the field.
var ErrInvalidScenario = errors.New("sim: invalid scenario")

// Arrivals says how mail arrives.
type Arrivals int

const (
	// Poisson mail arrives at random with exponentially distributed gaps of
	// mean Scenario.Mail, drawn from the run's seed. It is the default, and
	// what the strategy comparison uses.
	Poisson Arrivals = iota
	// Periodic mail arrives exactly every Scenario.Mail, first at Mail. The
	// document's "E-mail traffic interval" is regular, and its table's results
	// (e.g. example 1's heartbeat that never leaves the minimum while mail
	// comes every 5 minutes) follow only from regular mail. The document does
	// not affect periodic arrivals.
	Periodic
)

var arrivalsNames = [...]string{Poisson: "poisson", Periodic: "periodic"}

// String returns "poisson" or "periodic".
func (a Arrivals) String() string { return enum.Name("Arrivals", a, arrivalsNames[:]) }

// ParseArrivals returns the Arrivals whose String is name.
func ParseArrivals(name string) (Arrivals, error) {
	if a, ok := enum.Parse[Arrivals](name, arrivalsNames[:]); ok {
		return a, nil
	}
	return 0, fmt.Errorf("%w: unknown arrivals %q (want poisson or periodic)", ErrInvalidScenario, name)
}

// Scenario is one simulated world: a network path, a server, a mailbox and
// the device's configuration. The zero value of every field means its
// default, so Scenario{} is a week on a path that never drops idle
// connections, with no mail, an unrestricted server and the Direct Push
// device defaults.
type Scenario struct {
	// Name labels the scenario in tables and JSON rows; it may be empty.
	Name string
	// Timeout is the network path's idle timeout: a connection idle for
	// longer dies silently (no FIN, no RST), and the device learns of it
	// only at its deadline, interval + Buffer. A connection idle exactly
	// Timeout survives. Zero means the path never drops idle connections.
	Timeout time.Duration
	// Mail is the mean gap between mails (see Arrivals). Zero means no mail.
	Mail time.Duration
	// Arrivals is Poisson (the zero value) or Periodic.
	Arrivals Arrivals
	// ServerMin and ServerMax are the server's permissible heartbeat range.
	// A ping outside it is answered at once with the violated limit, like
	// EAS Ping status 5, and the device passes what it has learned to its
	// strategy's SetServerBounds. Zero means no such limit. Exchange's
	// default range is 1 to 45 minutes.
	ServerMin, ServerMax time.Duration
	// Days is the run's length in days: day 1 is discovery, days 2 to Days
	// the steady state. Zero means DefaultDays; at most MaxDays.
	Days int
	// Seed seeds the run's randomness (Poisson mail only). Runs with equal
	// scenarios and seeds are identical, and every strategy sees the same
	// mail for the same seed.
	Seed uint64
	// Min and Max are the device's heartbeat range. Zero means
	// heartbeat.DefaultMin (8 min) and heartbeat.DefaultMax (28 min).
	Min, Max time.Duration
	// Buffer is how long past the interval the device waits for an answer
	// before it counts the ping as timed out, for every strategy. Zero means
	// heartbeat.DefaultBuffer (1 min).
	Buffer time.Duration
	// SyncEvery is the scheduled-sync interval of a device that has given up
	// on push (its strategy reports push unworkable, or the server's range
	// and the device's do not overlap). Zero means DefaultSyncEvery.
	SyncEvery time.Duration
	// ProbeEvery is how long such a device waits before it tries push again
	// (a probe: one ping cycle at the strategy's interval). Zero means
	// DefaultProbeEvery.
	ProbeEvery time.Duration
	// OnPing, if not nil, is called at the end of every ping with its
	// record, in order. It is how the chart gets the interval over time.
	OnPing func(Ping)
}

// withDefaults returns sc with every zero field replaced by its default.
func (sc Scenario) withDefaults() Scenario {
	orDefault(&sc.Days, DefaultDays)
	orDefault(&sc.Min, heartbeat.DefaultMin)
	orDefault(&sc.Max, heartbeat.DefaultMax)
	orDefault(&sc.Buffer, heartbeat.DefaultBuffer)
	orDefault(&sc.SyncEvery, DefaultSyncEvery)
	orDefault(&sc.ProbeEvery, DefaultProbeEvery)
	return sc
}

func orDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

// Validate reports the first field of sc that breaks its documented rules,
// as an error wrapping ErrInvalidScenario; Run does the same check.
func (sc Scenario) Validate() error {
	return sc.withDefaults().validate()
}

// validate reports the first field of sc (with defaults applied) that
// breaks its rules.
func (sc Scenario) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidScenario}, args...)...)
	}
	gap := func(name string, d time.Duration) error {
		if d < 0 || (d > 0 && d < MinGap) {
			return bad("%s (%v) must be zero or at least %v", name, d, MinGap)
		}
		return nil
	}
	for _, g := range []struct {
		name string
		d    time.Duration
	}{{"Mail", sc.Mail}, {"SyncEvery", sc.SyncEvery}, {"ProbeEvery", sc.ProbeEvery}} {
		if err := gap(g.name, g.d); err != nil {
			return err
		}
	}
	switch {
	case sc.Timeout < 0:
		return bad("Timeout (%v) must not be negative", sc.Timeout)
	case sc.Arrivals != Poisson && sc.Arrivals != Periodic:
		return bad("Arrivals (%v) is not Poisson or Periodic", sc.Arrivals)
	case sc.ServerMin < 0 || sc.ServerMax < 0:
		return bad("server range [%v, %v] must not be negative", sc.ServerMin, sc.ServerMax)
	case sc.ServerMax > 0 && sc.ServerMin > sc.ServerMax:
		return bad("ServerMin (%v) must not exceed ServerMax (%v)", sc.ServerMin, sc.ServerMax)
	case sc.Days < 0 || sc.Days > MaxDays:
		return bad("Days (%d) must be between 1 and %d", sc.Days, MaxDays)
	case sc.Min < 0 || sc.Min > sc.Max || sc.Max > heartbeat.MaxInterval:
		return bad("device range [%v, %v] must be positive, ordered and at most %v", sc.Min, sc.Max, heartbeat.MaxInterval)
	case sc.Buffer < 0 || sc.Buffer > heartbeat.MaxInterval:
		return bad("Buffer (%v) must be between 0 and %v", sc.Buffer, heartbeat.MaxInterval)
	}
	return nil
}
