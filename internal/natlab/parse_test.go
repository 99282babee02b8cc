//go:build linux

package natlab

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// pcapStream writes a little-endian pcap stream (microseconds, Ethernet)
// of the given frames, one per second from t0.
func pcapStream(t0 time.Time, frames ...[]byte) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	_ = binary.Write(&b, le, uint32(0xa1b2c3d4))
	_ = binary.Write(&b, le, [2]uint16{2, 4})
	_ = binary.Write(&b, le, [4]uint32{0, 0, 65535, 1})
	for i, f := range frames {
		ts := t0.Add(time.Duration(i) * time.Second)
		_ = binary.Write(&b, le, [4]uint32{uint32(ts.Unix()), uint32(ts.Nanosecond() / 1000), uint32(len(f)), uint32(len(f))})
		b.Write(f)
	}
	return b.Bytes()
}

// frame builds an Ethernet frame with an IPv4 TCP segment of payload bytes.
func frame(src, dst netip.AddrPort, seq, ack uint32, flags uint8, payload int) []byte {
	f := make([]byte, 14+40+payload)
	binary.BigEndian.PutUint16(f[12:14], 0x0800)
	ip := f[14:]
	ip[0], ip[9] = 0x45, 6
	binary.BigEndian.PutUint16(ip[2:4], uint16(40+payload))
	s, d := src.Addr().As4(), dst.Addr().As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:2], src.Port())
	binary.BigEndian.PutUint16(tcp[2:4], dst.Port())
	binary.BigEndian.PutUint32(tcp[4:8], seq)
	binary.BigEndian.PutUint32(tcp[8:12], ack)
	tcp[12], tcp[13] = 5<<4, flags
	return f
}

func TestReadPcap(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 250_000_000)
	c := netip.AddrPortFrom(ClientAddr, 40000)
	s := netip.AddrPortFrom(ServerAddr, 443)
	arp := make([]byte, 42)
	binary.BigEndian.PutUint16(arp[12:14], 0x0806)
	udp := frame(c, s, 0, 0, 0, 0)
	udp[14+9] = 17
	stream := pcapStream(t0,
		frame(c, s, 100, 0, SYN, 0),
		arp,
		frame(s, c, 500, 101, SYN|ACK, 0),
		udp,
		frame(c, s, 101, 501, PSH|ACK, 300),
		frame(c, s, 400, 501, ACK, 0),
	)
	var got []Packet
	if err := readPcap(bytes.NewReader(stream), func(p Packet) { got = append(got, p) }); err != nil {
		t.Fatal(err)
	}
	want := []Packet{
		{Time: t0, Src: c, Dst: s, Seq: 100, Flags: SYN},
		{Time: t0.Add(2 * time.Second), Src: s, Dst: c, Seq: 500, Ack: 101, Flags: SYN | ACK},
		{Time: t0.Add(4 * time.Second), Src: c, Dst: s, Seq: 101, Ack: 501, Flags: PSH | ACK, Len: 300},
		{Time: t0.Add(5 * time.Second), Src: c, Dst: s, Seq: 400, Ack: 501, Flags: ACK},
	}
	if len(got) != len(want) {
		t.Fatalf("read %d packets, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if !got[i].Time.Equal(want[i].Time) || got[i].Src != want[i].Src || got[i].Dst != want[i].Dst ||
			got[i].Seq != want[i].Seq || got[i].Ack != want[i].Ack || got[i].Flags != want[i].Flags || got[i].Len != want[i].Len {
			t.Errorf("packet %d = %v, want %v", i, got[i], want[i])
		}
	}

	sent := Sent(got, ClientAddr, t0, t0.Add(5*time.Second))
	if len(sent) != 1 || sent[0].Len != 300 {
		t.Errorf("Sent strictly between the first and the last packet = %v, want the data segment", sent)
	}
}

func TestReadPcapBad(t *testing.T) {
	good := pcapStream(time.Unix(0, 0), frame(netip.MustParseAddrPort("1.2.3.4:5"), netip.MustParseAddrPort("5.6.7.8:9"), 1, 2, ACK, 0))
	huge := bytes.Clone(good)
	binary.LittleEndian.PutUint32(huge[24+8:], 1<<30)
	notEther := bytes.Clone(good)
	binary.LittleEndian.PutUint32(notEther[20:], 101)
	for name, in := range map[string][]byte{
		"bad magic":        append([]byte{1, 2, 3, 4}, good[4:]...),
		"short header":     good[:10],
		"truncated record": good[:len(good)-3],
		"huge record":      huge,
		"link type":        notEther,
	} {
		if err := readPcap(bytes.NewReader(in), func(Packet) {}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := readPcap(bytes.NewReader(nil), func(Packet) { t.Error("a packet from nothing") }); err != nil {
		t.Errorf("empty stream (tcpdump killed before its header): %v", err)
	}
}

func FuzzReadPcap(f *testing.F) {
	f.Add(pcapStream(time.Unix(0, 0), frame(netip.MustParseAddrPort("1.2.3.4:5"), netip.MustParseAddrPort("5.6.7.8:9"), 1, 2, ACK, 7)))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = readPcap(bytes.NewReader(b), func(p Packet) {
			if p.Len < 0 {
				t.Fatalf("negative payload length: %v", p)
			}
		})
	})
}

func TestParseConntrack(t *testing.T) {
	out := "tcp      6 55 ESTABLISHED src=192.0.2.2 dst=198.51.100.2 sport=56570 dport=443 src=198.51.100.2 dst=198.51.100.1 sport=443 dport=56570 [ASSURED] mark=0 use=1\n" +
		"tcp      6 98 TIME_WAIT src=192.0.2.2 dst=198.51.100.2 sport=56571 dport=443 src=198.51.100.2 dst=198.51.100.1 sport=443 dport=56571 [ASSURED] mark=0 use=1\n" +
		"udp      17 20 src=192.0.2.2 dst=198.51.100.2 sport=1 dport=2 src=198.51.100.2 dst=198.51.100.1 sport=2 dport=1 mark=0 use=1\n" +
		"tcp 6 garbage\n"
	got := parseConntrack([]byte(out))
	want := map[flow]string{
		{netip.MustParseAddrPort("192.0.2.2:56570"), netip.MustParseAddrPort("198.51.100.2:443")}: "ESTABLISHED",
		{netip.MustParseAddrPort("192.0.2.2:56571"), netip.MustParseAddrPort("198.51.100.2:443")}: "TIME_WAIT",
	}
	if len(got) != len(want) {
		t.Fatalf("parseConntrack = %v, want %v", got, want)
	}
	for f, s := range want {
		if got[f] != s {
			t.Errorf("flow %v: state %q, want %q", f, got[f], s)
		}
	}
}

func TestParseCounters(t *testing.T) {
	out := `Chain FORWARD (policy DROP 0 packets, 0 bytes)
    pkts      bytes target     prot opt in     out     source               destination
       3      180 REJECT     6    --  *      *       0.0.0.0/0            0.0.0.0/0            ctstate INVALID /* natlab-forgotten */ reject-with tcp-reset
       0        0 DROP       0    --  *      *       0.0.0.0/0            0.0.0.0/0            ctstate INVALID
      10     2372 ACCEPT     0    --  in     out     0.0.0.0/0            0.0.0.0/0            /* natlab-outbound */
       8     2399 ACCEPT     0    --  out    in      0.0.0.0/0            0.0.0.0/0            ctstate RELATED,ESTABLISHED /* natlab-inbound */
`
	c, err := parseCounters([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counters{Outbound: 10, Inbound: 8, Forgotten: 3}); c != want {
		t.Errorf("parseCounters = %+v, want %+v", c, want)
	}
	if _, err := parseCounters([]byte(strings.Replace(out, "natlab-inbound", "other", 1))); err == nil {
		t.Error("a missing rule went unnoticed")
	}
}

func TestSynPacket(t *testing.T) {
	src, dst := netip.MustParseAddrPort("198.51.100.2:443"), netip.MustParseAddrPort("192.0.2.2:56570")
	b := synPacket(src, dst, 0xdeadbeef)
	p, ok := parseFrame(append(make([]byte, 12), append([]byte{8, 0}, b...)...))
	if !ok || p.Src != src || p.Dst != dst || p.Seq != 0xdeadbeef || p.Flags != SYN || p.Len != 0 {
		t.Fatalf("synPacket reads back as %v (ok %v)", p, ok)
	}
	// A segment with its checksum in place sums to zero.
	if c := tcpChecksum(src.Addr().As4(), dst.Addr().As4(), b[20:]); c != 0 {
		t.Errorf("checksum does not verify: %#x", c)
	}
}
