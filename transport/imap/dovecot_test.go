package imap

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/transport"
	"github.com/pushbeat/pushbeat/transport/imap/imaptest"
)

// newDovecotPinger returns a Pinger logged in as srv's user over implicit
// TLS, closed when t ends.
func newDovecotPinger(t *testing.T, srv *imaptest.Server, mutate func(*Config)) *Pinger {
	t.Helper()
	cfg := Config{Addr: srv.Addr, TLSConfig: srv.TLS, Username: srv.User, Password: srv.Password, ConnectTimeout: 10 * time.Second}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// ping runs one ping with heartbeat hb and a deadline 2 s later.
func ping(p *Pinger, hb time.Duration) (transport.Result, error) {
	return p.Ping(context.Background(), transport.Request{Heartbeat: hb, Deadline: hb + 2*time.Second})
}

// TestDovecotPush: a message saved while the client IDLEs ends the ping
// as Changed within 1 s of the save (SPEC I1, I5); a ping with nothing
// to report expires after its heartbeat with the whole heartbeat silent.
func TestDovecotPush(t *testing.T) {
	srv := imaptest.Start(t, imaptest.Config{IdleNotify: -1})
	p := newDovecotPinger(t, srv, nil)

	res, err := ping(p, 500*time.Millisecond)
	if err != nil || res.Status != transport.Expired {
		t.Fatalf("first ping = %+v, %v; want expired", res, err)
	}
	if res.Silence < 450*time.Millisecond || res.Silence > res.Elapsed {
		t.Errorf("quiet ping: silence %v of elapsed %v, want about the 500ms heartbeat", res.Silence, res.Elapsed)
	}

	idling := make(chan struct{}, 1)
	p.onIdle = func() { idling <- struct{}{} }
	type answer struct {
		res transport.Result
		err error
		at  time.Time
	}
	done := make(chan answer, 1)
	go func() {
		res, err := ping(p, time.Minute)
		done <- answer{res, err, time.Now()}
	}()
	<-idling
	saving := time.Now()
	srv.Deliver(t, srv.User, "INBOX", "pushed")
	saved := time.Now()
	a := <-done
	if a.err != nil || a.res.Status != transport.Changed || len(a.res.Folders) != 1 || a.res.Folders[0] != "INBOX" {
		t.Fatalf("ping during delivery = %+v, %v; want changed INBOX", a.res, a.err)
	}
	delay := a.at.Sub(saved)
	t.Logf("pushed %v after doveadm save returned (%v after it started)", delay.Round(time.Millisecond), a.at.Sub(saving).Round(time.Millisecond))
	if delay > time.Second {
		t.Fatalf("pushed %v after the save, want within 1s", delay)
	}
}

// TestDovecotWrongPassword: bad credentials are ErrRejected, and neither
// the error nor anything else carries the password.
func TestDovecotWrongPassword(t *testing.T) {
	srv := imaptest.Start(t, imaptest.Config{})
	p := newDovecotPinger(t, srv, func(c *Config) { c.Password = "wrong-" + srv.Password })
	_, err := ping(p, time.Second)
	if !errors.Is(err, transport.ErrRejected) {
		t.Fatalf("ping with a wrong password = %v, want ErrRejected", err)
	}
	if strings.Contains(err.Error(), srv.Password) {
		t.Fatalf("error %q carries the password", err)
	}
	t.Log(err)
}

// loopRun is a transport.Loop over a Pinger against Dovecot, with its
// events and the times the server acknowledged each IDLE.
type loopRun struct {
	mu     sync.Mutex
	events []transport.Event
	idles  []time.Time
	wake   chan struct{}
	cancel context.CancelFunc
	done   chan error
}

func (r *loopRun) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// until waits, at most limit of real time, for cond over the events and
// IDLE times so far.
func (r *loopRun) until(t *testing.T, limit time.Duration, what string, cond func([]transport.Event, []time.Time) bool) {
	t.Helper()
	end := time.After(limit)
	for {
		r.mu.Lock()
		ok := cond(r.events, r.idles)
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.wake:
		case <-end:
			r.mu.Lock()
			for _, ev := range r.events {
				t.Log(ev)
			}
			r.mu.Unlock()
			t.Fatalf("after %v: %s did not happen", limit, what)
		}
	}
}

// startLoop runs a Loop over p with the tuner and backoff policy given,
// stopped when t ends.
func startLoop(t *testing.T, p *Pinger, tuner *heartbeat.Tuner, pol backoff.Policy) *loopRun {
	t.Helper()
	r := &loopRun{wake: make(chan struct{}, 1), done: make(chan error, 1)}
	p.onIdle = func() {
		r.mu.Lock()
		r.idles = append(r.idles, time.Now())
		r.mu.Unlock()
		r.poke()
	}
	bo, err := backoff.New(pol)
	if err != nil {
		t.Fatal(err)
	}
	loop, err := transport.NewLoop(transport.Config{Pinger: p, Tuner: tuner, Backoff: bo, OnEvent: func(ev transport.Event) {
		r.mu.Lock()
		r.events = append(r.events, ev)
		r.mu.Unlock()
		r.poke()
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- loop.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// idleAfter waits until the server acknowledges an IDLE after t0, and
// returns when it did. A message saved after that arrives while the client
// IDLEs; one saved before a reconnection's SELECT is old mail to it.
func (r *loopRun) idleAfter(t *testing.T, t0 time.Time, what string) time.Time {
	t.Helper()
	var at time.Time
	r.until(t, 20*time.Second, what, func(_ []transport.Event, idles []time.Time) bool {
		if i := slices.IndexFunc(idles, func(x time.Time) bool { return x.After(t0) }); i >= 0 {
			at = idles[i]
			return true
		}
		return false
	})
	return at
}

func (r *loopRun) snapshot() ([]transport.Event, []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events), slices.Clone(r.idles)
}

func changedEvents(events []transport.Event) int {
	n := 0
	for _, ev := range events {
		if ev.Kind == transport.PingAnswered && ev.Status == transport.Changed {
			n++
		}
	}
	return n
}

// TestDovecotKickAndRestart: a Loop resumes push after doveadm kick (the
// server says BYE and closes: the pinger logs in again at once) and after
// the whole server is killed and started again (the first attempt after
// the server is back succeeds: push resumes within one backoff step), and
// each time a message saved afterwards is pushed within 1 s (SPEC I2, I5).
func TestDovecotKickAndRestart(t *testing.T) {
	srv := imaptest.Start(t, imaptest.Config{IdleNotify: -1})
	p := newDovecotPinger(t, srv, nil)
	tuner, err := heartbeat.New(heartbeat.Config{Min: 20 * time.Second, Max: time.Minute, Buffer: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := startLoop(t, p, tuner, backoff.Policy{Base: 10 * time.Second, Cap: time.Minute})
	r.until(t, 10*time.Second, "the first IDLE", func(_ []transport.Event, idles []time.Time) bool { return len(idles) >= 1 })

	pushWithin := func(step string) {
		t.Helper()
		events, _ := r.snapshot()
		before := changedEvents(events)
		srv.Deliver(t, srv.User, "INBOX", step)
		saved := time.Now()
		r.until(t, 10*time.Second, "push after "+step, func(ev []transport.Event, _ []time.Time) bool { return changedEvents(ev) > before })
		delay := time.Since(saved)
		t.Logf("%s: pushed within %v of the save", step, delay.Round(time.Millisecond))
		if delay > time.Second {
			t.Fatalf("%s: pushed %v after the save, want within 1s", step, delay)
		}
	}

	// withinOneStep fails the test unless push resumed within one step of
	// the backoff controller's waits after back (the kick, or the server
	// listening again): no ping started after back failed before the IDLE
	// acknowledged at resumed, and that ping started when the last wait
	// announced before it ended (or at once when none), give or take 2 s
	// for a login under load.
	withinOneStep := func(what string, back, resumed time.Time) {
		t.Helper()
		events, _ := r.snapshot()
		next := back
		var started time.Time
		for _, ev := range events {
			if ev.Time.After(resumed) {
				break
			}
			switch ev.Kind {
			case transport.PingStarted:
				started = ev.Time
			case transport.PingFailed:
				if !started.Before(back) {
					t.Fatalf("%s: a ping started %v after failed: %v", what, started.Sub(back), ev.Err)
				}
			case transport.BackoffEntered:
				if ev.Backoff.Next.After(next) {
					next = ev.Backoff.Next
				}
			case transport.PushUnavailable:
				t.Fatalf("%s made the loop declare push unavailable: %v", what, ev)
			}
		}
		t.Logf("%s: IDLE again %v after, the last announced wait ending %v after", what,
			resumed.Sub(back).Round(time.Millisecond), next.Sub(back).Round(time.Millisecond))
		if resumed.After(next.Add(2 * time.Second)) {
			t.Fatalf("%s: push resumed %v after, later than the wait (%v) plus 2s", what, resumed.Sub(back), next.Sub(back))
		}
	}

	// Kick: BYE, the ping fails as a visible close, the pinger logs in
	// again (at once, or after the reconnect ladder's first step when the
	// IDLE had only just begun: a close "at once", SPEC L1).
	kicked := time.Now()
	srv.Kick(t, srv.User)
	withinOneStep("kick", kicked, r.idleAfter(t, kicked, "IDLE again after the kick"))
	events, _ := r.snapshot()
	if !slices.ContainsFunc(events, func(ev transport.Event) bool {
		return ev.Kind == transport.PingFailed && errors.Is(ev.Err, transport.ErrClosed)
	}) {
		for _, ev := range events {
			t.Log(ev)
		}
		t.Fatal("the kick was not a visible close (ErrClosed)")
	}
	pushWithin("after the kick")

	// Restart: every connection dies, logins are refused until the
	// server listens again.
	srv.Stop()
	r.until(t, 10*time.Second, "a failed ping while the server is down", func(ev []transport.Event, _ []time.Time) bool {
		return slices.ContainsFunc(ev, func(e transport.Event) bool {
			return e.Kind == transport.PingFailed && errors.Is(e.Err, transport.ErrRefused)
		})
	})
	srv.Restart(t)
	up := time.Now()
	withinOneStep("restart", up, r.idleAfter(t, up, "IDLE after the restart"))
	pushWithin("after the restart")
}
