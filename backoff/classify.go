package backoff

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
)

// Observation is what happened to one attempt, as the backoff rules read
// it: the kind of outcome and the server's delay headers. Classify makes
// one from an HTTP outcome; ObserveOutcome records it.
type Observation struct {
	// Class is the kind of outcome: ReasonNone (a success), Maintenance (a
	// 503: its Retry-After applies, and without a usable one it is a
	// ServerError), RateLimited (a 429: its Retry-After applies),
	// ServerError, NetworkError, Reconnecting, ClientError or Canceled, with
	// the meanings those Reasons document. ServerBackoff is not a class:
	// the headers carry it. Any other value is recorded as a NetworkError.
	Class Reason
	// Header is the answer's header, or nil for an outcome without an
	// answer. X-Weave-Backoff and X-Backoff apply whatever the class (B5);
	// Retry-After only with Maintenance and RateLimited (B1). Only Header
	// is read, never kept.
	Header http.Header
}

// Classify returns what an HTTP outcome means for the backoff rules: resp
// and err are what http.Client.Do or an http.RoundTripper returned (only
// resp.StatusCode and resp.Header are read). It is the one place that
// decides what a status means: 1xx-3xx, or resp and err both nil, a
// success; 503 Maintenance; 429 RateLimited; other 5xx ServerError; 408
// (the server gave up waiting for the request) NetworkError; other 4xx
// ClientError. An error is Canceled if it is or wraps context.Canceled,
// Reconnecting if it wraps ErrInstant, and a NetworkError otherwise; the
// header of a response that comes with an error still counts.
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
		o.Class = Reconnecting
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
