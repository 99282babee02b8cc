package transport

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/heartbeat"
)

// ping performs one ping and acts on its outcome.
func (l *Loop) ping(ctx context.Context) error {
	s := l.tuner.Snapshot()
	req := Request{Heartbeat: s.Interval, Deadline: s.Deadline, Folders: l.cfg.Folders}
	if st := l.bo.Status(); st.Phase != backoff.None {
		// While failing, the retry-attempt header (SPEC B9); nothing is
		// allocated on the way that succeeds.
		h := make(http.Header, 1)
		if l.bo.SetAttemptHeader(h); len(h) > 0 {
			req.Header = h
		}
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
	paced := quick && (l.quick > freeQuickAnswers || res.Status != Changed && res.Status != OutOfBounds)
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
	case paced:
	case res.Status == Expired || res.Status == Changed || res.Status == OutOfBounds:
		l.observe(backoff.Classify(res.Response, nil))
	default:
		l.observe(backoff.Classify(nil, fmt.Errorf("%w: pinger returned status %v", ErrProtocol, res.Status)))
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
	if paced {
		l.pace(res.Response)
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
		l.observe(serverTrouble(resp))
		l.syncAll = true
	default: // ErrProtocol and anything a custom Pinger returns
		l.tune(heartbeat.KnownCause)
		if quick {
			instant, l.resync = true, true
		} else {
			l.observe(backoff.Classify(nil, err))
			l.syncAll = true
		}
	}
	if instant {
		l.pace(nil)
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
	t := l.tuner.Snapshot()
	lo, hi := t.ServerMin, t.ServerMax
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
	ch, err := l.tuner.SetServerBounds(lo, hi) // on error the tuner keeps the range that fitted
	l.emit(Event{Kind: ServerBounds, ServerMin: lo, ServerMax: hi})
	if ch.Reason != heartbeat.ReasonNone {
		l.emit(Event{Kind: IntervalChanged, Change: ch})
	}
	if err != nil {
		l.setBoundError(err)
	} else {
		l.checkAvailability()
	}
}

// clearBoundError forgets that the server's range excluded the device's:
// the server has just accepted a heartbeat.
func (l *Loop) clearBoundError() {
	l.mu.Lock()
	excluded := l.push.bounds != nil
	l.mu.Unlock()
	if excluded {
		l.setBoundError(nil)
	}
}

type closeInfo struct {
	interval, elapsed time.Duration
	ok                bool
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
// answer's headers, if any (X-Backoff still applies, B5).
func (l *Loop) pace(resp *http.Response) {
	l.observe(backoff.Observation{Class: backoff.Instant, Header: headerOf(resp)})
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
