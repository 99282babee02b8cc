package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults for NewHTTPTransport.
const (
	// DefaultMaxHeaderBytes bounds a ping answer's status line and header,
	// 1xx answers before it included, in bytes (SPEC T10). A ping answer
	// needs a few hundred bytes; 32 KiB leaves room for the cookies and
	// diagnostics of load balancers and Exchange front ends, while a
	// header bomb is refused before it costs the client more than a few
	// hundred kilobytes of memory.
	DefaultMaxHeaderBytes = 32 << 10
	// DefaultDialTimeout bounds connecting to the server (the TCP
	// handshake, per address tried). The ping's deadline bounds it too.
	DefaultDialTimeout = 30 * time.Second
	// DefaultTLSHandshakeTimeout bounds the TLS handshake. The ping's
	// deadline bounds it too.
	DefaultTLSHandshakeTimeout = 10 * time.Second
)

// NewHTTPTransport returns a new *http.Transport configured for pings
// (SPEC T9, T10). HTTPPinger uses one when HTTPConfig.Client is nil, and
// eas.Client does when its HTTPClient is nil. Applications that bring their
// own *http.Client should start from it, setting TLSClientConfig (e.g. a
// RootCAs pool) or Proxy on the result:
//
//	tr := transport.NewHTTPTransport()
//	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
//	client := &http.Client{Transport: tr}
//
// Between a ping's request and its answer the client must send nothing, or
// the NAT and firewall state the heartbeat tuner measures is refreshed by
// the client itself and the radio wakes anyway. So the transport:
//
//   - dials with TCP keepalive probes off (net.Dialer.KeepAlive -1 and
//     KeepAliveConfig.Enable false), where Go's default dialer sends one
//     after 15 s of idle, and DefaultDialTimeout;
//   - speaks HTTP/1.1 only: TLS offers no "h2" through ALPN. On HTTP/2 the
//     client acknowledges the server's PING and SETTINGS frames, sends
//     PINGs of its own if ReadIdleTimeout is set, and WINDOW_UPDATEs for
//     other streams' data, all during a held ping; and several pings
//     would share one connection, so a stream that timed out leaves the
//     dead connection in the pool for the next ping, where HTTP/1.1 closes
//     it. One ping per connection at a time keeps what a middlebox sees,
//     and what a timeout means, simple;
//   - bounds the answer's header, 1xx answers included, to
//     DefaultMaxHeaderBytes (net/http's own default is 10 MiB; the answer's
//     body is bounded by HTTPConfig.MaxBodyBytes);
//   - bounds the TLS handshake by DefaultTLSHandshakeTimeout, and sets no
//     ResponseHeaderTimeout: a held ping's header is its answer, which the
//     server may send a whole heartbeat later. Every ping's own deadline
//     (Request.Deadline, carried by the request's context) ends the dial,
//     the handshake, and the reads of the header and the body;
//   - closes a connection whose ping was given up before its answer began
//     (the ping's deadline passed, or its context was canceled) with a
//     single RST (SO_LINGER 0) and no TLS close_notify, where an orderly
//     close would meet the NAT that silently forgot the flow and be
//     retransmitted about ten times over a minute, waking the radio each
//     time. Connections closed after an answer, or idle, close with TLS's
//     close_notify and a FIN as usual. Only HTTPPinger's requests are
//     followed this way; other requests' connections close as net/http
//     closes them;
//   - takes the proxy from the environment (http.ProxyFromEnvironment) and
//     keeps idle connections 90 s, as http.DefaultTransport does.
//     HTTPPinger closes them itself after half a heartbeat without a ping.
//
// Do not set TLSClientConfig.NextProtos to offer "h2", or DialContext to a
// dialer that keeps probes on: HTTPPinger checks its connections and warns
// (HTTPConfig.OnWarning). A DialContext of your own also loses the abortive
// close of given-up pings.
func NewHTTPTransport() *http.Transport {
	dialer := &net.Dialer{
		Timeout:         DefaultDialTimeout,
		KeepAlive:       -1,
		KeepAliveConfig: net.KeepAliveConfig{Enable: false},
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	return &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            dialPing(dialer),
		Protocols:              &protocols,
		TLSHandshakeTimeout:    DefaultTLSHandshakeTimeout,
		MaxResponseHeaderBytes: DefaultMaxHeaderBytes,
		MaxIdleConns:           100,
		IdleConnTimeout:        90 * time.Second,
		ExpectContinueTimeout:  time.Second,
	}
}

// defaultClient sends the pings of every HTTPPinger without a Client of
// its own, like http.DefaultClient, but over NewHTTPTransport.
var defaultClient = &http.Client{Transport: NewHTTPTransport()}

// ErrNotIdle is the warning an HTTPPinger reports, once, through
// HTTPConfig.OnWarning when its client's connections are not idle while a
// ping is held (SPEC T9): TCP keepalive probes are on, or the connection
// speaks HTTP/2. Such a client refreshes the NAT state the tuner measures,
// so the tuner learns intervals the network does not have, and wakes the
// radio between pings. Pings still work.
var ErrNotIdle = errors.New("transport: the ping connection is not idle while a ping is held")

// wireCheck looks at the connections of an application's client for what
// ErrNotIdle warns of, until it has found something; it then reports it
// once. What it can see is documented at HTTPConfig.OnWarning.
type wireCheck struct {
	report func(error)
	static error       // found in the client's configuration, reported on the first ping
	found  atomic.Bool // something was reported: stop looking
}

func newWireCheck(client *http.Client, report func(error)) *wireCheck {
	if report == nil {
		report = func(err error) { slog.Warn("pushbeat: " + err.Error()) }
	}
	w := &wireCheck{report: report}
	switch t := client.Transport.(type) {
	case nil:
		w.static = fmt.Errorf("%w: the client's Transport is nil, so http.DefaultTransport, whose dialer sends TCP keepalive probes every 30 s (start from NewHTTPTransport)", ErrNotIdle)
	case *http.Transport:
		switch {
		case t == http.DefaultTransport:
			w.static = fmt.Errorf("%w: the client's Transport is http.DefaultTransport, whose dialer sends TCP keepalive probes every 30 s (start from NewHTTPTransport)", ErrNotIdle)
		//lint:ignore SA1019 an application's transport may still set the deprecated Dial or DialTLS: then it dials its own way.
		case t.DialContext == nil && t.Dial == nil && t.DialTLSContext == nil && t.DialTLS == nil:
			w.static = fmt.Errorf("%w: the client's Transport has no DialContext, so Go's default dialer sends TCP keepalive probes after 15 s idle (start from NewHTTPTransport)", ErrNotIdle)
		}
	}
	return w
}

// attemptTrace follows one attempt of a ping through net/http's client
// trace hooks: whether the server began an answer (so that an answer the
// client could not parse is a protocol error, not a close), and, for an
// application's client, what the connection it got does.
type attemptTrace struct {
	ctx       context.Context // the ping's: ended means the attempt was given up, unless answered
	check     *wireCheck      // nil: pushbeat's own transport, nothing to check
	answered  atomic.Bool
	keepAlive atomic.Bool // the connection's socket has SO_KEEPALIVE set
	trace     httptrace.ClientTrace
}

func (p *HTTPPinger) newTrace(ctx context.Context) (*attemptTrace, context.Context) {
	a := &attemptTrace{ctx: ctx}
	a.trace.GotFirstResponseByte = func() { a.answered.Store(true) }
	a.trace.GotConn = a.gotConn
	if p.check != nil && !p.check.found.Load() {
		a.check = p.check
	}
	return a, httptrace.WithClientTrace(ctx, &a.trace)
}

// gotConn makes the attempt the owner of a connection NewHTTPTransport
// dialed, so that the connection closes abortively if the attempt is
// given up before its answer (pingConn). For an application's client, it
// also reads SO_KEEPALIVE off a fresh connection's socket, under TLS and
// any wrapper that offers NetConn, if it is a socket at all.
func (a *attemptTrace) gotConn(info httptrace.GotConnInfo) {
	if info.Conn == nil {
		return
	}
	conn := info.Conn
	for range 4 {
		if pc, ok := conn.(*pingConn); ok {
			pc.owner.Store(a)
		}
		u, ok := conn.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		conn = u.NetConn()
	}
	if a.check == nil || info.Reused {
		return
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return
	}
	if on, known := keepAliveOn(sc); known && on {
		a.keepAlive.Store(true)
	}
}

// done reports what the attempt found, once per pinger.
func (a *attemptTrace) done(resp *http.Response) {
	w := a.check
	if w == nil {
		return
	}
	var err error
	switch {
	case w.static != nil:
		err = w.static
	case a.keepAlive.Load():
		err = fmt.Errorf("%w: the client's connection has TCP keepalive probes on (SO_KEEPALIVE); dial with net.Dialer{KeepAlive: -1} or start from NewHTTPTransport", ErrNotIdle)
	case resp != nil && resp.ProtoMajor == 2:
		err = fmt.Errorf("%w: the client's connection speaks HTTP/2, whose PING, SETTINGS and WINDOW_UPDATE frames may cross a held ping (start from NewHTTPTransport)", ErrNotIdle)
	default:
		return
	}
	if w.found.CompareAndSwap(false, true) {
		w.report(err)
	}
}

// answerKind is classify for the error of Client.Do, knowing whether the
// server had begun to answer: an answer that began and could not be read
// for any reason but the connection ending (a malformed status line or
// header, a header over the size limit) is a protocol error, not a close.
func answerKind(pctx context.Context, err error, answered bool) error {
	kind := classify(pctx, err)
	if kind == ErrClosed && answered && !connectionEnded(unwrapURLError(err)) {
		return ErrProtocol
	}
	return kind
}

// connectionEnded reports whether err says the connection ended: EOF, a
// socket error, a closed connection. (Not given a *url.Error: that is a
// net.Error too.)
func connectionEnded(err error) bool {
	var (
		netErr net.Error
		errno  syscall.Errno
	)
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.As(err, &netErr) || errors.As(err, &errno)
}
