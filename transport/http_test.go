package transport_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/transport"
)

const ms = time.Millisecond

// hostile is a TLS test server whose behaviour is chosen per request by the
// path, so that every test can aim a pinger at one misbehaviour.
func hostile(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ping struct {
			Heartbeat float64  `json:"heartbeat"`
			Folders   []string `json:"folders"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &ping)
		hb := time.Duration(ping.Heartbeat * float64(time.Second))
		hold := func() {
			select {
			case <-time.After(hb):
			case <-r.Context().Done():
			}
		}
		switch r.URL.Path {
		case "/expired":
			hold()
			w.Header().Set("X-Weave-Backoff", "1800")
			io.WriteString(w, `{"status":"expired"}`)
		case "/changed":
			io.WriteString(w, `{"status":"changed","folders":["inbox","calendar"]}`)
		case "/empty":
			io.WriteString(w, `{"status":"changed","folders":[]}`)
		case "/bounds":
			io.WriteString(w, `{"status":"out-of-bounds","heartbeat":60}`)
		case "/echo":
			// Answers with what it was sent, so tests can see the request.
			w.Header().Set("X-Got-Attempt", r.Header.Get("X-Retry-Attempt"))
			w.Header().Set("X-Got-Auth", r.Header.Get("Authorization"))
			w.Header().Set("X-Got-Body", string(body))
			io.WriteString(w, `{"status":"expired"}`)
		case "/silent":
			<-r.Context().Done()
		case "/503":
			w.Header().Set("Retry-After", "600")
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/500":
			w.WriteHeader(http.StatusInternalServerError)
		case "/429":
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
		case "/504-early":
			w.WriteHeader(http.StatusGatewayTimeout)
		case "/408-early":
			w.WriteHeader(http.StatusRequestTimeout)
		case "/504-late":
			hold()
			w.WriteHeader(http.StatusGatewayTimeout)
		case "/401":
			w.WriteHeader(http.StatusUnauthorized)
		case "/redirect":
			http.Redirect(w, r, "http://example.invalid/", http.StatusFound)
		case "/huge":
			io.WriteString(w, `{"status":"changed","folders":["`+strings.Repeat("x", 100<<10)+`"]}`)
		case "/garbage":
			io.WriteString(w, `{"status":`)
		case "/unknown":
			io.WriteString(w, `{"status":"sleeping"}`)
		case "/stall-after-headers":
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		case "/trickle":
			w.WriteHeader(http.StatusOK)
			for i := 0; i < 1000; i++ {
				if _, err := io.WriteString(w, " "); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-time.After(5 * ms):
				case <-r.Context().Done():
					return
				}
			}
		case "/close-mid-body":
			conn, buf, _ := w.(http.Hijacker).Hijack()
			buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"status\":")
			buf.Flush()
			conn.Close()
		case "/close":
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		case "/reset":
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.(*tls.Conn).NetConn().(*net.TCPConn).SetLinger(0)
			conn.(*tls.Conn).NetConn().Close()
		default:
			http.NotFound(w, r)
		}
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func pinger(t *testing.T, srv *httptest.Server, path string, mod func(*transport.HTTPConfig)) *transport.HTTPPinger {
	t.Helper()
	cfg := transport.HTTPConfig{URL: srv.URL + path, Client: srv.Client()}
	if mod != nil {
		mod(&cfg)
	}
	p, err := transport.NewHTTPPinger(cfg)
	if err != nil {
		t.Fatalf("NewHTTPPinger: %v", err)
	}
	return p
}

func req(heartbeat time.Duration) transport.Request {
	return transport.Request{Heartbeat: heartbeat, Deadline: heartbeat + 100*ms, Folders: []string{"inbox"}}
}

// TestPingAnswers covers the default protocol's answers over real TLS
// (SPEC T1, T5, T6).
func TestPingAnswers(t *testing.T) {
	srv := hostile(t)
	ctx := context.Background()

	res, err := pinger(t, srv, "/expired", nil).Ping(ctx, req(30*ms))
	if err != nil || res.Status != transport.Expired {
		t.Fatalf("expired: %+v, %v", res, err)
	}
	if res.Elapsed < 30*ms {
		t.Fatalf("expired after %v, before the 30ms heartbeat", res.Elapsed)
	}
	if got := res.Response.Header.Get("X-Weave-Backoff"); got != "1800" {
		t.Fatalf("X-Weave-Backoff not visible on the answer: %q", got)
	}

	res, err = pinger(t, srv, "/changed", nil).Ping(ctx, req(time.Second))
	if err != nil || res.Status != transport.Changed || strings.Join(res.Folders, ",") != "inbox,calendar" {
		t.Fatalf("changed: %+v, %v", res, err)
	}

	res, err = pinger(t, srv, "/empty", nil).Ping(ctx, req(time.Second))
	if err != nil || res.Status != transport.Expired {
		t.Fatalf("empty change set (T5): %+v, %v", res, err)
	}

	res, err = pinger(t, srv, "/bounds", nil).Ping(ctx, req(time.Second))
	if err != nil || res.Status != transport.OutOfBounds || res.Limit != time.Minute {
		t.Fatalf("out of bounds: %+v, %v", res, err)
	}
	srv.Client().CloseIdleConnections()
}

// TestPingFailures checks that every way a ping can fail is classified
// honestly and returns by its deadline (SPEC T2, T3, T7).
func TestPingFailures(t *testing.T) {
	srv := hostile(t)
	tests := []struct {
		path      string
		heartbeat time.Duration
		kind      error
		status    int // HTTP status on PingError.Response; 0 = none
		also      error
	}{
		{"/silent", 50 * ms, transport.ErrTimedOut, 0, nil},
		{"/stall-after-headers", 50 * ms, transport.ErrTimedOut, 0, nil},
		{"/trickle", 50 * ms, transport.ErrTimedOut, 0, nil},
		{"/close", time.Second, transport.ErrClosed, 0, nil},
		{"/reset", time.Second, transport.ErrClosed, 0, syscall.ECONNRESET},
		{"/close-mid-body", time.Second, transport.ErrClosed, 0, io.ErrUnexpectedEOF},
		{"/503", time.Second, transport.ErrServer, 503, nil},
		{"/500", time.Second, transport.ErrServer, 500, nil},
		{"/429", time.Second, transport.ErrServer, 429, nil},
		{"/504-early", time.Second, transport.ErrProxyTimeout, 504, nil},
		{"/408-early", time.Second, transport.ErrProxyTimeout, 408, nil},
		{"/504-late", 30 * ms, transport.ErrServer, 504, nil},
		{"/401", time.Second, transport.ErrRejected, 401, nil},
		{"/redirect", time.Second, transport.ErrRejected, 302, nil},
		{"/nowhere", time.Second, transport.ErrRejected, 404, nil},
		{"/huge", time.Second, transport.ErrBodyTooLarge, 200, transport.ErrProtocol},
		{"/garbage", time.Second, transport.ErrProtocol, 200, nil},
		{"/unknown", time.Second, transport.ErrProtocol, 200, nil},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			r := req(tc.heartbeat)
			start := time.Now()
			_, err := pinger(t, srv, tc.path, nil).Ping(context.Background(), r)
			took := time.Since(start)
			var pe *transport.PingError
			if !errors.As(err, &pe) || !errors.Is(err, tc.kind) {
				t.Fatalf("Ping %s: %v, want %v", tc.path, err, tc.kind)
			}
			if tc.also != nil && !errors.Is(err, tc.also) {
				t.Fatalf("Ping %s: %v does not match %v", tc.path, err, tc.also)
			}
			if (pe.Response == nil && tc.status != 0) || (pe.Response != nil && pe.Response.StatusCode != tc.status) {
				t.Fatalf("Ping %s: response %v, want status %d", tc.path, pe.Response, tc.status)
			}
			// Upper bound: the deadline plus overrun, a margin for a
			// loaded machine. Lower bound for a timeout: exact, as Ping
			// starts its clock before it arms its deadline, and the test
			// starts its own before Ping.
			if took > r.Deadline+overrun {
				t.Fatalf("Ping %s took %v, deadline %v", tc.path, took, r.Deadline)
			}
			if pe.Elapsed <= 0 || pe.Elapsed > took {
				t.Fatalf("Ping %s: PingError.Elapsed %v, want in (0, %v]", tc.path, pe.Elapsed, took)
			}
			if tc.kind == transport.ErrTimedOut && (took < r.Deadline || pe.Elapsed < r.Deadline) {
				t.Fatalf("Ping %s timed out after %v (Elapsed %v), before its deadline %v", tc.path, took, pe.Elapsed, r.Deadline)
			}
		})
	}
	srv.Client().CloseIdleConnections()
}

// TestPingRefused: nothing listening at the address is a refused
// connection: server trouble (ErrRefused, which also matches ErrClosed),
// not a network loss (SPEC L3).
func TestPingRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p, err := transport.NewHTTPPinger(transport.HTTPConfig{URL: "https://user:s3cret@" + addr + "/ping?token=t0ken"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Ping(context.Background(), req(time.Second))
	if !errors.Is(err, transport.ErrRefused) || !errors.Is(err, transport.ErrClosed) || !errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, transport.ErrNetworkLost) {
		t.Fatalf("Ping to a closed port: %v", err)
	}
	for _, secret := range []string{"s3cret", "t0ken", "user"} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error %q reveals %q", err, secret)
		}
	}
}

// TestPingNetworkLost: a dial the kernel cannot even start (the device's
// address is gone, EADDRNOTAVAIL; no packet leaves) is a network loss.
func TestPingNetworkLost(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler()) // never reached
	defer srv.Close()
	var d lossyDialer
	d.setLost(true)
	p, err := transport.NewHTTPPinger(transport.HTTPConfig{URL: srv.URL + "/ping", Client: d.client(nil), AllowInsecureHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Ping(context.Background(), req(time.Second))
	if !errors.Is(err, transport.ErrNetworkLost) || errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Ping from an address the device does not have: %v", err)
	}
}

// TestPingTLS: a server the client does not trust is a protocol error, and
// plain HTTP needs an explicit opt-in (SPEC T7).
func TestPingTLS(t *testing.T) {
	srv := hostile(t)
	untrusting := pinger(t, srv, "/changed", func(c *transport.HTTPConfig) { c.Client = &http.Client{} })
	if _, err := untrusting.Ping(context.Background(), req(time.Second)); !errors.Is(err, transport.ErrProtocol) {
		t.Fatalf("untrusted certificate: %v", err)
	}

	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"status":"expired"}`)
	}))
	defer plain.Close()
	for _, u := range []string{plain.URL, "ftp://" + plain.Listener.Addr().String(), "https://", "://bad"} {
		if _, err := transport.NewHTTPPinger(transport.HTTPConfig{URL: u}); !errors.Is(err, transport.ErrInsecureURL) {
			t.Fatalf("NewHTTPPinger(%q): %v, want ErrInsecureURL", u, err)
		}
	}
	p, err := transport.NewHTTPPinger(transport.HTTPConfig{URL: plain.URL, AllowInsecureHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := p.Ping(context.Background(), req(time.Second)); err != nil || res.Status != transport.Expired {
		t.Fatalf("allowed plain HTTP: %+v, %v", res, err)
	}
	if _, err := transport.NewHTTPPinger(transport.HTTPConfig{URL: srv.URL, MaxBodyBytes: -1}); err == nil {
		t.Fatal("negative MaxBodyBytes accepted")
	}
}

// TestPingRequest checks what goes on the wire: the heartbeat in seconds,
// the folders, the caller's headers and the request's own headers, such as
// the attempt header the Loop adds while backing off (SPEC B9, T6). The
// request's headers replace HTTPConfig.Header's of the same name, and
// Prepare's changes do not reach the caller's Request.
func TestPingRequest(t *testing.T) {
	srv := hostile(t)
	p := pinger(t, srv, "/echo", func(c *transport.HTTPConfig) {
		c.Header = http.Header{"Authorization": {"Bearer sekrit"}, backoff.HeaderRetryAttempt: {"9"}}
		c.Prepare = func(r *http.Request) error {
			r.Header[backoff.HeaderRetryAttempt][0] += "0" // a Prepare that edits in place
			return nil
		}
	})
	attempt := http.Header{"x-retry-attempt": {"2"}} // canonicalized on the way
	r := transport.Request{Heartbeat: 1500 * ms, Folders: []string{"inbox", "calendar"}, Header: attempt}
	res, err := p.Ping(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	h := res.Response.Header
	if got := h.Get("X-Got-Body"); got != `{"heartbeat":1.5,"folders":["inbox","calendar"]}` {
		t.Fatalf("body %s", got)
	}
	if h.Get("X-Got-Attempt") != "20" || h.Get("X-Got-Auth") != "Bearer sekrit" {
		t.Fatalf("headers: attempt %q auth %q", h.Get("X-Got-Attempt"), h.Get("X-Got-Auth"))
	}
	//lint:ignore SA1008 the test gives the pinger a non-canonical key on purpose, and checks it is left as given
	if got := attempt["x-retry-attempt"]; len(attempt) != 1 || len(got) != 1 || got[0] != "2" {
		t.Fatalf("the pinger changed the request's headers: %v", attempt)
	}
	r.Header, r.Folders = nil, nil
	res, err = p.Ping(context.Background(), r)
	if err != nil || res.Response.Header.Get("X-Got-Attempt") != "90" {
		t.Fatalf("without Request.Header, HTTPConfig.Header's value goes out: %v %v", res.Response.Header, err)
	}
	if got := res.Response.Header.Get("X-Got-Body"); got != `{"heartbeat":1.5,"folders":[]}` {
		t.Fatalf("no folders encodes as %s", got)
	}
	if _, err := p.Ping(context.Background(), transport.Request{}); err == nil {
		t.Fatal("zero heartbeat accepted")
	}
}

// TestPingClientTimeoutIgnored: the caller's Client.Timeout does not cut a
// ping short; the ping's own deadline rules.
func TestPingClientTimeoutIgnored(t *testing.T) {
	srv := hostile(t)
	client := srv.Client()
	client.Timeout = time.Millisecond
	p := pinger(t, srv, "/expired", func(c *transport.HTTPConfig) { c.Client = client })
	if res, err := p.Ping(context.Background(), req(30*ms)); err != nil || res.Status != transport.Expired {
		t.Fatalf("%+v, %v", res, err)
	}
	if client.Timeout != time.Millisecond || client.CheckRedirect != nil {
		t.Fatal("the caller's client was modified")
	}
}

// TestPingCancel: cancelling the context ends the ping at once with the
// context's error, not as a ping failure (SPEC T7).
func TestPingCancel(t *testing.T) {
	srv := hostile(t)
	p := pinger(t, srv, "/silent", nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*ms, cancel)
	start := time.Now()
	_, err := p.Ping(ctx, req(10*time.Second))
	if !errors.Is(err, context.Canceled) || errors.As(err, new(*transport.PingError)) {
		t.Fatalf("cancelled ping: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("cancel took %v", took)
	}
	srv.Client().CloseIdleConnections()
}

// TestPingConcurrent: one pinger, many goroutines (run with -race).
func TestPingConcurrent(t *testing.T) {
	srv := hostile(t)
	p := pinger(t, srv, "/changed", nil)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A generous deadline: this is about safety under -race, and 20
			// TLS handshakes at once on a loaded 2-core machine take time.
			if _, err := p.Ping(context.Background(), req(10*time.Second)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// scriptedCodec wraps JSONCodec and replaces Decode's verdicts with a
// script, to test what HTTPPinger does with each kind a codec may return.
type scriptedCodec struct {
	transport.JSONCodec
	mu       sync.Mutex
	verdicts []error
	builds   int
}

func (c *scriptedCodec) NewRequest(ctx context.Context, url string, r transport.Request) (*http.Request, error) {
	c.mu.Lock()
	c.builds++
	c.mu.Unlock()
	return c.JSONCodec.NewRequest(ctx, url, r)
}

func (c *scriptedCodec) Decode(r transport.Request, resp *http.Response, body []byte) (transport.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.verdicts) > 0 {
		v := c.verdicts[0]
		c.verdicts = c.verdicts[1:]
		if v != nil {
			return transport.Result{}, v
		}
	}
	return c.JSONCodec.Decode(r, resp, body)
}

// TestCodecVerdicts: a codec may ask for one resend (EAS Ping status 3) and
// may report server trouble found inside a 200 answer (EAS status 8).
func TestCodecVerdicts(t *testing.T) {
	srv := hostile(t)
	tests := []struct {
		verdicts []error
		builds   int
		kind     error // nil: success
	}{
		{[]error{fmt.Errorf("status 3: %w", transport.ErrResend)}, 2, nil},
		{[]error{transport.ErrResend, transport.ErrResend}, 2, transport.ErrProtocol},
		{[]error{fmt.Errorf("status 8: %w", transport.ErrServer)}, 1, transport.ErrServer},
		{[]error{fmt.Errorf("status 7: %w", transport.ErrRejected)}, 1, transport.ErrRejected},
		{[]error{errors.New("nonsense")}, 1, transport.ErrProtocol},
	}
	for i, tc := range tests {
		codec := &scriptedCodec{verdicts: tc.verdicts}
		p := pinger(t, srv, "/changed", func(c *transport.HTTPConfig) { c.Codec = codec })
		res, err := p.Ping(context.Background(), req(time.Second))
		if tc.kind == nil && (err != nil || res.Status != transport.Changed) {
			t.Fatalf("step %d: %+v, %v", i, res, err)
		}
		if tc.kind != nil && !errors.Is(err, tc.kind) {
			t.Fatalf("step %d: %v, want %v", i, err, tc.kind)
		}
		if codec.builds != tc.builds {
			t.Fatalf("step %d: %d requests built, want %d", i, codec.builds, tc.builds)
		}
	}
}

// TestPrepare: the Prepare hook sets rotating credentials on every request;
// its failure ends the ping with its own error, not a PingError.
func TestPrepare(t *testing.T) {
	srv := hostile(t)
	n := 0
	p := pinger(t, srv, "/echo", func(c *transport.HTTPConfig) {
		c.Prepare = func(r *http.Request) error {
			n++
			if n == 2 {
				return errors.New("token refresh failed")
			}
			r.Header.Set("Authorization", fmt.Sprintf("Bearer token-%d", n))
			return nil
		}
	})
	res, err := p.Ping(context.Background(), req(time.Second))
	if err != nil || res.Response.Header.Get("X-Got-Auth") != "Bearer token-1" {
		t.Fatalf("%v, %v", res.Response, err)
	}
	_, err = p.Ping(context.Background(), req(time.Second))
	if err == nil || errors.As(err, new(*transport.PingError)) || !strings.Contains(err.Error(), "token refresh failed") {
		t.Fatalf("a failing Prepare gave %v", err)
	}
}

// TestLoopLogsNoSecrets: credentials in the URL (user, password, query),
// in HTTPConfig.Header and set by Prepare appear in no log line, no event
// and not in the error Run returns, whichever way the pings fail (SPEC T7).
func TestLoopLogsNoSecrets(t *testing.T) {
	srv := hostile(t)
	secrets := []string{"us3r", "s3cret", "t0ken", "sekrit", "k3y"}
	for _, path := range []string{"/garbage", "/close", "/500", "/401"} {
		t.Run(path, func(t *testing.T) {
			var buf bytes.Buffer
			var mu sync.Mutex
			logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
			p := pinger(t, srv, path, func(c *transport.HTTPConfig) {
				c.URL = strings.Replace(srv.URL, "https://", "https://us3r:s3cret@", 1) + path + "?token=t0ken"
				c.Header = http.Header{"Authorization": {"Bearer sekrit"}}
				c.Prepare = func(r *http.Request) error { r.Header.Set("X-Api-Key", "k3y"); return nil }
			})
			events := newRecorder()
			loop, err := transport.NewLoop(transport.Config{Pinger: p, Logger: logger, OnEvent: events.add})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- loop.Run(ctx) }()
			events.until(t, 5*time.Second, "a failed ping", func(evs []transport.Event) bool {
				return count(evs, isKind(transport.PingFailed)) > 0
			})
			cancel()
			runErr := <-done
			mu.Lock()
			text := buf.String()
			mu.Unlock()
			for _, e := range events.all() {
				text += "\n" + e.String()
			}
			if runErr != nil {
				text += "\n" + runErr.Error()
			}
			if !strings.Contains(text, "ping-failed") {
				t.Fatalf("no failure logged:\n%s", text)
			}
			for _, secret := range secrets {
				if strings.Contains(text, secret) {
					t.Fatalf("%q appears in the logs, events or error:\n%s", secret, text)
				}
			}
		})
	}
	srv.Client().CloseIdleConnections()
}
