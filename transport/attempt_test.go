package transport_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/transport"
	"github.com/pushbeat/pushbeat/transport/pingtest"
)

// attemptOf returns what a request's headers say about the retry attempt
// (SPEC B9): "-" without the header, else its values joined.
func attemptOf(h http.Header) string {
	vs, ok := h[backoff.HeaderRetryAttempt]
	if !ok {
		return "-"
	}
	return strings.Join(vs, ",")
}

// TestLoopAttemptHeader: the header is named only in backoff.Policy, and
// the Loop's pings carry it while the controller counts failures, with
// the failure count as its value, the same number Status().Failures and
// Controller.SetAttemptHeader give; not on the first attempt, not after
// a success, and not at all when the policy names no header (SPEC B9).
// After a server error the loop syncs before it pings again (SPEC T4), and
// a successful sync ends the failures, so those pings carry it only for a
// loop without a SyncFunc; the sync's own requests carry it when they go
// through Controller.Transport. A server that refuses connections while
// it restarts is retried on the reconnect ladder, whose steps count as one
// failure (SPEC L1, B6): "1" each time.
func TestLoopAttemptHeader(t *testing.T) {
	serverError := step{took: time.Second, err: transport.ErrServer, code: 500}
	refused := step{took: 10 * time.Millisecond, err: transport.ErrRefused, bare: true}
	named := backoff.Policy{AttemptHeader: backoff.HeaderRetryAttempt}
	serverErrors := []step{serverError, serverError, serverError, serverError, expired, serverError, expired, expired}
	for _, tc := range []struct {
		name   string
		policy backoff.Policy
		noSync bool
		script []step
		want   []string
	}{
		// Four failures reach the Secondary phase; the count goes on.
		{"server-errors", named, true, serverErrors, []string{"-", "1", "2", "3", "4", "-", "1", "-"}},
		{"non-canonical", backoff.Policy{AttemptHeader: "x-retry-attempt"}, true, serverErrors, []string{"-", "1", "2", "3", "4", "-", "1", "-"}},
		{"unnamed", backoff.Policy{}, true, serverErrors, []string{"-", "-", "-", "-", "-", "-", "-", "-"}},
		{"server-errors-synced", named, false, serverErrors, []string{"-", "-", "-", "-", "-", "-", "-", "-"}},
		{"refused", named, false, []step{refused, refused, refused, expired, expired}, []string{"-", "1", "1", "1", "-"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				bo, err := backoff.New(tc.policy)
				if err != nil {
					t.Fatal(err)
				}
				// What the controller says as each ping starts: its failure
				// count and what SetAttemptHeader writes.
				var failures []int
				var direct []string
				h := startLoop(t, slices.Clone(tc.script), func(c *transport.Config) {
					c.Backoff = bo
					if tc.noSync {
						c.Sync = nil
					}
					c.OnEvent = func(e transport.Event) {
						if e.Kind == transport.PingStarted {
							failures = append(failures, bo.Status().Failures)
							hd := http.Header{}
							bo.SetAttemptHeader(hd)
							direct = append(direct, attemptOf(hd))
						}
					}
				}, nil)
				advance(48 * time.Hour)
				h.stop()
				var got []string
				for i, r := range h.pinger.reqs {
					got = append(got, attemptOf(r.Header))
					if (r.Header == nil) != (got[i] == "-") || len(r.Header) > 1 {
						t.Errorf("ping %d: Header %v; want the attempt header alone, or nil", i+1, r.Header)
					}
				}
				if len(got) != len(tc.script)+1 { // the last ping waits for the end
					t.Fatalf("%d pings for a script of %d", len(got), len(tc.script))
				}
				if got = got[:len(tc.script)]; !slices.Equal(got, tc.want) {
					t.Fatalf("attempt headers of the pings %q, want %q", got, tc.want)
				}
				if !slices.Equal(got, direct[:len(got)]) {
					t.Errorf("pings %q, Controller.SetAttemptHeader as each started %q: want the same", got, direct)
				}
				if tc.policy.AttemptHeader != "" {
					for i, n := range failures[:len(got)] {
						if n > 0 && got[i] != strconv.Itoa(n) || n == 0 && got[i] != "-" {
							t.Errorf("ping %d: header %q with Status().Failures %d", i+1, got[i], n)
						}
					}
				}
			})
		})
	}
}

// TestLoopAttemptHeaderOnTheWire: a Loop's HTTPPinger, with the header
// named only in backoff.Policy, sends it on the wire to a real pingtest
// server while backing off from two 500 answers, and stops after the
// answer that succeeds (SPEC B9). A tap between the client and the server
// parses each request off the TCP stream as it passes.
func TestLoopAttemptHeaderOnTheWire(t *testing.T) {
	srv, err := pingtest.NewServer(pingtest.Config{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	tap := newWireTap(t, srv.Addr())
	client := &http.Client{Transport: transport.NewHTTPTransport()}
	t.Cleanup(client.CloseIdleConnections)
	p, err := transport.NewHTTPPinger(transport.HTTPConfig{URL: "http://" + tap.addr() + "/ping", Client: client, AllowInsecureHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	// A one-second heartbeat with a second of buffer: the answers that
	// matter come at once (500, then a pending change), so a loaded machine
	// has a whole second before any of them could count as a timeout.
	tuner, err := heartbeat.New(heartbeat.Config{Min: time.Second, Default: time.Second, Max: 2 * time.Second, Buffer: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	bo, err := backoff.New(backoff.Policy{AttemptHeader: backoff.HeaderRetryAttempt, Base: 50 * time.Millisecond, Cap: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Inject(2, pingtest.Fault{Kind: pingtest.ErrorStatus, Status: 500}); err != nil {
		t.Fatal(err)
	}
	srv.PostChange("inbox") // faults never consume it: the third ping gets it
	// No SyncFunc: the loop pings again right after a server error, rather
	// than syncing first (TestLoopAttemptHeader).
	loop, err := transport.NewLoop(transport.Config{Pinger: p, Tuner: tuner, Backoff: bo, Folders: []string{"inbox"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- loop.Run(ctx) }()
	const pings = 4
	got := tap.waitFor(t, pings, patience)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}
	if want := []string{"-", "1", "2", "-"}; !slices.Equal(got[:pings], want) {
		for _, r := range srv.Log() {
			t.Log(r)
		}
		t.Fatalf("X-Retry-Attempt on the wire %q, want %q", got, want)
	}
	if st := srv.Log(); len(st) < 3 || st[0].Status != 500 || st[1].Status != 500 || st[2].Answer != pingtest.Changed {
		t.Errorf("server log %+v: want two 500s, then the change", st)
	}
}

// wireTap relays TCP connections to a server and parses the requests the
// clients send as the bytes pass, recording each one's attempt header.
type wireTap struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu     sync.Mutex
	seen   []string      // attemptOf each request, in the order they passed
	conns  []net.Conn    // every connection, closed by close
	closed bool          // close has closed conns
	wake   chan struct{} // a request passed
}

func newWireTap(t *testing.T, target string) *wireTap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &wireTap{ln: ln, target: target, wake: make(chan struct{}, 1)}
	w.wg.Add(1)
	go w.accept()
	t.Cleanup(w.close)
	return w
}

func (w *wireTap) addr() string { return w.ln.Addr().String() }

func (w *wireTap) accept() {
	defer w.wg.Done()
	for {
		c, err := w.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", w.target)
		if err != nil {
			c.Close()
			continue
		}
		w.mu.Lock()
		if w.closed {
			w.mu.Unlock()
			c.Close()
			up.Close()
			return
		}
		w.conns = append(w.conns, c, up)
		w.mu.Unlock()
		w.wg.Add(2)
		go func() {
			defer w.wg.Done()
			_, _ = io.Copy(c, up)
			c.Close()
		}()
		go func() {
			defer w.wg.Done()
			defer up.Close()
			// Whatever is read from the client goes to the server as it is.
			br := bufio.NewReader(io.TeeReader(c, up))
			for {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				w.mu.Lock()
				w.seen = append(w.seen, attemptOf(req.Header))
				w.mu.Unlock()
				select {
				case w.wake <- struct{}{}:
				default:
				}
				if _, err := io.Copy(io.Discard, req.Body); err != nil {
					return
				}
			}
		}()
	}
}

// waitFor waits, at most limit, until n requests have passed, and returns
// what passed.
func (w *wireTap) waitFor(t *testing.T, n int, limit time.Duration) []string {
	t.Helper()
	deadline := time.After(limit)
	for {
		w.mu.Lock()
		seen := slices.Clone(w.seen)
		w.mu.Unlock()
		if len(seen) >= n {
			return seen
		}
		select {
		case <-w.wake:
		case <-deadline:
			t.Fatalf("%d requests passed within %v (%q), want %d", len(seen), limit, seen, n)
		}
	}
}

func (w *wireTap) close() {
	w.ln.Close()
	w.mu.Lock()
	w.closed = true
	for _, c := range w.conns {
		c.Close()
	}
	w.mu.Unlock()
	w.wg.Wait()
}
