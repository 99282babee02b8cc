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
		want Reason
	}{
		{nil, nil, ReasonNone},
		{response(200), nil, ReasonNone},
		{response(304), nil, ReasonNone},
		{response(503), nil, Maintenance},
		{response(429), nil, RateLimited},
		{response(500), nil, ServerError},
		{response(502), nil, ServerError},
		{response(408), nil, NetworkError},
		{response(401), nil, ClientError},
		{response(404), nil, ClientError},
		{nil, netErr, NetworkError},
		{nil, errSyncDeadline, NetworkError},
		{nil, errInstant, Reconnecting},
		{nil, fmt.Errorf("sync: %w", context.Canceled), Canceled},
		{response(200, "X-Backoff", "60"), errInstant, Reconnecting},
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

// TestObserveOutcome: an outcome known without an HTTP answer of its own,
// such as server trouble inside a 200 answer, is observed as what it is,
// with the answer's delay headers, and Observe is the shorthand of
// ObserveOutcome(Classify(...)).
func TestObserveOutcome(t *testing.T) {
	c, _ := newTestController(t, Policy{})
	d := c.observeAt(t0, Observation{Class: ServerError, Header: response(200, "X-Backoff", "3600").Header})
	if d.Reason != ServerError || d.Failures != 1 || d.Requested != time.Hour || d.Delay != 4050*sec {
		t.Fatalf("server trouble inside a 200 with X-Backoff: %+v", d)
	}
	// Retry-After counts only for the classes that carry it (B1).
	c, _ = newTestController(t, Policy{})
	if d := c.observeAt(t0, Observation{Class: ServerError, Header: response(500, "Retry-After", "60").Header}); d.Requested != 0 || d.Reason != ServerError {
		t.Fatalf("Retry-After read on a ServerError: %+v", d)
	}
	if d := c.observeAt(t0.Add(time.Hour), Observation{Class: Maintenance, Header: response(503, "Retry-After", "600").Header}); d.Reason != Maintenance || d.Requested != 600*sec {
		t.Fatalf("Maintenance with Retry-After: %+v", d)
	}
	if d := c.observeAt(t0, Observation{Class: ServerBackoff}); d.Reason != NetworkError {
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
