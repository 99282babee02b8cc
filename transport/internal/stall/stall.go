// Package stall measures the time this process spends not running: the
// stretches in which a goroutine that asks to wake every millisecond does
// not get to, because the machine is busy with other work (two `yes`
// processes keeping both cores busy, other test binaries, the race
// detector's own load) or the runtime stopped the world.
//
// Tests that run clients, servers and middleboxes in one process over real
// sockets measure real time, and a stall of the process makes every party
// late at once: a server's answer, a relay's copy, a client's timer. Only the
// order of events that were due inside the stall is lost. The middlebox of
// transport/pingtest uses the meter (Longest) to hold a drop that comes due
// during or just after a stall until the process has caught up, and the
// transport tests use it (Running) to bound lateness in running time: "a
// ping ends within one Buffer of its deadline, not counting the time the
// process did not run", which a loaded machine cannot break and a ping that
// ignores its deadline still does. Under sustained load the meter's own
// wake-ups are late on almost every tick, so Running then undercounts: such
// bounds are lenient on a loaded machine and exact on an idle one.
//
// A stall is counted from the moment the meter's goroutine should have woken
// until it does, when it wakes more than Slack late; shorter delays are the
// ordinary jitter of timers and are not counted. A stall in progress (the
// meter's goroutine has not woken for a while) counts up to now.
package stall

import (
	"sync"
	"time"
)

// Tick is how often the meter's goroutine asks to wake.
const Tick = time.Millisecond

// Slack is how late a wake-up may be without counting as a stall.
const Slack = 2 * time.Millisecond

// maxSpans bounds the stalls a meter remembers for Between; older ones are
// forgotten (Total still counts them).
const maxSpans = 1 << 14

// span is one stall: the process did not run from from to to.
type span struct{ from, to time.Time }

// Meter records the process's stalls. Its methods are safe for concurrent
// use. The zero Meter records nothing until its goroutine is started (see
// Acquire); its pure core (wake, total, between) is driven by tests at fixed
// instants.
type Meter struct {
	mu    sync.Mutex
	users int           // Acquire calls not yet released
	stop  chan struct{} // closed to stop the goroutine
	done  chan struct{} // closed when the goroutine has returned
	last  time.Time     // the last wake-up; zero while not running
	sum   time.Duration // stalled time recorded
	spans []span        // recorded stalls, oldest first
}

// shared is the process's meter: stalls are a property of the process, so
// every user shares one goroutine.
var shared Meter

// Acquire returns the process's meter, starting its goroutine if no one
// else holds it. Call Release when done, so that the goroutine stops once
// nobody needs it (goleak).
func Acquire() *Meter {
	m := &shared
	m.mu.Lock()
	defer m.mu.Unlock()
	m.users++
	if m.users == 1 {
		m.stop, m.done = make(chan struct{}), make(chan struct{})
		m.last = time.Now()
		go m.run(m.stop, m.done)
	}
	return m
}

// Release gives back what Acquire returned; the last Release stops the
// goroutine and waits for it to return.
func (m *Meter) Release() {
	m.mu.Lock()
	m.users--
	if m.users > 0 {
		m.mu.Unlock()
		return
	}
	stop, done := m.stop, m.done
	m.stop, m.done = nil, nil
	m.mu.Unlock()
	close(stop)
	<-done
	m.mu.Lock()
	if m.users == 0 {
		m.last = time.Time{}
	}
	m.mu.Unlock()
}

func (m *Meter) run(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTimer(Tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		m.wake(time.Now())
		t.Reset(Tick)
	}
}

// wake records a wake-up of the meter's goroutine at now.
func (m *Meter) wake(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.pending(now); ok {
		m.sum += s.to.Sub(s.from)
		if len(m.spans) == maxSpans {
			m.spans = append(m.spans[:0], m.spans[maxSpans/2:]...)
		}
		m.spans = append(m.spans, s)
	}
	m.last = now
}

// pending returns the stall in progress at now, if the goroutine is more
// than Slack late. Called with m.mu held.
func (m *Meter) pending(now time.Time) (span, bool) {
	if m.last.IsZero() {
		return span{}, false
	}
	due := m.last.Add(Tick)
	if now.Sub(due) <= Slack {
		return span{}, false
	}
	return span{due, now}, true
}

// Total returns the stalled time recorded since the process started,
// including a stall in progress. Only its differences mean something: the
// stalled time between two calls is the difference of their results.
func (m *Meter) Total() time.Duration { return m.total(time.Now()) }

func (m *Meter) total(now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	sum := m.sum
	if s, ok := m.pending(now); ok {
		sum += s.to.Sub(s.from)
	}
	return sum
}

// Between returns how much of [from, to] the process spent stalled, as far
// as the meter remembers (its recent stalls, and one in progress).
func (m *Meter) Between(from, to time.Time) time.Duration { return m.between(from, to, time.Now()) }

func (m *Meter) between(from, to, now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	var sum time.Duration
	add := func(s span) {
		lo, hi := s.from, s.to
		if lo.Before(from) {
			lo = from
		}
		if hi.After(to) {
			hi = to
		}
		if hi.After(lo) {
			sum += hi.Sub(lo)
		}
	}
	for _, s := range m.spans {
		add(s)
	}
	if s, ok := m.pending(now); ok {
		add(s)
	}
	return sum
}

// Longest returns the longest stall that overlaps [from, to] (a stall in
// progress included), or 0: how late a goroutine that was due in that
// interval may have run.
func (m *Meter) Longest(from, to time.Time) time.Duration { return m.longest(from, to, time.Now()) }

func (m *Meter) longest(from, to, now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	var l time.Duration
	add := func(s span) {
		if s.to.After(from) && s.from.Before(to) {
			l = max(l, s.to.Sub(s.from))
		}
	}
	for i := len(m.spans) - 1; i >= 0 && m.spans[i].to.After(from); i-- {
		add(m.spans[i])
	}
	if s, ok := m.pending(now); ok {
		add(s)
	}
	return l
}

// Running returns how much of [from, to] the process spent running: the
// length of the interval less Between. It is what a bound on lateness
// measured in real time should be checked against.
func (m *Meter) Running(from, to time.Time) time.Duration {
	return to.Sub(from) - m.Between(from, to)
}
