package backoff

import (
	"errors"
	"fmt"
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
