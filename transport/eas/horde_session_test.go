//go:build unix

package eas

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/transport"
)

// hordeSession is a Session of @Notes@ against a Horde server, run by the
// test, with its events and Sync results on channels.
type hordeSession struct {
	*Session
	start   time.Time
	events  chan transport.Event
	results chan []SyncCollectionResult
	setups  chan []string
	done    chan error
}

// runHordeSession runs a session for user on srv until the test ends.
func runHordeSession(t *testing.T, srv *hordeServer, user string, tcfg heartbeat.Config, pol backoff.Policy) *hordeSession {
	t.Helper()
	tuner, err := heartbeat.New(tcfg)
	if err != nil {
		t.Fatal(err)
	}
	bo, err := backoff.New(pol)
	if err != nil {
		t.Fatal(err)
	}
	h := &hordeSession{start: time.Now(), events: make(chan transport.Event, 10000),
		results: make(chan []SyncCollectionResult, 100), setups: make(chan []string, 100), done: make(chan error, 1)}
	h.Session, err = NewSession(SessionConfig{
		Config: Config{URL: srv.URL, User: user, DeviceID: "SESSION-" + user, AllowInsecureHTTP: true,
			Prepare: BasicAuth(user, "secret"), HTTPClient: &http.Client{Transport: &http.Transport{}}},
		Folders: []string{"@Notes@"},
		Loop:    transport.Config{Tuner: tuner, Backoff: bo, OnEvent: func(e transport.Event) { h.events <- e }},
		OnSetup: func(_ []Folder, ids []string) { h.setups <- ids },
		OnSync:  func(r []SyncCollectionResult) { h.results <- r },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { h.done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-h.done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	})
	return h
}

// next returns the next event of one of kinds, logging every event, and
// fails the test after timeout or when Run ends.
func (h *hordeSession) next(t *testing.T, timeout time.Duration, kinds ...transport.EventKind) transport.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e := <-h.events:
			t.Logf("%7.3fs %v", e.Time.Sub(h.start).Seconds(), e)
			if slices.Contains(kinds, e.Kind) {
				return e
			}
		case err := <-h.done:
			t.Fatalf("Run returned %v while waiting for %v", err, kinds)
		case <-deadline:
			t.Fatalf("no %v within %v", kinds, timeout)
		}
	}
}

// delivered waits until a Sync result adds uid to @Notes@, logging the
// events meanwhile and failing on a failed ping or sync after since, and
// returns when.
func (h *hordeSession) delivered(t *testing.T, uid string, since time.Time, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e := <-h.events:
			t.Logf("%7.3fs %v", e.Time.Sub(h.start).Seconds(), e)
			if e.Time.After(since) && (e.Kind == transport.PingFailed || e.Kind == transport.SyncFailed) {
				t.Fatalf("%v while waiting for %s", e, uid)
			}
		case rs := <-h.results:
			for _, r := range rs {
				if r.CollectionID == "@Notes@" && slices.Contains(r.Added, uid) {
					return time.Now()
				}
			}
		case err := <-h.done:
			t.Fatalf("Run returned %v before %s was delivered", err, uid)
		case <-deadline:
			t.Fatalf("%s not delivered within %v", uid, timeout)
		}
	}
}

// TestHordeLostFolderCache (SPEC L4): Horde loses its sync cache, where it
// keeps the device's folders, after a Ping reported a change. A Sync of the
// folder is then answered with collection status 8 (object not found)
// inside an HTTP 200. The session must not retry that Sync for ever: the
// first status 8 leads to FolderSync and the priming Sync, after which
// the change made meanwhile is delivered and pinging goes on.
func TestHordeLostFolderCache(t *testing.T) {
	t.Parallel()
	srv := startHorde(t, hordeConfig{password: "secret"})
	srv.setBounds(t, 2, 20, 1)
	h := runHordeSession(t, srv, "ivan",
		heartbeat.Config{Min: 5 * time.Second, Default: 5 * time.Second, Max: 20 * time.Second, Buffer: 5 * time.Second},
		backoff.Policy{Base: time.Second, Cap: 4 * time.Second})
	if ids := <-h.setups; !slices.Equal(ids, []string{"@Notes@"}) {
		t.Fatalf("first setup pinged %v", ids)
	}
	h.next(t, 30*time.Second, transport.PingStarted)

	srv.forgetFolderCache(t) // at the next Sync: the one the change leads to
	if err := srv.inject("ivan", "@Notes@", "UID_LOST_1"); err != nil {
		t.Fatal(err)
	}
	injected := time.Now()
	// The Ping ends (a change, or Horde's own complaint), the Sync is
	// answered status 8, and the session sets up again.
	var failed transport.Event
	for failed.Kind != transport.SyncFailed {
		failed = h.next(t, 60*time.Second, transport.SyncFailed, transport.PingFailed, transport.SyncDone)
		if failed.Kind == transport.SyncDone {
			t.Fatalf("a Sync succeeded before FolderSync: Horde did not lose the folder")
		}
	}
	var se *StatusError
	if !errors.As(failed.Err, &se) || se.Status != int(SyncObjectNotFound) || !errors.Is(failed.Err, ErrFolderSyncRequired) {
		t.Fatalf("the Sync after losing the cache failed with %v, want status 8 asking for FolderSync", failed.Err)
	}
	select {
	case ids := <-h.setups:
		t.Logf("set up again %v after the status 8, pinging %v", time.Since(injected).Round(time.Millisecond), ids)
	case <-time.After(60 * time.Second):
		t.Fatal("no FolderSync and priming after the status 8")
	}
	at := h.delivered(t, "UID_LOST_1", time.Now(), 60*time.Second)
	t.Logf("UID_LOST_1 delivered %v after it was made (cache lost at the same time)", at.Sub(injected).Round(time.Millisecond))
	h.next(t, 30*time.Second, transport.PingStarted) // pinging again

	// And push works again: a change during the next Ping is pushed.
	if err := srv.inject("ivan", "@Notes@", "UID_LOST_2"); err != nil {
		t.Fatal(err)
	}
	injected = time.Now()
	at = h.delivered(t, "UID_LOST_2", time.Now(), 60*time.Second)
	t.Logf("UID_LOST_2 delivered %v after it was made", at.Sub(injected).Round(time.Millisecond))
	if c := h.Loop().Snapshot().Counts; c.SyncErrors != 1 {
		t.Errorf("counts %+v: want the one failed Sync", c)
	}
}

// TestHordeRestart (SPEC L1, L3): the Horde server is killed (SIGKILL to
// PHP and its workers, as a crash or a restart does) at several points of
// a held Ping, the first within its first quarter, and started again 5 s
// later on the same address and state. Each time push must resume within
// one step of the backoff controller's reconnect ladder: no attempt after
// the server's return fails, none waits longer than the wait announced
// before it, and push stays available. A change made after the restart is
// pushed: delivered while the ping is held, within its heartbeat.
func TestHordeRestart(t *testing.T) {
	t.Parallel()
	srv := startHorde(t, hordeConfig{password: "secret"})
	srv.setBounds(t, 2, 60, 1)
	const beat, down = 8 * time.Second, 5 * time.Second
	// The default policy: its reconnect ladder (1-2 s, 2-4 s, 4-8 s, ...)
	// paces the attempts while the server is down.
	h := runHordeSession(t, srv, "judy",
		heartbeat.Config{Min: beat, Default: beat, Max: beat, Buffer: 5 * time.Second}, backoff.Policy{})
	<-h.setups
	var resumes, delays []time.Duration
	for i, frac := range []float64{0.1, 0.2, 0.5, 0.9} {
		// A ping held by the server: started, and not answered at once.
		ping := h.next(t, 30*time.Second, transport.PingStarted)
		kill := ping.Time.Add(time.Duration(frac * float64(ping.Interval)))
		time.Sleep(time.Until(kill))
		srv.kill()
		t.Logf("restart %d: killed %.1f s into a %v ping", i+1, time.Since(ping.Time).Seconds(), ping.Interval)
		time.Sleep(down)
		srv.restart(t)
		back := time.Now()
		st := h.Backoff().Status()
		t.Logf("restart %d: back %v after the kill; backoff then %+v", i+1, back.Sub(kill).Round(time.Millisecond), st)

		// Every attempt from now on succeeds: the first after the return
		// comes when the wait in force ends, and the ping it leads to is
		// held again. (A ping that began just before waitReady saw the
		// server answer may already be held by the new server.)
		var held *transport.Event
	drain:
		for {
			select {
			case e := <-h.events:
				t.Logf("%7.3fs %v", e.Time.Sub(h.start).Seconds(), e)
				switch {
				case e.Kind == transport.PingStarted && e.Time.After(kill):
					held = &e
				case e.Kind == transport.PingFailed || e.Kind == transport.SyncFailed:
					held = nil
				}
			default:
				break drain
			}
		}
		if held == nil {
			e := h.next(t, 30*time.Second, transport.PingStarted, transport.PingFailed, transport.SyncFailed,
				transport.BackoffEntered, transport.PushUnavailable)
			if e.Kind != transport.PingStarted {
				t.Fatalf("restart %d: %v after the server was back", i+1, e)
			}
			held = &e
		}
		resume := max(held.Time.Sub(back), 0)
		if wait := max(st.Next.Sub(back), 0); resume > wait+2*time.Second {
			// 2 s: a Sync and a PHP just started, measured at about 0.1 s.
			t.Errorf("restart %d: first ping %v after the return, but the wait in force ended %v after it", i+1, resume, wait)
		}
		resumes = append(resumes, resume)
		// The change after the restart is pushed.
		uid := fmt.Sprintf("UID_RESTART_%d", i+1)
		if err := srv.inject("judy", "@Notes@", uid); err != nil {
			t.Fatal(err)
		}
		injected := time.Now()
		delay := h.delivered(t, uid, back, 30*time.Second).Sub(injected)
		delays = append(delays, delay)
		t.Logf("restart %d: push resumed %v after the server was back; %s delivered %v after it was made",
			i+1, resumes[i].Round(time.Millisecond), uid, delay.Round(time.Millisecond))
		// Pushed, not found by the next ping: within the heartbeat. (The
		// first requests of a PHP just started are slow, up to 3 s here:
		// it loads Horde's classes cold.)
		if delay >= ping.Interval {
			t.Errorf("restart %d: %s delivered %v after it was made: not pushed within the %v heartbeat", i+1, uid, delay, ping.Interval)
		}
	}
	t.Logf("push resumed after %v; changes delivered after %v", resumes, delays)
	if s := h.Loop().Snapshot(); !s.PushAvailable {
		t.Errorf("push unavailable after the restarts: %+v", s)
	}
}
