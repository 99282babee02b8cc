package transport

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/internal/enum"
)

// Defaults for Config.
const (
	// DefaultSyncInterval is how often the loop syncs while push is
	// unavailable.
	DefaultSyncInterval = 15 * time.Minute
	// DefaultProbeInterval is how often the loop tries push again while it
	// is unavailable.
	DefaultProbeInterval = time.Hour
)

var (
	// ErrLoopRunning is returned by Run when the loop is already running.
	ErrLoopRunning = errors.New("transport: loop already running")
	// ErrPushUnworkable is the Err of a PushUnavailable event when the tuner
	// reports push unworkable (SPEC H9): the network drops idle connections
	// sooner than the shortest heartbeat the device and server allow.
	ErrPushUnworkable = errors.New("transport: push unworkable: idle connections die sooner than the shortest allowed heartbeat")
)

// Config configures a Loop. Pinger is required; every other zero field
// means its default.
type Config struct {
	// Pinger performs the pings, e.g. an *HTTPPinger.
	Pinger Pinger
	// Tuner decides the heartbeat. Nil means heartbeat.New(heartbeat.Config{}).
	// Its Deadline (interval + Buffer) is each ping's deadline (SPEC T2).
	Tuner *heartbeat.Tuner
	// Backoff decides when requests are allowed; share one controller among
	// everything that talks to the same account (SPEC B1). Nil means
	// backoff.New(backoff.Policy{Clock: Clock}).
	Backoff *backoff.Controller
	// Clock times the scheduled syncs and probes and stamps events. Nil
	// means the real clock. (Each ping's own deadline runs on the Pinger's
	// clock: real time for HTTPPinger.)
	Clock clock.Clock
	// Folders are the folders to watch; empty means all.
	Folders []string
	// Sync is called for the folders an answer reports changed, after a
	// heartbeat failure (SPEC T4), and on schedule while push is
	// unavailable. Nil means the application only wants the events.
	Sync SyncFunc
	// SyncInterval is how often to sync while push is unavailable. Zero
	// means DefaultSyncInterval.
	SyncInterval time.Duration
	// ProbeInterval is how often to try push again while it is unavailable.
	// Zero means DefaultProbeInterval.
	ProbeInterval time.Duration
	// OnEvent, if not nil, receives every event, synchronously from the
	// goroutine running Run, with no lock held.
	OnEvent func(Event)
	// Logger, if not nil, logs every event (pings at Debug, changes at Info,
	// failures at Warn). Nothing logged contains URLs or credentials.
	Logger *slog.Logger
}

// State is what a Loop is doing.
type State int

const (
	// Stopped: Run is not running.
	Stopped State = iota
	// Pinging: a ping is outstanding.
	Pinging
	// Syncing: the application's sync is running.
	Syncing
	// BackingOff: waiting until the backoff controller allows a request.
	BackingOff
	// Scheduled: push is unavailable; waiting for the next scheduled sync
	// or probe.
	Scheduled
)

var stateNames = [...]string{
	Stopped:    "stopped",
	Pinging:    "pinging",
	Syncing:    "syncing",
	BackingOff: "backing-off",
	Scheduled:  "scheduled",
}

// String returns the state's name, e.g. "backing-off", or "State(n)" for
// a value without one.
func (s State) String() string { return enum.Name("State", s, stateNames[:]) }

// Snapshot is a copy of a Loop's state, readable at any time.
type Snapshot struct {
	// State is what the loop is doing now.
	State State
	// PushAvailable is false while the loop syncs on a schedule instead.
	PushAvailable bool
	// Tuner is the tuner's own snapshot.
	Tuner heartbeat.Snapshot
	// ServerMin and ServerMax are the server's heartbeat range as the tuner
	// holds it, learned from out-of-bounds answers; zero means no limit
	// known. (The backoff controller's status is Loop.Backoff().Status().)
	ServerMin, ServerMax time.Duration
	// Counts are the running totals.
	Counts Counts
	// LastEvent is when the last event happened.
	LastEvent time.Time
}

// Loop runs the Direct Push cycle (SPEC T4): ping with the tuner's
// heartbeat; on changes, sync the changed folders and ping again; on expiry,
// ping again at once; on a heartbeat failure, sync, and ping again when the
// sync succeeds. Every ping and sync first asks the backoff controller.
// When push is unavailable it syncs every SyncInterval and probes push
// every ProbeInterval.
type Loop struct {
	cfg    Config
	tuner  *heartbeat.Tuner
	bo     *backoff.Controller
	clock  clock.Clock
	pinger Pinger

	mu      sync.Mutex // guards the fields below it
	running bool
	state   State
	counts  Counts
	last    time.Time
	push    pushState

	// Owned by the goroutine in Run.
	syncAll   bool                // a heartbeat failure asks for a full sync
	pending   map[string]struct{} // changed folders whose sync failed
	inBackoff bool
	nextSync  time.Time
	nextProbe time.Time
	lastClose closeInfo
	quick     int  // answers in a row that came at once (atOnce)
	resync    bool // sync every folder once the server answers again
}

// NewLoop returns a Loop for cfg.
func NewLoop(cfg Config) (*Loop, error) {
	if cfg.Pinger == nil {
		return nil, errors.New("transport: Config.Pinger is nil")
	}
	if cfg.SyncInterval < 0 || cfg.ProbeInterval < 0 {
		return nil, errors.New("transport: negative SyncInterval or ProbeInterval")
	}
	orDefault(&cfg.SyncInterval, DefaultSyncInterval)
	orDefault(&cfg.ProbeInterval, DefaultProbeInterval)
	if cfg.Clock == nil {
		cfg.Clock = clock.New()
	}
	l := &Loop{cfg: cfg, tuner: cfg.Tuner, bo: cfg.Backoff, clock: cfg.Clock, pinger: cfg.Pinger,
		pending: make(map[string]struct{})}
	if l.tuner == nil {
		t, err := heartbeat.New(heartbeat.Config{})
		if err != nil {
			return nil, err
		}
		l.tuner = t
	}
	if l.bo == nil {
		b, err := backoff.New(backoff.Policy{Clock: cfg.Clock})
		if err != nil {
			return nil, err
		}
		l.bo = b
	}
	return l, nil
}

func orDefault(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// Tuner returns the loop's heartbeat tuner, e.g. to save its state.
func (l *Loop) Tuner() *heartbeat.Tuner { return l.tuner }

// Backoff returns the loop's backoff controller: its Status is what a user
// interface shows ("Server maintenance: next sync at 14:05"), and its
// ManualRetry is the "Sync now" button.
func (l *Loop) Backoff() *backoff.Controller { return l.bo }

// Snapshot returns a copy of the loop's state. It is safe to call from any
// goroutine at any time.
func (l *Loop) Snapshot() Snapshot {
	l.mu.Lock()
	s := Snapshot{
		State:         l.state,
		PushAvailable: !l.push.unavailable,
		Counts:        l.counts,
		LastEvent:     l.last,
	}
	l.mu.Unlock()
	s.Tuner = l.tuner.Snapshot()
	s.PushAvailable = s.PushAvailable && s.Tuner.Workable
	s.ServerMin, s.ServerMax = s.Tuner.ServerMin, s.Tuner.ServerMax
	return s
}

// Run runs the cycle until ctx ends, then returns ctx's error. It returns
// early with an error wrapping ErrRejected when the server refuses the ping
// itself (401, 403, 404...), and with the sync's error when it refuses a
// sync (see SyncFunc), since retrying cannot help. Only one Run may be
// active at a time.
func (l *Loop) Run(ctx context.Context) error {
	l.mu.Lock()
	if l.running {
		l.mu.Unlock()
		return ErrLoopRunning
	}
	l.running = true
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.running, l.state = false, Stopped
		l.mu.Unlock()
	}()

	for {
		if err := l.waitBackoff(ctx); err != nil {
			return err
		}
		var err error
		switch {
		case l.syncAll || len(l.pending) > 0:
			err = l.recover(ctx)
		case !l.pushAvailable():
			err = l.scheduled(ctx)
		default:
			err = l.ping(ctx)
		}
		if err != nil {
			return err
		}
	}
}

func (l *Loop) setState(s State) {
	l.mu.Lock()
	l.state = s
	l.mu.Unlock()
}

// waitBackoff blocks while the backoff controller refuses requests.
func (l *Loop) waitBackoff(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l.bo.Allow() != nil {
		if !l.inBackoff {
			l.inBackoff = true
			l.emit(Event{Kind: BackoffEntered, Backoff: l.bo.Status()})
		}
		l.setState(BackingOff)
		if err := l.bo.Wait(ctx); err != nil {
			return err
		}
	}
	if l.inBackoff {
		l.inBackoff = false
		l.emit(Event{Kind: BackoffLeft, Backoff: l.bo.Status()})
	}
	return nil
}

// observe tells the backoff controller about an outcome and announces a
// backoff it starts.
func (l *Loop) observe(o backoff.Observation) {
	d := l.bo.ObserveOutcome(o)
	if !d.Until.IsZero() && !l.inBackoff {
		l.inBackoff = true
		l.emit(Event{Kind: BackoffEntered, Backoff: l.bo.Status()})
	}
}

// tune feeds an outcome to the tuner and announces what changed.
func (l *Loop) tune(o heartbeat.Outcome) {
	if ch := l.tuner.Observe(o); ch.Reason != heartbeat.ReasonNone {
		l.emit(Event{Kind: IntervalChanged, Change: ch})
	}
	l.checkAvailability()
}

// pushAvailable reports whether push works (pushState).
func (l *Loop) pushAvailable() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.push.available(l.tuner.Workable())
}

// setBoundError records whether the server's range excludes the device's
// (err wrapping heartbeat.ErrPushUnavailable) or fits it again (nil), and
// announces what changes.
func (l *Loop) setBoundError(err error) {
	l.mu.Lock()
	l.push.bounds = err
	l.mu.Unlock()
	l.checkAvailability()
}

// checkAvailability announces push becoming unavailable or available, and
// sets up the schedule of the unavailable mode.
func (l *Loop) checkAvailability() {
	l.mu.Lock()
	kind, cause := l.push.update(l.tuner.Workable())
	l.mu.Unlock()
	switch kind {
	case PushUnavailable:
		now := l.clock.Now()
		l.nextSync, l.nextProbe = now, now.Add(l.cfg.ProbeInterval)
		l.emit(Event{Kind: PushUnavailable, Err: cause})
	case PushAvailable:
		l.emit(Event{Kind: PushAvailable})
	}
}

// emit stamps an event, counts it, and hands it to the callback and the
// logger.
func (l *Loop) emit(e Event) {
	e.Time = l.clock.Now()
	e.Interval = l.tuner.Interval()
	l.mu.Lock()
	l.last = e.Time
	l.counts.add(e)
	l.mu.Unlock()
	if l.cfg.OnEvent != nil {
		l.cfg.OnEvent(e)
	}
	if l.cfg.Logger != nil {
		e.log(context.Background(), l.cfg.Logger)
	}
}
