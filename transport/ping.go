package transport

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pushbeat/pushbeat/internal/enum"
)

// Request is one ping's parameters.
type Request struct {
	// Heartbeat is how long the server may hold the ping before it answers
	// "no changes".
	Heartbeat time.Duration
	// Deadline is how long the client waits for the answer before it counts
	// the ping as timed out: the heartbeat plus the tuner's buffer (SPEC T2,
	// heartbeat.Tuner.Deadline). Zero means Heartbeat plus
	// heartbeat.DefaultBuffer.
	Deadline time.Duration
	// Folders are the folders the server should watch. Empty means all.
	Folders []string
	// Header holds the request headers the Loop adds to this ping; nil
	// when there are none. While the Loop's backoff controller counts
	// failures it holds the retry-attempt header that
	// backoff.Policy.AttemptHeader names, with the controller's failure
	// count as its value ("X-Retry-Attempt: 2"), as
	// backoff.Controller.SetAttemptHeader sets it (SPEC B9); nothing else
	// names that header. Pingers that speak HTTP send these headers:
	// HTTPPinger sets them after HTTPConfig.Header, replacing a header of
	// the same name, and before HTTPConfig.Prepare. Other pingers ignore
	// them. A Pinger must not modify it.
	Header http.Header
}

// Status is the kind of answer a ping received.
type Status int

const (
	// Expired: the server held the ping for the whole heartbeat and found
	// no changes. An answer with an empty change set counts as Expired too
	// (SPEC T5: a server whose backend is down may answer that way).
	Expired Status = iota + 1
	// Changed: the server answered early with changes in Result.Folders.
	Changed
	// OutOfBounds: the server refused the heartbeat; Result.Limit is its
	// minimum (if above the requested heartbeat) or its maximum (if below),
	// like EAS Ping status 5.
	OutOfBounds
)

var statusNames = [...]string{Expired: "expired", Changed: "changed", OutOfBounds: "out-of-bounds"}

// String returns "expired", "changed" or "out-of-bounds".
func (s Status) String() string { return enum.Name("Status", s, statusNames[:]) }

// Result is what an answered ping produced.
type Result struct {
	// Status is the kind of answer.
	Status Status
	// Folders are the folders with changes, for Changed.
	Folders []string
	// Limit is the server's violated heartbeat limit, for OutOfBounds.
	Limit time.Duration
	// Elapsed is how long the ping took, from sending to the whole answer.
	Elapsed time.Duration
	// Silence is the longest time the connection carried no traffic in
	// either direction while the ping was held, for pingers whose server
	// talks during a held ping (IMAP servers send "* OK Still here" during
	// IDLE). Each such line refreshes every middlebox on the path, so an
	// Expired answer proves only the silence it survived, not the heartbeat
	// (SPEC I3). Zero means the whole Elapsed was silent, as for an HTTP
	// long poll.
	Silence time.Duration
	// Response is the HTTP answer's status line and header (its body has
	// been read and closed), so that a backoff.Controller can see
	// X-Weave-Backoff and friends on a successful answer (SPEC B5). Nil for
	// pingers that do not speak HTTP.
	Response *http.Response
}

// silence is the longest idle time the answer proves the path survived
// (SPEC I3): Silence, or the whole Elapsed when the pinger reports none.
func (r Result) silence() time.Duration {
	if r.Silence > 0 {
		return r.Silence
	}
	return r.Elapsed
}

// Pinger performs one ping. Implementations must be safe for concurrent use
// and must return within req.Deadline (plus a little for the bookkeeping)
// or as soon as ctx ends, whichever comes first.
//
// A ping that was not answered returns an error that wraps one of the
// ErrTimedOut, ErrProxyTimeout, ErrClosed (or ErrRefused), ErrNetworkLost, ErrServer,
// ErrRejected or ErrProtocol sentinels (usually as a *PingError), or ctx's
// error when ctx ended first.
type Pinger interface {
	Ping(ctx context.Context, req Request) (Result, error)
}

// The kinds of ping failure. Match them with errors.Is.
var (
	// ErrTimedOut: no answer by the deadline. The connection was dropped
	// somewhere the client cannot see (SPEC T2): evidence of an idle timeout.
	ErrTimedOut = errors.New("transport: ping timed out")
	// ErrProxyTimeout: a 504 or 408 arrived before the heartbeat elapsed. A
	// reverse proxy in the path answered because its own idle timeout fired
	// first: evidence of an idle timeout, not server trouble.
	ErrProxyTimeout = errors.New("transport: proxy idle timeout")
	// ErrClosed: the peer closed or reset the connection before the
	// deadline. Reconnect at once; by itself it is no proof of an idle
	// timeout (SPEC T3).
	ErrClosed = errors.New("transport: connection closed")
	// ErrRefused: the server's host refused the connection, or reset it
	// during the handshake: it is up but nothing listens, as while a server
	// restarts. It is server trouble,
	// not lost coverage (SPEC L3): the loop leaves the heartbeat alone and
	// retries on the backoff controller's reconnect ladder. It also
	// matches ErrClosed (the peer reset the connection attempt).
	ErrRefused = fmt.Errorf("%w: refused", ErrClosed)
	// ErrNetworkLost: no connectivity at all: the dial failed (other than
	// refused), no route, DNS failed.
	ErrNetworkLost = errors.New("transport: network unreachable")
	// ErrServer: the server answered 5xx, or 429: it is in trouble or asks
	// the client to stay away. PingError.Response carries the answer for the
	// backoff rules.
	ErrServer = errors.New("transport: server error")
	// ErrRejected: the server refused the request itself (401, 403, 404 and
	// other client errors). Retrying the same request cannot help.
	ErrRejected = errors.New("transport: request rejected")
	// ErrProtocol: the answer could not be understood: malformed, too large,
	// an unknown status, a failed TLS verification.
	ErrProtocol = errors.New("transport: protocol error")
	// ErrBodyTooLarge: the answer's body exceeded the size limit. It also
	// matches ErrProtocol.
	ErrBodyTooLarge = fmt.Errorf("%w: body too large", ErrProtocol)
)

// PingError is the error of a ping that was not answered.
type PingError struct {
	// Kind is one of the Err* sentinels of this package.
	Kind error
	// Elapsed is how long the ping ran before it failed.
	Elapsed time.Duration
	// Response is the HTTP answer, if there was one (for ErrServer,
	// ErrProxyTimeout, ErrRejected), with its body closed.
	Response *http.Response
	// Err is the underlying cause, if any.
	Err error
}

// Error describes the failure without credentials: URLs are redacted.
func (e *PingError) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.Error())
	fmt.Fprintf(&b, " after %v", e.Elapsed.Round(time.Millisecond))
	if e.Response != nil {
		fmt.Fprintf(&b, " (HTTP %d)", e.Response.StatusCode)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the kind and the cause, so errors.Is matches both.
func (e *PingError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}
