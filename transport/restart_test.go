package transport_test

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/pushbeat/pushbeat/transport"
)

// unassignedAddr is an address no interface of the test machine has
// (TEST-NET-1, RFC 5737): binding a socket to it fails in the kernel with
// EADDRNOTAVAIL before any packet leaves, as when a device's address goes
// away with its coverage.
var unassignedAddr = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1)}

// lostClient returns a copy of base (nil: http.DefaultClient) that dials
// every request afresh, and whose dials fail the way they fail without
// coverage while lost is nil or true. The failure is the kernel's own
// (EADDRNOTAVAIL), and nothing is sent.
func lostClient(base *http.Client, lost *atomic.Bool) *http.Client {
	if base == nil {
		base = http.DefaultClient
	}
	tr, ok := base.Transport.(*http.Transport)
	if !ok {
		tr = http.DefaultTransport.(*http.Transport)
	}
	tr = tr.Clone()
	tr.DisableKeepAlives = true
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		if lost == nil || lost.Load() {
			d.LocalAddr = unassignedAddr
		}
		return d.DialContext(ctx, network, addr)
	}
	c := *base
	c.Transport = tr
	return &c
}

// latePinger is a Pinger whose HTTPPinger is made once the test knows its
// server, after the loop has started: its pings wait until then.
type latePinger struct {
	ready chan struct{}
	p     *transport.HTTPPinger
}

func newLatePinger() *latePinger { return &latePinger{ready: make(chan struct{})} }

// set makes the pinger; call it once.
func (l *latePinger) set(t *testing.T, cfg transport.HTTPConfig) {
	t.Helper()
	p, err := transport.NewHTTPPinger(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l.p = p
	close(l.ready)
}

func (l *latePinger) Ping(ctx context.Context, req transport.Request) (transport.Result, error) {
	select {
	case <-l.ready:
	case <-ctx.Done():
		return transport.Result{}, ctx.Err()
	}
	return l.p.Ping(ctx, req)
}
