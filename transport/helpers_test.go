package transport_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/transport"
	"github.com/pushbeat/pushbeat/transport/internal/stall"
	"github.com/pushbeat/pushbeat/transport/pingtest"
)

// Helpers shared by the loop, end-to-end, fault, herd and scale tests.

// patience is how long a test over real sockets waits for something that
// must happen (a ping held, the tuner settling). It bounds only a broken
// test, never what a test asserts: a machine with a load of 24 on 2 cores
// took 20 s for what takes 3 s alone.
const patience = time.Minute

// recorder keeps a loop's events (Config.OnEvent: add) and wakes until on
// each new one.
type recorder struct {
	mu     sync.Mutex
	events []transport.Event
	wake   chan struct{}
}

func newRecorder() *recorder { return &recorder{wake: make(chan struct{}, 1)} }

func (r *recorder) add(e transport.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// all returns a copy of the events so far.
func (r *recorder) all() []transport.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]transport.Event(nil), r.events...)
}

// kinds returns the names of the events of the given kinds, in order.
func (r *recorder) kinds(filter ...transport.EventKind) []string {
	var out []string
	for _, e := range r.all() {
		for _, k := range filter {
			if e.Kind == k {
				out = append(out, e.Kind.String())
			}
		}
	}
	return out
}

// find returns the events of kind k.
func (r *recorder) find(k transport.EventKind) []transport.Event {
	var out []transport.Event
	for _, e := range r.all() {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// until waits, at most limit of real time, for cond to hold over the
// events so far; it fails the test, logging every event, if it does not.
func (r *recorder) until(t *testing.T, limit time.Duration, what string, cond func([]transport.Event) bool) {
	t.Helper()
	deadline := time.After(limit)
	for {
		events := r.all()
		if cond(events) {
			return
		}
		select {
		case <-r.wake:
		case <-deadline:
			for _, ev := range r.all() {
				t.Log(ev)
			}
			t.Fatalf("after %v: %s did not happen", limit, what)
		}
	}
}

func count(events []transport.Event, keep func(transport.Event) bool) int {
	n := 0
	for _, ev := range events {
		if keep(ev) {
			n++
		}
	}
	return n
}

func isKind(k transport.EventKind) func(transport.Event) bool {
	return func(ev transport.Event) bool { return ev.Kind == k }
}

func failedWith(kind error) func(transport.Event) bool {
	return func(ev transport.Event) bool { return ev.Kind == transport.PingFailed && errors.Is(ev.Err, kind) }
}

// failureKinds are the documented kinds of ping failure (Pinger).
var failureKinds = []error{transport.ErrTimedOut, transport.ErrProxyTimeout, transport.ErrClosed,
	transport.ErrNetworkLost, transport.ErrServer, transport.ErrProtocol, transport.ErrRejected}

// failureKind returns the documented kind err matches, or nil.
func failureKind(err error) error {
	for _, k := range failureKinds {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}

// failureName names err's kind for a report: "ping timed out", "other".
func failureName(err error) string {
	if k := failureKind(err); k != nil {
		return strings.TrimPrefix(k.Error(), "transport: ")
	}
	return "other"
}

// announcedWait is a wait a backoff controller announced: at At, no
// attempt before Until.
type announcedWait struct {
	at, until time.Time
}

// waitLog records the waits a controller announces (backoff.Policy.OnChange:
// onChange), each stamped with the real time at which it was announced.
type waitLog struct {
	mu    sync.Mutex
	waits []announcedWait
}

func (w *waitLog) onChange(from, to backoff.Status) {
	if to.Next.IsZero() || to.Next.Equal(from.Next) {
		return
	}
	now := time.Now()
	w.mu.Lock()
	w.waits = append(w.waits, announcedWait{at: now, until: to.Next})
	w.mu.Unlock()
}

func (w *waitLog) all() []announcedWait {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]announcedWait(nil), w.waits...)
}

// serverUntil polls the server's stats every 10 ms until cond holds,
// failing the test if limit of real time passes first.
func serverUntil(t *testing.T, srv *pingtest.Server, limit time.Duration, what string, cond func(pingtest.Stats) bool) {
	t.Helper()
	waitFor(t, limit, what, func() bool { return cond(srv.Stats()) }, func() string { return fmt.Sprintf("server %+v", srv.Stats()) })
}

// waitFor polls cond every 10 ms until it holds, failing the test with
// state() if limit of real time passes first. The limit only bounds a test
// that is broken; it is never what a test asserts.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool, state func() string) {
	t.Helper()
	for end := time.Now().Add(limit); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %v (%s)", what, limit, state())
		}
	}
}

// sendLog is an http.RoundTripper that records when each request was handed
// to the transport: the instant a request is sent, on the client's side.
// A server reads a request later, and on a loaded machine possibly after
// the client has given up on it and its controller has started a wait, so
// the server's arrival times cannot tell whether a request was sent during
// a wait; these can.
type sendLog struct {
	next http.RoundTripper
	mu   sync.Mutex
	sent []time.Time
}

// logSends returns a copy of client whose requests s records.
func (s *sendLog) logSends(client *http.Client) *http.Client {
	c := *client
	s.next = c.Transport
	if s.next == nil {
		s.next = http.DefaultTransport
	}
	c.Transport = s
	return &c
}

func (s *sendLog) RoundTrip(r *http.Request) (*http.Response, error) {
	now := time.Now()
	s.mu.Lock()
	s.sent = append(s.sent, now)
	s.mu.Unlock()
	return s.next.RoundTrip(r)
}

func (s *sendLog) all() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.sent...)
}

// stallMeter returns the process's stall meter for the rest of the test.
// Bounds on lateness in these tests are in running time (stall.Meter's
// Running): how late something came, less the time the process did not
// run meanwhile. A loaded machine stops clients, servers and middlebox
// alike; it cannot stretch running time, while a ping that ignores its
// deadline or a loop that oversleeps still does.
func stallMeter(t *testing.T) *stall.Meter {
	m := stall.Acquire()
	t.Cleanup(m.Release)
	return m
}

// childCommand returns a command that runs this test binary again as a
// child process, running only the test named test (a TestXxx in this
// package that acts its part when it finds its role in env), with env
// added to the environment, no timeout, and its standard error on ours.
func childCommand(test string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v", "-test.timeout=0")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	return cmd
}

// startChild starts childCommand(test, env...) with pipes to its standard
// input and from its standard output. The caller kills and waits for it.
func startChild(t *testing.T, test string, env ...string) (*exec.Cmd, io.WriteCloser, io.ReadCloser) {
	t.Helper()
	cmd := childCommand(test, env...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, in, out
}
