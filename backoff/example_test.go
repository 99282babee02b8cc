package backoff_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/pushbeat/pushbeat/backoff"
)

// at2pm returns a mock clock at 14:00 UTC, so that the printed times are
// the same everywhere.
func at2pm() *clock.Mock {
	mock := clock.NewMock()
	mock.Set(time.Date(2025, time.January, 1, 14, 0, 0, 0, time.UTC))
	return mock
}

// mid is a Rand that always draws the middle of the range, so the output
// is fixed. Real programs leave Rand nil.
func mid() float64 { return 0.5 }

// reply builds the response a server sent.
func reply(status int, kv ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return &http.Response{StatusCode: status, Header: h, Body: http.NoBody}
}

// One controller per account: every engine asks it before syncing. The
// server answers the second engine with 503 + Retry-After, so the third is
// halted too (B1).
func Example() {
	c, err := backoff.New(backoff.Policy{Clock: at2pm(), Rand: mid})
	if err != nil {
		panic(err)
	}
	server := map[string]*http.Response{
		"bookmarks": reply(200),
		"history":   reply(503, "Retry-After", "600"),
		"passwords": reply(200),
	}
	for _, engine := range []string{"bookmarks", "history", "passwords"} {
		if err := c.Allow(); err != nil {
			fmt.Printf("%-9s skipped: %v\n", engine, err)
			continue
		}
		d := c.Observe(server[engine], nil)
		fmt.Printf("%-9s %d: %v\n", engine, server[engine].StatusCode, d.Class)
	}
	fmt.Println(c.Status().Message)
	// Output:
	// bookmarks 200: success
	// history   503: maintenance
	// passwords skipped: backoff: maintenance: no attempt before 2025-01-01T14:11:15Z
	// Server maintenance: next sync at 14:12
}

// A user interface loop: after each scheduled attempt it shows the phase,
// whether the "Sync now" button is enabled, and the message (B6, B7). The
// server fails four times in a row, then recovers.
func ExampleController_Status() {
	mock := at2pm()
	c, _ := backoff.New(backoff.Policy{Clock: mock, Rand: mid})
	for _, status := range []int{500, 500, 502, 500, 200} {
		if next := c.Status().Next; !next.IsZero() {
			mock.Set(next) // the application's timer fires when the wait is over
		}
		c.Observe(reply(status), nil)
		st := c.Status()
		button := "disabled"
		if st.ManualRetryAllowed {
			button = "enabled"
		}
		fmt.Printf("%s %d  %-9s  sync now %-8s  %s\n", mock.Now().Format("15:04"), status, st.Phase, button, st.Message)
	}
	// Output:
	// 14:00 500  initial    sync now enabled   Server error: retrying automatically at 14:23
	// 14:22 500  initial    sync now enabled   Server error: retrying automatically at 15:08
	// 15:07 502  initial    sync now enabled   Server error: retrying automatically at 16:15
	// 16:15 500  secondary  sync now disabled  Data is not syncing (4 failed attempts). Server error: next sync at 17:45
	// 17:45 200  none       sync now enabled   Syncing normally
}

// Account creation uses the same controller as syncing (B8): an X-Backoff
// on the registration response holds the initial sync back.
func Example_registration() {
	mock := at2pm()
	c, _ := backoff.New(backoff.Policy{Clock: mock, Rand: mid})

	d := c.Observe(reply(http.StatusCreated, "X-Backoff", "1800"), nil) // POST /user: created
	fmt.Println("account created; the server asks for", d.Requested)

	err := c.Allow() // the initial sync asks
	var we *backoff.WaitError
	if errors.As(err, &we) {
		fmt.Println("initial sync held until", we.Until.Format("15:04:05"), "because of", we.Reason)
	}
	mock.Add(d.Delay)
	fmt.Println("at", mock.Now().Format("15:04:05"), "the initial sync may start:", c.Allow() == nil)
	// Output:
	// account created; the server asks for 30m0s
	// initial sync held until 14:33:45 because of server-backoff
	// at 14:33:45 the initial sync may start: true
}

// The user may retry once by hand in the Initial phase, but not while the
// server's own delay is in force (B6).
func ExampleController_ManualRetry() {
	mock := at2pm()
	c, _ := backoff.New(backoff.Policy{Clock: mock, Rand: mid})

	c.Observe(reply(500), nil)
	fmt.Println("first manual retry:", c.ManualRetry(), "/ allowed now:", c.Allow() == nil)
	c.Observe(reply(500), nil) // the manual attempt failed too
	fmt.Println("second manual retry:", c.ManualRetry())

	c.Observe(reply(200), nil)
	c.Observe(reply(503, "Retry-After", "600"), nil)
	fmt.Println("during maintenance:", errors.Is(c.ManualRetry(), backoff.ErrManualRetryDenied))
	// Output:
	// first manual retry: <nil> / allowed now: true
	// second manual retry: backoff: manual retry not allowed: the manual retry was used
	// during maintenance: true
}

// Wrapping an http.Client's transport applies the whole policy to every
// request: here the fake server (no network) answers 503 + Retry-After, and
// the next request is refused without reaching it. The attempt header (B9)
// tells the server how far behind the client is.
func ExampleController_Transport() {
	mock := at2pm()
	c, _ := backoff.New(backoff.Policy{Clock: mock, Rand: mid, AttemptHeader: backoff.HeaderRetryAttempt})
	server := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		fmt.Printf("server: %s %s %s=%q\n", r.Method, r.URL.Path, backoff.HeaderRetryAttempt, r.Header.Get(backoff.HeaderRetryAttempt))
		return reply(503, "Retry-After", "120"), nil
	})
	client := &http.Client{Transport: c.Transport(server)}

	get := func() {
		resp, err := client.Get("https://sync.example/1.5/42/info/collections")
		if err != nil {
			fmt.Println("client:", errors.Is(err, backoff.ErrBackoff), err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Println("client:", resp.StatusCode)
	}
	get()
	get()                       // refused at once
	mock.Add(135 * time.Second) // Retry-After 120 s plus fuzz
	get()                       // the first retry
	// Output:
	// server: GET /1.5/42/info/collections X-Retry-Attempt=""
	// client: 503
	// client: true Get "https://sync.example/1.5/42/info/collections": backoff: maintenance: no attempt before 2025-01-01T14:02:15Z
	// server: GET /1.5/42/info/collections X-Retry-Attempt="1"
	// client: 503
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// ParseRetryAfter reads both forms of Retry-After; a date in the past
// means "now".
func ExampleParseRetryAfter() {
	now := time.Date(2025, time.January, 1, 14, 0, 0, 0, time.UTC)
	for _, v := range []string{"600", "Wed, 01 Jan 2025 14:10:00 GMT", "Sun, 06 Nov 1994 08:49:37 GMT", "1e9"} {
		d, err := backoff.ParseRetryAfter(v, now)
		fmt.Printf("%-31q %v %v\n", v, d, err)
	}
	// Output:
	// "600"                           10m0s <nil>
	// "Wed, 01 Jan 2025 14:10:00 GMT" 10m0s <nil>
	// "Sun, 06 Nov 1994 08:49:37 GMT" 0s <nil>
	// "1e9"                           0s backoff: malformed header value (3 bytes): not a non-negative integer
}

// A server that answers 200 but says inside the body that it is in
// trouble (EAS Ping status 8) is a server error for the backoff rules:
// ObserveOutcome records it as one, with the answer's X-Backoff, without
// making up a 500 (B2, B5).
func ExampleController_ObserveOutcome() {
	c, err := backoff.New(backoff.Policy{Clock: at2pm(), Rand: mid})
	if err != nil {
		panic(err)
	}
	answer := reply(200, "X-Backoff", "1800") // the body said: server error
	d := c.ObserveOutcome(backoff.Observation{Class: backoff.ServerError, Header: answer.Header})
	fmt.Println(d.Class, d.Failures, d.Requested, c.Status().Reason)
	fmt.Println(c.Status().Message)
	// Output:
	// server-error 1 30m0s server-backoff
	// Server busy: next sync at 14:34
}

// Classify says what kind of outcome a response or an error is; the
// controller's Status then says why it waits (B1-B3, L1).
func ExampleClassify() {
	for _, status := range []int{200, 503, 429, 502, 408, 404} {
		fmt.Println(status, backoff.Classify(reply(status), nil).Class)
	}
	fmt.Println(backoff.Classify(nil, errors.New("dial tcp: i/o timeout")).Class)
	fmt.Println(backoff.Classify(nil, context.Canceled).Class)
	fmt.Println(backoff.Classify(nil, fmt.Errorf("connection refused: %w", backoff.ErrInstant)).Class)
	// Output:
	// 200 success
	// 503 maintenance
	// 429 rate-limited
	// 502 server-error
	// 408 network-error
	// 404 client-error
	// network-error
	// canceled
	// instant
}

// A server restarting refuses connections for a few seconds. The caller
// marks attempts that end at once with ErrInstant, and the controller
// spaces them with its reconnect ladder, one failure for the phases (L1).
func ExampleErrInstant() {
	mock := at2pm()
	c, err := backoff.New(backoff.Policy{Clock: mock, Rand: mid})
	if err != nil {
		panic(err)
	}
	refused := fmt.Errorf("dial: connection refused: %w", backoff.ErrInstant)
	for range 3 {
		d := c.Observe(nil, refused) // of class Instant
		fmt.Println(d.Class, c.Status().Reason, d.Phase, d.Failures, d.Delay)
		mock.Add(d.Delay) // the next attempt, when allowed
	}
	fmt.Println(c.Observe(reply(200), nil).Class, c.Status().Reason)
	// Output:
	// instant reconnecting initial 1 1.5s
	// instant reconnecting initial 1 3s
	// instant reconnecting initial 1 6s
	// success none
}
