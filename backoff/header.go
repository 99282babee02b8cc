package backoff

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
)

// Header names the Controller reads and writes. They are in canonical form,
// so they index an http.Header directly.
const (
	// HeaderRetryAfter is the standard Retry-After response header (RFC 9110
	// section 10.2.3), honoured on 503 and 429 responses (B1).
	HeaderRetryAfter = "Retry-After"
	// HeaderWeaveBackoff is the Sync server's X-Weave-Backoff response header
	// (B5), honoured on every response.
	HeaderWeaveBackoff = "X-Weave-Backoff"
	// HeaderBackoff is X-Backoff, the later name of X-Weave-Backoff (B5),
	// honoured on every response.
	HeaderBackoff = "X-Backoff"
	// HeaderRetryAttempt is the header WEP 106's open question proposes for
	// telling the server how far behind a client is (B9), the one constant
	// for it in the module. Set Policy.AttemptHeader to it to send it, while
	// the controller is failing, on requests through Transport and on the
	// pings of a transport.Loop with that controller; nothing is sent by
	// default.
	HeaderRetryAttempt = "X-Retry-Attempt"
)

// DefaultHeaderUnit is the unit of X-Weave-Backoff and X-Backoff values
// (B5): seconds, as the Sync servers send them and every Sync client reads
// them. The WEP 106 draft's milliseconds would turn a server's "1800" (half an
// hour) into 1.8 seconds.
const DefaultHeaderUnit = time.Second

// Errors returned by ParseRetryAfter and ParseBackoffHeader, matchable with
// errors.Is. The returned errors say what is wrong and how long the value
// is, but never repeat it: a server may echo a request's credentials into
// any header, and Decision.Ignored ends up in logs (SPEC T12).
var (
	// ErrMalformed reports a header value that is not valid: empty, not a
	// non-negative decimal integer (so negative numbers, fractions, signs and
	// exponents such as "1e9" are malformed) and, for Retry-After, not an
	// HTTP-date in any of the three formats either. The Controller ignores
	// such values and reports them in Decision.Ignored (B10).
	ErrMalformed = errors.New("backoff: malformed header value")

	// ErrRange reports a well-formed integer whose delay does not fit in a
	// time.Duration (about 292 years), or an HTTP-date as far away. The
	// Controller treats it as a request for the longest delay it accepts
	// (Policy.MaxServerDelay) and reports it as capped (B10): a larger number
	// never earns a shorter wait.
	ErrRange = errors.New("backoff: header value out of range")
)

// ParseRetryAfter parses a Retry-After header value (RFC 9110 section
// 10.2.3): either delay-seconds (one or more ASCII digits) or an HTTP-date in
// any of the three formats RFC 9110 requires recipients to accept (IMF-fixdate,
// RFC 850 and ANSI C asctime, as http.ParseTime reads them). For a date the
// delay is the time from now to that date; a date at or before now gives 0
// ("now", before any fuzz) and no error. Surrounding spaces and tabs are
// ignored.
//
// It returns an error wrapping ErrMalformed for an empty, negative,
// fractional, exponent ("1e9") or otherwise unparseable value, and one
// wrapping ErrRange when the delay overflows time.Duration. The returned
// delay is never negative. ParseRetryAfter does not cap the delay; the
// Controller does (Policy.MaxServerDelay).
func ParseRetryAfter(value string, now time.Time) (time.Duration, error) {
	v := trimOWS(value)
	if v != "" && isDigit(v[0]) {
		return parseDelay(value, v, time.Second)
	}
	if v == "" {
		return 0, badValue(ErrMalformed, value, "empty")
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, badValue(ErrMalformed, value, "neither delay-seconds nor an HTTP-date")
	}
	if !t.After(now) {
		return 0, nil
	}
	d := t.Sub(now) // saturates instead of overflowing
	if d == math.MaxInt64 {
		return 0, badValue(ErrRange, value, "date too far in the future")
	}
	return d, nil
}

// ParseBackoffHeader parses an X-Weave-Backoff or X-Backoff header value: one
// non-negative decimal integer counting units of unit. The Sync servers and
// clients use seconds (unit = time.Second, DefaultHeaderUnit); see the package
// documentation for why not WEP 106's milliseconds. If unit <= 0,
// DefaultHeaderUnit is used. Surrounding spaces and tabs are ignored.
//
// It returns an error wrapping ErrMalformed for an empty, negative,
// fractional or otherwise non-integer value, and one wrapping ErrRange when
// the delay overflows time.Duration. The returned delay is never negative.
func ParseBackoffHeader(value string, unit time.Duration) (time.Duration, error) {
	if unit <= 0 {
		unit = DefaultHeaderUnit
	}
	v := trimOWS(value)
	if v == "" {
		return 0, badValue(ErrMalformed, value, "empty")
	}
	return parseDelay(value, v, unit)
}

// parseDelay reads v, which must be all ASCII digits, as a count of unit. It
// never overflows: it stops accumulating at the first digit that would, but
// still checks the rest of v so that garbage is reported as malformed rather
// than out of range. raw is the value as received, for the error.
func parseDelay(raw, v string, unit time.Duration) (time.Duration, error) {
	limit := int64(math.MaxInt64) / int64(unit)
	var n int64
	overflow := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !isDigit(c) {
			return 0, badValue(ErrMalformed, raw, "not a non-negative integer")
		}
		if overflow {
			continue
		}
		d := int64(c - '0')
		if d > limit || n > (limit-d)/10 { // d > limit: (limit-d)/10 rounds towards 0
			overflow = true
			continue
		}
		n = n*10 + d
	}
	if overflow {
		return 0, badValue(ErrRange, raw, "delay overflows time.Duration")
	}
	return time.Duration(n) * unit, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// trimOWS removes HTTP optional whitespace (spaces and horizontal tabs).
func trimOWS(s string) string { return strings.Trim(s, " \t") }

// badValue describes a bad header value by its length only (SPEC T12).
func badValue(sentinel error, value, why string) error {
	return fmt.Errorf("%w (%d bytes): %s", sentinel, len(value), why)
}
