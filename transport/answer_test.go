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
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/transport"
)

// A raw answer script writes whatever it likes to a connection whose ping
// request it has read, until it returns or stop closes. The server then
// holds the connection open and silent until the test ends.
type script func(w io.Writer, stop <-chan struct{})

// rawServer is a real TCP (or TLS) listener on loopback that answers every
// request with a script, for answers net/http's server will not write: a
// 101 that switches to nothing, endless 1xx, malformed and giant headers.
type rawServer struct {
	URL     string
	client  *http.Client
	written chan struct{} // one value whenever a script wrote something
	stop    chan struct{}
	ln      net.Listener
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
}

// newRawServer starts a raw server; with useTLS it speaks TLS with
// httptest's certificate, which its client (over NewHTTPTransport) trusts.
func newRawServer(t testing.TB, useTLS bool, answer script) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{URL: "http://" + ln.Addr().String(), ln: ln,
		written: make(chan struct{}, 1), stop: make(chan struct{})}
	tr := transport.NewHTTPTransport()
	if useTLS {
		hs := httptest.NewUnstartedServer(nil)
		hs.StartTLS()
		cfg := hs.TLS.Clone()
		cfg.NextProtos = nil
		s.ln = tls.NewListener(ln, cfg)
		tr = trusting(tr, hs)
		hs.Close()
		s.URL = "https://" + ln.Addr().String()
	}
	s.client = &http.Client{Transport: tr}
	s.wg.Add(1)
	go s.accept(answer)
	t.Cleanup(s.close)
	return s
}

func (s *rawServer) accept(answer script) {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			r, err := http.ReadRequest(bufio.NewReader(c))
			if err != nil {
				return
			}
			io.Copy(io.Discard, r.Body)
			answer(notify{c, s.written}, s.stop)
			<-s.stop
		}()
	}
}

func (s *rawServer) close() {
	close(s.stop)
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.client.CloseIdleConnections()
	s.wg.Wait()
}

// pinger returns a pinger over the server's client.
func (s *rawServer) pinger(t testing.TB) *transport.HTTPPinger {
	t.Helper()
	p, err := transport.NewHTTPPinger(transport.HTTPConfig{URL: s.URL, Client: s.client, AllowInsecureHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// notify is a connection that tells the test whenever it was written to.
type notify struct {
	net.Conn
	written chan struct{}
}

func (n notify) Write(p []byte) (int, error) {
	k, err := n.Conn.Write(p)
	select {
	case n.written <- struct{}{}:
	default:
	}
	return k, err
}

// say writes a fixed answer.
func say(answer string) script {
	return func(w io.Writer, _ <-chan struct{}) { io.WriteString(w, answer) }
}

// sayAndClose writes a fixed answer and closes the connection.
func sayAndClose(answer string) script {
	return func(w io.Writer, _ <-chan struct{}) {
		io.WriteString(w, answer)
		w.(io.Closer).Close()
	}
}

// every writes answer again every period until stopped or the client
// goes away.
func every(period time.Duration, answer string) script {
	return func(w io.Writer, stop <-chan struct{}) {
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			if _, err := io.WriteString(w, answer); err != nil {
				return
			}
			select {
			case <-tick.C:
			case <-stop:
				return
			}
		}
	}
}

const (
	switched    = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
	bare101     = "HTTP/1.1 101 Switching Protocols\r\n\r\n"
	earlyHints  = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
	changedJSON = `{"status":"changed","folders":["inbox"]}`
)

func ok200(body string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

// overrun is how far past its deadline a ping may return on a loaded
// machine: the deadline timer's wake-up, closing the connection, and the
// bookkeeping. It is ten times what it takes on an idle machine.
const overrun = 2 * time.Second

// TestPingInformational: informational answers cannot hold a ping past its
// deadline (SPEC T10). A 101 is a protocol error at once, whether or not
// it names a protocol, over plain TCP and TLS; before, Ping read the
// switched connection with no deadline and never returned. 1xx answers
// that net/http reads past itself either lead to an answer, run into the
// header limit (a flood), or end at the deadline (a slow stream of 103s,
// a lone 100 and then silence).
func TestPingInformational(t *testing.T) {
	long := transport.Request{Heartbeat: time.Minute, Deadline: time.Minute + 10*time.Second}
	short := transport.Request{Heartbeat: 200 * ms, Deadline: 300 * ms}
	tests := []struct {
		name   string
		answer script
		req    transport.Request
		kind   error // nil: answered
	}{
		{"101-upgrade-silent", say(switched), long, transport.ErrProtocol},
		{"101-bare-silent", say(bare101), long, transport.ErrProtocol},
		{"101-upgrade-then-data", say(switched + "\x81\x05hello"), long, transport.ErrProtocol},
		{"103-flood", every(time.Microsecond, strings.Repeat(earlyHints, 64)), long, transport.ErrProtocol},
		{"103-forever", every(5*ms, earlyHints), short, transport.ErrTimedOut},
		{"100-then-silent", say("HTTP/1.1 100 Continue\r\n\r\n"), short, transport.ErrTimedOut},
		{"102-103-then-answer", say("HTTP/1.1 102 Processing\r\n\r\n" + earlyHints + ok200(changedJSON)), long, nil},
	}
	for _, useTLS := range []bool{false, true} {
		for _, tc := range tests {
			name := tc.name + map[bool]string{false: "/tcp", true: "/tls"}[useTLS]
			t.Run(name, func(t *testing.T) {
				srv := newRawServer(t, useTLS, tc.answer)
				start := time.Now()
				res, err := srv.pinger(t).Ping(context.Background(), tc.req)
				took := time.Since(start)
				if tc.kind == nil {
					if err != nil || res.Status != transport.Changed {
						t.Fatalf("Ping: %+v, %v; want changed", res, err)
					}
					return
				}
				var pe *transport.PingError
				if !errors.As(err, &pe) || !errors.Is(err, tc.kind) {
					t.Fatalf("Ping: %v, want %v", err, tc.kind)
				}
				// Every failure ends by the deadline, with a margin for load.
				if took > tc.req.Deadline+overrun {
					t.Fatalf("Ping took %v, deadline %v", took, tc.req.Deadline)
				}
				// A protocol error comes at once, not at the deadline: the
				// bound is half the 70 s deadline, far more than any load
				// adds to a few local round trips.
				if tc.kind == transport.ErrProtocol && took > tc.req.Deadline/2 {
					t.Fatalf("protocol error after %v, want it at once (deadline %v)", took, tc.req.Deadline)
				}
				// A timeout comes no earlier than the deadline: a 1xx is
				// no failure by itself.
				if tc.kind == transport.ErrTimedOut && pe.Elapsed < tc.req.Deadline {
					t.Fatalf("timed out after %v, before the deadline %v", pe.Elapsed, tc.req.Deadline)
				}
				t.Logf("%v", err)
			})
		}
	}
}

// TestLoopStopsDuringInformational: cancelling Run's context ends it
// promptly while a ping is held by a stream of 103s, and while the server
// answers every ping with 101 and silence (SPEC T7, T10). The pings'
// deadline is over a minute; Run must return well within it. The server's
// writes, seen through a channel, say when the ping is being held.
func TestLoopStopsDuringInformational(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer script
	}{
		{"103-forever", every(50*ms, earlyHints)},
		{"101-silent", say(switched)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRawServer(t, true, tc.answer)
			tuner, err := heartbeat.New(heartbeat.Config{Min: time.Minute, Default: time.Minute, Max: 2 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			events := newRecorder()
			loop, err := transport.NewLoop(transport.Config{Pinger: srv.pinger(t), Tuner: tuner, OnEvent: events.add})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- loop.Run(ctx) }()
			select {
			case <-srv.written: // the server is answering a ping
			case <-time.After(30 * time.Second):
				t.Fatal("no ping reached the server")
			}
			cancel()
			// A minute's deadline; Run returning within a sixth of it
			// shows the cancellation, not the deadline, ended it.
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("Run did not return within 10s of its context ending; events: %v", events.all())
			}
			if tc.name == "101-silent" {
				failed := events.find(transport.PingFailed)
				if len(failed) > 0 && !errors.Is(failed[0].Err, transport.ErrProtocol) {
					t.Fatalf("101 answer: %v, want ErrProtocol", failed[0].Err)
				}
			}
		})
	}
}
