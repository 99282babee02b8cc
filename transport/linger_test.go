package transport_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/internal/testcert"
	"github.com/pushbeat/pushbeat/transport"
)

// closeServer is a one-ping-per-connection server of the default protocol
// that watches, below TLS, what the client sends on each connection after
// the request: how many bytes (TLS's close_notify is one record) and how
// the stream ended (io.EOF for a FIN, ECONNRESET for a RST).
type closeServer struct {
	ln       net.Listener
	tls      *tls.Config // nil: plain HTTP
	pool     *tls.Config // the client's TLS configuration
	answer   string      // "": hold the ping without answering; else the answer's extra header lines
	received chan struct{}
	ends     chan closeSeen
	wg       sync.WaitGroup
}

// closeSeen is what the server saw of one connection after the request.
type closeSeen struct {
	after int   // bytes the client sent after the request (and after the answer, if any)
	end   error // the error that ended the raw stream
}

func (s closeSeen) String() string {
	return fmt.Sprintf("%d bytes after the request, then %v", s.after, s.end)
}

func (s closeSeen) reset() bool { return errors.Is(s.end, syscall.ECONNRESET) }
func (s closeSeen) fin() bool   { return errors.Is(s.end, io.EOF) }

func newCloseServer(t *testing.T, useTLS bool, answer string) *closeServer {
	t.Helper()
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &closeServer{ln: ln, answer: answer, received: make(chan struct{}, 4), ends: make(chan closeSeen, 4)}
	if useTLS {
		cert, err := testcert.New("linger", []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert.TLS}, MinVersion: tls.VersionTLS12}
		s.pool = &tls.Config{RootCAs: cert.Pool(), MinVersion: tls.VersionTLS12}
	}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *closeServer) url() string {
	if s.tls != nil {
		return "https://" + s.ln.Addr().String()
	}
	return "http://" + s.ln.Addr().String()
}

func (s *closeServer) accept() {
	defer s.wg.Done()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close() // ends serve's reads if a test failed before the client closed
		}
	}()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		conns = append(conns, c)
		s.wg.Add(1)
		go s.serve(c)
	}
}

// countingConn counts the bytes read from it once counting is on.
type countingConn struct {
	net.Conn
	counting bool
	n        int
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if c.counting {
		c.n += n
	}
	return n, err
}

func (s *closeServer) serve(raw net.Conn) {
	defer s.wg.Done()
	cc := &countingConn{Conn: raw}
	var app net.Conn = cc
	if s.tls != nil {
		app = tls.Server(cc, s.tls)
	}
	br := bufio.NewReader(app)
	req, err := http.ReadRequest(br)
	if err != nil {
		s.ends <- closeSeen{end: fmt.Errorf("reading the request: %w", err)}
		return
	}
	_, _ = io.Copy(io.Discard, req.Body)
	// Everything the client sends from now on is its close (counted from
	// before the test hears of the request, which it may cancel at once).
	cc.counting = true
	s.received <- struct{}{}
	if s.answer != "" {
		const body = `{"status":"expired"}`
		fmt.Fprintf(app, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s", len(body), s.answer, body)
	}
	// Read the close through TLS (close_notify ends the TLS stream), then
	// below TLS to the end of the TCP stream.
	_, err = io.Copy(io.Discard, br)
	if s.tls != nil && err == nil {
		_, err = io.Copy(io.Discard, cc)
	}
	if err == nil {
		err = io.EOF
	}
	s.ends <- closeSeen{after: cc.n, end: err}
}

// TestAbandonedPingResets checks how the connections of NewHTTPTransport
// close (SPEC T9): a ping given up before its answer (deadline, or the
// caller's cancel) ends its connection with a single RST and no TLS
// close_notify; a connection closed after an answer (idle, or because the
// server said Connection: close) closes in order, close_notify and FIN.
// On the wire, through a kernel NAT, the NAT lab checks that the RST is the
// only packet (internal/natlab).
func TestAbandonedPingResets(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		name := "plain"
		if useTLS {
			name = "tls"
		}
		t.Run(name, func(t *testing.T) {
			t.Run("deadline", func(t *testing.T) {
				s := newCloseServer(t, useTLS, "")
				p, tr := lingerPinger(t, s)
				_, err := p.Ping(context.Background(), transport.Request{Heartbeat: time.Minute, Deadline: 300 * time.Millisecond})
				if !errors.Is(err, transport.ErrTimedOut) {
					t.Fatalf("ping: %v, want ErrTimedOut", err)
				}
				wantReset(t, s, tr)
			})
			t.Run("canceled", func(t *testing.T) {
				s := newCloseServer(t, useTLS, "")
				p, tr := lingerPinger(t, s)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				go func() {
					select {
					case <-s.received: // the ping is held: give it up
					case <-ctx.Done():
					}
					cancel()
				}()
				_, err := p.Ping(ctx, transport.Request{Heartbeat: time.Minute})
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("ping: %v, want context.Canceled", err)
				}
				wantReset(t, s, tr)
			})
			t.Run("answered-idle", func(t *testing.T) {
				s := newCloseServer(t, useTLS, "X-Test: idle\r\n")
				p, tr := lingerPinger(t, s)
				if _, err := p.Ping(context.Background(), transport.Request{Heartbeat: time.Minute}); err != nil {
					t.Fatal(err)
				}
				tr.CloseIdleConnections()
				wantOrderly(t, s, useTLS, useTLS)
			})
			t.Run("answered-connection-close", func(t *testing.T) {
				s := newCloseServer(t, useTLS, "Connection: close\r\n")
				p, _ := lingerPinger(t, s)
				if _, err := p.Ping(context.Background(), transport.Request{Heartbeat: time.Minute}); err != nil {
					t.Fatal(err)
				}
				// crypto/tls skips close_notify when the connection is
				// closed while a Write is still returning, and net/http's
				// read loop may close it before its write loop's Write of
				// the request has returned: close_notify is not asked for.
				wantOrderly(t, s, useTLS, false)
			})
		})
	}
}

func lingerPinger(t *testing.T, s *closeServer) (*transport.HTTPPinger, *http.Transport) {
	t.Helper()
	tr := transport.NewHTTPTransport()
	tr.Proxy = nil
	tr.TLSClientConfig = s.pool
	t.Cleanup(tr.CloseIdleConnections)
	p, err := transport.NewHTTPPinger(transport.HTTPConfig{
		URL: s.url(), AllowInsecureHTTP: true, Client: &http.Client{Transport: tr},
		OnWarning: func(err error) { t.Errorf("warning: %v", err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return p, tr
}

// seen waits for the server to see the connection end. The limit only
// bounds a failing test: the client closes when the ping ends.
func seen(t *testing.T, s *closeServer) closeSeen {
	t.Helper()
	select {
	case c := <-s.ends:
		return c
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not see the connection end within 30 s")
		return closeSeen{}
	}
}

func wantReset(t *testing.T, s *closeServer, tr *http.Transport) {
	t.Helper()
	c := seen(t, s)
	if !c.reset() || c.after != 0 {
		t.Errorf("given-up ping's connection: the server saw %v; want 0 bytes (no close_notify), then a reset", c)
	}
	tr.CloseIdleConnections() // nothing should be left to close
}

// wantOrderly checks that the server saw a FIN, after TLS's close_notify
// if notify (and after nothing, for plain HTTP).
func wantOrderly(t *testing.T, s *closeServer, useTLS, notify bool) {
	t.Helper()
	c := seen(t, s)
	switch {
	case !c.fin():
		t.Errorf("answered ping's connection: the server saw %v; want an orderly end (EOF)", c)
	case notify && c.after == 0:
		t.Errorf("answered ping's connection: the server saw %v; want TLS's close_notify before the FIN", c)
	case !useTLS && c.after != 0:
		t.Errorf("answered ping's connection: the server saw %v; want nothing before the FIN", c)
	}
}
