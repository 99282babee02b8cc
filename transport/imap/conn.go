package imap

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// conn is the TCP connection under TLS and the IMAP client. It does two
// things the library cannot:
//
//   - It bounds every read and write by the current operation's limit
//     (the ping's deadline, or the connect timeout): the library clears
//     its deadlines while it waits for the server's next line, and a
//     silently dropped connection would otherwise block forever.
//   - It stamps traffic in both directions, so that a ping can report
//     the longest silence it held (SPEC I3): the server's "* OK Still
//     here" lines reset the silence as they reset every NAT on the path.
//
// It also keeps the first read or write error the kernel reported, since
// the library reports them as text only; and it closes a connection given
// up for dead abortively (see Close).
type conn struct {
	net.Conn

	mu            sync.Mutex
	limit         time.Time // zero: none (between pings)
	libRead       time.Time // the deadlines the library asked for
	libWrite      time.Time
	last          time.Time // the last traffic in either direction
	quietFrom     time.Time // zero: not measuring silence
	silence       time.Duration
	err           error // the first I/O error, unless we closed the connection
	closedByUs    bool
	sawDeadlineAt time.Time // when a read or write hit a deadline
	abandoned     bool      // the ping or login using it was canceled while it waited
}

// errAbandoned is what a write on a connection given up for dead returns
// instead of sending anything: in practice TLS's close_notify, written by
// tls.Conn.Close just before it closes the socket.
var errAbandoned = errors.New("imap: the connection was abandoned: nothing more is sent on it")

func newConn(c net.Conn) *conn {
	return &conn{Conn: c, last: time.Now()}
}

func (c *conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.note(n, err)
	return n, err
}

func (c *conn) Write(b []byte) (int, error) {
	if c.dead() {
		return 0, errAbandoned
	}
	n, err := c.Conn.Write(b)
	c.note(n, err)
	return n, err
}

func (c *conn) note(n int, err error) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if n > 0 {
		c.gap(now)
		c.last = now
	}
	if err != nil && c.err == nil && !c.closedByUs {
		c.err = err
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.sawDeadlineAt = now
		}
	}
}

// gap records the silence that ends at now. c.mu is held.
func (c *conn) gap(now time.Time) {
	if c.quietFrom.IsZero() {
		return
	}
	from := c.last
	if from.Before(c.quietFrom) {
		from = c.quietFrom
	}
	c.silence = max(c.silence, now.Sub(from))
}

// measure starts measuring silence at now, the moment the server
// acknowledged IDLE.
func (c *conn) measure(now time.Time) {
	c.mu.Lock()
	c.quietFrom, c.silence = now, 0
	c.mu.Unlock()
}

// silenceUntil stops measuring and returns the longest silence from the
// start of the measurement until now.
func (c *conn) silenceUntil(now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gap(now)
	s := c.silence
	c.quietFrom, c.silence = time.Time{}, 0
	return s
}

// setLimit bounds every read and write, pending ones included, by t; the
// zero time lifts the bound (between pings).
func (c *conn) setLimit(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.limit = t
	c.applyRead()
	c.applyWrite()
}

// firstErr returns the first I/O error the kernel reported, and whether
// it came from a deadline.
func (c *conn) firstErr() (err error, deadline bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err, !c.sawDeadlineAt.IsZero()
}

func (c *conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.libRead, c.libWrite = t, t
	if err := c.applyRead(); err != nil {
		return err
	}
	return c.applyWrite()
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.libRead = t
	return c.applyRead()
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.libWrite = t
	return c.applyWrite()
}

func (c *conn) applyRead() error  { return c.Conn.SetReadDeadline(earliest(c.libRead, c.limit)) }
func (c *conn) applyWrite() error { return c.Conn.SetWriteDeadline(earliest(c.libWrite, c.limit)) }

// abandon marks the connection given up: the ping or login using it was
// canceled while it waited for the server. It is closed abortively.
func (c *conn) abandon() {
	c.mu.Lock()
	c.abandoned = true
	c.mu.Unlock()
}

// dead reports whether the connection was given up for dead: a read or
// write hit the current operation's deadline (a timed-out IDLE, a login
// that got no answer), or it was abandoned.
func (c *conn) dead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.abandoned || !c.sawDeadlineAt.IsZero()
}

// Close closes the connection; errors that follow are ours, not the
// network's. A connection given up for dead (see dead) closes abortively
// (SPEC T9): SO_LINGER 0 sends a single RST and drops whatever is unsent,
// and Write has refused TLS's close_notify. An orderly close would meet the
// NAT that silently forgot the flow, and the kernel would retransmit its
// FIN (and a DONE still unacknowledged) about ten times over a minute,
// waking a phone's radio each time. Otherwise, after LOGOUT or the
// server's own close, the close is orderly: close_notify and a FIN.
func (c *conn) Close() error {
	dead := c.dead()
	c.mu.Lock()
	c.closedByUs = true
	c.mu.Unlock()
	if tc, ok := c.Conn.(*net.TCPConn); ok && dead {
		_ = tc.SetLinger(0) // on failure the close is orderly, as before
	}
	return c.Conn.Close()
}

// earliest returns the earlier of two deadlines, where zero means none.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero(), a.Before(b):
		return a
	}
	return b
}

// tlsConn is the TLS connection over a conn. It reports the TLS layer's
// read errors to the conn, since a server that ends with close_notify
// shows the TCP layer no error at all; and it can serve a greeting line
// before the first byte from the server (after a STARTTLS done here, the
// library waits for a greeting the server will not send again).
type tlsConn struct {
	*tls.Conn
	raw      *conn
	greeting []byte
}

func (t *tlsConn) Read(b []byte) (int, error) {
	if len(t.greeting) > 0 {
		n := copy(b, t.greeting)
		t.greeting = t.greeting[n:]
		return n, nil
	}
	n, err := t.Conn.Read(b)
	if err != nil {
		t.raw.note(0, err)
	}
	return n, err
}
