package pingtest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/pushbeat/pushbeat/internal/testcert"
	"github.com/pushbeat/pushbeat/transport"
)

// Server is a ping server for the default protocol on a loopback port,
// optionally behind a Middlebox. Its methods are safe for concurrent use.
type Server struct {
	b      *backend
	url    string
	front  *frontListener
	mb     *Middlebox // nil without Config.Middlebox
	http   *http.Server
	pool   *x509.CertPool // nil for plain HTTP
	client *http.Client
	wg     sync.WaitGroup // Serve goroutines
	once   sync.Once
}

// NewServer starts a server on 127.0.0.1 at a port of the system's
// choosing, as cfg describes. It returns an error if cfg is invalid or the
// server cannot listen. Close it when done.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{b: newBackend(cfg)}
	var tlsConf *tls.Config
	if !cfg.PlainHTTP {
		cert, err := testcert.New("pingtest", []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, []string{"localhost"})
		if err != nil {
			return nil, fmt.Errorf("pingtest: %w", err)
		}
		tlsConf = &tls.Config{
			Certificates: []tls.Certificate{cert.TLS},
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"http/1.1"},
		}
		s.pool = cert.Pool()
	}

	front, err := listenFront("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.front = front
	s.http = &http.Server{
		Handler:           s.b,
		ReadHeaderTimeout: time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	if cfg.Middlebox {
		ln, err := listen("127.0.0.1:0")
		if err != nil {
			_ = front.Close()
			return nil, fmt.Errorf("pingtest: listen behind the middlebox: %w", err)
		}
		s.serve(ln)
		s.mb = newMiddlebox(front, ln.Addr().String(), tlsConf, s.b.clk, cfg.IdleTimeout, cfg.DropMode)
		s.b.identify = func(r *http.Request) (uint64, string) {
			id, remote, _ := s.mb.lookup(r.RemoteAddr)
			return id, remote
		}
	} else {
		var ln net.Listener = front
		if tlsConf != nil {
			ln = tls.NewListener(front, tlsConf)
		}
		s.serve(ln)
		s.b.identify = func(r *http.Request) (uint64, string) {
			id, _ := front.lookup(r.RemoteAddr)
			return id, r.RemoteAddr
		}
	}

	scheme := "https"
	if cfg.PlainHTTP {
		scheme = "http"
	}
	s.url = scheme + "://" + front.Addr().String()
	// The client a pushbeat application would use (no TCP keepalive
	// probes, HTTP/1.1: SPEC T9), trusting this server's certificate.
	tr := transport.NewHTTPTransport()
	tr.TLSClientConfig = &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12}
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.MaxIdleConnsPerHost = 1 << 16
	tr.IdleConnTimeout = time.Minute
	s.client = &http.Client{Transport: tr}
	return s, nil
}

func (s *Server) serve(ln net.Listener) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.http.Serve(ln)
	}()
}

// URL returns the server's base URL, "https://127.0.0.1:port" (or
// "http://..." with Config.PlainHTTP), without a trailing slash. Pings may
// be posted to any path under it. With a middlebox, this is the
// middlebox's address.
func (s *Server) URL() string { return s.url }

// Addr returns the host:port clients connect to.
func (s *Server) Addr() string { return s.front.Addr().String() }

// Client returns an HTTP client configured for the server: for TLS, it
// trusts the server's certificate and verifies it normally. It uses
// HTTP/1.1, keeps many idle connections to the server so that concurrent
// pingers each keep their own, and goes no further than loopback (no
// proxy). Close closes its idle connections. The same client is returned
// on every call.
func (s *Server) Client() *http.Client { return s.client }

// CertPool returns a pool holding the server's self-signed certificate,
// for building a client's tls.Config (RootCAs); nil for a plain HTTP
// server.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// Middlebox returns the middlebox in front of the server, or nil if the
// server was started without Config.Middlebox.
func (s *Server) Middlebox() *Middlebox { return s.mb }

// PostChange marks each named folder as changed (empty names are ignored)
// and remembers when, for Stats' delivery delays. Held pings that asked
// for one of them are answered at once, the longest-held first; each
// change is delivered to one ping. A folder already pending keeps its
// earlier time.
func (s *Server) PostChange(folders ...string) { s.b.postChange(folders) }

// SetBounds sets the server's permissible heartbeat range, applied to
// pings that arrive afterwards; zero means no bound on that side. It
// returns an error, and changes nothing, if a bound is negative or min
// exceeds max.
func (s *Server) SetBounds(min, max time.Duration) error { return s.b.setBounds(min, max) }

// Inject makes each of the next n well-formed pings, after any already
// queued by Inject, get fault f. It returns an error if n <= 0 or f is not
// valid.
func (s *Server) Inject(n int, f Fault) error { return s.b.inject(n, f) }

// InjectRandom makes each later well-formed ping that has no fault queued
// by Inject get fault f with probability p, drawn from Config.Seed. Calls
// add up: one draw per ping picks at most one of the random faults. It
// returns an error if p is not in (0, 1], if the probabilities would add
// up to more than 1, or if f is not valid.
func (s *Server) InjectRandom(p float64, f Fault) error { return s.b.injectRandom(p, f) }

// ClearFaults forgets every queued and random fault.
func (s *Server) ClearFaults() { s.b.clearFaults() }

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats { return s.b.snapshot() }

// Log returns the request log, oldest first: every request that has
// ended, up to Config.LogSize of the most recent ones; nil if the log is
// disabled.
func (s *Server) Log() []Request { return s.b.requests() }

// Down takes the network away: the server's address refuses connections
// and every open client connection is reset, as when a device loses
// coverage. Held pings behind it end as Abandoned, consuming nothing. It
// does nothing if the server is already down or closed.
func (s *Server) Down() { s.front.down() }

// Up brings the network back after Down: the server listens again on the
// same address, so URL is unchanged. It returns an error if the port
// cannot be had again or the server is closed; it does nothing if the
// server is up.
func (s *Server) Up() error { return s.front.up() }

// Close shuts the server down: it releases held pings (they end as
// Abandoned), closes every connection and listener, and returns when all
// of the server's goroutines have ended. It is safe to call more than
// once.
func (s *Server) Close() {
	s.once.Do(func() {
		// Cut the connections first, then release the handlers: a handler
		// released while its connection is open would make net/http send
		// an empty 200, which a client could take for an answer.
		_ = s.front.Close()
		if s.mb != nil {
			s.mb.close()
		}
		_ = s.http.Close() // its listeners are closed already; errors say only that
		s.b.close()
		s.wg.Wait()
		s.b.wait()
		s.client.CloseIdleConnections()
	})
}
