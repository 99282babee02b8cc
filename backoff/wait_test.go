package backoff

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// waitAsync starts c.Wait(ctx) and returns the channel its result arrives on.
func waitAsync(ctx context.Context, c *Controller) <-chan error {
	done := make(chan error, 1)
	go func() { done <- c.Wait(ctx) }()
	return done
}

// returned reports whether Wait has returned, once every goroutine of the
// bubble is blocked, and its result.
func returned(done <-chan error) (bool, error) {
	synctest.Wait()
	select {
	case err := <-done:
		return true, err
	default:
		return false, nil
	}
}

// TestWaitSleepsUntilAllowed: Wait sleeps on the clock until the server's
// time plus fuzz and not a moment less (B1). testing/synctest gives the real
// clock a fake, instant time.
func TestWaitSleepsUntilAllowed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := New(Policy{Rand: half})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		c.Observe(response(503, "Retry-After", "600"), nil)
		done := waitAsync(t.Context(), c)
		time.Sleep(675*time.Second - time.Nanosecond)
		if ok, _ := returned(done); ok {
			t.Fatalf("Wait returned after %v, before the 675 s wait", time.Since(start))
		}
		time.Sleep(time.Nanosecond)
		if ok, err := returned(done); !ok || err != nil {
			t.Fatalf("Wait() = %v, %v after %v, want nil at 675 s", ok, err, time.Since(start))
		}
		if err := c.Allow(); err != nil {
			t.Fatalf("Allow() = %v after Wait returned", err)
		}
	})
}

// TestWaitHonoursNewState: a 503 observed by another engine while Wait
// sleeps extends it (B1); a manual retry or success that clears the wait
// ends it early (B6).
func TestWaitHonoursNewState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := New(Policy{Rand: half})
		start := time.Now()
		c.Observe(response(500), nil) // wait 22.5 min
		done := waitAsync(t.Context(), c)
		time.Sleep(time.Minute)
		c.Observe(response(503, "Retry-After", "3600"), nil) // in flight: extends to 61 min + 7.5 min
		time.Sleep(22*time.Minute + 30*time.Second)
		if ok, _ := returned(done); ok {
			t.Fatal("Wait returned at the old time, ignoring the new 503")
		}
		time.Sleep(time.Minute + 4050*time.Second - (23*time.Minute + 30*time.Second))
		if ok, err := returned(done); !ok || err != nil {
			t.Fatalf("Wait() = %v, %v at %v, want nil at 68.5 min", ok, err, time.Since(start))
		}

		c.Observe(response(500), nil) // failure 2 (the first wait is over): 45 min
		done = waitAsync(t.Context(), c)
		time.Sleep(time.Minute)
		if ok, _ := returned(done); ok {
			t.Fatal("Wait returned before the manual retry")
		}
		if err := c.ManualRetry(); err != nil {
			t.Fatal(err)
		}
		if ok, err := returned(done); !ok || err != nil {
			t.Fatalf("Wait() = %v, %v after ManualRetry, want nil at once", ok, err)
		}
	})
}

// TestWaitContext: Wait returns the context's error as soon as it is done,
// or at once if it already is; it returns nil at once when allowed.
func TestWaitContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := New(Policy{Rand: half})
		if err := c.Wait(t.Context()); err != nil {
			t.Fatalf("Wait() = %v with nothing to wait for", err)
		}
		c.Observe(response(503, "Retry-After", "600"), nil)

		ctx, cancel := context.WithCancel(t.Context())
		done := waitAsync(ctx, c)
		time.Sleep(time.Second)
		cancel()
		if ok, err := returned(done); !ok || !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait() = %v, %v after cancel, want context.Canceled", ok, err)
		}
		if err := c.Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait(done ctx) = %v", err)
		}

		ctx, cancel = context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		start := time.Now()
		if err := c.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Minute {
			t.Fatalf("Wait() = %v after %v, want DeadlineExceeded after 1m", err, time.Since(start))
		}
	})
}

// TestWaitManyEngines: every engine waiting on the shared controller wakes
// when the maintenance window ends (B1).
func TestWaitManyEngines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := New(Policy{Rand: half})
		c.Observe(response(503, "Retry-After", "600"), nil)
		var dones []<-chan error
		for range 8 {
			dones = append(dones, waitAsync(t.Context(), c))
		}
		time.Sleep(675 * time.Second)
		for i, done := range dones {
			if ok, err := returned(done); !ok || err != nil {
				t.Fatalf("engine %d: Wait() = %v, %v", i, ok, err)
			}
		}
	})
}

// TestWaitMockClock: Wait sleeps on an injected benbjohnson/clock mock; the
// test moves time in bounded steps and never sleeps for the wait itself.
func TestWaitMockClock(t *testing.T) {
	c, mock := newTestController(t, Policy{})
	c.Observe(response(503, "Retry-After", "600"), nil)
	until := mock.Now().Add(675 * time.Second)
	done := waitAsync(context.Background(), c)
	for i := 0; i < 100; i++ { // 100 steps of 10 s: well past 675 s
		select {
		case err := <-done:
			if err != nil || mock.Now().Before(until) {
				t.Fatalf("Wait() = %v at %v, want nil at or after %v", err, mock.Now(), until)
			}
			return
		default:
		}
		mock.Add(10 * time.Second)
	}
	t.Fatalf("Wait did not return by %v (allowed from %v)", mock.Now(), until)
}
