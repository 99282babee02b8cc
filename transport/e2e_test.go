package transport_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/transport"
	"github.com/pushbeat/pushbeat/transport/pingtest"
)

// The end-to-end tests run the real Loop and HTTPPinger against pingtest
// over loopback TLS, with the Direct Push parameters scaled from minutes to
// tenths of seconds: Min 100ms, Increment 100ms, Buffer 100ms. Resolution
// is one Increment, so Adaptive settles one step below the first interval
// that fails, with no probe in between; the middlebox timeout sits half an
// Increment above where it settles (300ms) and half an Increment below the
// step that fails (400ms). (With a 60ms Resolution the timeout sat 20ms
// below a 350ms probe, and a loaded machine delivered the middlebox's 504
// after the probe's heartbeat, which the pinger rightly takes for a server
// error.) The middlebox does not count the test process's own stalls as
// idle time, so a survivor is not cut because the machine was busy.
var scaled = heartbeat.Config{
	Min:        100 * ms,
	Increment:  100 * ms,
	Max:        800 * ms,
	Buffer:     100 * ms,
	Resolution: 100 * ms,
}

const idleTimeout = 350 * ms

// e2e is one loop running against one pingtest server.
type e2e struct {
	t      *testing.T
	srv    *pingtest.Server
	loop   *transport.Loop
	cancel context.CancelFunc
	done   chan error
	events *recorder

	syncs    atomic.Int32
	syncFail atomic.Bool // the sync reports no network
	waits    waitLog     // the waits the loop's controller announced
	sends    sendLog     // when the pinger sent each request
}

// startE2E starts a server and a loop pinging it.
func startE2E(t *testing.T, srvCfg pingtest.Config, tuner heartbeat.Config, mod func(*transport.Config)) *e2e {
	t.Helper()
	e := newE2E(t, srvCfg, tuner, mod)
	e.start()
	return e
}

// newE2E starts a server and makes a loop for it, not yet running: faults
// injected before start reach the loop's first ping.
func newE2E(t *testing.T, srvCfg pingtest.Config, tuner heartbeat.Config, mod func(*transport.Config)) *e2e {
	t.Helper()
	srv, err := pingtest.NewServer(srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	e := &e2e{t: t, srv: srv, done: make(chan error, 1), events: newRecorder()}
	p, err := transport.NewHTTPPinger(transport.HTTPConfig{URL: srv.URL() + "/ping", Client: e.sends.logSends(srv.Client())})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := heartbeat.New(tuner)
	if err != nil {
		t.Fatal(err)
	}
	bo, err := backoff.New(backoff.Policy{Base: 200 * ms, Cap: 2 * time.Second, OnChange: e.waits.onChange})
	if err != nil {
		t.Fatal(err)
	}
	cfg := transport.Config{
		Pinger:  p,
		Tuner:   tr,
		Backoff: bo,
		Folders: []string{"inbox"},
		Sync: func(ctx context.Context, folders []string) error {
			if e.syncFail.Load() {
				return fmt.Errorf("sync: %w", syscall.ECONNREFUSED)
			}
			e.syncs.Add(1)
			return nil
		},
		SyncInterval:  200 * ms,
		ProbeInterval: 500 * ms,
		OnEvent:       e.events.add,
	}
	if mod != nil {
		mod(&cfg)
	}
	e.loop, err = transport.NewLoop(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// start runs the loop until the test ends or stop is called.
func (e *e2e) start() {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { e.done <- e.loop.Run(ctx) }()
	e.t.Cleanup(func() { e.stop() })
}

// stop ends the loop and waits for Run to return.
func (e *e2e) stop() {
	e.cancel()
	select {
	case err := <-e.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			e.t.Errorf("Run returned %v", err)
		}
		e.done <- err // so a second stop does not block
	case <-time.After(patience):
		e.t.Fatalf("the loop did not stop within %v of its context ending", patience)
	}
}

// until waits, at most limit, for cond to hold over the events so far.
func (e *e2e) until(limit time.Duration, what string, cond func([]transport.Event) bool) {
	e.t.Helper()
	e.events.until(e.t, limit, what, cond)
}

// settled reports whether the last n pings all expired at one interval,
// after at least one failure taught the tuner something.
func settled(n int) func([]transport.Event) bool {
	return func(events []transport.Event) bool {
		if count(events, isKind(transport.PingFailed)) == 0 {
			return false
		}
		var tail []transport.Event
		for i := len(events) - 1; i >= 0 && len(tail) < n; i-- {
			switch events[i].Kind {
			case transport.PingAnswered:
				tail = append(tail, events[i])
			case transport.PingFailed:
				return false
			}
		}
		if len(tail) < n {
			return false
		}
		for _, ev := range tail {
			if ev.Status != transport.Expired || ev.Interval != tail[0].Interval {
				return false
			}
		}
		return true
	}
}

// nearTimeout reports whether an interval lies just below the middlebox's
// timeout: within one Resolution of the step that failed.
func nearTimeout(iv time.Duration) bool {
	return iv < idleTimeout && iv >= idleTimeout-scaled.Resolution-scaled.Increment/2
}

// settledNear waits until the tuner rests just below the idle timeout. A
// timeout caused by a load spike on the test machine only delays this (the
// tuner drops and climbs again); it cannot make the test pass wrongly.
func (e *e2e) settledNear(limit time.Duration) {
	e.t.Helper()
	rest := settled(4)
	e.until(limit, "settling just below the idle timeout", func(events []transport.Event) bool {
		return rest(events) && nearTimeout(events[len(events)-1].Interval)
	})
}

// checkSettled asserts the tuner still rests there after the loop stopped.
func (e *e2e) checkSettled() {
	e.t.Helper()
	if iv := e.loop.Tuner().Interval(); !nearTimeout(iv) {
		e.t.Fatalf("settled at %v, want just below the %v idle timeout", iv, idleTimeout)
	}
}

// TestE2EMiddlebox: behind a middlebox that drops connections idle longer
// than its timeout, the tuner discovers the timeout and settles just below
// it, whichever way the middlebox drops them (SPEC T2, T3, T8, H4, H5, H10):
//   - silently (no FIN, no RST): learned at the deadline, never before, and
//     followed by a sync (T4);
//   - with a reset: learned from the same early close twice;
//   - with a reverse proxy's 504: learned at once;
//
// and only silence is a heartbeat failure that needs a sync; none of them
// is trouble for the backoff rules.
func TestE2EMiddlebox(t *testing.T) {
	tests := []struct {
		mode  pingtest.DropMode
		kind  error // how the drops surface
		drops int   // how many the tuner needs to learn the timeout
	}{
		{pingtest.Silent, transport.ErrTimedOut, 1},
		{pingtest.Reset, transport.ErrClosed, 2}, // one early close proves nothing (T3)
		{pingtest.GatewayTimeout, transport.ErrProxyTimeout, 1},
	}
	for _, tc := range tests {
		t.Run(tc.mode.String(), func(t *testing.T) {
			t.Parallel() // each waits on real time; together they take the time of one
			e := startE2E(t, pingtest.Config{Middlebox: true, IdleTimeout: idleTimeout, DropMode: tc.mode}, scaled, nil)
			e.settledNear(patience)
			e.stop()
			e.checkSettled()
			events := e.events.all()
			// A drop surfaces as its kind, or, when a loaded machine delays
			// the drop or its RST or 504 past the ping's deadline, as a
			// timeout; either teaches the tuner. (pingtest's own tests show
			// each mode's surfacing on its own.)
			kind, timeouts := count(events, failedWith(tc.kind)), 0
			if tc.mode != pingtest.Silent {
				timeouts = count(events, failedWith(transport.ErrTimedOut))
			}
			if kind < tc.drops && timeouts == 0 {
				t.Fatalf("%d failures matching %v and no timeout, want the tuner to have met the timeout", kind, tc.kind)
			}
			t.Logf("drops surfaced as %d %v and %d timeouts", kind, tc.kind, timeouts)
			// A 504 that reaches the client after the ping's heartbeat is a
			// server's gateway timeout, not a proxy's idle timeout, to the
			// pinger (SPEC T2): a loaded machine can delay the middlebox's
			// 504 that long. Such a backoff is the rule at work; any other
			// backoff would be an idle drop taken for server trouble.
			late := count(events, lateGatewayTimeout)
			if n := count(events, isKind(transport.BackoffEntered)); n > late {
				t.Fatalf("idle drops caused %d backoffs (%d 504s came after their heartbeat)", n, late)
			}
			if late > 0 {
				t.Logf("%d 504s reached the client after their heartbeat: server errors to the pinger", late)
			}
			if st := e.loop.Backoff().Status(); st.Failures != 0 && late == 0 {
				t.Fatalf("backoff failures %d after idle drops", st.Failures)
			}
			if tc.mode != pingtest.Silent {
				return
			}
			for _, ev := range events {
				if ev.Kind == transport.PingFailed && ev.Elapsed < ev.Interval {
					t.Fatalf("a silent drop surfaced after %v, before the deadline: %v", ev.Elapsed, ev)
				}
			}
			if e.srv.Middlebox().Stats().SilentDrops == 0 {
				t.Fatal("the middlebox dropped nothing")
			}
			if e.syncs.Load() == 0 {
				t.Fatal("no sync after a heartbeat failure (SPEC T4)")
			}
		})
	}
}

// lateGatewayTimeout reports a ping that failed with a 504 the pinger took
// for a server error: one whose headers came after its heartbeat.
func lateGatewayTimeout(ev transport.Event) bool {
	var pe *transport.PingError
	return ev.Kind == transport.PingFailed && errors.Is(ev.Err, transport.ErrServer) &&
		errors.As(ev.Err, &pe) && pe.Response != nil && pe.Response.StatusCode == http.StatusGatewayTimeout
}

// TestE2EServerBounds: the server's range, learned from out-of-bounds
// answers, bounds every later ping (SPEC H8, T6).
func TestE2EServerBounds(t *testing.T) {
	e := startE2E(t, pingtest.Config{MinHeartbeat: 150 * ms, MaxHeartbeat: 300 * ms}, scaled, nil)
	e.until(patience, "reaching the server's maximum", func(events []transport.Event) bool {
		return count(events, func(ev transport.Event) bool {
			return ev.Kind == transport.PingAnswered && ev.Status == transport.Expired && ev.Interval == 300*ms
		}) >= 2
	})
	e.stop()
	log := e.srv.Log()
	if len(log) < 4 || log[0].Answer != pingtest.OutOfBounds {
		t.Fatalf("server log %+v", log)
	}
	for i, r := range log {
		if r.Answer == pingtest.OutOfBounds {
			continue
		}
		if r.Heartbeat < 150*ms || r.Heartbeat > 300*ms {
			t.Fatalf("request %d asked for %v, outside the server's [150ms, 300ms]", i, r.Heartbeat)
		}
	}
	if s := e.loop.Snapshot(); s.ServerMin != 150*ms || s.ServerMax != 300*ms || s.Tuner.Max != 300*ms {
		t.Fatalf("snapshot %+v", s)
	}
}

// TestE2EChanges: a change posted while a ping is held is answered at once,
// synced, and pinging resumes (SPEC T4, T6).
func TestE2EChanges(t *testing.T) {
	var mu sync.Mutex
	var synced [][]string
	e := startE2E(t, pingtest.Config{}, scaled, func(c *transport.Config) {
		c.Sync = func(ctx context.Context, folders []string) error {
			mu.Lock()
			synced = append(synced, folders)
			mu.Unlock()
			return nil
		}
	})
	e.until(patience, "a ping being held", func(events []transport.Event) bool {
		return count(events, isKind(transport.PingStarted)) >= 1
	})
	// The ping reaches the server a moment after PingStarted.
	serverUntil(t, e.srv, patience, "a ping held", func(s pingtest.Stats) bool { return s.Held > 0 })
	e.srv.PostChange("inbox")
	e.until(patience, "the change and the next ping", func(events []transport.Event) bool {
		return count(events, isKind(transport.SyncDone)) >= 1 && count(events, isKind(transport.PingStarted)) >= 2
	})
	e.stop()
	mu.Lock()
	defer mu.Unlock()
	if len(synced) != 1 || len(synced[0]) != 1 || synced[0][0] != "inbox" {
		t.Fatalf("synced %v, want [[inbox]]", synced)
	}
	if st := e.srv.Stats(); st.Deliveries != 1 || st.MaxDelay > 50*ms {
		t.Fatalf("delivery %+v: want one, promptly", st)
	}
}

// TestE2EMaintenance: 503 with Retry-After halts pings and syncs until the
// server's time has passed (SPEC B1, T4).
func TestE2EMaintenance(t *testing.T) {
	meter := stallMeter(t)
	e := newE2E(t, pingtest.Config{}, scaled, nil)
	// Every ping gets the 503 until the loop has read one: on a loaded
	// machine the client may give up on a ping before its answer arrives.
	if err := e.srv.InjectRandom(1, pingtest.Fault{Kind: pingtest.ErrorStatus, Status: 503, RetryAfter: "1"}); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.until(patience, "the maintenance read", func(events []transport.Event) bool {
		return count(events, isKind(transport.BackoffEntered)) >= 1
	})
	e.srv.ClearFaults()
	e.until(patience, "a ping after the maintenance", func(events []transport.Event) bool {
		return count(events, isKind(transport.PingAnswered)) >= 1
	})
	e.stop()
	if ev := e.events.find(transport.BackoffEntered)[0]; ev.Backoff.Reason != backoff.ReasonMaintenance {
		t.Fatalf("backoff reason %v", ev.Backoff.Reason)
	}
	// The wait the controller announced for the 503 the loop read: it ends
	// Retry-After after the 503 left the server, plus up to a quarter of it
	// (fuzz, B1). Nothing is sent before it ends, and the next ping goes out
	// within one more quarter of running time; the sync waits too (T4).
	const retryAfter = time.Second
	w := e.waits.all()[0]
	log := arrivalOrder(e.srv.Log())
	k := -1 // the 503 the loop read: the last one the server sent before the wait
	for i, q := range log {
		if q.Status == http.StatusServiceUnavailable && !q.Ended.After(w.at) {
			k = i
		}
	}
	if k < 0 {
		t.Fatalf("server log %+v: no 503 before the wait announced at %v", log, w.at)
	}
	if wait := w.until.Sub(log[k].Ended); wait < retryAfter || !w.until.Before(w.at.Add(retryAfter*5/4)) {
		t.Fatalf("the controller waits %v after the 503, until %v after the announcement, want in [Retry-After, 1.25 Retry-After)", wait, w.until.Sub(w.at))
	}
	next := firstAfter(e.sends.all(), w.at)
	if next.IsZero() || next.Before(w.until) {
		t.Fatalf("a request was sent %v before the end of the maintenance", w.until.Sub(next))
	}
	if late := meter.Running(w.until, next); late > retryAfter/4 {
		t.Fatalf("the next request went out %v of running time after the maintenance, more than a quarter of Retry-After", late)
	}
	if synced := e.events.find(transport.SyncDone); len(synced) > 0 && synced[0].Time.Before(w.until) {
		t.Fatalf("the sync ran %v before the end of the maintenance", w.until.Sub(synced[0].Time))
	}
}

// firstAfter returns the first instant of sorted ts after t, or the zero
// time.
func firstAfter(ts []time.Time, t time.Time) time.Time {
	for _, x := range ts {
		if x.After(t) {
			return x
		}
	}
	return time.Time{}
}

// TestE2EXBackoff: X-Backoff on a good answer delays the next request, and
// the answer itself still counts (SPEC B5).
func TestE2EXBackoff(t *testing.T) {
	// Every answer carries X-Backoff: 1, from the first ping on. (Injected
	// once after the loop had started, it went to whichever ping the server
	// read next, on a loaded machine sometimes the second; and a client
	// that gave up on a ping before its answer arrived never saw it.)
	e := newE2E(t, pingtest.Config{}, scaled, nil)
	if err := e.srv.InjectRandom(1, pingtest.Fault{Backoff: "1", BackoffHeader: "X-Backoff"}); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.until(patience, "two expiries in a row", func(events []transport.Event) bool { return twoExpiries(events) >= 0 })
	e.stop()
	// The controller announced a wait of at least the header's second after
	// each answer the loop read, counted from when the server sent it, and
	// nothing was sent, or reached the server, until it ended.
	sends, waits, log := e.sends.all(), e.waits.all(), arrivalOrder(e.srv.Log())
	if len(waits) < 2 {
		t.Fatalf("%d waits announced for two answers with X-Backoff", len(waits))
	}
	for _, w := range waits {
		k := -1 // the answer the loop read: the last one the server sent before the wait
		for i, q := range log {
			if q.Answer == pingtest.Expired && !q.Ended.After(w.at) {
				k = i
			}
		}
		if k < 0 {
			t.Fatalf("server log %+v: no answer before the wait announced at %v", log, w.at)
		}
		if wait := w.until.Sub(log[k].Ended); wait < time.Second {
			t.Fatalf("X-Backoff: 1 made a wait of %v from the answer", wait)
		}
		if next := firstAfter(sends, w.at); !next.IsZero() && next.Before(w.until) {
			t.Fatalf("a request was sent %v after an answer with X-Backoff: 1, %v before its wait ended", next.Sub(w.at), w.until.Sub(next))
		}
		if i := slices.IndexFunc(log, func(q pingtest.Request) bool { return q.Arrived.After(w.at) }); i >= 0 && log[i].Arrived.Sub(log[k].Ended) < time.Second {
			t.Fatalf("next request %v after X-Backoff: 1", log[i].Arrived.Sub(log[k].Ended))
		}
	}
	// The answers still count: the second expiry in a row raised the
	// interval from 100ms to 200ms.
	events := e.events.all()
	i := twoExpiries(events)
	raised := false
	for _, ev := range events[i+1:] {
		if ev.Kind == transport.PingStarted {
			break
		}
		raised = raised || ev.Kind == transport.IntervalChanged && ev.Change.To == 200*ms
	}
	if !raised {
		t.Fatalf("no raise to 200ms after two expiries in a row: the expiries that carried X-Backoff were not counted")
	}
}

// twoExpiries returns the index of the first event that is a second
// expiry in a row (no failure between), or -1.
func twoExpiries(events []transport.Event) int {
	n := 0
	for i, ev := range events {
		switch {
		case ev.Kind == transport.PingAnswered && ev.Status == transport.Expired:
			n++
		case ev.Kind == transport.PingFailed:
			n = 0
		}
		if n == 2 {
			return i
		}
	}
	return -1
}

// arrivalOrder sorts a server log by arrival (the log is in the order the
// requests ended).
func arrivalOrder(log []pingtest.Request) []pingtest.Request {
	slices.SortFunc(log, func(a, b pingtest.Request) int { return a.Arrived.Compare(b.Arrived) })
	return log
}

// TestE2ENetworkLoss: the network goes away (the device's address is gone:
// dials fail in the kernel) and comes back: the learned interval is
// restored at once (SPEC H7, T4). A refused connection is no network loss
// (L3: TestRestart*).
func TestE2ENetworkLoss(t *testing.T) {
	var lost lossyDialer
	lp := newLatePinger()
	e := startE2E(t, pingtest.Config{}, scaled, func(c *transport.Config) { c.Pinger = lp })
	lp.set(t, transport.HTTPConfig{URL: e.srv.URL() + "/ping", Client: lost.client(e.srv.Client())})
	// Adaptive's first search (H10) climbs 100, 200, 500 ms: past 300 ms.
	e.until(patience, "a climb to 300ms or more", func(events []transport.Event) bool {
		return count(events, func(ev transport.Event) bool {
			return ev.Kind == transport.PingAnswered && ev.Interval >= 300*ms
		}) >= 1
	})
	e.syncFail.Store(true)
	lost.setLost(true)
	e.until(patience, "the loss dropping the interval", func(events []transport.Event) bool {
		return count(events, func(ev transport.Event) bool {
			return ev.Kind == transport.IntervalChanged && ev.Change.Reason == heartbeat.ReasonNetworkLost
		}) >= 1
	})
	if count(e.events.all(), failedWith(transport.ErrNetworkLost)) == 0 {
		t.Fatal("the interval dropped without a network-lost failure")
	}
	lost.setLost(false)
	e.syncFail.Store(false)
	e.until(patience, "the interval being restored", func(events []transport.Event) bool {
		return count(events, func(ev transport.Event) bool {
			return ev.Kind == transport.IntervalChanged && ev.Change.Reason == heartbeat.ReasonCoverageRegained
		}) >= 1
	})
	e.stop()
	if iv := e.loop.Tuner().Interval(); iv < 300*ms {
		t.Fatalf("interval %v after coverage returned, want the 300ms learned before", iv)
	}
}

// TestE2EUnworkable: a middlebox that drops connections sooner than the
// shortest heartbeat makes push unworkable (SPEC H9): the loop syncs on a
// schedule, probes, and resumes push when the path allows it again.
func TestE2EUnworkable(t *testing.T) {
	e := startE2E(t, pingtest.Config{Middlebox: true, IdleTimeout: 40 * ms}, scaled, nil)
	e.until(patience, "push being declared unavailable", func(events []transport.Event) bool {
		return count(events, isKind(transport.PushUnavailable)) == 1
	})
	before := e.syncs.Load()
	e.until(patience, "scheduled syncs", func(events []transport.Event) bool {
		return e.syncs.Load() >= before+2
	})
	e.srv.Middlebox().SetIdleTimeout(0) // the path heals
	e.until(patience, "push coming back", func(events []transport.Event) bool {
		return count(events, isKind(transport.PushAvailable)) == 1
	})
	e.stop()
	if s := e.loop.Snapshot(); !s.PushAvailable {
		t.Fatalf("snapshot %+v", s)
	}
}

// TestE2EStaleConnection: after the pinger has been quiet longer than a
// silent middlebox's timeout (a sync, a backoff wait), its kept-alive
// connection is dead without a word; the next ping must not vanish into
// it and time out (which would blame the heartbeat for the wait).
func TestE2EStaleConnection(t *testing.T) {
	srv, err := pingtest.NewServer(pingtest.Config{Middlebox: true, IdleTimeout: 300 * ms})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	p, err := transport.NewHTTPPinger(transport.HTTPConfig{URL: srv.URL() + "/ping", Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	r := transport.Request{Heartbeat: 100 * ms, Deadline: 600 * ms}
	for i, quiet := range []string{"no time", "10ms", "until the middlebox dropped the connection"} {
		switch i {
		case 1:
			time.Sleep(10 * ms) // well within the timeout: the connection is reused
		case 2:
			// Quiet until the middlebox has dropped the idle connection
			// (an event, not a sleep: it drops after 300ms of running time).
			waitFor(t, patience, "the silent drop", func() bool { return srv.Middlebox().Stats().SilentDrops > 0 },
				func() string { return fmt.Sprintf("middlebox %+v", srv.Middlebox().Stats()) })
		}
		if res, err := p.Ping(context.Background(), r); err != nil || res.Status != transport.Expired {
			t.Fatalf("ping %d after %s quiet: %+v, %v", i, quiet, res, err)
		}
	}
	st := srv.Middlebox().Stats()
	if st.Accepted != 2 || st.SilentDrops != 1 {
		t.Fatalf("middlebox %+v: want the first connection reused once, dropped while quiet, and a second dialed", st)
	}
}
