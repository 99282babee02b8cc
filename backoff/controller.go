package backoff

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"
)

// Decision is what Observe concluded from one outcome.
type Decision struct {
	// Class is the kind of outcome as recorded: Observation.Class, except
	// that a Maintenance without a usable Retry-After is a ServerError and
	// a value that is no Class a NetworkError. ClientError and Canceled
	// outcomes change no state. Status says why the controller waits.
	Class Class
	// Phase and Failures are the controller's phase and consecutive failure
	// count after the outcome.
	Phase    Phase
	Failures int
	// Until is the earliest time the next attempt is allowed, for the whole
	// controller (not only this outcome); zero if an attempt is allowed now.
	Until time.Time
	// Delay is Until minus the time of the observation; 0 if an attempt is
	// allowed now.
	Delay time.Duration
	// Requested is the delay the server asked for in this response: the
	// largest usable Retry-After (on 503 and 429 only), X-Weave-Backoff or
	// X-Backoff value, after capping at MaxServerDelay and before fuzz; 0 if
	// none.
	Requested time.Duration
	// Capped reports that a requested delay exceeded MaxServerDelay (or
	// time.Duration) and was cut to MaxServerDelay (B10).
	Capped bool
	// Ignored lists the header values that were not used because they were
	// malformed, each an error naming the header and wrapping ErrMalformed
	// (B10). Nil when nothing was ignored.
	Ignored []error
}

// Controller is the backoff state of one account, shared by every engine,
// folder and request of that account (B1, B8): once any of them observes a
// 503 with Retry-After, Allow refuses all of them. It is safe for concurrent
// use; a mutex inside guards the state.
type Controller struct {
	p Policy // defaults applied

	mu           sync.Mutex
	failures     int       // consecutive failed attempts
	lastFailure  Reason    // the Reason of the failure that last counted
	schedUntil   time.Time // end of the scheduled wait after failures (B2–B4)
	serverUntil  time.Time // end of the server-requested wait (B1, B5); only ever extended
	serverReason Reason    // ReasonMaintenance, ReasonRateLimited or ReasonServerBackoff
	manualUsed   bool      // the Initial phase's manual retry has been used
	reconnects   int       // consecutive Instant failures since the last success
	changed      chan struct{}
}

// New returns a Controller for policy p, or an error wrapping
// ErrInvalidPolicy that names the bad field.
func New(p Policy) (*Controller, error) {
	p, err := p.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Controller{p: p}, nil
}

// Observe records the outcome of one attempt and returns what it concluded.
// resp and err are what http.Client.Do or an http.RoundTripper returned;
// only resp.StatusCode and resp.Header are read, never the body, so the
// body may already be closed. resp == nil && err == nil means a success of
// work that is not an HTTP request (an application's sync callback).
//
// X-Weave-Backoff and X-Backoff apply on every response, 2xx included
// (B5); Retry-After applies on 503 and 429. When several are present, or one
// is repeated, the largest usable value wins. Outcomes that arrive while the
// controller is already refusing attempts belong to requests that were in
// flight before the refusal: they may lengthen a server-requested wait but
// count as a failure only if the controller had none.
func (c *Controller) Observe(resp *http.Response, err error) Decision {
	return c.ObserveOutcome(Classify(resp, err))
}

// ObserveOutcome records one attempt's outcome, as o says what happened,
// and returns what it concluded. Observe is its shorthand for an HTTP
// outcome; use ObserveOutcome when the outcome is known another way, such
// as server trouble reported inside a 200 answer (a ServerError with that
// answer's headers) or a sync callback's failure.
func (c *Controller) ObserveOutcome(o Observation) Decision {
	return c.observeAt(c.p.Clock.Now(), o)
}

// observe is Observe at now.
func (c *Controller) observe(now time.Time, resp *http.Response, err error) Decision {
	return c.observeAt(now, Classify(resp, err))
}

func (c *Controller) observeAt(now time.Time, o Observation) Decision {
	var d Decision
	var req request
	switch o.Class {
	case Success, ServerError, NetworkError, Instant, ClientError, Canceled:
		d.Class = o.Class
	case RateLimited:
		d.Class = RateLimited
		req = c.retryAfter(o.Header, now, &d)
	case Maintenance:
		d.Class = ServerError
		if req = c.retryAfter(o.Header, now, &d); req.ok {
			d.Class = Maintenance
		}
	default: // not a class: a failure of unknown kind
		d.Class = NetworkError
	}
	h := o.Header
	serverDirected := req.ok // Maintenance, or RateLimited with Retry-After
	c.backoffHeaders(h, &req, &d)

	before := c.lock(now)
	defer c.unlock(now, before)
	oldNext := c.next()
	waiting := now.Before(oldNext)

	if req.ok {
		d.Requested = req.delay
		if until := now.Add(c.p.fuzzed(req.delay, c.random())); until.After(c.serverUntil) {
			c.serverUntil = until
			c.serverReason = ReasonServerBackoff
			if serverDirected {
				c.serverReason, _ = d.Class.reason()
			}
		}
	}
	reason, failure := d.Class.reason()
	switch {
	case d.Class == Success:
		c.failures, c.lastFailure, c.manualUsed, c.reconnects = 0, ReasonNone, false, 0
		c.schedUntil = time.Time{}
	case d.Class == Instant && (!waiting || c.failures == 0):
		c.reconnect(now)
	case failure && (!waiting || c.failures == 0):
		if c.failures < math.MaxInt32 {
			c.failures++
		}
		c.lastFailure = reason
		// B3: the first network error in a row is retried on the normal
		// schedule; server-directed failures wait for the server's time.
		if !serverDirected && !(d.Class == NetworkError && c.failures == 1) {
			c.schedUntil = now.Add(c.p.scheduled(c.failures, c.random()))
		}
	}
	d.Phase, d.Failures = c.phase(), c.failures
	if next := c.next(); now.Before(next) {
		d.Until, d.Delay = next, next.Sub(now)
	}
	if !c.next().Equal(oldNext) {
		c.notifyLocked() // wake every Wait to read the new time
	}
	return d
}

// reconnect records an Instant failure at now (SPEC L1): the n-th in a
// row waits a step of the reconnect ladder, and all of them together count
// as one failed attempt for the phases (B6), so that a server restarting
// for a few seconds shows "retrying automatically" in the Initial phase,
// with its manual retry, rather than the Secondary phase's warning. Once
// the ladder reaches Base, each further one is an ordinary failure on the
// B4 schedule.
func (c *Controller) reconnect(now time.Time) {
	if c.reconnects < math.MaxInt32 {
		c.reconnects++
	}
	c.lastFailure = ReasonReconnecting
	if wait, ok := c.p.reconnectStep(c.reconnects, c.random()); ok {
		c.failures = max(c.failures, 1)
		c.schedUntil = now.Add(wait)
		return
	}
	if c.failures < math.MaxInt32 {
		c.failures++
	}
	c.schedUntil = now.Add(c.p.scheduled(c.failures, c.random()))
}

// lockAt takes the lock for an operation at now. Every method that reads or
// changes the state at a time goes through it, so the waits are rebased
// (rebaseLocked) before anything reads them.
func (c *Controller) lockAt(now time.Time) {
	c.mu.Lock()
	c.rebaseLocked(now)
}

// lock is lockAt for an operation that may change the state: if there is an
// OnChange hook, it returns the status before the change for unlock.
func (c *Controller) lock(now time.Time) (before Status) {
	c.lockAt(now)
	if c.p.OnChange != nil {
		before = c.statusLocked(now)
	}
	return before
}

// unlock releases the lock taken by lock, then calls OnChange, without the
// lock, if the state differs from before.
func (c *Controller) unlock(now time.Time, before Status) {
	if c.p.OnChange == nil {
		c.mu.Unlock()
		return
	}
	after := c.statusLocked(now)
	c.mu.Unlock()
	if !before.same(after) {
		c.p.OnChange(before, after)
	}
}

// Allow returns nil if an attempt is allowed now, or a *WaitError saying
// until when and why not. Every engine of the account asks before it
// starts (B1).
func (c *Controller) Allow() error {
	return c.allow(c.p.Clock.Now())
}

func (c *Controller) allow(now time.Time) error {
	c.lockAt(now)
	defer c.mu.Unlock()
	if we := c.waitLocked(now); we != nil {
		return we
	}
	return nil
}

// waitLocked returns the *WaitError in force at now, or nil.
func (c *Controller) waitLocked(now time.Time) *WaitError {
	next := c.next()
	if !now.Before(next) {
		return nil
	}
	return &WaitError{Until: next, Reason: c.waitReason()}
}

// Wait blocks until an attempt is allowed, sleeping on the policy's clock,
// and returns nil; or returns ctx.Err() as soon as ctx is done (at once if
// it already is). Whenever the state changes while it waits (another engine
// observes a 503, a success or a manual retry clears a wait), it starts over
// from the new time.
func (c *Controller) Wait(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := c.p.Clock.Now()
		c.lockAt(now)
		next := c.next()
		if !now.Before(next) {
			c.mu.Unlock()
			return nil
		}
		if c.changed == nil {
			c.changed = make(chan struct{})
		}
		changed := c.changed
		c.mu.Unlock()

		t := c.p.Clock.Timer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-changed:
			t.Stop()
		case <-t.C:
		}
	}
}

// notifyLocked wakes every Wait so that it reads the new state.
func (c *Controller) notifyLocked() {
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

// Status returns a snapshot of the controller (B7).
func (c *Controller) Status() Status {
	return c.status(c.p.Clock.Now())
}

func (c *Controller) status(now time.Time) Status {
	c.lockAt(now)
	defer c.mu.Unlock()
	return c.statusLocked(now)
}

// rebaseLocked cuts the waits in force to the longest the policy can ask
// for, measured from now. With the real clock nothing changes (time.Now
// carries a monotonic reading); a clock without one, such as a mock or a
// custom clock.Clock, can jump back, and a wait must never stretch past the
// cap because of that (B10). The cut is kept, not recomputed from each new
// now, so that the shortened wait still ends. Only lockAt calls it.
func (c *Controller) rebaseLocked(now time.Time) {
	if limit := now.Add(c.p.Cap); c.schedUntil.After(limit) {
		c.schedUntil = limit
	}
	if limit := now.Add(c.p.longestServerWait()); c.serverUntil.After(limit) {
		c.serverUntil = limit
	}
}

func (c *Controller) statusLocked(now time.Time) Status {
	s := Status{Phase: c.phase(), Reason: c.lastFailure, Failures: c.failures}
	if next := c.next(); now.Before(next) {
		s.Next, s.Reason = next, c.waitReason()
	}
	s.ManualRetryAllowed = c.manualDeniedLocked(now) == ""
	s.Message = message(s, now)
	return s
}

// ManualRetry asks to make one attempt now at the user's request (B6). It
// is allowed once per run of failures in the Initial phase, and in the None
// phase, unless a server-requested delay (503 + Retry-After, 429 +
// Retry-After, X-Backoff) is in force; never in the Secondary phase. When
// allowed it clears the scheduled wait, so Allow returns nil, and returns
// nil; the attempt's outcome is then observed as usual (if it fails, no
// further manual retry is allowed until a success). Otherwise it returns an
// error wrapping ErrManualRetryDenied and, if a server-requested delay is
// the cause, its *WaitError.
func (c *Controller) ManualRetry() error {
	return c.manualRetry(c.p.Clock.Now())
}

func (c *Controller) manualRetry(now time.Time) error {
	before := c.lock(now)
	defer c.unlock(now, before)
	if why := c.manualDeniedLocked(now); why != "" {
		if now.Before(c.serverUntil) {
			return fmt.Errorf("%w: %s: %w", ErrManualRetryDenied, why, c.waitLocked(now))
		}
		return fmt.Errorf("%w: %s", ErrManualRetryDenied, why)
	}
	if c.failures > 0 {
		c.manualUsed = true
		c.schedUntil = time.Time{}
		c.notifyLocked()
	}
	return nil
}

// manualDeniedLocked returns why a manual retry is not allowed at now, or ""
// if it is.
func (c *Controller) manualDeniedLocked(now time.Time) string {
	switch {
	case now.Before(c.serverUntil):
		return "the server asked for a delay"
	case c.phase() == Secondary:
		return "secondary phase"
	case c.manualUsed:
		return "the manual retry was used"
	}
	return ""
}

// next returns the end of the wait in force (possibly in the past).
func (c *Controller) next() time.Time {
	if c.serverUntil.After(c.schedUntil) {
		return c.serverUntil
	}
	return c.schedUntil
}

// waitReason returns why the controller waits until next().
func (c *Controller) waitReason() Reason {
	if !c.schedUntil.After(c.serverUntil) {
		return c.serverReason
	}
	return c.lastFailure
}

func (c *Controller) phase() Phase {
	switch {
	case c.failures == 0:
		return None
	case c.failures <= c.p.SecondaryAfter:
		return Initial
	}
	return Secondary
}

func (c *Controller) random() float64 { return clampUnit(c.p.Rand()) }
