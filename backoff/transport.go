package backoff

import (
	"net/http"
	"strconv"
)

// Transport returns an http.RoundTripper that puts every request through
// the controller: while the controller refuses attempts it returns the
// *WaitError (errors.Is ErrBackoff) without contacting the server; while
// failures are counted it sends Policy.AttemptHeader (B9) on a clone of the
// request; and it observes every response and error. It reads only the
// status and headers of a response and returns the response untouched, body
// included. A nil base means http.DefaultTransport. The RoundTripper is safe
// for concurrent use and never modifies the caller's request; like every
// RoundTripper it closes the request body, also when it refuses.
func (c *Controller) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &roundTripper{c: c, base: base}
}

type roundTripper struct {
	c    *Controller
	base http.RoundTripper
}

func (t *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.c.Allow(); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	if n := t.c.attempt(); n > 0 {
		req = req.Clone(req.Context())
		if req.Header == nil {
			req.Header = make(http.Header)
		}
		req.Header[t.c.p.AttemptHeader] = []string{strconv.Itoa(n)}
	}
	resp, err := t.base.RoundTrip(req)
	t.c.Observe(resp, err)
	return resp, err
}

// CloseIdleConnections passes the call on to the base RoundTripper, so that
// http.Client.CloseIdleConnections still works through the wrapper.
func (t *roundTripper) CloseIdleConnections() {
	if ci, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// SetAttemptHeader sets Policy.AttemptHeader on h to the number of the retry
// being made, while the controller counts failures (B9): "1" for the first
// retry after a failure, "2" for the next, that is Status().Failures. It
// does nothing when AttemptHeader is empty or there is no failure. Like
// http.Header.Set, it needs a non-nil h. Transport does the same for every
// request, and a transport.Loop calls it for every ping
// (transport.Request.Header); call it for requests that reach the server
// another way.
func (c *Controller) SetAttemptHeader(h http.Header) {
	if n := c.attempt(); n > 0 {
		h[c.p.AttemptHeader] = []string{strconv.Itoa(n)}
	}
}

// attempt returns the retry number to send, or 0 for none.
func (c *Controller) attempt() int {
	if c.p.AttemptHeader == "" {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failures
}
