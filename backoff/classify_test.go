package backoff

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestClassify: the one place that says what an HTTP outcome means for the
// backoff rules (B1-B5, L1).
func TestClassify(t *testing.T) {
	tests := []struct {
		resp *http.Response
		err  error
		want Class
	}{
		{nil, nil, Success},
		{response(200), nil, Success},
		{response(304), nil, Success},
		{response(503), nil, Maintenance},
		{response(429), nil, RateLimited},
		{response(500), nil, ServerError},
		{response(502), nil, ServerError},
		{response(408), nil, NetworkError},
		{response(401), nil, ClientError},
		{response(404), nil, ClientError},
		{nil, netErr, NetworkError},
		{nil, errSyncDeadline, NetworkError},
		{nil, errInstant, Instant},
		{nil, fmt.Errorf("sync: %w", context.Canceled), Canceled},
		{response(200, "X-Backoff", "60"), errInstant, Instant},
	}
	for i, tt := range tests {
		o := Classify(tt.resp, tt.err)
		if o.Class != tt.want {
			t.Errorf("step %d: Classify(%v, %v).Class = %v want %v", i, tt.resp, tt.err, o.Class, tt.want)
		}
		if tt.resp != nil && o.Header == nil {
			t.Errorf("step %d: Classify lost the answer's header", i)
		}
	}
}

// TestClassReason: what each class of outcome does to why the controller
// waits: a failure class becomes the Reason of the wait (a 503 without a
// usable Retry-After a server error, B1, B2; an instant failure
// reconnecting, L1); a success, a client error and a cancellation are no
// failure, and a delay header on them is a server backoff (B5).
func TestClassReason(t *testing.T) {
	tests := []struct {
		o      Observation
		class  Class  // Decision.Class
		reason Reason // Status.Reason
		wait   bool   // Allow refuses
	}{
		{Observation{}, Success, ReasonNone, false},
		{Observation{Class: Success, Header: response(200, "X-Backoff", "60").Header}, Success, ReasonServerBackoff, true},
		{Observation{Class: Maintenance}, ServerError, ReasonServerError, true},
		{Observation{Class: Maintenance, Header: response(503, "Retry-After", "600").Header}, Maintenance, ReasonMaintenance, true},
		{Observation{Class: RateLimited}, RateLimited, ReasonRateLimited, true},
		{Observation{Class: RateLimited, Header: response(429, "Retry-After", "60").Header}, RateLimited, ReasonRateLimited, true},
		{Observation{Class: ServerError}, ServerError, ReasonServerError, true},
		{Observation{Class: ServerError, Header: response(200, "X-Backoff", "3600").Header}, ServerError, ReasonServerBackoff, true},
		{Observation{Class: NetworkError}, NetworkError, ReasonNetworkError, false}, // the first is retried at once (B3)
		{Observation{Class: ClientError}, ClientError, ReasonNone, false},
		{Observation{Class: ClientError, Header: response(404, "X-Backoff", "60").Header}, ClientError, ReasonServerBackoff, true},
		{Observation{Class: Canceled}, Canceled, ReasonNone, false},
		{Observation{Class: Instant}, Instant, ReasonReconnecting, true},
		{Observation{Class: Class(42)}, NetworkError, ReasonNetworkError, false},
	}
	for i, tt := range tests {
		c, _ := newTestController(t, Policy{})
		d := c.observeAt(t0, tt.o)
		st := c.status(t0)
		if d.Class != tt.class || st.Reason != tt.reason || st.Next.IsZero() == tt.wait {
			t.Errorf("step %d: ObserveOutcome(%v) = class %v, then status %v; want class %v, reason %v, waiting %t",
				i, tt.o.Class, d.Class, st, tt.class, tt.reason, tt.wait)
		}
		checkAllow(t, i, c, t0, st)
	}
}

// TestObserveOutcome: an outcome known without an HTTP answer of its own,
// such as server trouble inside a 200 answer, is observed as what it is,
// with the answer's delay headers, and Observe is the shorthand of
// ObserveOutcome(Classify(...)).
func TestObserveOutcome(t *testing.T) {
	c, _ := newTestController(t, Policy{})
	d := c.observeAt(t0, Observation{Class: ServerError, Header: response(200, "X-Backoff", "3600").Header})
	if d.Class != ServerError || d.Failures != 1 || d.Requested != time.Hour || d.Delay != 4050*sec {
		t.Fatalf("server trouble inside a 200 with X-Backoff: %+v", d)
	}
	// Retry-After counts only for the classes that carry it (B1).
	c, _ = newTestController(t, Policy{})
	if d := c.observeAt(t0, Observation{Class: ServerError, Header: response(500, "Retry-After", "60").Header}); d.Requested != 0 || d.Class != ServerError {
		t.Fatalf("Retry-After read on a ServerError: %+v", d)
	}
	if d := c.observeAt(t0.Add(time.Hour), Observation{Class: Maintenance, Header: response(503, "Retry-After", "600").Header}); d.Class != Maintenance || d.Requested != 600*sec {
		t.Fatalf("Maintenance with Retry-After: %+v", d)
	}
	if d := c.observeAt(t0, Observation{Class: Class(42)}); d.Class != NetworkError {
		t.Fatalf("a value that is no class: %+v, want a network error", d)
	}
	for i, o := range outcomes {
		var resp *http.Response
		if o.err == nil && o.status != 0 {
			resp = response(o.status, o.kv...)
		}
		a, _ := newTestController(t, Policy{})
		b, _ := newTestController(t, Policy{})
		da, db := a.observe(t0, resp, o.err), b.observeAt(t0, Classify(resp, o.err))
		if fmt.Sprint(da) != fmt.Sprint(db) {
			t.Fatalf("step %d: Observe = %+v, ObserveOutcome(Classify) = %+v", i, da, db)
		}
	}
}
