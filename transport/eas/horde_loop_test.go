//go:build unix

package eas

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/transport"
)

// pingLog records the Ping requests an http.Client sends: body sizes tell
// the full Ping from the empty one.
type pingLog struct {
	base http.RoundTripper
	mu   sync.Mutex
	body []int
}

func (l *pingLog) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Query().Get("Cmd") == "Ping" {
		n := 0
		if r.Body != nil && r.Body != http.NoBody {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				return nil, err
			}
			n = len(b)
			r = r.Clone(r.Context())
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		l.mu.Lock()
		l.body = append(l.body, n)
		l.mu.Unlock()
	}
	return l.base.RoundTrip(r)
}

func (l *pingLog) sizes() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int(nil), l.body...)
}

// TestHordeLoop proves the whole stack against a real EAS server, Horde
// ActiveSync 2.41.9 (T4, H8): transport.Loop with a heartbeat.Tuner,
// transport.HTTPPinger and this package's Codec and Client. The server
// allows heartbeats of 10-120 s; the device range is wider (2-600 s), so:
//
//   - the first Ping (2 s) is answered at once with status 5 and the
//     server's minimum: the loop reports ServerBounds and pings at 10 s
//     next (SPEC H8);
//   - that Ping is held for the heartbeat and answered status 1, which the
//     tuner counts as an expiry (H3, T4);
//   - the next Ping is the empty Ping (same heartbeat and folders), and a
//     change injected into the folder while it is held answers it promptly
//     with status 2 and the folder, which the loop syncs through the
//     SyncFunc: a real EAS Sync that returns the added item (T4).
//
// Wrong credentials and a Ping on a folder the device never synced end a
// loop's Run with ErrAuthFailed and ErrFolderSyncRequired; a device that
// must Provision gets ErrProvisioningRequired from FolderSync.
func TestHordeLoop(t *testing.T) {
	t.Parallel()
	srv := startHorde(t, hordeConfig{password: "secret", provisionUser: "provisioned"})
	srv.setBounds(t, 10, 120, 1)
	const notes = "@Notes@"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	log := &pingLog{base: http.DefaultTransport}
	client, err := NewClient(Config{URL: srv.URL, User: "frank", DeviceID: "LOOP1", AllowInsecureHTTP: true,
		Prepare: BasicAuth("frank", "secret"), HTTPClient: &http.Client{Transport: log}})
	if err != nil {
		t.Fatal(err)
	}
	folders, err := client.FolderSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if class, ok := client.Codec().Class(notes); !ok || class != ClassNotes {
		t.Fatalf("FolderSync listed %+v: no Notes folder %s", folders, notes)
	}
	if _, err := client.Sync(ctx, notes); err != nil { // prime: Horde answers 132 otherwise
		t.Fatal(err)
	}

	tuner, err := heartbeat.New(heartbeat.Config{Min: 2 * time.Second, Default: 2 * time.Second, Max: 600 * time.Second,
		Increment: 10 * time.Second, Buffer: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan transport.Event, 100)
	synced := make(chan []SyncCollectionResult, 10)
	loop, err := transport.NewLoop(transport.Config{
		Pinger:  client.Pinger(),
		Tuner:   tuner,
		Folders: []string{notes},
		Sync: func(ctx context.Context, folders []string) error {
			res, err := client.Sync(ctx, folders...)
			synced <- res
			return err
		},
		OnEvent: func(e transport.Event) { events <- e },
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- loop.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	}()

	// next waits for the next event of kind, failing on a failed ping or
	// sync and when the test's time runs out.
	next := func(kind transport.EventKind) transport.Event {
		t.Helper()
		for {
			select {
			case e := <-events:
				t.Logf("%6.2fs %v", time.Since(start).Seconds(), e)
				if e.Kind == transport.PingFailed || e.Kind == transport.SyncFailed {
					t.Fatalf("unexpected %v", e)
				}
				if e.Kind == kind {
					return e
				}
			case err := <-done:
				t.Fatalf("Run returned %v while waiting for %v", err, kind)
			case <-ctx.Done():
				t.Fatalf("no %v within the test's time", kind)
			}
		}
	}

	// 1. Status 5: the server's minimum.
	if e := next(transport.PingStarted); e.Interval != 2*time.Second {
		t.Fatalf("first ping at %v, want the device's 2s", e.Interval)
	}
	if e := next(transport.PingAnswered); e.Status != transport.OutOfBounds || e.Elapsed > 2*time.Second {
		t.Fatalf("first answer %v, want out-of-bounds at once", e)
	}
	if e := next(transport.ServerBounds); e.ServerMin != 10*time.Second || e.ServerMax != 0 {
		t.Fatalf("server bounds %v, want min 10s", e)
	}

	// 2. Status 1 at the heartbeat.
	if e := next(transport.PingStarted); e.Interval != 10*time.Second {
		t.Fatalf("second ping at %v, want the server's minimum 10s", e.Interval)
	}
	// Horde holds a Ping while time() < start + heartbeat with start =
	// time() at its beginning: PHP's time() counts whole seconds, so a
	// Ping that begins at 0.9 s past a second is answered 9.1 s later.
	// What is guaranteed is more than the heartbeat less one second, and
	// an answer before the ping's deadline (heartbeat + 5 s buffer),
	// which the loop would otherwise have counted a timeout.
	e := next(transport.PingAnswered)
	if e.Status != transport.Expired || e.Elapsed <= 9*time.Second || e.Elapsed >= 15*time.Second {
		t.Fatalf("second answer %v, want expired after more than the 10s heartbeat less Horde's 1s granularity", e)
	}
	expiredAfter := e.Elapsed

	// 3. Status 2 promptly after a change during the (empty) Ping.
	if e := next(transport.PingStarted); e.Interval != 10*time.Second {
		t.Fatalf("third ping at %v, want 10s", e.Interval)
	}
	injected := time.Now()
	wait := srv.injectAfter(time.Second, "frank", notes, "UID_LOOP_1")
	e = next(transport.PingAnswered)
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if e.Status != transport.Changed || !reflect.DeepEqual(e.Folders, []string{notes}) {
		t.Fatalf("third answer %v, want changed [%s]", e, notes)
	}
	changedAfter := time.Since(injected) - time.Second // Horde polls every second
	if e.Elapsed >= 5*time.Second {
		t.Errorf("status 2 took %v after a change at 1s into a 10s heartbeat", e.Elapsed)
	}
	if e := next(transport.SyncDone); !reflect.DeepEqual(e.Folders, []string{notes}) {
		t.Fatalf("synced %v, want [%s]", e.Folders, notes)
	}
	res := <-synced
	if len(res) != 1 || res[0].CollectionID != notes || !reflect.DeepEqual(res[0].Added, []string{"UID_LOOP_1"}) {
		t.Fatalf("the loop's Sync returned %+v, want UID_LOOP_1 added to %s", res, notes)
	}
	next(transport.PingStarted) // pinging resumed
	t.Logf("status 1 after %v at a 10s heartbeat; status 2 %v after the change; whole run %v",
		expiredAfter.Round(time.Millisecond), changedAfter.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	// The second Ping was full, the third the empty Ping Horde accepted.
	if sizes := log.sizes(); len(sizes) < 3 || sizes[0] == 0 || sizes[1] == 0 || sizes[2] != 0 {
		t.Errorf("Ping body sizes %v, want full, full, empty", sizes)
	}
	s := loop.Snapshot()
	if c := s.Counts; c.OutOfBounds != 1 || c.Expired != 1 || c.Changed != 1 || c.Syncs != 1 || c.Errors != 0 {
		t.Errorf("counts %+v", c)
	}

	// Refusals end Run with the eas sentinel, through the pinger: wrong
	// credentials, and a device that pings a folder it never synced (Horde
	// answers 132; Exchange 7).
	for _, tt := range []struct {
		user, password string
		want           error
	}{
		{"frank", "wrong", ErrAuthFailed},
		{"grace", "secret", ErrFolderSyncRequired},
	} {
		c, err := NewClient(Config{URL: srv.URL, User: tt.user, DeviceID: "REFUSED", AllowInsecureHTTP: true,
			Prepare: BasicAuth(tt.user, tt.password), Classes: map[string]string{notes: ClassNotes}})
		if err != nil {
			t.Fatal(err)
		}
		tuner, err := heartbeat.New(heartbeat.Config{Min: 10 * time.Second, Buffer: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		l, err := transport.NewLoop(transport.Config{Pinger: c.Pinger(), Tuner: tuner, Folders: []string{notes}})
		if err != nil {
			t.Fatal(err)
		}
		err = l.Run(ctx)
		t.Logf("%s/%s: Run = %v", tt.user, tt.password, err)
		if !errors.Is(err, tt.want) || !errors.Is(err, transport.ErrRejected) {
			t.Errorf("%s/%s: Run = %v, want %v", tt.user, tt.password, err, tt.want)
		}
	}

	// Horde wants Provision before FolderSync and Sync (HTTP 449); Ping it
	// does not guard.
	c, err := NewClient(Config{URL: srv.URL, User: "provisioned", DeviceID: "PROV", AllowInsecureHTTP: true,
		Prepare: BasicAuth("provisioned", "secret")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.FolderSync(ctx)
	t.Logf("provisioned: FolderSync = %v", err)
	var re *transport.ResponseError
	if !errors.Is(err, ErrProvisioningRequired) || !errors.As(err, &re) || re.Response.StatusCode != 449 {
		t.Errorf("FolderSync of a device that must Provision = %v, want ErrProvisioningRequired (HTTP 449)", err)
	}
}
