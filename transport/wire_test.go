package transport_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/transport"
)

// socketKeepAlive reads SO_KEEPALIVE off the socket under c (under TLS and
// NewHTTPTransport's wrapper), as the kernel has it.
func socketKeepAlive(t *testing.T, c net.Conn) bool {
	t.Helper()
	for {
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = u.NetConn()
	}
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
	}); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	return v != 0
}

// h2Server is a TLS server that offers HTTP/2 and records the protocols
// each client offered through ALPN.
func h2Server(t *testing.T) (*httptest.Server, func() [][]string) {
	t.Helper()
	var mu sync.Mutex
	var offered [][]string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"status":"changed","folders":["inbox"]}`)
	}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		mu.Lock()
		offered = append(offered, append([]string(nil), hello.SupportedProtos...))
		mu.Unlock()
		return nil, nil
	}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, func() [][]string {
		mu.Lock()
		defer mu.Unlock()
		return append([][]string(nil), offered...)
	}
}

// trusting returns tr trusting srv's certificate.
func trusting(tr *http.Transport, srv *httptest.Server) *http.Transport {
	tr.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	return tr
}

// TestHTTPTransportIdle: a connection of NewHTTPTransport has no TCP
// keepalive probes armed (the kernel's SO_KEEPALIVE is off, where Go's
// default transport turns it on), does not offer h2 through ALPN to a
// server that prefers HTTP/2, so it speaks HTTP/1.1, and refuses headers over
// DefaultMaxHeaderBytes (SPEC T9, T10).
func TestHTTPTransportIdle(t *testing.T) {
	srv, offered := h2Server(t)
	probe := func(tr *http.Transport) (keepAlive bool, proto string) {
		t.Helper()
		client := &http.Client{Transport: tr}
		defer client.CloseIdleConnections()
		var conn net.Conn
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) { conn = info.Conn },
		})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader(`{"heartbeat":60}`))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if conn == nil {
			t.Fatal("no connection seen")
		}
		return socketKeepAlive(t, conn), resp.Proto
	}

	// The control: Go's default transport arms probes and speaks HTTP/2,
	// so this test can see both.
	if ka, proto := probe(trusting(http.DefaultTransport.(*http.Transport).Clone(), srv)); !ka || proto != "HTTP/2.0" {
		t.Fatalf("control: http.DefaultTransport's connection: keepalive %v, %s; the test cannot see what it checks", ka, proto)
	}
	ka, proto := probe(trusting(transport.NewHTTPTransport(), srv))
	if ka || proto != "HTTP/1.1" {
		t.Fatalf("NewHTTPTransport's connection: keepalive %v, %s; want off, HTTP/1.1", ka, proto)
	}
	got := offered()
	if first, last := got[0], got[len(got)-1]; !slices.Contains(first, "h2") || slices.Contains(last, "h2") {
		t.Fatalf("ALPN offers: default transport %q, NewHTTPTransport %q; want h2 only from the default", first, last)
	}

	tr := transport.NewHTTPTransport()
	if tr.MaxResponseHeaderBytes != transport.DefaultMaxHeaderBytes || tr.TLSHandshakeTimeout != transport.DefaultTLSHandshakeTimeout ||
		tr.ResponseHeaderTimeout != 0 || tr.Proxy == nil {
		t.Fatalf("NewHTTPTransport: %+v", tr)
	}
	if transport.NewHTTPTransport() == tr {
		t.Fatal("NewHTTPTransport returned the same transport twice")
	}
}

// TestPingWarnsNotIdle: an application's client whose connections send
// TCP keepalive probes or speak HTTP/2 is reported once through
// HTTPConfig.OnWarning, and one that is idle is not (SPEC T9).
func TestPingWarnsNotIdle(t *testing.T) {
	srv, _ := h2Server(t)
	idleDialer := &net.Dialer{KeepAlive: -1}
	probingDialer := &net.Dialer{KeepAlive: -1, KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: time.Minute}}
	tests := []struct {
		name string
		tr   http.RoundTripper
		want string // in the warning; "" = no warning
	}{
		{"pushbeat", trusting(transport.NewHTTPTransport(), srv), ""},
		{"idle-dialer", trusting(&http.Transport{DialContext: idleDialer.DialContext}, srv), ""},
		{"default-clone", trusting(http.DefaultTransport.(*http.Transport).Clone(), srv), "SO_KEEPALIVE"},
		{"no-dialer", trusting(&http.Transport{}, srv), "default dialer"},
		{"probing-dialer", trusting(&http.Transport{DialContext: probingDialer.DialContext}, srv), "SO_KEEPALIVE"},
		{"wrapped", wrapped{trusting(&http.Transport{DialContext: probingDialer.DialContext}, srv)}, "SO_KEEPALIVE"},
		{"h2", trusting(&http.Transport{DialContext: idleDialer.DialContext, ForceAttemptHTTP2: true}, srv), "HTTP/2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var warnings []error
			client := &http.Client{Transport: tc.tr}
			defer client.CloseIdleConnections()
			p, err := transport.NewHTTPPinger(transport.HTTPConfig{URL: srv.URL, Client: client,
				OnWarning: func(err error) { warnings = append(warnings, err) }})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if _, err := p.Ping(context.Background(), req(time.Second)); err != nil {
					t.Fatalf("ping %d: %v", i, err)
				}
				client.CloseIdleConnections() // a fresh connection each time
			}
			switch {
			case tc.want == "" && len(warnings) > 0:
				t.Fatalf("warned %v", warnings)
			case tc.want == "":
			case len(warnings) != 1:
				t.Fatalf("%d warnings %v, want one", len(warnings), warnings)
			case !errors.Is(warnings[0], transport.ErrNotIdle) || !strings.Contains(warnings[0].Error(), tc.want):
				t.Fatalf("warning %q, want ErrNotIdle naming %q", warnings[0], tc.want)
			}
		})
	}

	// http.DefaultTransport itself is known without dialing.
	var warnings []error
	p, err := transport.NewHTTPPinger(transport.HTTPConfig{URL: "https://127.0.0.1:1/", Client: &http.Client{},
		OnWarning: func(err error) { warnings = append(warnings, err) }})
	if err != nil {
		t.Fatal(err)
	}
	p.Ping(context.Background(), req(time.Second))
	if len(warnings) != 1 || !errors.Is(warnings[0], transport.ErrNotIdle) || !strings.Contains(warnings[0].Error(), "DefaultTransport") {
		t.Fatalf("nil Transport: warnings %v", warnings)
	}
}

// wrapped is an application's RoundTripper around net/http's.
type wrapped struct{ rt http.RoundTripper }

func (w wrapped) RoundTrip(r *http.Request) (*http.Response, error) { return w.rt.RoundTrip(r) }

func (w wrapped) CloseIdleConnections() {
	w.rt.(interface{ CloseIdleConnections() }).CloseIdleConnections()
}

// An application that needs its own client, here to trust a private CA,
// starts from the ping transport and keeps its guarantees: no TCP keepalive
// probes, HTTP/1.1, a bounded header.
func ExampleNewHTTPTransport() {
	pool := x509.NewCertPool() // e.g. pool.AppendCertsFromPEM(caPEM)
	tr := transport.NewHTTPTransport()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	client := &http.Client{Transport: tr}
	defer client.CloseIdleConnections()

	_, err := transport.NewHTTPPinger(transport.HTTPConfig{
		URL:    "https://push.example.com/ping",
		Client: client,
		// A client with keepalive probes or HTTP/2 would be reported here,
		// once, on the first ping.
		OnWarning: func(err error) { fmt.Println("warning:", err) },
	})
	fmt.Println(err)
	fmt.Println("HTTP/2:", tr.Protocols.HTTP2(), "header limit:", tr.MaxResponseHeaderBytes)
	// Output:
	// <nil>
	// HTTP/2: false header limit: 32768
}
