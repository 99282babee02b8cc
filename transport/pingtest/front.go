package pingtest

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
)

// frontListener is the address clients dial. It can be taken down (the
// port refuses connections and every open connection is reset) and brought
// back on the same port, while whoever calls Accept (http.Server or the
// middlebox) keeps waiting in Accept throughout. It numbers and tracks the
// connections it accepts.
type frontListener struct {
	addr net.Addr
	done chan struct{} // closed by Close

	mu     sync.Mutex
	ln     net.Listener  // nil while down
	upCh   chan struct{} // closed when the listener comes back up
	closed bool
	nextID uint64
	conns  map[string]*frontConn // by client address
}

// listenConfig is how the server listens: with TCP keepalive probes off
// on the connections it accepts. Go turns them on by default (a probe after
// 15 s of idle, answered by the client's kernel), which would keep any
// kernel NAT between the server and its client alive from the server's
// side: a test that puts one between them (e.g. the server run in a
// network namespace behind internal/natlab's router) would then never see
// the NAT forget an idle ping, and would hide a client that wrongly keeps
// the flow alive itself (SPEC T9). (The Middlebox ends TCP in user space:
// probes never cross it.) A real ping server's keepalive setting is its own
// affair; a test server must not hide the client's.
var listenConfig = net.ListenConfig{KeepAlive: -1, KeepAliveConfig: net.KeepAliveConfig{Enable: false}}

// listen listens on addr with listenConfig.
func listen(addr string) (net.Listener, error) {
	return listenConfig.Listen(context.Background(), "tcp", addr)
}

func listenFront(addr string) (*frontListener, error) {
	ln, err := listen(addr)
	if err != nil {
		return nil, fmt.Errorf("pingtest: listen: %w", err)
	}
	return &frontListener{
		addr:  ln.Addr(),
		done:  make(chan struct{}),
		ln:    ln,
		conns: make(map[string]*frontConn),
	}, nil
}

func (l *frontListener) Addr() net.Addr { return l.addr }

// Accept returns the next connection, waiting through any time the
// listener is down. It fails only once the listener is closed, or if the
// operating system's listener fails for another reason.
func (l *frontListener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		ln, upCh, closed := l.ln, l.upCh, l.closed
		l.mu.Unlock()
		if closed {
			return nil, net.ErrClosed
		}
		if ln == nil {
			select {
			case <-upCh:
			case <-l.done:
			}
			continue
		}
		c, err := ln.Accept()
		l.mu.Lock()
		if l.closed || l.ln != ln { // closed or taken down meanwhile
			l.mu.Unlock()
			if c != nil {
				resetConn(c)
			}
			continue
		}
		if err != nil {
			l.mu.Unlock()
			return nil, err
		}
		l.nextID++
		fc := &frontConn{Conn: c, l: l, id: l.nextID, key: c.RemoteAddr().String()}
		l.conns[fc.key] = fc
		l.mu.Unlock()
		return fc, nil
	}
}

// Close closes the listener and every connection it accepted. It is safe
// to call more than once.
func (l *frontListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	ln, conns := l.ln, l.takeConns()
	l.ln = nil
	l.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	for _, c := range conns {
		_ = c.Conn.Close()
	}
	return nil
}

// down closes the port and resets every open connection.
func (l *frontListener) down() {
	l.mu.Lock()
	if l.closed || l.ln == nil {
		l.mu.Unlock()
		return
	}
	ln, conns := l.ln, l.takeConns()
	l.ln = nil
	l.upCh = make(chan struct{})
	l.mu.Unlock()
	_ = ln.Close()
	for _, c := range conns {
		resetConn(c.Conn)
	}
}

// up listens on the same address again.
func (l *frontListener) up() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return net.ErrClosed
	}
	if l.ln != nil {
		return nil
	}
	ln, err := listen(l.addr.String())
	if err != nil {
		return fmt.Errorf("pingtest: listen again on %v: %w", l.addr, err)
	}
	l.ln = ln
	close(l.upCh)
	return nil
}

// takeConns empties the connection table. Called with l.mu held.
func (l *frontListener) takeConns() []*frontConn {
	conns := slices.Collect(maps.Values(l.conns))
	clear(l.conns)
	return conns
}

// lookup finds the open connection from the client address remote.
func (l *frontListener) lookup(remote string) (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.conns[remote]; ok {
		return c.id, true
	}
	return 0, false
}

// frontConn is one accepted client connection.
type frontConn struct {
	net.Conn
	l    *frontListener
	id   uint64
	key  string
	once sync.Once
}

func (c *frontConn) Close() error {
	c.forget()
	return c.Conn.Close()
}

// reset closes the connection with an RST instead of a FIN.
func (c *frontConn) reset() {
	c.forget()
	resetConn(c.Conn)
}

// forget takes the connection out of the listener's table, once.
func (c *frontConn) forget() {
	c.once.Do(func() {
		c.l.mu.Lock()
		if c.l.conns[c.key] == c {
			delete(c.l.conns, c.key)
		}
		c.l.mu.Unlock()
	})
}

// resetConn closes c with SO_LINGER 0, so the peer gets an RST.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
