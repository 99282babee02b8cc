// Package clocktest provides a benbjohnson/clock mock whose wall time can
// jump, for tests of clock trouble (B10, T7): a clock set back or far
// forward, as a user, NTP or a wrong real-time clock does.
//
// A Wall's Jump moves Now without any time passing. Its timers measure
// elapsed time, as the real clock's monotonic timers do, and fire as the
// mock is moved on with Add. (Moving the mock itself with Set is no jump:
// forwards it fires every timer on the way, as if the time had passed; back,
// its timers keep their instants.) A Clock is one user's view of a Wall
// that records every wait asked of it, so that a test can check each wait
// and count them per unit of virtual time.
package clocktest

import (
	"sync"
	"time"

	"github.com/benbjohnson/clock"
)

// Wall is a mock clock whose wall time can jump. It implements
// clock.Clock; its methods are safe for concurrent use. Tick, Ticker,
// WithTimeout and WithDeadline are the mock's own: they run on elapsed time,
// and a deadline given to WithDeadline (or reported by the context's
// Deadline) is on the mock's time, which a Jump does not move, so after a
// jump it is not comparable with Now.
type Wall struct {
	*clock.Mock
	mu     sync.Mutex
	offset time.Duration
}

// NewWall returns a Wall reading start.
func NewWall(start time.Time) *Wall {
	m := clock.NewMock()
	m.Set(start)
	return &Wall{Mock: m}
}

// Jump moves the wall time by d, forwards or back, without any time
// passing: no timer fires.
func (w *Wall) Jump(d time.Duration) {
	w.mu.Lock()
	w.offset += d
	w.mu.Unlock()
}

// Now returns the wall time: the mock's time plus every Jump so far.
func (w *Wall) Now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.Mock.Now().Add(w.offset)
}

// Since returns the wall time elapsed since t.
func (w *Wall) Since(t time.Time) time.Duration { return w.Now().Sub(t) }

// Until returns the wall time until t.
func (w *Wall) Until(t time.Time) time.Duration { return t.Sub(w.Now()) }

// Clock returns a new view of w that records the waits asked of it.
func (w *Wall) Clock() *Clock { return &Clock{Wall: w} }

// Clock is a view of a Wall that records every wait asked of it through
// Timer, After, AfterFunc and Sleep. It implements clock.Clock.
type Clock struct {
	*Wall
	mu    sync.Mutex
	waits []time.Duration
}

func (c *Clock) record(d time.Duration) {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
}

// Timer records d and returns the mock's timer.
func (c *Clock) Timer(d time.Duration) *clock.Timer { c.record(d); return c.Mock.Timer(d) }

// After records d and returns the mock's channel.
func (c *Clock) After(d time.Duration) <-chan time.Time { c.record(d); return c.Mock.After(d) }

// AfterFunc records d and returns the mock's timer.
func (c *Clock) AfterFunc(d time.Duration, f func()) *clock.Timer {
	c.record(d)
	return c.Mock.AfterFunc(d, f)
}

// Sleep records d and sleeps on the mock.
func (c *Clock) Sleep(d time.Duration) { c.record(d); c.Mock.Sleep(d) }

// Waits returns every wait recorded so far, oldest first.
func (c *Clock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}
