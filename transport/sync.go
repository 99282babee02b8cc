package transport

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/pushbeat/pushbeat/backoff"
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
	if l.syncAll {
		l.resync = false // what an instant failure may have lost is synced
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
		l.observe(backoff.Observation{Class: backoff.Success})
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
	switch o := backoff.Classify(resp, nil); {
	case serverSide(o.Class) || errors.Is(err, ErrServer):
		l.observe(serverTrouble(resp)) // server trouble, 503 + Retry-After (B1, B2)
	case o.Class == backoff.ClientError || errors.Is(err, ErrRejected):
		l.observe(o)                                // a client error: only its headers count (B5)
		err = fmt.Errorf("%w: %w", errRefused, err) // Run ends
	default:
		// No answer, a 408, or a failure the answer's status does not show:
		// a network error for the backoff rules (B3), even when it wraps
		// context.Canceled from a context of the application's own (the
		// loop's is still running).
		l.observe(backoff.Observation{Class: backoff.NetworkError, Header: headerOf(resp)})
	}
	l.emit(Event{Kind: SyncFailed, Folders: folders, Elapsed: elapsed, Err: err})
	return err
}

// serverSide reports whether an outcome of class c is server trouble: a
// 5xx or a 429 (backoff.Classify decides which statuses those are).
func serverSide(c backoff.Class) bool {
	return c == backoff.ServerError || c == backoff.Maintenance || c == backoff.RateLimited
}

// serverTrouble returns how the backoff controller must see a request that
// failed with server trouble (ErrServer, SPEC B2): as its answer says when
// the answer's status shows it (5xx, 429, with their Retry-After);
// otherwise, when the trouble was found inside a 200 answer (EAS status 8)
// or there was no answer, as a server error with the answer's headers.
func serverTrouble(resp *http.Response) backoff.Observation {
	if o := backoff.Classify(resp, nil); serverSide(o.Class) {
		return o
	}
	return backoff.Observation{Class: backoff.ServerError, Header: headerOf(resp)}
}

// headerOf returns resp's header, or nil without an answer.
func headerOf(resp *http.Response) http.Header {
	if resp == nil {
		return nil
	}
	return resp.Header
}

// errRefused marks a sync the server refused outright (a client error:
// 4xx other than 408 and 429): retrying cannot help, so Run returns it.
var errRefused = errors.New("transport: server refused the sync")

// fatalOrCtx returns err if it ends the loop, else ctx's error (nil while
// the loop should go on).
func fatalOrCtx(ctx context.Context, err error) error {
	if errors.Is(err, errRefused) {
		return err
	}
	return ctx.Err()
}
