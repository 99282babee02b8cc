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

// TestLoopThrottled: a 503 with Retry-After, to the Ping or to the Sync
// after a change, stops the loop for the server's time plus fuzz (issue 7:
// "503 with Retry-After (throttling) handled as its meaning says"; B1).
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
			done := make(chan error, 1)
			go func() { done <- loop.Run(ctx) }()
			var e transport.Event
			for e.Kind != transport.BackoffEntered {
				select {
				case e = <-events:
					t.Log(e)
				case <-ctx.Done():
					t.Fatal("no backoff within 10 s")
				}
			}
			wait := e.Backoff.Next.Sub(e.Time)
			if e.Backoff.Reason != backoff.Maintenance || wait < 119*time.Second || wait > 151*time.Second {
				t.Errorf("backoff %+v, next in %v; want maintenance for 120 s plus at most 25%% fuzz", e.Backoff, wait)
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Run = %v, want context.Canceled (throttling is not fatal)", err)
			}
		})
	}
}
