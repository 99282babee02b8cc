package backoff

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// closeRecorder is a request body that records whether it was closed.
type closeRecorder struct {
	io.Reader
	closed atomic.Bool
}

func (b *closeRecorder) Close() error { b.closed.Store(true); return nil }

// TestTransportRefusesWhileBackingOff: once a 503 + Retry-After comes back
// through the transport, later requests fail with the *WaitError without
// reaching the server, and their bodies are closed (B1, RoundTripper
// contract).
func TestTransportRefusesWhileBackingOff(t *testing.T) {
	c, mock := newTestController(t, Policy{})
	var calls atomic.Int32
	rt := c.Transport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		calls.Add(1)
		return &http.Response{StatusCode: 503, Header: http.Header{"Retry-After": {"600"}},
			Body: io.NopCloser(strings.NewReader("down for maintenance"))}, nil
	}))
	req, _ := http.NewRequest("GET", "https://sync.example/info", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("first RoundTrip = %v, %v", resp, err)
	}
	if body, _ := io.ReadAll(resp.Body); string(body) != "down for maintenance" {
		t.Fatalf("response body = %q, not passed through untouched", body)
	}
	for i, at := range []time.Duration{0, 674 * time.Second} {
		mock.Set(t0.Add(at))
		body := &closeRecorder{Reader: strings.NewReader("{}")}
		req, _ := http.NewRequest("POST", "https://sync.example/storage", body)
		resp, err := rt.RoundTrip(req)
		var we *WaitError
		if resp != nil || !errors.Is(err, ErrBackoff) || !errors.As(err, &we) || we.Reason != ReasonMaintenance {
			t.Fatalf("step %d: RoundTrip = %v, %v want a maintenance *WaitError", i, resp, err)
		}
		if !body.closed.Load() {
			t.Fatalf("step %d: refused request's body was not closed", i)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("the server was contacted %d times, want 1", n)
	}
	mock.Set(t0.Add(675 * time.Second))
	if _, err := rt.RoundTrip(req); err != nil || calls.Load() != 2 {
		t.Fatalf("after the wait: RoundTrip error %v, %d calls", err, calls.Load())
	}
}

// TestTransportAttemptHeader: while failing, the attempt number goes on a
// clone of the request; the caller's request is never modified (B9,
// RoundTripper contract). A request with a nil Header works too.
func TestTransportAttemptHeader(t *testing.T) {
	c, mock := newTestController(t, Policy{AttemptHeader: HeaderRetryAttempt})
	var sent []string
	status := 500
	rt := c.Transport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = append(sent, r.Header.Get(HeaderRetryAttempt))
		return &http.Response{StatusCode: status, Header: http.Header{}, Body: http.NoBody}, nil
	}))
	for i := range 3 {
		req, _ := http.NewRequest("GET", "https://sync.example/info", nil)
		if i == 2 {
			req.Header = nil
			status = 200
		}
		if _, err := rt.RoundTrip(req); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if len(req.Header) != 0 {
			t.Fatalf("step %d: the caller's request was modified: %v", i, req.Header)
		}
		mock.Add(2 * time.Hour)
	}
	if got := strings.Join(sent, ","); got != ",1,2" {
		t.Fatalf("X-Retry-Attempt sent = %q want \",1,2\"", got)
	}
}

// TestTransportObservesErrors: transport errors count as network errors
// (B3) and are returned unchanged; a nil base means http.DefaultTransport.
func TestTransportObservesErrors(t *testing.T) {
	c, _ := newTestController(t, Policy{})
	rt := c.Transport(roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, netErr }))
	req, _ := http.NewRequest("GET", "https://sync.example/info", nil)
	if _, err := rt.RoundTrip(req); err != netErr {
		t.Fatalf("RoundTrip error = %v want %v", err, netErr)
	}
	if st := c.Status(); st.Failures != 1 || st.Reason != ReasonNetworkError {
		t.Fatalf("Status() = %v after a network error", st)
	}
	if base := c.Transport(nil).(*roundTripper).base; base != http.DefaultTransport {
		t.Fatalf("nil base = %v want http.DefaultTransport", base)
	}
}

// idleCloser records CloseIdleConnections calls.
type idleCloser struct {
	roundTripFunc
	closed bool
}

func (i *idleCloser) CloseIdleConnections() { i.closed = true }

// TestTransportCloseIdleConnections: http.Client.CloseIdleConnections
// reaches the base transport through the wrapper.
func TestTransportCloseIdleConnections(t *testing.T) {
	c, _ := newTestController(t, Policy{})
	base := &idleCloser{}
	(&http.Client{Transport: c.Transport(base)}).CloseIdleConnections()
	if !base.closed {
		t.Fatal("CloseIdleConnections did not reach the base RoundTripper")
	}
	c.Transport(roundTripFunc(nil)).(interface{ CloseIdleConnections() }).CloseIdleConnections() // no panic without one
}

// TestTransportLoopback: an http.Client over a loopback test server. After
// the server's 503 + Retry-After, the client's next request fails with the
// *WaitError inside *url.Error and never reaches the server; X-Backoff on a
// 200 is honoured while the response is still delivered (B1, B5).
func TestTransportLoopback(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch hits.Add(1) {
		case 1:
			w.Header().Set("X-Backoff", "60")
			io.WriteString(w, "ok")
		default:
			w.Header().Set("Retry-After", "600")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	c, mock := newTestController(t, Policy{})
	client := &http.Client{Transport: c.Transport(srv.Client().Transport)}

	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" || c.Status().Reason != ReasonServerBackoff {
		t.Fatalf("200 + X-Backoff: body %q, status %v", body, c.Status())
	}
	if _, err := client.Get(srv.URL); !errors.Is(err, ErrBackoff) {
		t.Fatalf("during X-Backoff: Get error = %v", err)
	}
	mock.Add(time.Hour)
	resp, err = client.Get(srv.URL)
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("after X-Backoff: Get = %v, %v", resp, err)
	}
	resp.Body.Close()
	_, err = client.Get(srv.URL)
	var we *WaitError
	if !errors.As(err, &we) || we.Reason != ReasonMaintenance {
		t.Fatalf("after 503: Get error = %v want a maintenance *WaitError", err)
	}
	if n := hits.Load(); n != 2 {
		t.Fatalf("server hit %d times, want 2", n)
	}
}

// TestTransportConcurrent: the RoundTripper is safe for concurrent use (run
// with -race), and under load it keeps the contract: every call either
// reaches the base and returns its answer unchanged (a response and no
// error, or the base's error) or is refused with a *WaitError and no
// response; none is lost or answered twice.
func TestTransportConcurrent(t *testing.T) {
	c, _ := newTestController(t, Policy{AttemptHeader: HeaderRetryAttempt})
	var calls, refused atomic.Int32
	rt := c.Transport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if calls.Add(1)%3 == 0 {
			return nil, netErr
		}
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}, nil
	}))
	const goroutines, each = 8, 50
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				req, _ := http.NewRequest("GET", "https://sync.example/", nil)
				resp, err := rt.RoundTrip(req)
				switch {
				case err == nil && resp != nil:
					resp.Body.Close()
				case errors.Is(err, ErrBackoff) && resp == nil:
					refused.Add(1)
				case err == netErr && resp == nil:
				default:
					t.Errorf("RoundTrip = %v, %v", resp, err)
				}
			}
		}()
	}
	wg.Wait()
	if got := calls.Load() + refused.Load(); got != goroutines*each {
		t.Fatalf("%d calls reached the base and %d were refused: %d, want %d", calls.Load(), refused.Load(), got, goroutines*each)
	}
}
