package transport_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/transport"
)

// step is one scripted ping: how long it takes and what it returns.
type step struct {
	took   time.Duration // 0: the whole requested heartbeat
	res    transport.Result
	err    error
	header http.Header // on the answer (or the failure's response)
	code   int         // HTTP status of the answer; 0 means 200
	bare   bool        // the failure carries no HTTP answer
}

// fakePinger plays a script, one step per ping, sleeping (in synctest's
// virtual time) for each ping's duration. When the script runs out it
// blocks until the ping's context ends.
type fakePinger struct {
	mu      sync.Mutex
	steps   []step
	forever *step // when set, played once the script has run out
	reqs    []transport.Request
	times   []time.Time
}

func (f *fakePinger) Ping(ctx context.Context, req transport.Request) (transport.Result, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.times = append(f.times, time.Now())
	var s step
	switch {
	case len(f.steps) > 0:
		s = f.steps[0]
		f.steps = f.steps[1:]
	case f.forever != nil:
		s = *f.forever
	default:
		f.mu.Unlock()
		<-ctx.Done()
		return transport.Result{}, ctx.Err()
	}
	f.mu.Unlock()

	took := s.took
	switch {
	case took == 0 && s.err != nil:
		took = req.Deadline
	case took == 0:
		took = req.Heartbeat
	}
	select {
	case <-time.After(took):
	case <-ctx.Done():
		return transport.Result{}, ctx.Err()
	}
	code := s.code
	if code == 0 {
		code = 200
	}
	resp := &http.Response{StatusCode: code, Header: s.header}
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	if s.err != nil {
		pe := &transport.PingError{Elapsed: took, Err: s.err}
		switch {
		case errors.Is(s.err, transport.ErrTimedOut), errors.Is(s.err, transport.ErrClosed), errors.Is(s.err, transport.ErrNetworkLost):
			pe.Kind = s.err
		case s.bare:
			pe.Kind = s.err
		default:
			pe.Kind, pe.Response = s.err, resp
		}
		pe.Err = nil
		return transport.Result{}, pe
	}
	r := s.res
	r.Elapsed, r.Response = took, resp
	return r, nil
}

// pingTimes returns when each ping was sent, so far.
func (f *fakePinger) pingTimes() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.times...)
}

func (f *fakePinger) heartbeats() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var hb []time.Duration
	for _, r := range f.reqs {
		hb = append(hb, r.Heartbeat)
	}
	return hb
}

var (
	expired = step{res: transport.Result{Status: transport.Expired}}
	timeout = step{err: transport.ErrTimedOut}
)

func changed(folders ...string) step {
	return step{took: time.Second, res: transport.Result{Status: transport.Changed, Folders: folders}}
}

// harness runs a loop inside a synctest bubble.
type harness struct {
	t      *testing.T
	loop   *transport.Loop
	pinger *fakePinger
	events *recorder
	cancel context.CancelFunc
	done   chan error
	syncs  [][]string
	mu     sync.Mutex
}

func startLoop(t *testing.T, steps []step, mod func(*transport.Config), sync transport.SyncFunc) *harness {
	t.Helper()
	h := &harness{t: t, pinger: &fakePinger{steps: steps}, events: newRecorder(), done: make(chan error, 1)}
	if sync == nil {
		sync = func(ctx context.Context, folders []string) error {
			h.mu.Lock()
			h.syncs = append(h.syncs, folders)
			h.mu.Unlock()
			return nil
		}
	}
	cfg := transport.Config{
		Pinger:  h.pinger,
		Folders: []string{"inbox", "calendar"},
		Sync:    sync,
		OnEvent: h.events.add,
	}
	if mod != nil {
		mod(&cfg)
	}
	l, err := transport.NewLoop(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.loop = l
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- l.Run(ctx) }()
	t.Cleanup(func() { h.stop() }) // inside the bubble: a failed test leaves no loop behind
	return h
}

// advance lets d of virtual time pass, then waits until the loop blocks.
func advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// stop cancels the loop and returns what Run returned. It may be called
// more than once.
func (h *harness) stop() error {
	h.cancel()
	err := <-h.done
	h.done <- err
	return err
}

func (h *harness) syncCalls() [][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]string(nil), h.syncs...)
}

func minutes(ds []time.Duration) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, fmt.Sprint(d))
	}
	return strings.Join(parts, " ")
}

// checkLadder asserts that pings from+1 to to (indexes into the pings
// sent) each followed the one before by a step of the backoff controller's
// reconnect ladder (SPEC L1, L2): [1 s, 2 s) after the first ping that
// ended at once, then [2 s, 4 s), [4 s, 8 s), ..., give or take took, how
// long each ping took; that every wait was announced with reason
// ReasonReconnecting; and that push stayed available throughout.
func (h *harness) checkLadder(from, to int, took time.Duration) {
	h.t.Helper()
	times := h.pinger.pingTimes()
	if len(times) <= to {
		h.t.Fatalf("%d pings, want at least %d", len(times), to+1)
	}
	lo := time.Second
	for i := from + 1; i <= to; i++ {
		if gap := times[i].Sub(times[i-1]) - took; gap < lo || gap >= 2*lo {
			h.t.Fatalf("ping %d came %v after the one before ended, want the ladder's step [%v, %v)", i+1, gap, lo, 2*lo)
		}
		lo *= 2
	}
	for _, e := range h.events.find(transport.BackoffEntered) {
		if e.Backoff.Reason != backoff.ReasonReconnecting {
			h.t.Fatalf("backoff entered with %v, want %v", e.Backoff.Reason, backoff.ReasonReconnecting)
		}
	}
	if n := len(h.events.find(transport.BackoffEntered)); n < to-from {
		h.t.Fatalf("%d announced waits for %d paced pings", n, to-from)
	}
	if un := h.events.find(transport.PushUnavailable); len(un) != 0 || !h.loop.Snapshot().PushAvailable {
		h.t.Fatalf("push declared unavailable after pings that ended at once: %+v", un)
	}
}

// TestLoopCycle checks the Direct Push cycle (SPEC T4): expiries climb the
// interval, changes are synced folder by folder and pinging resumes at
// once.
func TestLoopCycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		h := startLoop(t, []step{expired, expired, changed("inbox"), expired, expired, expired}, nil, nil)
		advance(24 * time.Hour)
		if err := h.stop(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v", err)
		}
		// 8, 8 (raise), 13 (changed: neutral), 13, 13 (raise: Adaptive's
		// first search goes to 28, H10), 28, then the 7th ping blocks.
		if got, want := minutes(h.pinger.heartbeats()), "8m0s 8m0s 13m0s 13m0s 13m0s 28m0s 28m0s"; got != want {
			t.Fatalf("heartbeats %s, want %s", got, want)
		}
		if got := h.syncCalls(); len(got) != 1 || strings.Join(got[0], ",") != "inbox" {
			t.Fatalf("syncs %v, want one of [inbox]", got)
		}
		// Pings follow each other at once: 8+8+1s+13+13+28 minutes.
		want := start.Add(70*time.Minute + time.Second)
		if last := h.pinger.times[len(h.pinger.times)-1]; !last.Equal(want) {
			t.Fatalf("7th ping at %v, want %v", last.Sub(start), want.Sub(start))
		}
		snap := h.loop.Snapshot()
		c := snap.Counts
		if c.Pings != 7 || c.Expired != 5 || c.Changed != 1 || c.Syncs != 1 || snap.State != transport.Stopped || !snap.PushAvailable {
			t.Fatalf("snapshot %+v", snap)
		}
		if got := len(h.events.find(transport.IntervalChanged)); got != 2 {
			t.Fatalf("%d interval changes, want 2", got)
		}
	})
}

// TestLoopHeartbeatFailure: a silent drop lowers the interval and triggers
// a sync of every folder before pinging resumes (SPEC T4, H5).
func TestLoopHeartbeatFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, []step{expired, expired, {took: 14 * time.Minute, err: transport.ErrTimedOut}, expired}, nil, nil)
		advance(24 * time.Hour)
		h.stop()
		if got, want := minutes(h.pinger.heartbeats()), "8m0s 8m0s 13m0s 8m0s 8m0s"; got != want {
			t.Fatalf("heartbeats %s, want %s", got, want)
		}
		if got := h.syncCalls(); len(got) != 1 || strings.Join(got[0], ",") != "inbox,calendar" {
			t.Fatalf("syncs %v, want all folders once", got)
		}
		if ch := h.events.find(transport.IntervalChanged); len(ch) != 2 || ch[1].Change.Reason != heartbeat.ReasonReverted {
			t.Fatalf("changes %v", ch)
		}
		if c := h.loop.Snapshot().Counts; c.TimedOut != 1 {
			t.Fatalf("counts %+v", c)
		}
	})
}

// TestLoopSyncFailureBacksOff: when the sync after a heartbeat failure
// fails, the backoff rules apply (SPEC T4, B3): the first failure is
// retried at once, the second waits 30 to 60 minutes (B4). That holds for
// every failed sync, also for those the controller would not count by
// itself (a 408, a failure whose answer says 200, the cancellation of a
// context of the application's own): otherwise they would spin.
func TestLoopSyncFailureBacksOff(t *testing.T) {
	answer := func(code int) error {
		return &transport.ResponseError{Response: &http.Response{StatusCode: code, Header: http.Header{}}}
	}
	for _, fail := range []error{
		fmt.Errorf("sync: %w", syscall.ECONNREFUSED),
		answer(http.StatusRequestTimeout),
		answer(http.StatusOK),
		fmt.Errorf("sync: %w", context.Canceled),
	} {
		t.Run(fail.Error(), func(t *testing.T) { testSyncFailureBacksOff(t, fail) })
	}
}

func testSyncFailureBacksOff(t *testing.T, fail error) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var calls []time.Time
		failing := func(ctx context.Context, folders []string) error {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, time.Now())
			if len(calls) <= 2 {
				return fail
			}
			return nil
		}
		start := time.Now()
		h := startLoop(t, []step{timeout, expired}, nil, failing)
		advance(24 * time.Hour)
		h.stop()
		mu.Lock()
		defer mu.Unlock()
		if len(calls) != 3 {
			t.Fatalf("%d syncs, want 3", len(calls))
		}
		deadline := start.Add(9 * time.Minute) // 8-minute ping + 1-minute buffer
		if !calls[0].Equal(deadline) || !calls[1].Equal(deadline) {
			t.Fatalf("first two syncs at %v and %v, want both at the deadline %v", calls[0].Sub(start), calls[1].Sub(start), deadline.Sub(start))
		}
		// B4: the second consecutive failure waits [2·15m, 4·15m).
		if wait := calls[2].Sub(calls[1]); wait < 30*time.Minute || wait >= 60*time.Minute {
			t.Fatalf("third sync %v after the second, want in [30m, 60m)", wait)
		}
		if got := h.events.kinds(transport.BackoffEntered, transport.BackoffLeft); strings.Join(got, " ") != "backoff-entered backoff-left" {
			t.Fatalf("backoff events %v", got)
		}
		if len(h.pinger.reqs) != 3 || h.pinger.times[1].Before(calls[2]) {
			t.Fatalf("pinging resumed before the sync succeeded: %v", h.pinger.times)
		}
	})
}

// TestLoopMaintenance: a 503 with Retry-After on the ping halts the loop,
// sync included, until the server's time plus fuzz (SPEC B1, T6).
func TestLoopMaintenance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		h := startLoop(t, []step{
			{took: time.Second, err: transport.ErrServer, code: 503, header: http.Header{"Retry-After": {"600"}}},
			expired,
		}, nil, nil)
		advance(24 * time.Hour)
		h.stop()
		syncs := h.syncCalls()
		if len(syncs) != 1 {
			t.Fatalf("syncs %v", syncs)
		}
		second := h.pinger.times[1].Sub(start)
		if second < 601*time.Second || second > 751*time.Second {
			t.Fatalf("second ping %v after start, want in [10m1s, 12m31s]", second)
		}
		entered := h.events.find(transport.BackoffEntered)
		if len(entered) != 1 || entered[0].Backoff.Reason != backoff.ReasonMaintenance {
			t.Fatalf("backoff events %+v", entered)
		}
	})
}

// TestLoopXBackoff: X-Backoff on a successful answer delays the next ping
// while the answer itself is still used (SPEC B5).
func TestLoopXBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		h := startLoop(t, []step{
			{res: transport.Result{Status: transport.Expired}, header: http.Header{"X-Backoff": {"3600"}}},
			expired,
		}, nil, nil)
		advance(24 * time.Hour)
		h.stop()
		gap := h.pinger.times[1].Sub(start) - 8*time.Minute
		if gap < time.Hour || gap >= time.Hour+15*time.Minute {
			t.Fatalf("second ping %v after the answer, want in [1h, 1h15m)", gap)
		}
		if snap := h.loop.Snapshot(); snap.Tuner.Streak != 2 && snap.Tuner.Interval != 13*time.Minute {
			t.Fatalf("the expiry itself was not used: %+v", snap.Tuner)
		}
	})
}

// TestLoopProxyTimeout: a 504 from a proxy's idle timeout teaches the tuner
// and does not back off.
func TestLoopProxyTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, []step{expired, expired, {took: 10 * time.Minute, err: transport.ErrProxyTimeout, code: 504}, expired}, nil, nil)
		advance(24 * time.Hour)
		h.stop()
		if got, want := minutes(h.pinger.heartbeats()), "8m0s 8m0s 13m0s 8m0s 8m0s"; got != want {
			t.Fatalf("heartbeats %s, want %s", got, want)
		}
		if st := h.loop.Backoff().Status(); st.Failures != 0 || len(h.events.find(transport.BackoffEntered)) != 0 {
			t.Fatalf("a proxy idle timeout caused backoff: %v", st)
		}
	})
}

// TestLoopResets: a middlebox that resets idle connections: the first
// early close proves nothing; a second at the same idle time is an idle
// timeout (SPEC T3). Connections that close at once back off instead of
// spinning.
func TestLoopResets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reset := step{took: 15 * time.Minute, err: transport.ErrClosed}
		h := startLoop(t, []step{expired, expired, expired, expired, reset, reset, expired}, nil, nil)
		advance(24 * time.Hour)
		h.stop()
		// Adaptive's first search raises 13 minutes to 28 (H10).
		if got, want := minutes(h.pinger.heartbeats()), "8m0s 8m0s 13m0s 13m0s 28m0s 28m0s 13m0s 13m0s"; got != want {
			t.Fatalf("heartbeats %s, want %s", got, want)
		}
		if len(h.syncCalls()) != 0 {
			t.Fatal("a visible close triggered a sync")
		}
	})
	synctest.Test(t, func(t *testing.T) {
		fast := step{took: 10 * time.Millisecond, err: transport.ErrClosed}
		h := startLoop(t, []step{fast, fast, fast, fast, fast}, nil, nil)
		advance(24 * time.Hour)
		h.stop()
		// Closes that come at once are server trouble (L1): every one is
		// followed by a growing, announced wait, and push stays available.
		h.checkLadder(0, 5, 10*time.Millisecond)
		// The whole ladder is one failed attempt: Initial, with its manual
		// retry (B6).
		if st := h.loop.Backoff().Status(); st.Phase != backoff.Initial || st.Failures != 1 || !st.ManualRetryAllowed {
			t.Fatalf("backoff status %v after 5 closes at once, want initial with 1 failure", st)
		}
		if iv := h.loop.Tuner().Interval(); iv != 8*time.Minute || len(h.syncCalls()) != 0 {
			t.Fatalf("interval %v and %d syncs after closes at once, want 8m0s and none", iv, len(h.syncCalls()))
		}
	})
}

// TestLoopServerBounds: out-of-bounds answers set the server's range (SPEC
// H8, T6); a range that excludes the device's switches to scheduled sync
// and probes push until it works again.
func TestLoopServerBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		oob := func(limit time.Duration) step {
			return step{took: 100 * time.Millisecond, res: transport.Result{Status: transport.OutOfBounds, Limit: limit}}
		}
		h := startLoop(t, []step{oob(10 * time.Minute), expired, expired, oob(12 * time.Minute), expired}, nil, nil)
		advance(24 * time.Hour)
		h.stop()
		if got, want := minutes(h.pinger.heartbeats()), "8m0s 10m0s 10m0s 15m0s 12m0s 12m0s"; got != want {
			t.Fatalf("heartbeats %s, want %s", got, want)
		}
		snap := h.loop.Snapshot()
		if snap.ServerMin != 10*time.Minute || snap.ServerMax != 12*time.Minute {
			t.Fatalf("learned range [%v, %v]", snap.ServerMin, snap.ServerMax)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		oob := step{took: 100 * time.Millisecond, res: transport.Result{Status: transport.OutOfBounds, Limit: 30 * time.Minute}}
		h := startLoop(t, []step{oob, oob, expired}, func(c *transport.Config) {
			c.SyncInterval, c.ProbeInterval = 15*time.Minute, time.Hour
		}, nil)
		advance(time.Second)
		if snap := h.loop.Snapshot(); snap.PushAvailable || snap.State != transport.Scheduled {
			t.Fatalf("after a 30-minute server minimum: %+v", snap)
		}
		time.Sleep(3 * time.Hour)
		synctest.Wait()
		h.stop()
		unavail := h.events.find(transport.PushUnavailable)
		if len(unavail) != 1 || !errors.Is(unavail[0].Err, heartbeat.ErrPushUnavailable) {
			t.Fatalf("push-unavailable events %+v", unavail)
		}
		// Probes at 0, 1h (still 30 min), 2h (accepted), then pinging.
		at := func(i int) time.Duration { return h.pinger.times[i].Sub(start) }
		if n := len(h.pinger.times); n != 4 || at(1) < time.Hour || at(1) > time.Hour+time.Minute || at(2) < 2*time.Hour || at(2) > 2*time.Hour+time.Minute {
			t.Fatalf("%d pings at %v", len(h.pinger.times), h.pinger.times)
		}
		if len(h.events.find(transport.PushAvailable)) != 1 {
			t.Fatal("push never became available again")
		}
		// Scheduled syncs every 15 minutes for the two hours without push.
		if n := len(h.syncCalls()); n < 8 || n > 9 {
			t.Fatalf("%d scheduled syncs in two hours, want 8 or 9", n)
		}
	})
}

// TestLoopBoundsLoop: a server whose out-of-bounds answers never settle
// (refusing the heartbeat it names itself, or a minimum and a maximum that
// contradict each other) does not make the loop spin (SPEC H8, T6, L2):
// three such answers in a row go at once, from the fourth each is paced by
// the reconnect ladder, and push stays available.
func TestLoopBoundsLoop(t *testing.T) {
	oob := func(limit time.Duration) step {
		return step{took: 10 * time.Millisecond, res: transport.Result{Status: transport.OutOfBounds, Limit: limit}}
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"the requested heartbeat", []step{oob(8 * time.Minute), oob(8 * time.Minute), oob(8 * time.Minute), oob(8 * time.Minute)}},
		{"contradicting limits", []step{oob(10 * time.Minute), oob(9 * time.Minute), oob(10 * time.Minute), oob(9 * time.Minute)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := startLoop(t, tc.steps, nil, nil)
				advance(24 * time.Hour)
				h.stop()
				if n := len(h.pinger.times); n != 5 {
					t.Fatalf("%d pings, want the 4 scripted and a 5th that blocks", n)
				}
				if gap := h.pinger.times[3].Sub(h.pinger.times[0]); gap > time.Second {
					t.Fatalf("the first 4 answers took %v, want them at once", gap)
				}
				h.checkLadder(3, 4, 10*time.Millisecond)
				if iv := h.loop.Tuner().Interval(); iv < 8*time.Minute || iv > 10*time.Minute {
					t.Fatalf("interval %v", iv)
				}
			})
		})
	}
}

// TestLoopUnworkable: timeouts at the floor make push unworkable (SPEC H9):
// scheduled sync, and an expiring probe brings push back.
func TestLoopUnworkable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, []step{timeout, timeout, timeout, expired, expired}, func(c *transport.Config) {
			c.ProbeInterval = 30 * time.Minute
		}, nil)
		advance(30 * time.Minute) // three 9-minute timeouts, then scheduled
		if h.loop.Snapshot().PushAvailable {
			t.Fatal("push still available after 3 floor timeouts")
		}
		time.Sleep(45 * time.Minute)
		synctest.Wait()
		h.stop()
		if len(h.events.find(transport.PushUnavailable)) != 1 || len(h.events.find(transport.PushAvailable)) != 1 {
			t.Fatalf("events %v", h.events.kinds(transport.PushUnavailable, transport.PushAvailable))
		}
		if !h.loop.Snapshot().PushAvailable {
			t.Fatal("push not available after an expiring probe")
		}
	})
}

// TestLoopNetworkLost: no connectivity drops to the minimum; when coverage
// returns the learned interval is restored at once (SPEC H7, T4).
func TestLoopNetworkLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lost := step{took: 10 * time.Millisecond, err: transport.ErrNetworkLost}
		h := startLoop(t, []step{expired, expired, expired, lost, expired, expired}, nil, nil)
		advance(24 * time.Hour)
		h.stop()
		if got, want := minutes(h.pinger.heartbeats()), "8m0s 8m0s 13m0s 13m0s 8m0s 13m0s 13m0s"; got != want {
			t.Fatalf("heartbeats %s, want %s", got, want)
		}
		reasons := []string{}
		for _, e := range h.events.find(transport.IntervalChanged) {
			reasons = append(reasons, e.Change.Reason.String())
		}
		if strings.Join(reasons, " ") != "confirmed network-lost coverage-regained" {
			t.Fatalf("reasons %v", reasons)
		}
	})
}

// TestLoopRejected: a ping the server refuses outright ends Run.
func TestLoopRejected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, []step{{took: time.Second, err: transport.ErrRejected, code: 401}}, nil, nil)
		advance(24 * time.Hour)
		// Run returned by itself: cancelling now cannot change what it said.
		if err := h.stop(); !errors.Is(err, transport.ErrRejected) {
			t.Fatalf("Run returned %v", err)
		}
	})
}

// TestLoopSyncRejected: a sync the server refuses outright ends Run, whether
// the application returns the 4xx answer (*ResponseError) or an error
// matching ErrRejected found inside a 200 answer (EAS Sync status 12: the
// folder hierarchy must be synced first), since retrying cannot help.
func TestLoopSyncRejected(t *testing.T) {
	for _, refusal := range []error{
		&transport.ResponseError{Response: &http.Response{StatusCode: http.StatusForbidden, Header: http.Header{}}},
		fmt.Errorf("eas: sync status 12: %w", transport.ErrRejected),
	} {
		t.Run(refusal.Error(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				syncs := 0
				h := startLoop(t, []step{changed("inbox"), expired}, nil, func(context.Context, []string) error {
					syncs++
					return refusal
				})
				advance(24 * time.Hour)
				if err := h.stop(); !errors.Is(err, refusal) {
					t.Fatalf("Run returned %v, want the refusal %v", err, refusal)
				}
				if syncs != 1 || len(h.pinger.times) != 1 {
					t.Fatalf("%d syncs and %d pings, want the refused sync to end Run", syncs, len(h.pinger.times))
				}
			})
		})
	}
}

// TestLoopServerErrorInAnswer: server trouble that a codec finds inside a
// 200 answer (EAS Ping status 8), or that a Pinger reports without an
// answer, is a server error for the backoff rules (B2: back off at once),
// not a success: the loop waits before it syncs and pings again.
func TestLoopServerErrorInAnswer(t *testing.T) {
	for _, trouble := range []step{
		{took: 10 * time.Millisecond, err: transport.ErrServer, code: http.StatusOK},
		{took: 10 * time.Millisecond, err: transport.ErrServer, bare: true},
	} {
		t.Run(fmt.Sprintf("answer %v", !trouble.bare), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := startLoop(t, []step{trouble, trouble, expired}, nil, nil)
				advance(24 * time.Hour)
				h.stop()
				if n := len(h.pinger.times); n != 4 {
					t.Fatalf("%d pings, want the 3 scripted and a 4th that blocks", n)
				}
				// B4: the first failure waits [15m, 30m), the second, the
				// sync between them having succeeded, the same again.
				for i := 1; i < 3; i++ {
					if gap := h.pinger.times[i].Sub(h.pinger.times[i-1]); gap < 15*time.Minute || gap > 31*time.Minute {
						t.Fatalf("ping %d came %v after the one before, want a server-error backoff of [15m, 30m)", i+1, gap)
					}
				}
				entered := h.events.find(transport.BackoffEntered)
				if len(entered) != 2 || entered[0].Backoff.Reason != backoff.ReasonServerError {
					t.Fatalf("backoff events %+v", entered)
				}
			})
		})
	}
}

// TestLoopEarlyAnswers: a server that answers "no changes" at once
// teaches the tuner nothing (H4) and does not make the loop spin (L2):
// each such answer is paced by the reconnect ladder, push stays available
// and nothing is synced.
func TestLoopEarlyAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		early := step{took: 10 * time.Millisecond, res: transport.Result{Status: transport.Expired}}
		h := startLoop(t, []step{early, early, early, early, early, early}, nil, nil)
		advance(24 * time.Hour)
		h.stop()
		if n := len(h.pinger.times); n != 7 {
			t.Fatalf("%d pings, want the 6 scripted and a 7th that blocks", n)
		}
		h.checkLadder(0, 6, 10*time.Millisecond)
		if n := len(h.syncCalls()); n != 0 {
			t.Fatalf("%d syncs after early answers", n)
		}
		if iv := h.loop.Tuner().Interval(); iv != 8*time.Minute {
			t.Fatalf("early answers moved the interval to %v", iv)
		}
	})
}

// TestLoopHalfwayAnswers: "no changes" after half the heartbeat proves no
// idle time either (H4), but it is no spin: the loop pings again at once,
// push stays available and nothing backs off.
func TestLoopHalfwayAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		half := step{took: 4 * time.Minute, res: transport.Result{Status: transport.Expired}}
		h := startLoop(t, []step{half, half, half, half, half}, nil, nil)
		advance(24 * time.Hour)
		h.stop()
		if got, want := minutes(h.pinger.heartbeats()), "8m0s 8m0s 8m0s 8m0s 8m0s 8m0s"; got != want {
			t.Fatalf("heartbeats %s, want %s", got, want)
		}
		for i := 1; i < len(h.pinger.times); i++ {
			if gap := h.pinger.times[i].Sub(h.pinger.times[i-1]); gap != 4*time.Minute {
				t.Fatalf("ping %d came %v after the one before, want 4m: at once after the answer", i+1, gap)
			}
		}
		if n := len(h.events.find(transport.PushUnavailable)) + len(h.events.find(transport.BackoffEntered)); n != 0 {
			t.Fatalf("%d push-unavailable and backoff events", n)
		}
	})
}

// TestLoopRunOnce: Run refuses to run twice at the same time.
func TestLoopRunOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, nil, nil, nil)
		advance(24 * time.Hour)
		if err := h.loop.Run(context.Background()); !errors.Is(err, transport.ErrLoopRunning) {
			t.Fatalf("second Run: %v", err)
		}
		if h.loop.Snapshot().State != transport.Pinging {
			t.Fatalf("state %v", h.loop.Snapshot().State)
		}
		h.stop()
	})
	if _, err := transport.NewLoop(transport.Config{}); err == nil {
		t.Fatal("NewLoop without a Pinger")
	}
}

// TestLoopMockClock drives the scheduled mode with an injected mock clock.
func TestLoopMockClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mock := clock.NewMock()
		tuner, _ := heartbeat.New(heartbeat.Config{})
		if _, err := tuner.SetServerBounds(0, 0); err != nil {
			t.Fatal(err)
		}
		oob := step{took: 10 * time.Millisecond, res: transport.Result{Status: transport.OutOfBounds, Limit: time.Hour}}
		h := startLoop(t, []step{oob}, func(c *transport.Config) {
			c.Clock, c.Tuner = mock, tuner
			c.SyncInterval, c.ProbeInterval = 10*time.Minute, 24*time.Hour
		}, nil)
		advance(time.Second)
		if n := len(h.syncCalls()); n != 1 {
			t.Fatalf("%d syncs on entering scheduled mode, want 1", n)
		}
		for i := 0; i < 3; i++ {
			mock.Add(10 * time.Minute)
			synctest.Wait()
		}
		if n := len(h.syncCalls()); n != 4 {
			t.Fatalf("%d syncs after 30 mock minutes, want 4", n)
		}
		h.stop()
	})
}

// TestLoopLogger: events are logged with structured attributes at levels
// that match their weight.
func TestLoopLogger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		var mu sync.Mutex
		logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
		h := startLoop(t, []step{expired, expired, timeout}, func(c *transport.Config) { c.Logger = logger }, nil)
		advance(24 * time.Hour)
		h.stop()
		mu.Lock()
		out := buf.String()
		mu.Unlock()
		for _, want := range []string{`"msg":"pushbeat: ping-started"`, `"msg":"pushbeat: interval-changed"`, `"reason":"confirmed"`, `"msg":"pushbeat: ping-failed"`, `"level":"WARN"`} {
			if !strings.Contains(out, want) {
				t.Fatalf("log lacks %s:\n%s", want, out)
			}
		}
	})
}

// TestEventString: an event formats as its kind and the attributes the
// Logger gets, the error quoted, no credentials added.
func TestEventString(t *testing.T) {
	tests := []struct {
		e    transport.Event
		want string
	}{
		{transport.Event{Kind: transport.PingStarted, Interval: 8 * time.Minute}, "ping-started interval=8m0s"},
		{transport.Event{Kind: transport.PingAnswered, Interval: 8 * time.Minute, Status: transport.Changed, Elapsed: 1500 * ms, Folders: []string{"inbox"}},
			"ping-answered interval=8m0s status=changed elapsed=1.5s folders=[inbox]"},
		{transport.Event{Kind: transport.PingFailed, Interval: 8 * time.Minute, Elapsed: 9 * time.Minute, Err: transport.ErrTimedOut},
			`ping-failed interval=8m0s elapsed=9m0s err="transport: ping timed out"`},
		{transport.Event{Kind: transport.IntervalChanged, Interval: 13 * time.Minute, Change: heartbeat.Change{From: 8 * time.Minute, To: 13 * time.Minute, Reason: heartbeat.ReasonConfirmed}},
			"interval-changed interval=13m0s from=8m0s reason=confirmed"},
		{transport.Event{Kind: transport.ServerBounds, Interval: 10 * time.Minute, ServerMin: 10 * time.Minute},
			"server-bounds interval=10m0s server_min=10m0s server_max=0s"},
		{transport.Event{Kind: transport.PushUnavailable, Interval: 8 * time.Minute, Err: transport.ErrPushUnworkable},
			`push-unavailable interval=8m0s err="transport: push unworkable: idle connections die sooner than the shortest allowed heartbeat"`},
		{transport.Event{Kind: transport.PushAvailable, Interval: 8 * time.Minute}, "push-available interval=8m0s"},
	}
	for i, tc := range tests {
		if got := tc.e.String(); got != tc.want {
			t.Errorf("step %d: %v.String() = %s want %s", i, tc.e.Kind, got, tc.want)
		}
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestLoopFailingPings: pings that fail at once (garbage) are paced by
// the reconnect ladder (L1), push stays available, and once the server
// answers again every folder is synced once, since an answer may have been
// lost in the garbage.
func TestLoopFailingPings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		garbage := step{took: 5 * time.Millisecond, err: transport.ErrProtocol}
		h := startLoop(t, []step{garbage, garbage, garbage, garbage, expired}, nil, nil)
		advance(time.Second / 2)
		if n := len(h.pinger.pingTimes()); n != 1 {
			t.Fatalf("%d pings in the first half second, want 1 and an announced wait", n)
		}
		advance(24 * time.Hour)
		h.stop()
		h.checkLadder(0, 4, 5*time.Millisecond)
		if got := h.syncCalls(); len(got) != 1 || strings.Join(got[0], ",") != "inbox,calendar" {
			t.Fatalf("syncs %v, want every folder once after the server answered", got)
		}
		if st := h.loop.Backoff().Status(); st.Phase != backoff.None {
			t.Fatalf("backoff %v after the server answered", st)
		}
	})
}

// TestLoopRefused: a refused connection is server trouble, not lost
// coverage (SPEC L3): the learned interval stays, the refusals are paced
// by the reconnect ladder (L1), and pinging resumes at the learned interval
// as soon as the server answers.
func TestLoopRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		refused := step{took: time.Millisecond, err: transport.ErrRefused}
		h := startLoop(t, []step{expired, expired, expired, refused, refused, refused, expired}, nil, nil)
		advance(24 * time.Hour)
		h.stop()
		// Adaptive's first search raises 13 minutes to 28 (H10).
		if got, want := minutes(h.pinger.heartbeats()), "8m0s 8m0s 13m0s 13m0s 13m0s 13m0s 13m0s 28m0s"; got != want {
			t.Fatalf("heartbeats %s, want %s", got, want)
		}
		for _, e := range h.events.find(transport.IntervalChanged) {
			if e.Change.Reason != heartbeat.ReasonConfirmed {
				t.Fatalf("interval change %v after refused connections", e.Change)
			}
		}
		h.checkLadder(3, 6, time.Millisecond)
		if c := h.loop.Snapshot().Counts; c.Closed != 3 || c.NetworkLost != 0 {
			t.Fatalf("counts %+v, want 3 refused (Closed) and no network loss", c)
		}
	})
}

// TestLoopNoSpin: a server that answers at once forever, "changed" or
// "expired", gets at most 2 requests a second on average over a minute
// (SPEC L2), pings and syncs counted, with or without a Sync; and no two
// pings come within a second of each other without an announced wait,
// except the first few changes of a burst.
func TestLoopNoSpin(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    step
		free int // pings that may follow each other at once
	}{
		{"changed", step{took: time.Millisecond, res: transport.Result{Status: transport.Changed, Folders: []string{"inbox"}}}, 3},
		{"expired", step{took: time.Millisecond, res: transport.Result{Status: transport.Expired}}, 0},
	} {
		for _, withSync := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/sync=%v", tc.name, withSync), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					h := startLoop(t, nil, func(c *transport.Config) {
						c.Pinger.(*fakePinger).forever = &tc.s
						if !withSync {
							c.Sync = nil
						}
					}, nil)
					start := time.Now()
					advance(time.Minute)
					h.stop()
					times := h.pinger.pingTimes()
					var pings int
					for i, at := range times {
						if at.Sub(start) >= time.Minute {
							break
						}
						pings++
						if i > tc.free && at.Sub(times[i-1]) < time.Second {
							t.Fatalf("ping %d came %v after the one before", i+1, at.Sub(times[i-1]))
						}
					}
					syncs := len(h.syncCalls())
					if pings+syncs > 120 {
						t.Fatalf("%d pings and %d syncs in a minute, want at most 120 requests", pings, syncs)
					}
					t.Logf("%d pings and %d syncs in a minute", pings, syncs)
				})
			})
		}
	}
}

// TestLoopResyncOnce: after a connection closed at once the loop owes one
// full sync, since an answer may have been lost with it (L1); a full sync
// that runs anyway (after a timeout, T4) pays it, so the next answer does
// not sync again.
func TestLoopResyncOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fast := step{took: 10 * time.Millisecond, err: transport.ErrClosed}
		h := startLoop(t, []step{fast, timeout, expired, expired}, nil, nil)
		advance(24 * time.Hour)
		h.stop()
		if got := h.syncCalls(); len(got) != 1 || strings.Join(got[0], ",") != "inbox,calendar" {
			t.Fatalf("syncs %v, want every folder once, after the timeout", got)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		fast := step{took: 10 * time.Millisecond, err: transport.ErrClosed}
		h := startLoop(t, []step{fast, expired, expired}, nil, nil)
		advance(24 * time.Hour)
		h.stop()
		if got := h.syncCalls(); len(got) != 1 || strings.Join(got[0], ",") != "inbox,calendar" {
			t.Fatalf("syncs %v, want every folder once, after the first answer", got)
		}
		// The sync comes after the answer, before the next ping.
		times := h.pinger.pingTimes()
		if len(times) != 4 {
			t.Fatalf("%d pings, want 3 scripted and one that blocks", len(times))
		}
	})
}
