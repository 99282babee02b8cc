//go:build linux

package natlab_test

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/internal/natlab"
)

// TestHeldTraffic checks the lab's judge on a made-up capture of one 60 s
// ping: it must find the hold from the wire, see a keepalive probe in it,
// and keep the router's probe and an old connection's close apart.
func TestHeldTraffic(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	at := func(s float64) time.Time { return t0.Add(secs(s)) }
	c := netip.AddrPortFrom(natlab.ClientAddr, 40000)
	old := netip.AddrPortFrom(natlab.ClientAddr, 39999)
	s := netip.AddrPortFrom(natlab.ServerAddr, 443)
	pkt := func(sec float64, src, dst netip.AddrPort, flags uint8, n int) natlab.Packet {
		return natlab.Packet{Time: at(sec), Src: src, Dst: dst, Flags: flags, Len: n}
	}
	base := []natlab.Packet{
		pkt(-0.0005, old, s, natlab.FIN|natlab.ACK, 0),         // the last ping's close, just before this one
		pkt(0.001, c, s, natlab.PSH|natlab.ACK, 230),           // the request
		pkt(0.002, s, c, natlab.ACK, 0),                        // its acknowledgement
		pkt(1.6, old, s, natlab.FIN|natlab.PSH|natlab.ACK, 24), // the old close, again
		pkt(60.0, s, c, natlab.PSH|natlab.ACK, 151),            // the answer
		pkt(60.04, c, s, natlab.ACK, 0),                        // its acknowledgement
	}
	p := ping{interval: 60 * time.Second, start: at(0.0001), end: at(60.3)}
	srv := []serverLine{{Received: at(0.0015)}}

	span, idle, provoked, closing, req := heldTraffic(base, srv, p)
	if len(idle) != 0 || len(provoked) != 0 || len(closing) != 1 {
		t.Errorf("quiet hold: idle %v, provoked %v, closing %v; want only the old close", idle, provoked, closing)
	}
	if req != base[1] {
		t.Errorf("quiet hold: request %v, want %v", req, base[1])
	}
	if want := 57*time.Second + 900*time.Millisecond; span < want || span > 60*time.Second {
		t.Errorf("quiet hold placed over %v, want about %v", span, want)
	}

	probe := append(append([]natlab.Packet{}, base[:4]...),
		pkt(30.2, c, s, natlab.ACK, 0), // a keepalive probe
		pkt(30.21, s, c, natlab.ACK, 0),
		pkt(45.0, s, c, natlab.SYN, 0), // the router's probe
		pkt(45.0001, c, s, natlab.ACK, 0),
	)
	probe = append(probe, base[4:]...)
	_, idle, provoked, _, _ = heldTraffic(probe, srv, p)
	if len(idle) != 1 || !idle[0].Time.Equal(at(30.2)) || len(provoked) != 1 {
		t.Errorf("probed hold: idle %v, provoked %v; want the keepalive probe idle and the challenge ACK provoked", idle, provoked)
	}

	// Without the server's log the request is the first data after the
	// ping's start; the event placed late must not hide the hold.
	late := p
	late.end = at(61.5)
	if span, _, _, _, _ := heldTraffic(base, nil, late); span < 57*time.Second+900*time.Millisecond {
		t.Errorf("hold without the server's log placed over %v", span)
	}
}

// TestCloseTraffic checks what checkAbortiveClose counts: the client's
// packets on the request's connection after it, however late, and nothing
// of other connections or of the server.
func TestCloseTraffic(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	c := netip.MustParseAddrPort("192.0.2.2:40000")
	other := netip.MustParseAddrPort("192.0.2.2:40001")
	s := netip.MustParseAddrPort("198.51.100.2:443")
	pkt := func(sec float64, src, dst netip.AddrPort, flags uint8, n int) natlab.Packet {
		return natlab.Packet{Time: at(sec), Src: src, Dst: dst, Flags: flags, Len: n}
	}
	req := pkt(0.001, c, s, natlab.PSH|natlab.ACK, 230)
	pkts := []natlab.Packet{
		req,
		pkt(0.002, s, c, natlab.ACK, 0),
		pkt(70.0, s, c, natlab.PSH|natlab.ACK, 151), // the answer, which the router drops
		pkt(90.0, c, s, natlab.PSH|natlab.ACK, 24),  // close_notify
		pkt(90.0, c, s, natlab.FIN|natlab.ACK, 0),
		pkt(90.2, other, s, natlab.SYN, 0), // the next ping's connection
		pkt(90.3, c, s, natlab.FIN|natlab.PSH|natlab.ACK, 24),
		pkt(145.0, c, s, natlab.FIN|natlab.PSH|natlab.ACK, 24),
	}
	got := closeTraffic(pkts, req, time.Second)
	if want := []natlab.Packet{pkts[3], pkts[4], pkts[6], pkts[7]}; !slices.Equal(got, want) {
		t.Errorf("orderly close: got %v, want %v", got, want)
	}
	rst := []natlab.Packet{req, pkt(0.002, s, c, natlab.ACK, 0), pkt(90.0, c, s, natlab.RST|natlab.ACK, 0)}
	if got := closeTraffic(rst, req, time.Second); len(got) != 1 || got[0] != rst[2] {
		t.Errorf("abortive close: got %v, want the RST alone", got)
	}
	if got := closeTraffic(pkts, natlab.Packet{}, time.Second); got != nil {
		t.Errorf("no request: got %v, want nothing", got)
	}
}
