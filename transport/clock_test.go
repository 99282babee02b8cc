package transport_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/internal/clocktest"
	"github.com/pushbeat/pushbeat/transport"
)

// jumpPinger times out at once, every time: three of those at the floor make
// the tuner report push unworkable (H9), and the loop runs in its scheduled
// mode, syncing every SyncInterval and probing every ProbeInterval. It stops
// answering after jumpMaxCalls, so that a spinning loop blocks instead of
// hanging the synctest bubble.
type jumpPinger struct {
	mu    sync.Mutex
	calls int
}

const jumpMaxCalls = 10000

func (p *jumpPinger) Ping(ctx context.Context, req transport.Request) (transport.Result, error) {
	p.mu.Lock()
	p.calls++
	n := p.calls
	p.mu.Unlock()
	if n > jumpMaxCalls {
		<-ctx.Done()
		return transport.Result{}, ctx.Err()
	}
	return transport.Result{}, &transport.PingError{Kind: transport.ErrTimedOut, Elapsed: req.Deadline}
}

func (p *jumpPinger) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// jumpLoop is a loop in scheduled mode on a mock clock, inside a synctest
// bubble.
type jumpLoop struct {
	t        *testing.T
	wall     *clocktest.Wall
	loopClk  *clocktest.Clock // the loop's view of wall
	boClk    *clocktest.Clock // the backoff controller's
	pinger   *jumpPinger
	loop     *transport.Loop
	cancel   context.CancelFunc
	done     chan error
	mu       sync.Mutex
	syncs    int
	entered  int                     // BackoffEntered events
	duringFn func(j *jumpLoop) error // runs inside the next sync, once
}

// duringNextSync arms fn to run inside the loop's next sync.
func (j *jumpLoop) duringNextSync(fn func(j *jumpLoop) error) {
	j.mu.Lock()
	j.duringFn = fn
	j.mu.Unlock()
}

const (
	jumpSync  = 10 * time.Minute
	jumpProbe = time.Hour
)

func startJumpLoop(t *testing.T) *jumpLoop {
	t.Helper()
	wall := clocktest.NewWall(time.Date(2025, time.January, 1, 14, 0, 0, 0, time.UTC))
	j := &jumpLoop{t: t, wall: wall, loopClk: wall.Clock(), boClk: wall.Clock(),
		pinger: &jumpPinger{}, done: make(chan error, 1)}
	tuner, err := heartbeat.New(heartbeat.Config{})
	if err != nil {
		t.Fatal(err)
	}
	bo, err := backoff.New(backoff.Policy{Clock: j.boClk, Rand: rand.New(rand.NewPCG(6, 6)).Float64})
	if err != nil {
		t.Fatal(err)
	}
	j.loop, err = transport.NewLoop(transport.Config{
		Pinger:        j.pinger,
		Tuner:         tuner,
		Backoff:       bo,
		Clock:         j.loopClk,
		SyncInterval:  jumpSync,
		ProbeInterval: jumpProbe,
		Sync: func(ctx context.Context, folders []string) error {
			j.mu.Lock()
			j.syncs++
			fn := j.duringFn
			j.duringFn = nil
			j.mu.Unlock()
			if fn != nil {
				return fn(j)
			}
			return nil
		},
		OnEvent: func(e transport.Event) {
			if e.Kind == transport.BackoffEntered {
				j.mu.Lock()
				j.entered++
				j.mu.Unlock()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	j.cancel = cancel
	go func() { j.done <- j.loop.Run(ctx) }()
	synctest.Wait()
	if s := j.loop.Snapshot(); s.PushAvailable || s.State != transport.Scheduled {
		t.Fatalf("setup: push available %v, state %v; want the scheduled mode", s.PushAvailable, s.State)
	}
	return j
}

func (j *jumpLoop) syncCount() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.syncs
}

// steady moves the mock forward by d in one-minute steps and checks that
// the loop does no more than the schedule asks: a sync per SyncInterval and
// a probe per ProbeInterval, at most one of each per step.
func (j *jumpLoop) steady(d time.Duration) {
	j.t.Helper()
	syncs0, pings0 := j.syncCount(), j.pinger.count()
	for elapsed := time.Duration(0); elapsed < d; elapsed += time.Minute {
		s0, p0 := j.syncCount(), j.pinger.count()
		j.wall.Add(time.Minute)
		synctest.Wait()
		// A probe that fails syncs, and a jump can make a sync due at once
		// as well: three syncs in a step is catching up, not spinning.
		if ds, dp := j.syncCount()-s0, j.pinger.count()-p0; ds > 3 || dp > 1 {
			j.t.Fatalf("%d syncs and %d pings in one virtual minute: the loop spins", ds, dp)
		}
	}
	syncs, pings := j.syncCount()-syncs0, j.pinger.count()-pings0
	maxSyncs := int(d/jumpSync) + int(d/jumpProbe) + 2 // each probe that fails syncs too
	if syncs > maxSyncs || pings > int(d/jumpProbe)+1 {
		j.t.Fatalf("%d syncs and %d probes in %v, want at most %d and %d", syncs, pings, d, maxSyncs, int(d/jumpProbe)+1)
	}
	if syncs < int(d/jumpSync)-1 || pings < int(d/jumpProbe)-1 {
		j.t.Fatalf("%d syncs and %d probes in %v: the schedule stalled (want about %d and %d)", syncs, pings, d, d/jumpSync, d/jumpProbe)
	}
}

// jumpNow makes the wall clock jump and returns how many syncs and pings
// the loop made on the spot.
func (j *jumpLoop) jumpNow(jump time.Duration) (syncs, pings int) {
	s0, p0 := j.syncCount(), j.pinger.count()
	j.wall.Jump(jump)
	synctest.Wait()
	return j.syncCount() - s0, j.pinger.count() - p0
}

// check verifies every wait the loop and its controller asked of the clock:
// never zero or negative, never longer than the longest the configuration
// allows, and then stops the loop.
func (j *jumpLoop) check(loopCap, boCap time.Duration) {
	j.t.Helper()
	for name, c := range map[string]struct {
		clk *clocktest.Clock
		cap time.Duration
	}{"loop": {j.loopClk, loopCap}, "backoff": {j.boClk, boCap}} {
		for i, w := range c.clk.Waits() {
			if w <= 0 || w > c.cap {
				j.t.Errorf("%s wait %d: %v, want in (0, %v]", name, i, w, c.cap)
			}
		}
	}
	if s := j.loop.Backoff().Status(); !s.Next.IsZero() {
		if w := s.Next.Sub(j.wall.Now()); w <= 0 || w > boCap {
			j.t.Errorf("Snapshot: next allowed attempt in %v, want in (0, %v]", w, boCap)
		}
	}
	j.cancel()
	if err := <-j.done; err != context.Canceled {
		j.t.Errorf("Run: %v", err)
	}
}

// TestClockJumpsScheduled: the wall clock jumping far forwards or
// backwards, while the loop sleeps in its scheduled mode (SPEC H9, T4),
// during a sync, or while it backs off, never makes the loop spin or catch
// up on missed syncs in a burst, never asks for a negative wait or one
// longer than ProbeInterval, and the backoff waits stay within the
// controller's cap (B4, B10). Each case runs the loop on a
// benbjohnson/clock mock inside a synctest bubble, with a wall clock that
// jumps while timers measure elapsed time (clocktest.Wall), and counts syncs and
// probes per virtual minute and per hour.
func TestClockJumpsScheduled(t *testing.T) {
	const month = 30 * 24 * time.Hour
	retryAfter := func() error {
		return &transport.ResponseError{Response: &http.Response{StatusCode: 503, Header: http.Header{"Retry-After": {"600"}}}}
	}
	tests := []struct {
		name string
		// during runs inside the first sync after an hour of steady state;
		// after runs then too, from the test.
		during func(j *jumpLoop) error
		after  func(t *testing.T, j *jumpLoop)
	}{
		{name: "forward a month while sleeping", after: func(t *testing.T, j *jumpLoop) {
			if s, p := j.jumpNow(month); s > 2 || p > 1 {
				t.Fatalf("a jump of a month brought %d syncs and %d probes at once, want a sync and a probe at most", s, p)
			}
		}},
		{name: "forward a century while sleeping", after: func(t *testing.T, j *jumpLoop) {
			if s, p := j.jumpNow(100 * 12 * month); s > 2 || p > 1 {
				t.Fatalf("a jump of a century brought %d syncs and %d probes at once", s, p)
			}
		}},
		{name: "back a day while sleeping", after: func(t *testing.T, j *jumpLoop) {
			if s, p := j.jumpNow(-24 * time.Hour); s > 0 || p > 0 {
				t.Fatalf("a jump back brought %d syncs and %d probes at once", s, p)
			}
		}},
		{name: "forward a month during a sync", during: func(j *jumpLoop) error {
			j.wall.Jump(month)
			return nil
		}},
		{name: "back a day during a sync", during: func(j *jumpLoop) error {
			j.wall.Jump(-24 * time.Hour)
			return nil
		}},
		{name: "forward a month while backing off", during: func(*jumpLoop) error {
			return retryAfter()
		}, after: func(t *testing.T, j *jumpLoop) {
			// The next sync gets a 503 + Retry-After: 600, and the loop
			// waits for the controller. A month later it is long over.
			j.steady(10 * time.Minute)
			if j.loop.Snapshot().State != transport.BackingOff {
				t.Fatalf("state %v, want backing-off after a 503 + Retry-After", j.loop.Snapshot().State)
			}
			if s, p := j.jumpNow(month); s > 2 || p > 1 {
				t.Fatalf("a jump of a month while backing off brought %d syncs and %d probes at once", s, p)
			}
		}},
		{name: "back a day before the backoff wait", during: func(j *jumpLoop) error {
			j.wall.Jump(-24 * time.Hour) // the wait is set from the clock read after this
			return retryAfter()
		}, after: func(t *testing.T, j *jumpLoop) {
			// The controller reads the clock after the jump: the wait is
			// the server's 600 s plus fuzz, not a day more.
			j.steady(10 * time.Minute)
			s := j.loop.Snapshot()
			if s.State != transport.BackingOff {
				t.Fatalf("state %v, want backing-off after a 503 + Retry-After", s.State)
			}
			if w := j.loop.Backoff().Status().Next.Sub(j.wall.Now()); w <= 0 || w > 750*time.Second {
				t.Fatalf("backing off for %v after a jump back, want the server's 600 s plus fuzz at most", w)
			}
			j.steady(15 * time.Minute)
		}},
		{name: "back a day while backing off", during: func(*jumpLoop) error {
			return retryAfter()
		}, after: func(t *testing.T, j *jumpLoop) {
			j.steady(10 * time.Minute) // the 503 arrives; the loop waits on the controller
			j.wall.Jump(-24 * time.Hour)
			// The controller's timer measures elapsed time: it wakes when
			// the announced wait has passed, reads the clock, and finds a
			// day more to wait: it keeps the absolute time (never
			// shortening a wait). That day is within its cap (30 h); the
			// waits it asks for are checked against that cap at the end.
			if w := j.loop.Backoff().Status().Next.Sub(j.wall.Now()); w <= 0 || w > 30*time.Hour {
				t.Fatalf("backing off for %v after a jump back, want in (0, 30h]", w)
			}
			for i := 0; i < 25*60 && j.loop.Snapshot().State == transport.BackingOff; i++ {
				j.wall.Add(time.Minute)
				synctest.Wait()
			}
			if st := j.loop.Snapshot().State; st == transport.BackingOff {
				t.Fatalf("still backing off 25 h after a jump back of a day")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				j := startJumpLoop(t)
				defer j.cancel() // a failed check must not leave the loop blocked in the bubble
				j.steady(time.Hour)
				if tc.during != nil {
					j.duringNextSync(tc.during)
				}
				if tc.after != nil {
					tc.after(t, j)
				}
				j.steady(2 * time.Hour)
				j.check(jumpProbe, 30*time.Hour)
			})
		})
	}
}
