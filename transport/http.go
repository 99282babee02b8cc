package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/internal/redact"
)

// Defaults for HTTPConfig.
const (
	// DefaultMaxBodyBytes bounds a ping answer's body: answers are tiny, and
	// a hostile server must not make the client buffer without limit.
	DefaultMaxBodyBytes = 64 << 10
)

// ErrResend may be wrapped by an error from Codec.Decode to have the
// request rebuilt with Codec.NewRequest and sent again at once, within the
// same deadline, at most once per ping. EAS servers need it: Ping status 3
// says the server no longer has the parameters an empty Ping relies on.
var ErrResend = errors.New("transport: resend the request")

// ErrInsecureURL reports a plain-HTTP URL without HTTPConfig.AllowInsecureHTTP,
// or a URL that is not HTTP at all.
var ErrInsecureURL = errors.New("transport: URL must be https")

// HTTPConfig configures an HTTPPinger. The zero value of every field but URL
// means its default.
type HTTPConfig struct {
	// URL is where pings go. It must be https unless AllowInsecureHTTP.
	URL string
	// Client sends the pings; any http.RoundTripper plugs in through it. Nil
	// means a client shared by every such pinger, over NewHTTPTransport:
	// no TCP keepalive probes, HTTP/1.1, bounded headers (SPEC T9, T10).
	// Build your own from NewHTTPTransport too. The pinger uses a copy of
	// it with no Client.Timeout (every ping has its own deadline,
	// Request.Deadline) and with redirects refused (a ping is a POST that
	// must reach the URL it was given; a redirect is handed to the codec,
	// which rejects it). Its RoundTripper must honour the request's context,
	// as the http.RoundTripper contract asks: the ping's deadline reaches
	// the connection only through it.
	Client *http.Client
	// Codec encodes pings and decodes answers. Nil means JSONCodec.
	Codec Codec
	// MaxBodyBytes bounds an answer's body. Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// AllowInsecureHTTP permits a plain http URL. Leave it false outside
	// tests and loopback demos (SPEC T7).
	AllowInsecureHTTP bool
	// Header is added to every ping, e.g. Authorization. Its values never
	// appear in errors or logs. The headers of each Request (the Loop's
	// retry-attempt header, SPEC B9) are set after it.
	Header http.Header
	// Prepare, if not nil, is called on every request just before it is
	// sent, e.g. to set credentials that change over time. An error ends
	// the ping (it is not a PingError: the loop retries under the backoff
	// rules). Whatever it sets never appears in errors or logs.
	Prepare func(*http.Request) error
	// OnWarning, if not nil, is called at most once per pinger, from a
	// goroutine calling Ping, with an error wrapping ErrNotIdle when
	// Client's connections are not idle while a ping is held (SPEC T9).
	// Nil means the warning is logged once through slog's default logger
	// at Warn level. Pass something that feeds your Loop's Logger or event
	// stream to keep them together.
	//
	// What is checked, for a Client of the application's (pushbeat's own
	// default is not checked: it is known to be idle): a nil Transport or
	// http.DefaultTransport (probes every 30 s), and an *http.Transport
	// without any Dial function (Go's default dialer: probes after 15 s),
	// are reported on the first ping. Otherwise, on unix systems, each
	// fresh connection's socket is read for SO_KEEPALIVE, through TLS and
	// through wrappers with a NetConn method, until something is found;
	// and an answer that came over HTTP/2 is reported. What is not seen: a
	// RoundTripper that is not net/http's and does not call the
	// httptrace.ClientTrace hooks, connections that are not sockets or
	// hide them, keepalive turned on after the connection was handed over,
	// platforms other than unix (SO_KEEPALIVE is not read there), and an
	// HTTPS proxy's own connections beyond the first hop.
	OnWarning func(error)
}

// HTTPPinger performs pings over HTTP (SPEC T1, T2, T3, T7). It is safe for
// concurrent use. Pings reuse kept-alive connections, except after the
// pinger has been quiet for more than half a heartbeat: a middlebox may have
// dropped an idle connection meanwhile, so it closes the client's idle
// connections (those of every pinger sharing its Transport) and dials
// afresh.
type HTTPPinger struct {
	url     string
	client  *http.Client
	codec   Codec
	maxBody int64
	header  http.Header
	prepare func(*http.Request) error
	check   *wireCheck // nil for pushbeat's own default client

	mu      sync.Mutex
	lastEnd time.Time // when the last ping ended
}

// NewHTTPPinger returns a pinger for cfg, or an error wrapping
// ErrInsecureURL for a URL it may not use.
func NewHTTPPinger(cfg HTTPConfig) (*HTTPPinger, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		// url.Parse errors quote the URL, credentials included: say less.
		return nil, fmt.Errorf("%w: unparsable URL", ErrInsecureURL)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && cfg.AllowInsecureHTTP:
	case u.Scheme == "http":
		return nil, fmt.Errorf("%w: %s is plain HTTP (set AllowInsecureHTTP to allow it)", ErrInsecureURL, u.Redacted())
	default:
		return nil, fmt.Errorf("%w: %s has scheme %q", ErrInsecureURL, u.Redacted(), u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: %s has no host", ErrInsecureURL, u.Redacted())
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("transport: MaxBodyBytes %d is negative", cfg.MaxBodyBytes)
	}
	client := defaultClient
	var check *wireCheck
	if cfg.Client != nil {
		client = cfg.Client
		check = newWireCheck(client, cfg.OnWarning)
	}
	c := *client
	c.Timeout = 0
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	p := &HTTPPinger{
		url:     cfg.URL,
		client:  &c,
		codec:   cfg.Codec,
		maxBody: cfg.MaxBodyBytes,
		header:  cfg.Header.Clone(),
		prepare: cfg.Prepare,
		check:   check,
	}
	if p.codec == nil {
		p.codec = JSONCodec{}
	}
	if p.maxBody == 0 {
		p.maxBody = DefaultMaxBodyBytes
	}
	return p, nil
}

// errDeadline is the cause of a ping's context when its own deadline fires.
var errDeadline = errors.New("ping deadline")

// Ping sends one ping and waits for its answer until req.Deadline.
func (p *HTTPPinger) Ping(ctx context.Context, req Request) (Result, error) {
	if req.Heartbeat <= 0 {
		return Result{}, fmt.Errorf("transport: heartbeat %v is not positive", req.Heartbeat)
	}
	// The start comes first: the deadline timer starts after it, so a ping
	// that timed out has run at least its deadline, Elapsed included.
	start := time.Now()
	deadline := req.Deadline
	if deadline <= 0 {
		deadline = req.Heartbeat + heartbeat.DefaultBuffer
	}
	pctx, cancel := context.WithTimeoutCause(ctx, deadline, errDeadline)
	defer cancel()

	p.dropStaleConnections(start, req.Heartbeat)
	defer p.ended()
	res, err := p.attempt(pctx, req, start)
	if errors.Is(err, ErrResend) {
		// The codec asked for the request to be rebuilt and sent again
		// (EAS Ping status 3), once, within the same deadline. Asked again,
		// it stays what attempt made of it: a protocol error.
		res, err = p.attempt(pctx, req, start)
	}
	var pe *PingError
	switch {
	case err == nil:
		res.Elapsed = time.Since(start)
		return res, nil
	case ctx.Err() != nil && !errors.Is(context.Cause(pctx), errDeadline):
		return Result{}, ctx.Err() // the caller gave up: not a ping failure
	case errors.As(err, &pe):
		pe.Elapsed = time.Since(start)
	}
	return Result{}, err // a *PingError, or a request that could not be built
}

// dropStaleConnections closes the client's idle connections if the last
// ping ended more than half a heartbeat ago. A kept-alive connection that
// sat idle that long (during a sync, a backoff wait, a scheduled period)
// may have been dropped by a middlebox without a word; a ping sent on it
// would vanish and time out, teaching the tuner about the wait instead of
// the heartbeat. Re-pings right after an answer keep their connection.
func (p *HTTPPinger) dropStaleConnections(now time.Time, heartbeat time.Duration) {
	p.mu.Lock()
	stale := !p.lastEnd.IsZero() && now.Sub(p.lastEnd) > heartbeat/2
	p.mu.Unlock()
	if stale {
		p.client.CloseIdleConnections()
	}
}

func (p *HTTPPinger) ended() {
	p.mu.Lock()
	p.lastEnd = time.Now()
	p.mu.Unlock()
}

// attempt sends the ping once. A ping that was not answered returns a
// *PingError without its Elapsed, which Ping sets; a request that could not
// even be built returns a plain error.
func (p *HTTPPinger) attempt(pctx context.Context, req Request, start time.Time) (Result, error) {
	trace, tctx := p.newTrace(pctx)
	hreq, err := p.codec.NewRequest(tctx, p.url, req)
	if err != nil {
		return Result{}, fmt.Errorf("transport: encoding the ping: %w", err)
	}
	for k, vs := range p.header {
		hreq.Header[k] = append([]string(nil), vs...)
	}
	for k, vs := range req.Header { // SPEC B9: nil unless backing off
		hreq.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	if p.prepare != nil {
		if err := p.prepare(hreq); err != nil {
			return Result{}, fmt.Errorf("transport: preparing the ping: %w", err)
		}
	}

	resp, err := p.client.Do(hreq)
	trace.done(resp)
	if err != nil {
		// net/http quotes a malformed status or header line: no credential
		// of the request, no more than a bounded message (SPEC T12).
		cause := redact.FromRequest(hreq).Error(unwrapURLError(err))
		return Result{}, &PingError{Kind: answerKind(pctx, err, trace.answered.Load()), Err: cause}
	}
	defer resp.Body.Close()
	headersAt := time.Since(start)

	switch code := resp.StatusCode; {
	case code < 200:
		// net/http reads past 100 Continue and the other informational
		// answers itself (their headers count against the header limit);
		// what reaches here is 101 Switching Protocols, whose body is the
		// raw connection, read with no deadline at all. A ping never asks
		// to switch protocols: closing the body closes the connection.
		resp.Body.Close()
		resp.Body = http.NoBody
		return Result{}, &PingError{Kind: ErrProtocol, Response: resp, Err: fmt.Errorf("unexpected informational answer %d to a ping", code)}
	case (code == http.StatusGatewayTimeout || code == http.StatusRequestTimeout) && headersAt < req.Heartbeat:
		discard(resp, p.maxBody)
		return Result{}, &PingError{Kind: ErrProxyTimeout, Response: resp}
	case serverSide(backoff.Classify(resp, nil).Class): // 5xx, 429
		discard(resp, p.maxBody)
		return Result{}, &PingError{Kind: ErrServer, Response: resp}
	}

	body, err := io.ReadAll(io.LimitReader(resp.Body, p.maxBody+1))
	resp.Body = http.NoBody
	switch {
	case err != nil || pctx.Err() != nil:
		// A body that ended after the deadline is no answer (SPEC T2), even
		// when the read ended cleanly: over TLS, cancelling the request
		// sends close_notify, a server may end its chunked answer on
		// seeing it, and that last chunk can arrive before the socket
		// closes (TestPingFailures/trickle, about 1 run in 40).
		return Result{}, &PingError{Kind: classify(pctx, err), Err: err}
	case int64(len(body)) > p.maxBody:
		return Result{}, &PingError{Kind: ErrBodyTooLarge, Response: resp, Err: fmt.Errorf("more than %d bytes", p.maxBody)}
	}
	res, err := p.codec.Decode(req, resp, body)
	if err != nil {
		kind := ErrProtocol
		switch {
		case errors.Is(err, ErrRejected):
			kind = ErrRejected
		case errors.Is(err, ErrServer):
			kind = ErrServer
		}
		return Result{}, &PingError{Kind: kind, Response: resp, Err: err}
	}
	res.Response = resp
	return res, nil
}

// discard reads a little of an error answer's body so its headers are
// complete, then leaves the body closed and empty.
func discard(resp *http.Response, limit int64) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, min(limit, 4<<10)))
	resp.Body.Close()
	resp.Body = http.NoBody
}

// classify maps a transport error to a failure kind (SPEC T2, T3, L3).
func classify(pctx context.Context, err error) error {
	if errors.Is(context.Cause(pctx), errDeadline) {
		return ErrTimedOut
	}
	var (
		dnsErr   *net.DNSError
		opErr    *net.OpError
		certErr  *tls.CertificateVerificationError
		authErr  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		recErr   tls.RecordHeaderError
		alertErr tls.AlertError
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED),
		errors.As(err, &opErr) && opErr.Op == "dial" && errors.Is(err, syscall.ECONNRESET):
		// The host answered, with a refusal or a reset of the handshake:
		// its service is down or restarting (SPEC L3).
		return ErrRefused
	case errors.As(err, &dnsErr),
		errors.As(err, &opErr) && opErr.Op == "dial",
		errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETDOWN):
		return ErrNetworkLost
	case errors.As(err, &certErr), errors.As(err, &authErr), errors.As(err, &hostErr),
		errors.As(err, &recErr), errors.As(err, &alertErr):
		return ErrProtocol
	}
	// EOF, reset, broken pipe, a connection closed mid-answer: visible.
	return ErrClosed
}

// unwrapURLError drops net/http's *url.Error wrapper: it repeats the URL,
// which may carry a user name or a token in its query.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
