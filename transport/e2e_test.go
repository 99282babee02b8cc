package transport_test

import (
	"context"
	"errors"
	"fmt"
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
// tenths of seconds: Min 100ms, Increment 100ms, Buffer 100ms. The
// middlebox timeout of 330ms sits 30ms above where Adaptive settles (300ms)
// and 20ms below the probe that fails (350ms), margins chosen to survive a
// loaded CI machine running the race detector.
var scaled = heartbeat.Config{
	Min:        100 * ms,
	Increment:  100 * ms,
	Max:        800 * ms,
	Buffer:     100 * ms,
	Resolution: 60 * ms,
}

const idleTimeout = 330 * ms

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
}

func startE2E(t *testing.T, srvCfg pingtest.Config, tuner heartbeat.Config, mod func(*transport.Config)) *e2e {
	t.Helper()
	srv, err := pingtest.NewServer(srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	e := &e2e{t: t, srv: srv, done: make(chan error, 1), events: newRecorder()}
	p, err := transport.NewHTTPPinger(transport.HTTPConfig{URL: srv.URL() + "/ping", Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := heartbeat.New(tuner)
	if err != nil {
		t.Fatal(err)
	}
	bo, err := backoff.New(backoff.Policy{Base: 200 * ms, Cap: 2 * time.Second})
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
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { e.done <- e.loop.Run(ctx) }()
	t.Cleanup(func() { e.stop() })
	return e
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
	case <-time.After(5 * time.Second):
		e.t.Fatal("the loop did not stop within 5s of its context ending")
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
		mode pingtest.DropMode
		kind error // how the drops surface
	}{
		{pingtest.Silent, transport.ErrTimedOut},
		{pingtest.Reset, transport.ErrClosed},
		{pingtest.GatewayTimeout, transport.ErrProxyTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.mode.String(), func(t *testing.T) {
			t.Parallel() // each waits on real time; together they take the time of one
			e := startE2E(t, pingtest.Config{Middlebox: true, IdleTimeout: idleTimeout, DropMode: tc.mode}, scaled, nil)
			e.settledNear(30 * time.Second)
			e.stop()
			e.checkSettled()
			events := e.events.all()
			if n := count(events, failedWith(tc.kind)); n < 2 {
				t.Fatalf("%d failures matching %v, want the tuner to have met the timeout at least twice", n, tc.kind)
			}
			if n := count(events, isKind(transport.BackoffEntered)); n != 0 {
				t.Fatalf("idle drops caused %d backoffs", n)
			}
			if st := e.loop.Backoff().Status(); st.Failures != 0 {
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

// TestE2EServerBounds: the server's range, learned from out-of-bounds
// answers, bounds every later ping (SPEC H8, T6).
func TestE2EServerBounds(t *testing.T) {
	e := startE2E(t, pingtest.Config{MinHeartbeat: 150 * ms, MaxHeartbeat: 300 * ms}, scaled, nil)
	e.until(10*time.Second, "reaching the server's maximum", func(events []transport.Event) bool {
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
	e.until(5*time.Second, "a ping being held", func(events []transport.Event) bool {
		return count(events, isKind(transport.PingStarted)) >= 1
	})
	// The ping reaches the server a moment after PingStarted.
	serverUntil(t, e.srv, 5*time.Second, "a ping held", func(s pingtest.Stats) bool { return s.Held > 0 })
	e.srv.PostChange("inbox")
	e.until(5*time.Second, "the change and the next ping", func(events []transport.Event) bool {
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
	e := startE2E(t, pingtest.Config{}, scaled, nil)
	if err := e.srv.Inject(1, pingtest.Fault{Kind: pingtest.ErrorStatus, Status: 503, RetryAfter: "1"}); err != nil {
		t.Fatal(err)
	}
	e.until(5*time.Second, "a ping after the maintenance", func(events []transport.Event) bool {
		return count(events, isKind(transport.PingAnswered)) >= 1
	})
	e.stop()
	log := e.srv.Log()
	if len(log) < 2 || log[0].Status != 503 {
		t.Fatalf("server log %+v", log)
	}
	if gap := log[1].Arrived.Sub(log[0].Ended); gap < time.Second || gap > 1500*ms {
		t.Fatalf("next request %v after the 503, want in [1s, 1.25s] plus scheduling", gap)
	}
	var syncAt, enteredAt time.Time
	for _, ev := range e.events.all() {
		switch {
		case ev.Kind == transport.BackoffEntered && enteredAt.IsZero():
			enteredAt = ev.Time
			if ev.Backoff.Reason != backoff.Maintenance {
				t.Fatalf("backoff reason %v", ev.Backoff.Reason)
			}
		case ev.Kind == transport.SyncDone && syncAt.IsZero():
			syncAt = ev.Time
		}
	}
	if syncAt.Sub(enteredAt) < time.Second {
		t.Fatalf("the sync ran %v into the maintenance", syncAt.Sub(enteredAt))
	}
}

// TestE2EXBackoff: X-Backoff on a good answer delays the next request, and
// the answer itself still counts (SPEC B5).
func TestE2EXBackoff(t *testing.T) {
	e := startE2E(t, pingtest.Config{}, scaled, nil)
	if err := e.srv.Inject(1, pingtest.Fault{Backoff: "1", BackoffHeader: "X-Backoff"}); err != nil {
		t.Fatal(err)
	}
	e.until(5*time.Second, "a second answer", func(events []transport.Event) bool {
		return count(events, isKind(transport.PingAnswered)) >= 2
	})
	e.stop()
	log := e.srv.Log()
	if log[0].Answer != pingtest.Expired {
		t.Fatalf("first answer %v", log[0].Answer)
	}
	if gap := log[1].Arrived.Sub(log[0].Ended); gap < time.Second {
		t.Fatalf("next request %v after X-Backoff: 1", gap)
	}
	if iv := e.loop.Tuner().Interval(); iv != 200*ms {
		t.Fatalf("interval %v: the expiry that carried X-Backoff was not counted", iv)
	}
}

// TestE2ENetworkLoss: the network goes away (the device's address is gone:
// dials fail in the kernel) and comes back: the learned interval is
// restored at once (SPEC H7, T4). A refused connection is no network loss
// (L3: TestRestart*).
func TestE2ENetworkLoss(t *testing.T) {
	var lost atomic.Bool
	lp := newLatePinger()
	e := startE2E(t, pingtest.Config{}, scaled, func(c *transport.Config) { c.Pinger = lp })
	lp.set(t, transport.HTTPConfig{URL: e.srv.URL() + "/ping", Client: lostClient(e.srv.Client(), &lost)})
	e.until(10*time.Second, "a climb to 300ms", func(events []transport.Event) bool {
		return count(events, func(ev transport.Event) bool {
			return ev.Kind == transport.PingAnswered && ev.Interval == 300*ms
		}) >= 1
	})
	e.syncFail.Store(true)
	lost.Store(true)
	e.until(10*time.Second, "the loss dropping the interval", func(events []transport.Event) bool {
		return count(events, func(ev transport.Event) bool {
			return ev.Kind == transport.IntervalChanged && ev.Change.Reason == heartbeat.ReasonNetworkLost
		}) >= 1
	})
	if count(e.events.all(), failedWith(transport.ErrNetworkLost)) == 0 {
		t.Fatal("the interval dropped without a network-lost failure")
	}
	lost.Store(false)
	e.syncFail.Store(false)
	e.until(10*time.Second, "the interval being restored", func(events []transport.Event) bool {
		return count(events, func(ev transport.Event) bool {
			return ev.Kind == transport.IntervalChanged && ev.Change.Reason == heartbeat.ReasonRestored
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
	e.until(10*time.Second, "push being declared unavailable", func(events []transport.Event) bool {
		return count(events, isKind(transport.PushUnavailable)) == 1
	})
	before := e.syncs.Load()
	e.until(10*time.Second, "scheduled syncs", func(events []transport.Event) bool {
		return e.syncs.Load() >= before+2
	})
	e.srv.Middlebox().SetIdleTimeout(0) // the path heals
	e.until(10*time.Second, "push coming back", func(events []transport.Event) bool {
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
	for i, quiet := range []time.Duration{0, 10 * ms, 500 * ms} {
		time.Sleep(quiet) // real time: the middlebox's idle clock is real
		if res, err := p.Ping(context.Background(), r); err != nil || res.Status != transport.Expired {
			t.Fatalf("ping %d after %v quiet: %+v, %v", i, quiet, res, err)
		}
	}
	st := srv.Middlebox().Stats()
	if st.Accepted != 2 || st.SilentDrops != 1 {
		t.Fatalf("middlebox %+v: want the first connection reused once, dropped while quiet, and a second dialed", st)
	}
}
