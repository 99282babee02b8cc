//go:build linux

package natlab_test

import (
	"net/netip"
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

	span, idle, provoked, closing := heldTraffic(base, srv, p)
	if len(idle) != 0 || len(provoked) != 0 || len(closing) != 1 {
		t.Errorf("quiet hold: idle %v, provoked %v, closing %v; want only the old close", idle, provoked, closing)
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
	_, idle, provoked, _ = heldTraffic(probe, srv, p)
	if len(idle) != 1 || !idle[0].Time.Equal(at(30.2)) || len(provoked) != 1 {
		t.Errorf("probed hold: idle %v, provoked %v; want the keepalive probe idle and the challenge ACK provoked", idle, provoked)
	}

	// Without the server's log the request is the first data after the
	// ping's start; the event placed late must not hide the hold.
	late := p
	late.end = at(61.5)
	if span, _, _, _ := heldTraffic(base, nil, late); span < 57*time.Second+900*time.Millisecond {
		t.Errorf("hold without the server's log placed over %v", span)
	}
}
