package backoff

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/pushbeat/pushbeat/internal/enum"
)

// Class is the kind of outcome of one attempt, as the backoff rules read
// it: what happened, where Reason says why the Controller waits. Classify
// decides the class of an HTTP outcome; Observation.Class and
// Decision.Class carry it. Its values are not prefixed (Success,
// ServerError, ...); Reason's are (ReasonServerError, ...).
type Class int

const (
	// Success: any 1xx–3xx status, or resp and err both nil (the zero
	// Class). The failure count is reset (B6); a server-requested delay in
	// force still holds.
	Success Class = iota
	// Maintenance: a 503. With a usable Retry-After the controller waits
	// for the server's time plus fuzz (ReasonMaintenance, B1); without one
	// the outcome is recorded as a ServerError (Decision.Class says so).
	Maintenance
	// RateLimited: a 429 Too Many Requests (RFC 6585). With a usable
	// Retry-After it is server-directed like Maintenance; without one the
	// controller waits on the schedule like ServerError
	// (ReasonRateLimited).
	RateLimited
	// ServerError: any other 5xx, or server trouble known another way, such
	// as an error reported inside a 200 answer (B2). The controller waits on
	// the schedule at once (ReasonServerError).
	ServerError
	// NetworkError: an error other than context.Canceled and ErrInstant: no
	// connection, a timeout (context.DeadlineExceeded), a reset, a TLS
	// failure; or a 408, the server gave up waiting for the request (B3). The
	// first in a row is retried on the normal schedule, later ones wait on
	// the schedule (ReasonNetworkError).
	NetworkError
	// ClientError: a 4xx other than 408 and 429. The server is healthy and
	// the application must handle the error, so the controller neither
	// backs off nor forgets earlier failures (an X-Backoff header on it
	// still applies).
	ClientError
	// Canceled: err is or wraps context.Canceled: the caller gave up, which
	// says nothing about the server. No state changes (headers on a
	// response still apply).
	Canceled
	// Instant: err wraps ErrInstant: the attempt ended at once without the
	// server doing its work (a refused, reset or closed connection,
	// nonsense, an answer that came back too soon): a server restarting or
	// misbehaving (SPEC L1, L2). The controller waits a step of its
	// reconnect ladder (ReasonReconnecting).
	Instant

	numClasses // the number of classes, not a class
)

var classNames = [numClasses]string{
	Success:      "success",
	Maintenance:  "maintenance",
	RateLimited:  "rate-limited",
	ServerError:  "server-error",
	NetworkError: "network-error",
	ClientError:  "client-error",
	Canceled:     "canceled",
	Instant:      "instant",
}

// String returns the class in lower-case words joined by hyphens, such as
// "success" or "server-error".
func (c Class) String() string { return enum.Name("Class", c, classNames[:]) }

// reason returns the Reason a failure of class c is counted as, and
// whether c is a failure at all (Success, ClientError and Canceled are
// not).
func (c Class) reason() (Reason, bool) {
	switch c {
	case Maintenance:
		return ReasonMaintenance, true
	case RateLimited:
		return ReasonRateLimited, true
	case ServerError:
		return ReasonServerError, true
	case NetworkError:
		return ReasonNetworkError, true
	case Instant:
		return ReasonReconnecting, true
	}
	return ReasonNone, false
}

// Observation is what happened to one attempt, as the backoff rules read
// it: the kind of outcome and the server's delay headers. Classify makes
// one from an HTTP outcome; ObserveOutcome records it.
type Observation struct {
	// Class is the kind of outcome; the zero Class is Success. A value
	// that is not one of the Class constants is recorded as a
	// NetworkError.
	Class Class
	// Header is the answer's header, or nil for an outcome without an
	// answer. X-Weave-Backoff and X-Backoff apply whatever the class (B5);
	// Retry-After only with Maintenance and RateLimited (B1). Only Header
	// is read, never kept.
	Header http.Header
}

// Classify returns what an HTTP outcome means for the backoff rules: resp
// and err are what http.Client.Do or an http.RoundTripper returned (only
// resp.StatusCode and resp.Header are read). It is the one place that
// decides what a status means: 1xx-3xx, or resp and err both nil, Success;
// 503 Maintenance; 429 RateLimited; other 5xx ServerError; 408 (the server
// gave up waiting for the request) NetworkError; other 4xx ClientError. An
// error is Canceled if it is or wraps context.Canceled, Instant if it wraps
// ErrInstant, and a NetworkError otherwise; the header of a response that
// comes with an error still counts.
func Classify(resp *http.Response, err error) Observation {
	var o Observation
	var status int
	if resp != nil {
		status, o.Header = resp.StatusCode, resp.Header
	}
	switch {
	case err != nil && errors.Is(err, context.Canceled):
		o.Class = Canceled
	case err != nil && errors.Is(err, ErrInstant):
		o.Class = Instant
	case err != nil:
		o.Class = NetworkError
	case status == http.StatusTooManyRequests:
		o.Class = RateLimited
	case status == http.StatusServiceUnavailable:
		o.Class = Maintenance
	case status >= 500:
		o.Class = ServerError
	case status == http.StatusRequestTimeout:
		o.Class = NetworkError
	case status >= 400:
		o.Class = ClientError
	}
	return o
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
