package backoff

import (
	"errors"
	"time"

	"github.com/pushbeat/pushbeat/internal/enum"
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

	numPhases // the number of phases, not a phase
)

var phaseNames = [numPhases]string{None: "none", Initial: "initial", Secondary: "secondary"}

// String returns "none", "initial" or "secondary".
func (p Phase) String() string { return enum.Name("Phase", p, phaseNames[:]) }

// Reason says why the Controller is waiting, or what kind of failure it
// last counted: it is what Status.Reason and WaitError.Reason report (B7).
// Its values are named Reason...; the kind of one outcome is a Class, whose
// values are not prefixed (Observation.Class, Decision.Class).
type Reason int

const (
	// ReasonNone: no failure since the last success, and no wait in force.
	ReasonNone Reason = iota
	// ReasonMaintenance: a 503 with a usable Retry-After (class
	// Maintenance, B1). The controller waits for the server's time plus
	// fuzz.
	ReasonMaintenance
	// ReasonRateLimited: a 429 Too Many Requests (class RateLimited, RFC
	// 6585). With a usable Retry-After the wait is the server's time plus
	// fuzz; without one it is the scheduled wait.
	ReasonRateLimited
	// ReasonServerError: any other 5xx, a 503 without a usable
	// Retry-After, or server trouble reported another way (class
	// ServerError, B2). The controller waits on the schedule.
	ReasonServerError
	// ReasonNetworkError: no answer, a timeout, a reset, a TLS failure, a
	// 408 (class NetworkError, B3). The first in a row is retried on the
	// normal schedule, later ones wait on the schedule.
	ReasonNetworkError
	// ReasonServerBackoff: an X-Weave-Backoff or X-Backoff header asked for
	// the wait, on a response that was not itself a server-directed failure
	// (B5); a 200 with X-Backoff is of class Success and waits for this
	// reason.
	ReasonServerBackoff
	// ReasonReconnecting: attempts ended at once (class Instant, SPEC L1,
	// L2): the controller waits a short, growing, random time
	// (Policy.ReconnectBase), then, once that ladder reaches Base, on the
	// schedule. The whole ladder counts as one failed attempt for the
	// phases (B6).
	ReasonReconnecting

	numReasons // the number of reasons, not a reason
)

// reasonNames are the texts users, logs and event streams see.
var reasonNames = [numReasons]string{
	ReasonNone:          "none",
	ReasonMaintenance:   "maintenance",
	ReasonRateLimited:   "rate-limited",
	ReasonServerError:   "server-error",
	ReasonNetworkError:  "network-error",
	ReasonServerBackoff: "server-backoff",
	ReasonReconnecting:  "reconnecting",
}

// String returns the reason in lower-case words joined by hyphens, such as
// "maintenance" or "network-error".
func (r Reason) String() string { return enum.Name("Reason", r, reasonNames[:]) }

// ErrBackoff matches (errors.Is) every *WaitError: the controller refuses an
// attempt until a later time.
var ErrBackoff = errors.New("backoff: backing off")

// ErrInstant, wrapped by the error given to Observe, says that the attempt
// ended at once without the server doing its work: the connection was
// refused, reset or closed on arrival, the answer was nonsense, or it came
// back so soon that trying again at once could spin. Such an outcome is of
// class Instant, and the controller waits for ReasonReconnecting (SPEC L1,
// L2).
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
	Reason Reason    // why the controller waits; never ReasonNone
}

// Error says until when and why, for example "backoff: maintenance: no
// attempt before 2025-01-01T14:11:15Z".
func (e *WaitError) Error() string {
	return "backoff: " + e.Reason.String() + ": no attempt before " + e.Until.Format(time.RFC3339)
}

// Is reports whether target is ErrBackoff.
func (e *WaitError) Is(target error) bool { return target == ErrBackoff }
