package transport

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
)

// errAbandoned is what a write on a connection given up for dead returns
// instead of sending anything: in practice TLS's close_notify, written by
// tls.Conn.Close just before it closes the socket.
var errAbandoned = errors.New("transport: the connection was abandoned: nothing more is sent on it")

// pingConn is a connection dialed by NewHTTPTransport. It closes the way
// the ping that held it ended (SPEC T9):
//
//   - after an answer, or with no ping on it, as net/http closes it: TLS's
//     close_notify and a FIN, the orderly close an HTTP/1.1 server
//     expects;
//   - when the ping holding it was given up while waiting for the answer
//     (its deadline passed or its context was canceled before the first
//     byte of an answer), abortively: nothing more is written (no
//     close_notify) and the socket closes with SO_LINGER 0, which sends a
//     single RST and drops whatever is unsent.
//
// A ping is given up for dead in the field when a NAT forgot the flow
// without a word: every packet the client sends on it is dropped, and an
// orderly close is retransmitted by the kernel, with exponential backoff,
// about ten times over a minute, each one waking a phone's radio for
// nothing. One RST goes once; a middlebox that still knows the flow
// forwards it and the server learns at once that the client is gone.
//
// net/http gives up a request by closing its connection as soon as the
// request's context ends while it waits for the answer (persistConn's
// cancelRequest); tls.Conn.Close then writes close_notify, with a 5 s
// deadline, and closes the connection under it, which is this one. Which
// request a connection serves is known from HTTPPinger's trace
// (httptrace.ClientTrace.GotConn marks the attempt as the connection's
// owner), so requests sent by anything else close as net/http closes
// them.
type pingConn struct {
	net.Conn                              // the TCP connection
	owner    atomic.Pointer[attemptTrace] // the ping attempt it serves or last served; nil: none yet
	abort    atomic.Bool                  // decided: close abortively
}

// abandoned reports whether the connection's ping was given up before its
// answer began; once it says so it keeps saying so.
func (c *pingConn) abandoned() bool {
	if c.abort.Load() {
		return true
	}
	a := c.owner.Load()
	if a == nil || a.answered.Load() || a.ctx.Err() == nil {
		return false
	}
	c.abort.Store(true)
	return true
}

// Write writes b, unless the connection was abandoned: then nothing is
// sent.
func (c *pingConn) Write(b []byte) (int, error) {
	if c.abandoned() {
		return 0, errAbandoned
	}
	return c.Conn.Write(b)
}

// Close closes the connection: abortively if it was abandoned, with a FIN
// otherwise.
func (c *pingConn) Close() error {
	if c.abandoned() {
		if tc, ok := c.Conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // on failure the close is orderly, as before
		}
	}
	return c.Conn.Close()
}

// NetConn returns the TCP connection under c, for the keepalive check
// (HTTPConfig.OnWarning) and anything else that looks at the socket.
func (c *pingConn) NetConn() net.Conn { return c.Conn }

// dialPing dials with d and wraps what it dialed in a pingConn.
func dialPing(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &pingConn{Conn: c}, nil
	}
}
