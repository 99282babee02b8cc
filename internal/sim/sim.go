package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
)

// never is the time of an event that is not scheduled.
const never = time.Duration(math.MaxInt64)

// maxSameInstant bounds the events processed without the virtual clock
// moving, so that a strategy that never settles cannot hang a run.
const maxSameInstant = 1000

// pcgStream is the second half of the PCG seed: any fixed constant.
const pcgStream = 0x9e3779b97f4a7c15

// event kinds, in the order they are processed when due at the same
// instant: mail first, so that mail arriving exactly when the server would
// answer "no changes" makes the answer "changes" (the server sees it), and
// mail arriving exactly at a deadline or a scheduled sync is delivered by
// it.
type event int

const (
	evNone event = iota
	evMail
	evAnswer   // the server's answer reaches the device
	evDeadline // the device gives up on the ping
	evSync     // scheduled sync while push is given up
	evProbe    // try push again
)

// run is the state of one simulation.
type run struct {
	sc  Scenario
	st  Strategy
	rng *rand.Rand
	end time.Duration

	now      time.Duration
	same     int // events processed at now
	nextMail time.Duration
	pending  []time.Duration // arrival times of mail not yet delivered

	// The ping in flight, if flying.
	flying   bool
	ping     Ping          // Sent, Interval, Probe
	dies     time.Duration // when the path drops the idle connection; never if it survives
	answers  time.Duration // when the answer arrives; never if the connection dies first
	outcome  heartbeat.Outcome
	deadline time.Duration // when the device gives up; never if the answer arrives

	// Fallback to scheduled sync.
	fallback     bool
	fallbackFrom time.Duration
	nextSync     time.Duration
	nextProbe    time.Duration

	knownMin, knownMax time.Duration // what status 5 answers have told
	per                [2]Metrics    // day 1, steady state
	err                error
}

// Run simulates scenario sc with strategy st and returns the metrics of day
// 1 and of the steady state. It returns an error wrapping
// ErrInvalidScenario for a bad scenario, and an error if the strategy
// misbehaves (keeps asking for intervals the server refuses, or returns an
// error other than heartbeat.ErrPushUnavailable).
//
// The run is deterministic: the same scenario, seed and strategy give the
// same result. After the last day it goes on, without counting anything
// else, until all mail that arrived has been delivered.
func Run(sc Scenario, st Strategy) (Result, error) {
	sc = sc.withDefaults()
	if err := sc.validate(); err != nil {
		return Result{}, err
	}
	r := &run{
		sc:        sc,
		st:        st,
		rng:       rand.New(rand.NewPCG(sc.Seed, pcgStream)),
		end:       time.Duration(sc.Days) * Day,
		nextMail:  never,
		dies:      never,
		answers:   never,
		deadline:  never,
		nextSync:  never,
		nextProbe: never,
	}
	r.per[0].Days = 1
	r.per[1].Days = sc.Days - 1
	if sc.Mail > 0 {
		r.scheduleMail(0)
	}
	r.startPing()
	r.loop()
	if r.err != nil {
		return Result{}, fmt.Errorf("sim: strategy %s in scenario %q: %w", st.Name(), sc.Name, r.err)
	}
	if r.fallback {
		r.span(&r.per, func(m *Metrics) *time.Duration { return &m.FallbackTime }, r.fallbackFrom, r.end)
	}
	r.per[0].finish()
	r.per[1].finish()
	return Result{Scenario: sc, Strategy: st.Name(), Day1: r.per[0], Steady: r.per[1]}, nil
}

// loop processes events in time order until the run is over and all mail
// is delivered.
func (r *run) loop() {
	// Past the end, pending mail is delivered by the next answer, deadline
	// or scheduled sync, all within a day; the bound only guards against a
	// broken strategy.
	limit := r.end + Day + r.sc.Max + r.sc.Buffer + r.sc.SyncEvery + r.sc.ProbeEvery
	for r.err == nil {
		t, ev := r.next()
		if ev == evNone || t > limit || (t >= r.end && len(r.pending) == 0) {
			return
		}
		if t == r.now {
			r.same++
			if r.same > maxSameInstant {
				r.err = fmt.Errorf("more than %d events at %v: the strategy does not settle", maxSameInstant, t)
				return
			}
		} else {
			r.now, r.same = t, 0
		}
		switch ev {
		case evMail:
			r.mail()
		case evAnswer:
			r.answer(r.outcome)
		case evDeadline:
			r.timedOut()
		case evSync:
			r.nextSync = r.now + r.sc.SyncEvery
			r.sync()
		case evProbe:
			r.nextProbe = never
			r.ping.Probe = true
			r.startPing()
		}
	}
}

// next returns the earliest scheduled event; ties go to the lower kind.
func (r *run) next() (time.Duration, event) {
	t, ev := never, evNone
	consider := func(at time.Duration, e event) {
		if at < t {
			t, ev = at, e
		}
	}
	consider(r.nextMail, evMail)
	if r.flying {
		consider(r.answers, evAnswer)
		consider(r.deadline, evDeadline)
	}
	if r.fallback {
		consider(r.nextSync, evSync)
		if !r.flying {
			consider(r.nextProbe, evProbe)
		}
	}
	return t, ev
}

// period returns the index of the period containing t: 0 for day 1, 1
// after; ok is false at or after the end of the run.
func (r *run) period(t time.Duration) (i int, ok bool) {
	if t >= r.end {
		return 0, false
	}
	if t < Day {
		return 0, true
	}
	return 1, true
}

// span adds the part of [from, to) inside the run to the field of each
// period it overlaps.
func (r *run) span(per *[2]Metrics, field func(*Metrics) *time.Duration, from, to time.Duration) {
	to = min(to, r.end)
	if from >= to {
		return
	}
	if from < Day {
		*field(&per[0]) += max(0, min(to, Day)-from)
	}
	if to > Day {
		*field(&per[1]) += to - max(from, Day)
	}
}

// scheduleMail schedules the next mail after the one at t.
func (r *run) scheduleMail(t time.Duration) {
	gap := r.sc.Mail
	if r.sc.Arrivals == Poisson {
		gap = time.Duration(r.rng.ExpFloat64() * float64(r.sc.Mail))
	}
	r.nextMail = t + gap
	if r.nextMail >= r.end || r.nextMail < t { // past the end, or overflow
		r.nextMail = never
	}
}

// mail handles an arrival: a live ping is answered at once with changes;
// otherwise the mail waits for the next answer or sync.
func (r *run) mail() {
	r.scheduleMail(r.now)
	if i, ok := r.period(r.now); ok {
		r.per[i].Mails++
	}
	r.pending = append(r.pending, r.now)
	if r.flying && r.now <= r.dies {
		r.answer(heartbeat.Changed)
	}
}

// sync delivers all pending mail now.
func (r *run) sync() {
	if i, ok := r.period(r.now); ok {
		r.per[i].Syncs++
	}
	for _, at := range r.pending {
		i, _ := r.period(at) // every mail arrived before the end
		r.per[i].delays = append(r.per[i].delays, r.now-at)
	}
	r.pending = r.pending[:0]
}

// endPing ends the ping in flight with outcome o.
func (r *run) endPing(o heartbeat.Outcome) {
	r.flying = false
	r.answers, r.deadline, r.dies = never, never, never
	r.ping.Ended, r.ping.Outcome = r.now, o
	if r.sc.OnPing != nil {
		r.sc.OnPing(r.ping) // never Rejected: startPing reports those itself
	}
}

// answer handles an answer to the ping in flight: on changes the device
// syncs, then (SPEC T4) pings again at once.
func (r *run) answer(o heartbeat.Outcome) {
	r.endPing(o)
	if o == heartbeat.Changed {
		r.sync()
	}
	r.st.Observe(o)
	r.after(o)
}

// timedOut handles a deadline: the connection died silently at r.dies; the
// device notices now, syncs (delivering what arrived meanwhile) and pings
// again, unless its strategy gives up on push (SPEC T2, T4, H9).
func (r *run) timedOut() {
	r.span(&r.per, func(m *Metrics) *time.Duration { return &m.DeafTime }, r.dies, r.now)
	// A timeout is the outcome of a ping, so it counts in the period the
	// ping was sent in, as the ping does: counted by its deadline, a ping
	// sent before midnight of day 1 and timing out after it would count in
	// both periods, and a steady state of nothing but timeouts would show
	// more timeouts than pings.
	if i, ok := r.period(r.ping.Sent); ok {
		r.per[i].Timeouts++
	}
	r.endPing(heartbeat.TimedOut)
	r.sync()
	r.st.Observe(heartbeat.TimedOut)
	r.after(heartbeat.TimedOut)
}

// after decides what follows a ping's outcome o.
func (r *run) after(o heartbeat.Outcome) {
	switch {
	case !r.fallback && r.st.Workable():
		r.startPing()
	case !r.fallback:
		r.enterFallback()
	case r.st.Workable(): // a probe brought push back
		r.leaveFallback()
		r.startPing()
	case o == heartbeat.Changed: // the probe learned nothing yet
		r.startPing()
	default: // the probe failed
		r.ping.Probe = false
		r.nextProbe = r.now + r.sc.ProbeEvery
	}
}

func (r *run) enterFallback() {
	r.fallback, r.fallbackFrom = true, r.now
	r.nextSync = r.now + r.sc.SyncEvery
	r.nextProbe = r.now + r.sc.ProbeEvery
	r.ping.Probe = false
}

func (r *run) leaveFallback() {
	r.span(&r.per, func(m *Metrics) *time.Duration { return &m.FallbackTime }, r.fallbackFrom, r.now)
	r.fallback = false
	r.nextSync, r.nextProbe = never, never
	r.ping.Probe = false
}

// outOfRange returns the server's limit that iv violates, if any.
func (r *run) outOfRange(iv time.Duration) (limit time.Duration, tooShort, ok bool) {
	switch {
	case iv < r.sc.ServerMin:
		return r.sc.ServerMin, true, true
	case r.sc.ServerMax > 0 && iv > r.sc.ServerMax:
		return r.sc.ServerMax, false, true
	}
	return 0, false, false
}

// startPing sends a ping at the strategy's interval. The server refuses an
// interval outside its range at once with the violated limit (EAS status
// 5), which the device passes to its strategy before trying again; it
// answers at once with changes when mail is waiting unsynced.
func (r *run) startPing() {
	for tries := 0; ; tries++ {
		iv := r.st.Interval()
		i, counting := r.period(r.now)
		if counting {
			r.per[i].Pings++
		}
		limit, tooShort, refused := r.outOfRange(iv)
		if !refused {
			if counting {
				r.per[i].intervals = append(r.per[i].intervals, iv)
				r.per[i].Final = iv
			}
			r.fly(iv)
			return
		}
		if counting {
			r.per[i].Rejected++
		}
		if r.sc.OnPing != nil {
			r.sc.OnPing(Ping{Sent: r.now, Ended: r.now, Interval: iv, Rejected: true, Probe: r.ping.Probe})
		}
		if tooShort {
			r.knownMin = limit
		} else {
			r.knownMax = limit
		}
		err := r.st.SetServerBounds(r.knownMin, r.knownMax)
		switch {
		case errors.Is(err, heartbeat.ErrPushUnavailable):
			if r.fallback {
				r.ping.Probe = false
				r.nextProbe = r.now + r.sc.ProbeEvery
			} else {
				r.enterFallback()
			}
			return
		case err != nil:
			r.err = err
			return
		case tries >= 2:
			r.err = fmt.Errorf("keeps asking for %v outside the server's range [%v, %v]", iv, r.sc.ServerMin, r.sc.ServerMax)
			return
		}
	}
}

// fly puts a ping with interval iv in flight.
func (r *run) fly(iv time.Duration) {
	r.flying = true
	r.ping.Sent, r.ping.Interval = r.now, iv
	r.dies, r.answers, r.deadline = never, never, never
	switch {
	case len(r.pending) > 0:
		r.answers, r.outcome = r.now, heartbeat.Changed
	case r.sc.Timeout > 0 && iv > r.sc.Timeout:
		r.dies = r.now + r.sc.Timeout
		r.deadline = r.now + iv + r.sc.Buffer
	default:
		r.answers, r.outcome = r.now+iv, heartbeat.Expired
	}
}
