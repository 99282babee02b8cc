package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/heartbeat"
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
	// errSyncFailed is what the backoff controller observes for a failed
	// sync that carries no server answer of its own to classify.
	errSyncFailed = errors.New("transport: sync failed")
)

// SyncFunc syncs folders for the application: nil folders means all of
// them. It returns nil on success. So that the backoff rules see the
// server's answer to a failed sync (503 + Retry-After, X-Backoff), return a
// *ResponseError, or send the sync's requests through the loop's
// backoff.Controller (its Transport method), which observes them itself.
// An error matching ErrServer is a server error for the backoff rules
// whatever the answer's status; one matching ErrRejected, like a 4xx answer
// other than 408 and 429, ends Run, since retrying cannot help.
type SyncFunc func(ctx context.Context, folders []string) error

// ResponseError is a failed sync's HTTP answer, returned by a SyncFunc so
// that the backoff controller can read its status and headers.
type ResponseError struct {
	// Response is the answer; only StatusCode and Header are read.
	Response *http.Response
}

// Error returns "transport: sync answered HTTP <status>".
func (e *ResponseError) Error() string {
	return fmt.Sprintf("transport: sync answered HTTP %d", e.Response.StatusCode)
}

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

// String returns the state's name, e.g. "backing-off".
func (s State) String() string {
	switch s {
	case Stopped:
		return "stopped"
	case Pinging:
		return "pinging"
	case Syncing:
		return "syncing"
	case BackingOff:
		return "backing-off"
	case Scheduled:
		return "scheduled"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Counts are a Loop's running totals since it was made.
type Counts struct {
	Pings       int // pings sent
	Expired     int // answered "no changes"
	Changed     int // answered with changes
	OutOfBounds int // answered with the server's heartbeat limit
	TimedOut    int // silent drops and proxy idle timeouts
	Closed      int // connections closed, reset or refused before the deadline
	NetworkLost int // no connectivity
	Errors      int // server, protocol and other failures
	Syncs       int // successful syncs
	SyncErrors  int // failed syncs
}

// Snapshot is a copy of a Loop's state, readable at any time.
type Snapshot struct {
	// State is what the loop is doing now.
	State State
	// PushAvailable is false while the loop syncs on a schedule instead.
	PushAvailable bool
	// Tuner is the tuner's own snapshot.
	Tuner heartbeat.Snapshot
	// Backoff is the backoff controller's status.
	Backoff backoff.Status
	// ServerMin and ServerMax are the server's heartbeat range as learned
	// from out-of-bounds answers; zero means no limit known.
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

	mu          sync.Mutex // guards the fields below it
	running     bool
	state       State
	counts      Counts
	last        time.Time
	min, max    time.Duration // learned server range
	unavailable bool          // PushUnavailable was announced, PushAvailable not yet

	// Owned by the goroutine in Run.
	syncAll   bool                // a heartbeat failure asks for a full sync
	pending   map[string]struct{} // changed folders whose sync failed
	inBackoff bool
	nextSync  time.Time
	nextProbe time.Time
	lastClose closeInfo
	boundErr  error // the server's range excludes the device's (ErrPushUnavailable)
	quick     int   // answers in a row that came at once (atOnce)
	resync    bool  // sync every folder once the server answers again
}

type closeInfo struct {
	interval, elapsed time.Duration
	ok                bool
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

// Backoff returns the loop's backoff controller, e.g. to show its Status or
// to offer a ManualRetry.
func (l *Loop) Backoff() *backoff.Controller { return l.bo }

// Snapshot returns a copy of the loop's state. It is safe to call from any
// goroutine at any time.
func (l *Loop) Snapshot() Snapshot {
	l.mu.Lock()
	s := Snapshot{
		State:         l.state,
		PushAvailable: !l.unavailable,
		ServerMin:     l.min,
		ServerMax:     l.max,
		Counts:        l.counts,
		LastEvent:     l.last,
	}
	l.mu.Unlock()
	s.Tuner = l.tuner.Snapshot()
	s.PushAvailable = s.PushAvailable && s.Tuner.Workable
	s.Backoff = l.bo.Status()
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
func (l *Loop) observe(resp *http.Response, err error) {
	d := l.bo.Observe(resp, err)
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
	l.checkAvailability(nil)
}

// pushAvailable reports whether push works: only evidence about idle
// connections (the tuner's H9) or the server's range (H8) says it does not
// (SPEC L1). Attempts that end at once are paced instead (pace).
func (l *Loop) pushAvailable() bool {
	return l.boundErr == nil && l.tuner.Workable()
}

// freeQuickAnswers is how many changed or out-of-bounds answers in a row
// may come at once before the loop paces them (SPEC L2): a burst of mail,
// or a server stating its bounds, is no spin; a change the server reports
// again and again, or bounds that never settle, is.
const freeQuickAnswers = 3

// atOnce reports whether a ping ended so soon, within a quarter of its
// heartbeat, that pinging again at once could spin.
func atOnce(req Request, elapsed time.Duration) bool {
	return elapsed < req.Heartbeat/4
}

// pace tells the backoff controller that an attempt ended at once without
// the server doing its work (SPEC L1, L2): the controller then waits a
// step of its reconnect ladder (1-2 s, 2-4 s, ...) before any request of
// the account, and announces it (BackoffEntered). resp carries the
// answer's headers, if any (X-Backoff still applies, B5). The cause is
// flattened so that nothing in it (a context.Canceled of a custom Pinger)
// changes the class.
func (l *Loop) pace(resp *http.Response, cause error) {
	l.observe(resp, fmt.Errorf("%w: %v", backoff.ErrInstant, cause))
}

// checkAvailability announces push becoming unavailable or available, and
// sets up the schedule of the unavailable mode.
func (l *Loop) checkAvailability(cause error) {
	available := l.pushAvailable()
	l.mu.Lock()
	was := !l.unavailable
	l.unavailable = !available
	l.mu.Unlock()
	switch {
	case !available && was:
		now := l.clock.Now()
		l.nextSync, l.nextProbe = now, now.Add(l.cfg.ProbeInterval)
		if cause == nil {
			cause = ErrPushUnworkable
		}
		l.emit(Event{Kind: PushUnavailable, Err: cause})
	case available && !was:
		l.emit(Event{Kind: PushAvailable})
	}
}

// ping performs one ping and acts on its outcome.
func (l *Loop) ping(ctx context.Context) error {
	s := l.tuner.Snapshot()
	req := Request{Heartbeat: s.Interval, Deadline: s.Deadline, Folders: l.cfg.Folders}
	if st := l.bo.Status(); st.Phase != backoff.None {
		req.Attempt = st.Failures
	}
	l.setState(Pinging)
	l.emit(Event{Kind: PingStarted})
	res, err := l.pinger.Ping(ctx, req)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return l.failed(req, err)
	}
	l.emit(Event{Kind: PingAnswered, Status: res.Status, Folders: res.Folders, Elapsed: res.Elapsed})
	l.lastClose = closeInfo{}
	if res.Status != OutOfBounds {
		l.clearBoundError()
	}
	quick := atOnce(req, res.Elapsed)
	if quick {
		l.quick++
	} else {
		l.quick = 0
	}
	// An answer that came at once is paced (SPEC L2) if it proves nothing
	// (an expiry, an unknown status) or if too many came in a row.
	var why error
	switch {
	case !quick:
	case res.Status == Changed || res.Status == OutOfBounds:
		if l.quick > freeQuickAnswers {
			why = fmt.Errorf("%d answers in a row came at once, the last %v after %v", l.quick, res.Status, res.Elapsed.Round(time.Millisecond))
		}
	default:
		why = fmt.Errorf("answered %v after %v", res.Status, res.Elapsed.Round(time.Millisecond))
	}
	switch res.Status {
	case Expired:
		// An expiry proves idle time only if the connection stayed silent
		// for (nearly) the whole heartbeat (SPEC I3); one that comes early,
		// or whose server talked meanwhile, proves nothing.
		if res.silence() >= req.Heartbeat*9/10 {
			l.tune(heartbeat.Expired)
		} else {
			l.tune(heartbeat.KnownCause)
		}
	case Changed:
		l.tune(heartbeat.Changed)
	case OutOfBounds:
		l.serverBounds(req.Heartbeat, res.Limit)
	default:
		l.tune(heartbeat.KnownCause)
	}
	// The backoff controller sees the answer before the sync it triggers,
	// whose failure must count; a paced answer after it, since the sync's
	// success would clear the wait at once.
	switch {
	case why != nil:
	case res.Status == Expired || res.Status == Changed || res.Status == OutOfBounds:
		l.observe(res.Response, nil)
	default:
		l.observe(nil, fmt.Errorf("%w: pinger returned status %v", ErrProtocol, res.Status))
	}
	if l.resync {
		// The server answers again after pings that ended at once: an
		// answer may have been lost with them.
		l.resync, l.syncAll = false, true
	}
	var syncErr error
	if res.Status == Changed && !l.syncAll {
		if syncErr = l.sync(ctx, res.Folders); syncErr != nil {
			for _, f := range res.Folders {
				l.pending[f] = struct{}{}
			}
		}
	}
	if why != nil {
		l.pace(res.Response, why)
	}
	if syncErr != nil {
		return fatalOrCtx(ctx, syncErr)
	}
	return ctx.Err()
}

// failed acts on a ping that was not answered.
func (l *Loop) failed(req Request, err error) error {
	var elapsed time.Duration
	var resp *http.Response
	var pe *PingError
	if errors.As(err, &pe) {
		elapsed, resp = pe.Elapsed, pe.Response
	}
	l.emit(Event{Kind: PingFailed, Err: err, Elapsed: elapsed})
	if !errors.Is(err, ErrClosed) {
		l.lastClose = closeInfo{}
	}
	quick := atOnce(req, elapsed)
	l.quick = 0
	instant := false // paced by the reconnect ladder (SPEC L1)
	switch {
	case errors.Is(err, ErrTimedOut), errors.Is(err, ErrProxyTimeout):
		l.tune(heartbeat.TimedOut)
		l.syncAll = true
	case errors.Is(err, ErrRefused):
		// Server trouble, not lost coverage (SPEC L3): the heartbeat stays.
		l.tune(heartbeat.KnownCause)
		instant = true
	case errors.Is(err, ErrClosed):
		l.closed(req, elapsed)
		if quick {
			instant, l.resync = true, true
		}
	case errors.Is(err, ErrNetworkLost):
		l.tune(heartbeat.NetworkLost)
		l.syncAll, instant = true, true
	case errors.Is(err, ErrRejected):
		return fmt.Errorf("transport: server refused the ping: %w", err)
	case errors.Is(err, ErrServer):
		l.tune(heartbeat.KnownCause)
		l.observe(serverError(resp), nil)
		l.syncAll = true
	default: // ErrProtocol and anything a custom Pinger returns
		l.tune(heartbeat.KnownCause)
		if quick {
			instant, l.resync = true, true
		} else {
			l.observe(nil, err)
			l.syncAll = true
		}
	}
	if instant {
		l.pace(nil, err)
	}
	return nil
}

// closed handles a connection closed before the deadline (SPEC T3):
// reconnect at once. One early close proves nothing about idle timeouts;
// a second at the same interval after about the same idle time does (a
// middlebox that resets idle connections instead of dropping them).
// Closes that come at once are server trouble, not idle timeouts: failed
// paces them (SPEC L1).
func (l *Loop) closed(req Request, elapsed time.Duration) {
	prev := l.lastClose
	l.lastClose = closeInfo{interval: req.Heartbeat, elapsed: elapsed, ok: true}
	if prev.ok && prev.interval == req.Heartbeat && similar(prev.elapsed, elapsed) && !atOnce(req, elapsed) {
		l.lastClose = closeInfo{}
		l.tune(heartbeat.TimedOut)
	} else {
		l.tune(heartbeat.KnownCause)
	}
}

// similar reports whether two idle times are within 20% of each other.
func similar(a, b time.Duration) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d*5 <= max(a, b)
}

// serverBounds records an out-of-bounds answer (SPEC H8, T6): a limit above
// the requested heartbeat is the server's minimum, one below its maximum.
// A server that keeps refusing heartbeats inside the range it stated is
// paced like any answer that keeps coming at once (SPEC L2).
func (l *Loop) serverBounds(requested, limit time.Duration) {
	l.mu.Lock()
	lo, hi := l.min, l.max
	l.mu.Unlock()
	switch {
	case limit > requested:
		lo = limit
		if hi != 0 && hi < lo {
			hi = 0 // a stale maximum: the server's range has moved
		}
	case limit < requested:
		hi = limit
		if lo > hi {
			lo = 0
		}
	default:
		return // refusing the very heartbeat it names says nothing
	}
	ch, err := l.tuner.SetServerBounds(lo, hi)
	l.mu.Lock()
	l.min, l.max = lo, hi
	l.mu.Unlock()
	if err != nil {
		l.boundErr = err
	}
	l.emit(Event{Kind: ServerBounds, ServerMin: lo, ServerMax: hi})
	if ch.Reason != heartbeat.ReasonNone {
		l.emit(Event{Kind: IntervalChanged, Change: ch})
	}
	l.checkAvailability(err)
}

// clearBoundError forgets that the server's range excluded the device's:
// the server has just accepted a heartbeat.
func (l *Loop) clearBoundError() {
	if l.boundErr == nil {
		return
	}
	l.boundErr = nil
	l.mu.Lock()
	l.min, l.max = 0, 0
	l.mu.Unlock()
	l.checkAvailability(nil)
}

// recover syncs after a heartbeat failure or a failed sync.
func (l *Loop) recover(ctx context.Context) error {
	var folders []string
	if l.syncAll {
		folders = l.cfg.Folders
	} else {
		for f := range l.pending {
			folders = append(folders, f)
		}
		slices.Sort(folders)
	}
	if err := l.sync(ctx, folders); err != nil {
		return fatalOrCtx(ctx, err)
	}
	l.syncAll = false
	clear(l.pending)
	return nil
}

// sync runs the application's sync and tells the backoff controller how it
// went: a failed sync is always a failed attempt for the backoff rules (SPEC
// T4), so that a sync that keeps failing cannot spin.
func (l *Loop) sync(ctx context.Context, folders []string) error {
	if l.cfg.Sync == nil {
		return nil
	}
	l.setState(Syncing)
	start := l.clock.Now()
	err := l.cfg.Sync(ctx, folders)
	elapsed := l.clock.Now().Sub(start)
	if err == nil {
		l.observe(nil, nil)
		l.emit(Event{Kind: SyncDone, Folders: folders, Elapsed: elapsed})
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	var resp *http.Response
	if re := (*ResponseError)(nil); errors.As(err, &re) {
		resp = re.Response
	}
	switch code := statusOf(resp); {
	case code >= 500 || code == http.StatusTooManyRequests || errors.Is(err, ErrServer):
		l.observe(serverError(resp), nil) // server trouble, 503 + Retry-After (B1, B2)
	case code >= 400 && code != http.StatusRequestTimeout || errors.Is(err, ErrRejected):
		if code >= 400 {
			l.observe(resp, nil) // a client error: only its headers count (B5)
		}
		err = fmt.Errorf("%w: %w", errRefused, err) // Run ends
	default:
		// No answer, a 408, or a failure the answer's status does not show:
		// a network error for the backoff rules (B3), even when it wraps
		// context.Canceled from a context of the application's own (the
		// loop's is still running).
		l.observe(resp, errSyncFailed)
	}
	l.emit(Event{Kind: SyncFailed, Folders: folders, Elapsed: elapsed, Err: err})
	return err
}

// scheduled runs one step of the unavailable mode: wait for the next sync
// or probe, then do it.
func (l *Loop) scheduled(ctx context.Context) error {
	l.setState(Scheduled)
	now := l.clock.Now()
	// A clock set back (only clocks without a monotonic reading can be)
	// must not stall the schedule: nothing is ever further off than its
	// interval.
	if limit := now.Add(l.cfg.SyncInterval); l.nextSync.After(limit) {
		l.nextSync = limit
	}
	if limit := now.Add(l.cfg.ProbeInterval); l.nextProbe.After(limit) {
		l.nextProbe = limit
	}
	next := l.nextSync
	if l.nextProbe.Before(next) {
		next = l.nextProbe
	}
	if wait := next.Sub(now); wait > 0 {
		t := l.clock.Timer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		now = l.clock.Now()
	}
	if !now.Before(l.nextProbe) {
		l.nextProbe = now.Add(l.cfg.ProbeInterval)
		return l.ping(ctx)
	}
	l.nextSync = now.Add(l.cfg.SyncInterval)
	if err := l.sync(ctx, l.cfg.Folders); err != nil {
		return fatalOrCtx(ctx, err)
	}
	return nil
}

func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

// serverError returns the answer to a request that failed with server
// trouble (ErrServer) as the backoff controller must see it (SPEC B2): the
// answer itself when its status says so (5xx, 429); otherwise, when the
// trouble was found inside a 200 answer (EAS status 8) or there was no
// answer, a 500 with the answer's headers, which the controller would
// otherwise count as a success.
func serverError(resp *http.Response) *http.Response {
	if code := statusOf(resp); code >= 500 || code == http.StatusTooManyRequests {
		return resp
	}
	r := &http.Response{StatusCode: http.StatusInternalServerError, Header: http.Header{}}
	if resp != nil {
		r.Header = resp.Header
	}
	return r
}

// errRefused marks a sync the server refused outright (4xx other than 408
// and 429): retrying cannot help, so Run returns it.
var errRefused = errors.New("transport: server refused the sync")

// fatalOrCtx returns err if it ends the loop, else ctx's error (nil while
// the loop should go on).
func fatalOrCtx(ctx context.Context, err error) error {
	if errors.Is(err, errRefused) {
		return err
	}
	return ctx.Err()
}

// emit stamps an event, counts it, and hands it to the callback and the
// logger.
func (l *Loop) emit(e Event) {
	e.Time = l.clock.Now()
	e.Interval = l.tuner.Interval()
	l.mu.Lock()
	l.last = e.Time
	c := &l.counts
	switch e.Kind {
	case PingStarted:
		c.Pings++
	case PingAnswered:
		switch e.Status {
		case Expired:
			c.Expired++
		case Changed:
			c.Changed++
		case OutOfBounds:
			c.OutOfBounds++
		}
	case PingFailed:
		switch {
		case errors.Is(e.Err, ErrTimedOut), errors.Is(e.Err, ErrProxyTimeout):
			c.TimedOut++
		case errors.Is(e.Err, ErrClosed):
			c.Closed++
		case errors.Is(e.Err, ErrNetworkLost):
			c.NetworkLost++
		default:
			c.Errors++
		}
	case SyncDone:
		c.Syncs++
	case SyncFailed:
		c.SyncErrors++
	}
	l.mu.Unlock()
	if l.cfg.OnEvent != nil {
		l.cfg.OnEvent(e)
	}
	if l.cfg.Logger != nil {
		e.log(context.Background(), l.cfg.Logger)
	}
}
