package backoff_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/internal/clocktest"
)

func clkResponse(code int, kv ...string) *http.Response {
	h := make(http.Header)
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return &http.Response{StatusCode: code, Header: h}
}

// clkLongest is the longest wait the default Policy can announce: the
// larger of Cap (8 h) and MaxServerDelay (24 h), fuzz included (B4, B10).
const clkLongest = 24 * time.Hour

// TestClockJumps: whatever the clock does between two calls (backwards by an
// hour, two days, ten years; forwards by an hour, a month, a century), the
// controller never announces a negative wait or one longer than its cap, a
// Wait started after the jump sleeps at most that long and returns exactly
// when Status said, without spinning (B1, B4, B7, B10).
//
// Only a wait computed after the jump is in question. A Wait already
// sleeping when a mock clock jumps back sleeps until the mock reaches its
// timer's instant again: that is how the mock's timers work. On the real
// clock timers and Now carry the monotonic clock, which never jumps.
//
// The controller keeps the absolute time of the next allowed attempt
// (TestBackwardsTime pins that) but cuts it to the cap from now when the
// clock jumps back further than that: only clocks without a monotonic
// reading (the mock, a custom clock.Clock) can.
func TestClockJumps(t *testing.T) {
	t0 := time.Date(2025, time.January, 1, 14, 0, 0, 0, time.UTC)
	states := []struct {
		name    string
		observe []*http.Response
		err     error
	}{
		{name: "maintenance", observe: []*http.Response{clkResponse(503, "Retry-After", "600")}},
		{name: "maintenance-capped", observe: []*http.Response{clkResponse(503, "Retry-After", "99999999999")}},
		{name: "x-backoff", observe: []*http.Response{clkResponse(200, "X-Backoff", "1800")}},
		{name: "server-error", observe: []*http.Response{clkResponse(500)}},
		{name: "network-error-twice", observe: []*http.Response{nil, nil}, err: fmt.Errorf("dial: refused")},
		{name: "healthy", observe: []*http.Response{clkResponse(200)}},
	}
	jumps := []time.Duration{
		-time.Hour, -48 * time.Hour, -10 * 365 * 24 * time.Hour,
		time.Minute, time.Hour, 30 * 24 * time.Hour, 100 * 365 * 24 * time.Hour,
	}
	for _, st := range states {
		for _, jump := range jumps {
			t.Run(fmt.Sprintf("%s/%v", st.name, jump), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					clk := clocktest.NewWall(t0).Clock()
					c, err := backoff.New(backoff.Policy{Clock: clk, Rand: rand.New(rand.NewPCG(1, 2)).Float64})
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range st.observe {
						c.Observe(r, st.err)
					}
					announced := c.Status().Next
					clk.Jump(jump)
					now := clk.Now()

					s := c.Status()
					allowErr := c.Allow()
					if s.Next.IsZero() != (allowErr == nil) {
						t.Fatalf("after a jump of %v: Status().Next = %v but Allow() = %v", jump, s.Next, allowErr)
					}
					var wait time.Duration
					if !s.Next.IsZero() {
						wait = s.Next.Sub(now)
						if wait <= 0 || wait > clkLongest {
							t.Fatalf("after a jump of %v: Status().Next is %v from now (announced %v from t0), want in (0, %v]",
								jump, wait, announced.Sub(t0), clkLongest)
						}
					}

					// Wait sleeps exactly until Next, asking the clock for no
					// wait outside (0, clkLongest] and for few of them.
					from := len(clk.Waits())
					done := make(chan error, 1)
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel() // a failed check must not leave Wait blocked in the bubble
					go func() { done <- c.Wait(ctx) }()
					synctest.Wait()
					if wait > 0 {
						clk.Add(wait - time.Nanosecond)
						synctest.Wait()
						select {
						case err := <-done:
							t.Fatalf("Wait returned %v %v before Status().Next", err, time.Nanosecond)
						default:
						}
						clk.Add(time.Nanosecond)
						synctest.Wait()
					}
					select {
					case err := <-done:
						if err != nil {
							t.Fatalf("Wait: %v", err)
						}
					default:
						t.Fatalf("Wait did not return at Status().Next (%v after the jump of %v)", wait, jump)
					}
					waits := clk.Waits()[from:]
					for _, w := range waits {
						if w <= 0 || w > clkLongest {
							t.Fatalf("Wait asked the clock for a wait of %v, want in (0, %v]", w, clkLongest)
						}
					}
					if len(waits) > 1 {
						t.Fatalf("Wait set %d timers for one wait: %v", len(waits), waits)
					}
				})
			})
		}
	}
}

// TestClockJumpsWhileWaiting: a Wait that is already sleeping when the
// wall clock jumps neither spins nor returns before Status().Next, and asks
// for no wait outside (0, cap] (B1, B4, B10). Its timer measures
// elapsed time, so it wakes when the wait it announced has passed, reads
// the clock, and returns if the wall clock says the time has come, or
// sleeps again for what is left.
func TestClockJumpsWhileWaiting(t *testing.T) {
	t0 := time.Date(2025, time.January, 1, 14, 0, 0, 0, time.UTC)
	for _, jump := range []time.Duration{-10 * 365 * 24 * time.Hour, -48 * time.Hour, -time.Hour, time.Second, time.Hour, 30 * 24 * time.Hour} {
		t.Run(fmt.Sprint(jump), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clk := clocktest.NewWall(t0).Clock()
				c, err := backoff.New(backoff.Policy{Clock: clk, Rand: rand.New(rand.NewPCG(3, 4)).Float64})
				if err != nil {
					t.Fatal(err)
				}
				c.Observe(clkResponse(503, "Retry-After", "600"), nil)
				next := c.Status().Next // 600 s plus fuzz from t0
				announced := next.Sub(t0)
				done := make(chan error, 1)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel() // a failed check must not leave Wait blocked in the bubble
				go func() { done <- c.Wait(ctx) }()
				synctest.Wait()
				clk.Jump(jump)
				// After a jump back by more than the cap, the controller cuts
				// the wait to the cap from now: that is the Next to respect.
				next = c.Status().Next
				if limit := clk.Now().Add(clkLongest); next.After(limit) {
					t.Fatalf("after a jump of %v Status().Next is %v, more than the cap from now (%v)", jump, next, limit)
				}
				// The wait announced passes; then whatever the wall clock
				// says is left, in steps of a second, up to the cap.
				clk.Add(announced)
				synctest.Wait()
				for elapsed := time.Duration(0); ; elapsed += time.Second {
					select {
					case err := <-done:
						if err != nil {
							t.Fatal(err)
						}
						if now := clk.Now(); now.Before(next) {
							t.Fatalf("Wait returned at %v, before Status().Next %v", now, next)
						}
					default:
						if elapsed > clkLongest {
							t.Fatalf("Wait still sleeping %v after its announced %v", elapsed+announced, announced)
						}
						clk.Add(time.Second)
						synctest.Wait()
						continue
					}
					break
				}
				waits := clk.Waits()
				for _, w := range waits {
					if w <= 0 || w > clkLongest {
						t.Fatalf("Wait asked for a wait of %v, want in (0, %v]", w, clkLongest)
					}
				}
				if len(waits) > 2 {
					t.Fatalf("Wait set %d timers (%v) for one jump: it spins", len(waits), waits)
				}
			})
		})
	}
}

// TestClockJumpFirstCall: after the wall clock jumps back ten years, the
// first call made, whichever it is, already sees a wait no longer than the
// cap (B10). Each entry point is the first call on its own
// controller, so none relies on another having cut the wait before it (the
// tests above call Status first).
func TestClockJumpFirstCall(t *testing.T) {
	t0 := time.Date(2025, time.January, 1, 14, 0, 0, 0, time.UTC)
	back := t0.AddDate(-10, 0, 0)
	until := func(t *testing.T, err error) time.Time {
		t.Helper()
		var we *backoff.WaitError
		if !errors.As(err, &we) {
			t.Fatalf("%v is not a *WaitError", err)
		}
		return we.Until
	}
	entries := map[string]func(*testing.T, *backoff.Controller, *clocktest.Clock) time.Time{
		"Allow":  func(t *testing.T, c *backoff.Controller, _ *clocktest.Clock) time.Time { return until(t, c.Allow()) },
		"Status": func(t *testing.T, c *backoff.Controller, _ *clocktest.Clock) time.Time { return c.Status().Next },
		"ManualRetry": func(t *testing.T, c *backoff.Controller, _ *clocktest.Clock) time.Time {
			return until(t, c.ManualRetry())
		},
		"Observe": func(t *testing.T, c *backoff.Controller, _ *clocktest.Clock) time.Time {
			return c.Observe(clkResponse(404), nil).Until
		},
		"Transport": func(t *testing.T, c *backoff.Controller, _ *clocktest.Clock) time.Time {
			rt := c.Transport(roundTripFunc(func(*http.Request) (*http.Response, error) {
				t.Fatal("the request reached the server while the controller refuses")
				return nil, nil
			}))
			req, _ := http.NewRequest("POST", "https://sync.example/", strings.NewReader("{}"))
			_, err := rt.RoundTrip(req)
			return until(t, err)
		},
		"Wait": func(t *testing.T, c *backoff.Controller, clk *clocktest.Clock) time.Time {
			var asked []time.Duration
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan error, 1)
				go func() { done <- c.Wait(ctx) }()
				synctest.Wait()
				asked = clk.Waits()
				cancel()
				<-done
			})
			if len(asked) != 1 {
				t.Fatalf("Wait asked the clock for %v, want one timer", asked)
			}
			return back.Add(asked[0])
		},
	}
	for name, first := range entries {
		t.Run(name, func(t *testing.T) {
			clk := clocktest.NewWall(t0).Clock()
			c, err := backoff.New(backoff.Policy{Clock: clk, Rand: rand.New(rand.NewPCG(5, 6)).Float64})
			if err != nil {
				t.Fatal(err)
			}
			c.Observe(clkResponse(503, "Retry-After", "600"), nil)
			clk.Jump(back.Sub(t0))
			if got := first(t, c, clk); !got.After(back) || got.After(back.Add(clkLongest)) {
				t.Fatalf("%s after the jump: next attempt at %v, want in (%v, %v]", name, got, back, back.Add(clkLongest))
			}
		})
	}
}
