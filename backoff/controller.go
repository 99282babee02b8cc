package backoff

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Phase is what a user interface should say about syncing (B6).
type Phase int

const (
	// None: no failure since the last success. A server-requested delay
	// (X-Backoff on a good response) may still be in force.
	None Phase = iota
	// Initial: the first failed attempts. A friendly "we will retry
	// automatically" state; the user may trigger one manual retry unless a
	// server-requested delay is in force.
	Initial
	// Secondary: the first attempt and Policy.SecondaryAfter retries after
	// it have failed in a row (by default, from the fourth failure on). No
	// manual retry; warn the user that data is not syncing.
	Secondary
)

// String returns "none", "initial" or "secondary".
func (p Phase) String() string {
	switch p {
	case None:
		return "none"
	case Initial:
		return "initial"
	case Secondary:
		return "secondary"
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

// Reason classifies the outcome of a request, and says why the Controller is
// waiting.
type Reason int

const (
	// ReasonNone: a success (any 1xx–3xx status, or resp and err both nil),
	// or no failure to report.
	ReasonNone Reason = iota
	// Maintenance: 503 with a usable Retry-After (B1). The controller waits
	// for the server's time plus fuzz.
	Maintenance
	// RateLimited: 429 Too Many Requests (RFC 6585). With a usable
	// Retry-After it is server-directed like Maintenance; without one it
	// backs off on the schedule like ServerError.
	RateLimited
	// ServerError: any other 5xx, or 503 without a usable Retry-After (B2).
	// The controller backs off on the schedule at once.
	ServerError
	// NetworkError: an error other than context.Canceled: no connection, a
	// timeout (context.DeadlineExceeded), a reset, a TLS failure (B3). The
	// first in a row is retried on the normal schedule, later ones back off.
	NetworkError
	// ServerBackoff: the controller waits because of an X-Weave-Backoff or
	// X-Backoff header on a response that was not itself a server-directed
	// failure (B5). It appears in Status and WaitError; Decision.Reason
	// classifies the response itself (a 200 with X-Backoff is ReasonNone) and
	// Decision.Requested reports the header.
	ServerBackoff
	// ClientError: a 4xx other than 429. The server is healthy and the
	// application must handle the error, so the controller neither backs off
	// nor forgets earlier failures (an X-Backoff header on it still
	// applies). Only Decision.Reason reports it.
	ClientError
	// Canceled: err is or wraps context.Canceled: the caller gave up, which
	// says nothing about the server. No state changes (headers on a response
	// still apply). Only Decision.Reason reports it.
	Canceled
	// Reconnecting: err wraps ErrInstant: the attempt ended at once without
	// the server doing its work (a refused, reset or closed connection,
	// nonsense, an answer that came back too soon): a server restarting or
	// misbehaving (SPEC L1, L2). The controller waits a short, growing,
	// random time (Policy.ReconnectBase), then, once that ladder reaches
	// Base, backs off on the schedule. The whole ladder counts as one failed
	// attempt for the phases (B6).
	Reconnecting
)

// String returns the reason in lower-case words joined by hyphens, such as
// "maintenance" or "network-error".
func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return "none"
	case Maintenance:
		return "maintenance"
	case RateLimited:
		return "rate-limited"
	case ServerError:
		return "server-error"
	case NetworkError:
		return "network-error"
	case ServerBackoff:
		return "server-backoff"
	case ClientError:
		return "client-error"
	case Canceled:
		return "canceled"
	case Reconnecting:
		return "reconnecting"
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// failure reports whether an outcome with this reason counts as a failed
// attempt.
func (r Reason) failure() bool {
	return r == Maintenance || r == RateLimited || r == ServerError || r == NetworkError || r == Reconnecting
}

// ErrBackoff matches (errors.Is) every *WaitError: the controller refuses an
// attempt until a later time.
var ErrBackoff = errors.New("backoff: backing off")

// ErrInstant, wrapped by the error given to Observe, says that the attempt
// ended at once without the server doing its work: the connection was
// refused, reset or closed on arrival, the answer was nonsense, or it came
// back so soon that trying again at once could spin. Such an outcome is
// classified Reconnecting (SPEC L1, L2).
var ErrInstant = errors.New("backoff: attempt ended at once")

// ErrManualRetryDenied is wrapped by the error ManualRetry returns when the
// policy does not allow a manual retry now (B6). When a server-requested
// delay is the cause, the error also wraps a *WaitError.
var ErrManualRetryDenied = errors.New("backoff: manual retry not allowed")

// WaitError is the error Allow returns while the Controller refuses attempts:
// no attempt before Until, because of Reason. errors.Is(err, ErrBackoff)
// holds for it.
type WaitError struct {
	Until  time.Time // the earliest time an attempt is allowed
	Reason Reason    // why the controller waits
}

// Error says until when and why, for example "backoff: maintenance: no
// attempt before 2025-01-01T14:11:15Z".
func (e *WaitError) Error() string {
	return "backoff: " + e.Reason.String() + ": no attempt before " + e.Until.Format(time.RFC3339)
}

// Is reports whether target is ErrBackoff.
func (e *WaitError) Is(target error) bool { return target == ErrBackoff }

// Decision is what Observe concluded from one outcome.
type Decision struct {
	// Reason classifies the outcome. ClientError and Canceled outcomes
	// change no state.
	Reason Reason
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

// Status is a snapshot of the controller for a user interface (B7).
type Status struct {
	// Phase is the UI phase (B6).
	Phase Phase
	// Reason is why the controller is waiting while Next is set; otherwise
	// the reason of the last failure, or ReasonNone after a success.
	Reason Reason
	// Failures is the number of consecutive failed attempts.
	Failures int
	// Next is the earliest time the next attempt is allowed, or the zero
	// time if an attempt is allowed now. Allow returns nil exactly when Next
	// is zero.
	Next time.Time
	// ManualRetryAllowed reports whether ManualRetry would succeed now.
	ManualRetryAllowed bool
	// Message is a one-line text for the user, such as "Server maintenance:
	// next sync at 14:05" (times in Next's location, rounded up to the
	// minute).
	Message string
}

// String formats the status for logs, for example "phase=initial
// reason=server-error failures=1 next=2025-01-01T14:20:00Z manual-retry=true".
func (s Status) String() string {
	next := "now"
	if !s.Next.IsZero() {
		next = s.Next.Format(time.RFC3339)
	}
	return fmt.Sprintf("phase=%s reason=%s failures=%d next=%s manual-retry=%t",
		s.Phase, s.Reason, s.Failures, next, s.ManualRetryAllowed)
}

// Controller is the backoff state of one account, shared by every engine,
// folder and request of that account (B1, B8): once any of them observes a
// 503 with Retry-After, Allow refuses all of them. It is safe for concurrent
// use; a mutex inside guards the state.
type Controller struct {
	p Policy // defaults applied

	mu           sync.Mutex
	failures     int       // consecutive failed attempts
	lastFailure  Reason    // reason of the failure that last counted
	schedUntil   time.Time // end of the scheduled wait after failures (B2–B4)
	serverUntil  time.Time // end of the server-requested wait (B1, B5); only ever extended
	serverReason Reason    // Maintenance, RateLimited or ServerBackoff
	manualUsed   bool      // the Initial phase's manual retry has been used
	reconnects   int       // consecutive Reconnecting failures since the last success
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
	return c.observe(c.p.Clock.Now(), resp, err)
}

func (c *Controller) observe(now time.Time, resp *http.Response, err error) Decision {
	var status int
	var h http.Header
	if resp != nil {
		status, h = resp.StatusCode, resp.Header
	}
	var d Decision
	var req request
	switch {
	case err != nil && errors.Is(err, context.Canceled):
		d.Reason = Canceled
	case err != nil && errors.Is(err, ErrInstant):
		d.Reason = Reconnecting
	case err != nil:
		d.Reason = NetworkError
	case status == http.StatusTooManyRequests:
		d.Reason = RateLimited
		req = c.retryAfter(h, now, &d)
	case status == http.StatusServiceUnavailable:
		d.Reason = ServerError
		if req = c.retryAfter(h, now, &d); req.ok {
			d.Reason = Maintenance
		}
	case status >= 500:
		d.Reason = ServerError
	case status >= 400:
		d.Reason = ClientError
	}
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
			c.serverReason = ServerBackoff
			if serverDirected {
				c.serverReason = d.Reason
			}
		}
	}
	switch {
	case d.Reason == ReasonNone:
		c.failures, c.lastFailure, c.manualUsed, c.reconnects = 0, ReasonNone, false, 0
		c.schedUntil = time.Time{}
	case d.Reason == Reconnecting && (!waiting || c.failures == 0):
		c.reconnect(now)
	case d.Reason.failure() && (!waiting || c.failures == 0):
		if c.failures < math.MaxInt32 {
			c.failures++
		}
		c.lastFailure = d.Reason
		// B3: the first network error in a row is retried on the normal
		// schedule; server-directed failures wait for the server's time.
		if !serverDirected && !(d.Reason == NetworkError && c.failures == 1) {
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

// reconnect records a Reconnecting failure at now (SPEC L1): the n-th in a
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
	c.lastFailure = Reconnecting
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

// request is a server-requested delay read from response headers.
type request struct {
	delay time.Duration // the largest usable value, capped at MaxServerDelay
	ok    bool          // some value was usable
}

// consider adds one parsed header value to r.
func (c *Controller) consider(r *request, d *Decision, name string, delay time.Duration, err error) {
	switch {
	case errors.Is(err, ErrRange):
		delay, err = math.MaxInt64, nil // absurdly large: ask for the most we allow
	case err != nil:
		d.Ignored = append(d.Ignored, fmt.Errorf("%s: %w", name, err))
		return
	}
	if delay > c.p.MaxServerDelay {
		delay, d.Capped = c.p.MaxServerDelay, true
	}
	if !r.ok || delay > r.delay {
		r.delay, r.ok = delay, true
	}
}

// retryAfter reads every Retry-After value of a 503 or 429 response. An
// HTTP-date is measured from the response's own Date header when it has a
// valid one, so a client whose clock is off still waits as long as the
// server meant (RFC 9110 section 10.2.3 reads the date relative to the
// server's clock); otherwise from now.
func (c *Controller) retryAfter(h http.Header, now time.Time, d *Decision) request {
	var r request
	values := h[HeaderRetryAfter]
	if len(values) == 0 {
		return r
	}
	ref := now
	for _, v := range values {
		if v = trimOWS(v); v != "" && !isDigit(v[0]) {
			if date, err := http.ParseTime(trimOWS(h.Get("Date"))); err == nil {
				ref = date
			}
			break
		}
	}
	for _, v := range values {
		delay, err := ParseRetryAfter(v, ref)
		c.consider(&r, d, HeaderRetryAfter, delay, err)
	}
	return r
}

// backoffHeaders adds every X-Weave-Backoff and X-Backoff value to r. A
// value may be a comma-separated list (an intermediary may have joined
// repeated headers).
func (c *Controller) backoffHeaders(h http.Header, r *request, d *Decision) {
	for _, name := range [...]string{HeaderWeaveBackoff, HeaderBackoff} {
		for _, field := range h[name] {
			list := strings.Contains(field, ",")
			for v := range strings.SplitSeq(field, ",") {
				// RFC 9110 section 5.6.1: empty list elements are ignored.
				if !list || trimOWS(v) != "" {
					delay, err := ParseBackoffHeader(v, c.p.HeaderUnit)
					c.consider(r, d, name, delay, err)
				}
			}
		}
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

// SetAttemptHeader sets Policy.AttemptHeader on h to the number of the retry
// being made, while the controller counts failures (B9): "1" for the first
// retry after a failure, "2" for the next. It does nothing when
// AttemptHeader is empty or there is no failure. Like http.Header.Set, it
// needs a non-nil h.
func (c *Controller) SetAttemptHeader(h http.Header) {
	if n := c.attempt(); n > 0 {
		h[c.p.AttemptHeader] = []string{strconv.Itoa(n)}
	}
}

// attempt returns the retry number to send, or 0 for none.
func (c *Controller) attempt() int {
	if c.p.AttemptHeader == "" {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failures
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

// same reports whether two snapshots describe the same state.
func (s Status) same(t Status) bool {
	return s.Phase == t.Phase && s.Reason == t.Reason && s.Failures == t.Failures &&
		s.Next.Equal(t.Next) && s.ManualRetryAllowed == t.ManualRetryAllowed
}

// message builds Status.Message.
func message(s Status, now time.Time) string {
	var what string
	switch s.Reason {
	case Maintenance:
		what = "Server maintenance"
	case RateLimited:
		what = "Server overloaded"
	case ServerBackoff:
		what = "Server busy"
	case ServerError:
		what = "Server error"
	case NetworkError:
		what = "Network problem"
	case Reconnecting:
		what = "Reconnecting"
	default:
		if s.Next.IsZero() {
			return "Syncing normally"
		}
		what = "Waiting"
	}
	var b strings.Builder
	if s.Phase == Secondary {
		fmt.Fprintf(&b, "Data is not syncing (%d failed attempts). ", s.Failures)
	}
	b.WriteString(what)
	switch {
	case s.Next.IsZero():
		b.WriteString(": retrying automatically")
	case s.Phase == Initial && (s.Reason == ServerError || s.Reason == NetworkError || s.Reason == Reconnecting):
		b.WriteString(": retrying automatically at ")
		b.WriteString(clockTime(s.Next, now))
	default:
		b.WriteString(": next sync at ")
		b.WriteString(clockTime(s.Next, now))
	}
	return b.String()
}

// clockTime formats t for a user as "15:04", or "Jan 2 15:04" when it is not
// on the same day as now, rounded up to the minute so that the time shown
// is never before the time allowed.
func clockTime(t, now time.Time) string {
	if r := t.Round(0).Truncate(time.Minute); !r.Equal(t) {
		t = r.Add(time.Minute)
	}
	now = now.In(t.Location())
	if y, m, d := t.Date(); y != now.Year() || m != now.Month() || d != now.Day() {
		return t.Format("Jan 2 15:04")
	}
	return t.Format("15:04")
}
