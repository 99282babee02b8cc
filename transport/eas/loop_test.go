package eas

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/transport"
	"github.com/pushbeat/pushbeat/transport/eas/internal/vectors"
	"github.com/pushbeat/pushbeat/transport/eas/internal/wbxml"
)

// newTestLoop returns a loop that pings @Notes@ through a Client of f
// (FolderSync done, the folder primed), syncing with Client.Sync, and
// sends its events to the returned channel.
func newTestLoop(t *testing.T, f *fakeEAS) (*transport.Loop, <-chan transport.Event) {
	t.Helper()
	srv := newLoopbackServer(t, f)
	c := newTestClient(t, srv.URL, nil)
	f.queue("FolderSync", ok(vectors.FolderSync))
	f.queue("Sync", ok(vectors.SyncInitial))
	if _, err := c.FolderSync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sync(context.Background(), "@Notes@"); err != nil {
		t.Fatal(err)
	}
	tuner, err := heartbeat.New(heartbeat.Config{Min: time.Second, Max: 2 * time.Second, Buffer: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan transport.Event, 10000)
	loop, err := transport.NewLoop(transport.Config{Pinger: c.Pinger(), Tuner: tuner, Folders: []string{"@Notes@"},
		Sync: func(ctx context.Context, folders []string) error {
			_, err := c.Sync(ctx, folders...)
			return err
		},
		OnEvent: func(e transport.Event) {
			select {
			case events <- e:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	return loop, events
}

// runUntilBackoff runs loop in the background until it enters a backoff and
// returns that BackoffEntered event, logging every event before it, with
// the channel Run's result arrives on. It fails the test when Run returns
// or ctx ends first.
func runUntilBackoff(t *testing.T, ctx context.Context, loop *transport.Loop, events <-chan transport.Event) (transport.Event, <-chan error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- loop.Run(ctx) }()
	var e transport.Event
	for e.Kind != transport.BackoffEntered {
		select {
		case e = <-events:
			t.Log(e)
		case err := <-done:
			t.Fatalf("Run = %v before backing off", err)
		case <-ctx.Done():
			t.Fatalf("no backoff before the context ended: %v", ctx.Err())
		}
	}
	return e, done
}

// TestLoopThrottled: a 503 with Retry-After, to the Ping or to the Sync
// after a change, stops the loop for the server's time plus fuzz: a 503
// with Retry-After (throttling) is handled as its meaning says (B1).
// HTTPPinger answers a Ping's 503 itself, before the codec sees it, and
// Client.Sync returns a *transport.ResponseError: both must reach the
// loop's backoff controller with the header.
func TestLoopThrottled(t *testing.T) {
	throttle := fakeAnswer{code: 503, header: http.Header{"Retry-After": {"120"}}}
	for _, tc := range []struct {
		name       string
		ping, sync []fakeAnswer
	}{
		{"Ping", []fakeAnswer{throttle}, nil},
		{"Sync", []fakeAnswer{ok(vectors.Status2)}, []fakeAnswer{throttle}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeEAS{}
			loop, events := newTestLoop(t, f)
			f.queue("Ping", tc.ping...)
			f.queue("Sync", tc.sync...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			e, done := runUntilBackoff(t, ctx, loop, events)
			wait := e.Backoff.Next.Sub(e.Time)
			if e.Backoff.Reason != backoff.ReasonMaintenance || wait < 119*time.Second || wait > 151*time.Second {
				t.Errorf("backoff %+v, next in %v; want maintenance for 120 s plus at most 25%% fuzz", e.Backoff, wait)
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Run = %v, want context.Canceled (throttling is not fatal)", err)
			}
		})
	}
}

// TestLoopServerErrorBacksOff: Ping status 8 (and 110, 111, 133) is a
// server error to back off from (B2), although it comes inside an HTTP 200
// answer: without that the loop would sync and ping again at once, over a
// thousand Pings a second on loopback.
func TestLoopServerErrorBacksOff(t *testing.T) {
	f := &fakeEAS{}
	loop, events := newTestLoop(t, f)
	for range 10 {
		f.queue("Ping", fakeAnswer{code: 200, body: pingBody(t, "8", "", "")})
		f.queue("Sync", ok(vectors.SyncInitial))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, done := runUntilBackoff(t, ctx, loop, events)
	// The loop now waits for the controller: the scheduled wait of a
	// first server error (B2, at least the default Base of 15 min), during
	// which nothing is sent.
	if wait := e.Backoff.Next.Sub(e.Time); e.Backoff.Reason != backoff.ReasonServerError || wait < backoff.DefaultBase {
		t.Errorf("backoff %+v, next in %v; want a server error's scheduled wait", e.Backoff, wait)
	}
	if c := loop.Snapshot().Counts; c.Pings != 1 {
		t.Errorf("counts %+v when the loop backed off, want the one Ping", c)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}
}

// TestLoopSyncFolderSyncRequired: a Sync answered status 12 (folder
// hierarchy changed) inside an HTTP 200 ends Run with
// ErrFolderSyncRequired, as a Ping status 7 does, so that the application
// runs FolderSync (Client.Sync's error can be returned as is from a
// SyncFunc; T4).
func TestLoopSyncFolderSyncRequired(t *testing.T) {
	f := &fakeEAS{}
	loop, _ := newTestLoop(t, f)
	for range 10 {
		f.queue("Ping", ok(vectors.Status2))
		f.queue("Sync", fakeAnswer{code: 200, body: statusBody(t, wbxml.AirSyncSync, wbxml.AirSyncStatus, "12")})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := loop.Run(ctx); !errors.Is(err, ErrFolderSyncRequired) {
		t.Errorf("Run = %v, want ErrFolderSyncRequired", err)
	}
}
