//go:build unix

package eas

import (
	"context"
	"errors"
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
// events meanwhile, and returns when.
func (h *hordeSession) delivered(t *testing.T, uid string, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e := <-h.events:
			t.Logf("%7.3fs %v", e.Time.Sub(h.start).Seconds(), e)
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
	at := h.delivered(t, "UID_LOST_1", 60*time.Second)
	t.Logf("UID_LOST_1 delivered %v after it was made (cache lost at the same time)", at.Sub(injected).Round(time.Millisecond))
	h.next(t, 30*time.Second, transport.PingStarted) // pinging again

	// And push works again: a change during the next Ping is pushed.
	if err := srv.inject("ivan", "@Notes@", "UID_LOST_2"); err != nil {
		t.Fatal(err)
	}
	injected = time.Now()
	at = h.delivered(t, "UID_LOST_2", 60*time.Second)
	t.Logf("UID_LOST_2 delivered %v after it was made", at.Sub(injected).Round(time.Millisecond))
	if c := h.Loop().Snapshot().Counts; c.SyncErrors != 1 {
		t.Errorf("counts %+v: want the one failed Sync", c)
	}
}
