//go:build linux

package natlab

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// TCP flags, as in the TCP header.
const (
	FIN = 1 << 0
	SYN = 1 << 1
	RST = 1 << 2
	PSH = 1 << 3
	ACK = 1 << 4
)

// Packet is one IPv4 TCP segment seen by a capture.
type Packet struct {
	Time     time.Time // when the router's interface saw it (kernel timestamp)
	Src, Dst netip.AddrPort
	Seq, Ack uint32
	Flags    uint8 // FIN, SYN, RST, PSH, ACK
	Len      int   // TCP payload bytes (from the IP header, whatever the snapshot length)
}

// String describes p briefly, like tcpdump: time, addresses, flags, length.
func (p Packet) String() string {
	var f strings.Builder
	for _, x := range []struct {
		bit uint8
		c   byte
	}{{SYN, 'S'}, {FIN, 'F'}, {RST, 'R'}, {PSH, 'P'}, {ACK, '.'}} {
		if p.Flags&x.bit != 0 {
			f.WriteByte(x.c)
		}
	}
	return fmt.Sprintf("%s %v > %v [%s] seq %d ack %d len %d",
		p.Time.Format("15:04:05.000000"), p.Src, p.Dst, f.String(), p.Seq, p.Ack, p.Len)
}

// Capture is a packet capture running on the router's inside interface
// (InsideIf): it sees every TCP segment between the client and the router,
// both ways, before the router's firewall acts on what the client sends.
type Capture struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the reader has finished

	mu      sync.Mutex
	packets []Packet
	err     error // from the pcap stream
}

// StartCapture starts tcpdump in the router's namespace on InsideIf for
// TCP only, and returns when it is capturing. The capture streams pcap to
// this process, so nothing is written to disk. Stop it with Stop; the
// lab's cleanup kills it otherwise.
func (l *Lab) StartCapture() (*Capture, error) {
	// -U: write each packet at once; -s 128: headers are enough (lengths
	// come from the IP header); -Z root: no privilege drop, which would
	// change nothing here but can fail on minimal systems.
	cmd := l.Command(l.Router, "tcpdump", "-i", InsideIf, "-n", "-U", "-s", "128", "-Z", "root", "-w", "-", "tcp")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("natlab: tcpdump: %w", err)
	}
	c := &Capture{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		err := readPcap(stdout, func(p Packet) {
			c.mu.Lock()
			c.packets = append(c.packets, p)
			c.mu.Unlock()
		})
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
	}()
	// tcpdump says "listening on ..." on stderr once it captures.
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var said []string
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, "listening on") {
				ready <- nil
				_, _ = io.Copy(io.Discard, stderr)
				return
			}
			said = append(said, line)
		}
		ready <- fmt.Errorf("natlab: tcpdump ended before capturing: %s", strings.Join(said, "; "))
	}()
	select {
	case err := <-ready:
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, err
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, errors.New("natlab: tcpdump did not start capturing within 30 s")
	}
	return c, nil
}

// Packets returns the packets captured so far, in capture order.
func (c *Capture) Packets() []Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Packet(nil), c.packets...)
}

// Stop ends the capture and returns every packet it saw, in capture order.
// Calling it again returns the same packets.
func (c *Capture) Stop() ([]Packet, error) {
	if c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Signal(syscall.SIGINT) // tcpdump flushes and exits
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
		_ = c.cmd.Wait()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Packet(nil), c.packets...), c.err
}

// readPcap reads a pcap stream of Ethernet frames and calls fn for each
// IPv4 TCP segment in it; other frames are skipped. It returns nil at the
// end of the stream, or an error if the stream is not a well-formed pcap.
func readPcap(r io.Reader, fn func(Packet)) error {
	br := bufio.NewReader(r)
	var hdr [24]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // nothing was ever captured
		}
		return fmt.Errorf("natlab: pcap header: %w", err)
	}
	var bo binary.ByteOrder
	var nano bool
	switch m := binary.LittleEndian.Uint32(hdr[:4]); m {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo, nano = binary.LittleEndian, m == 0xa1b23c4d
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo, nano = binary.BigEndian, m == 0x4d3cb2a1
	default:
		return fmt.Errorf("natlab: not a pcap stream (magic %#x)", m)
	}
	if link := bo.Uint32(hdr[20:24]); link != 1 {
		return fmt.Errorf("natlab: pcap link type %d, want 1 (Ethernet)", link)
	}
	const maxRecord = 1 << 18
	var rec [16]byte
	buf := make([]byte, 0, 256)
	for {
		if _, err := io.ReadFull(br, rec[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("natlab: pcap record header: %w", err)
		}
		sec, frac, incl := bo.Uint32(rec[0:4]), bo.Uint32(rec[4:8]), bo.Uint32(rec[8:12])
		if incl > maxRecord {
			return fmt.Errorf("natlab: pcap record of %d bytes", incl)
		}
		if cap(buf) < int(incl) {
			buf = make([]byte, incl)
		}
		buf = buf[:incl]
		if _, err := io.ReadFull(br, buf); err != nil {
			return fmt.Errorf("natlab: pcap record: %w", err)
		}
		ns := int64(frac) * 1000
		if nano {
			ns = int64(frac)
		}
		if p, ok := parseFrame(buf); ok {
			p.Time = time.Unix(int64(sec), ns)
			fn(p)
		}
	}
}

// parseFrame decodes an Ethernet frame holding an IPv4 TCP segment. It
// needs the IP and TCP headers only: the payload's length comes from the
// IP header.
func parseFrame(b []byte) (Packet, bool) {
	if len(b) < 14 || binary.BigEndian.Uint16(b[12:14]) != 0x0800 {
		return Packet{}, false
	}
	ip := b[14:]
	if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != syscall.IPPROTO_TCP {
		return Packet{}, false
	}
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if ihl < 20 || len(ip) < ihl+20 || total < ihl+20 {
		return Packet{}, false
	}
	tcp := ip[ihl:]
	doff := int(tcp[12]>>4) * 4
	if doff < 20 || total < ihl+doff {
		return Packet{}, false
	}
	src := netip.AddrFrom4([4]byte(ip[12:16]))
	dst := netip.AddrFrom4([4]byte(ip[16:20]))
	return Packet{
		Src:   netip.AddrPortFrom(src, binary.BigEndian.Uint16(tcp[0:2])),
		Dst:   netip.AddrPortFrom(dst, binary.BigEndian.Uint16(tcp[2:4])),
		Seq:   binary.BigEndian.Uint32(tcp[4:8]),
		Ack:   binary.BigEndian.Uint32(tcp[8:12]),
		Flags: tcp[13] & (FIN | SYN | RST | PSH | ACK),
		Len:   total - ihl - doff,
	}, true
}

// Sent returns the packets of pkts that addr sent with a Time strictly
// between after and before, in order: what one end said during a period,
// such as a ping held idle.
func Sent(pkts []Packet, addr netip.Addr, after, before time.Time) []Packet {
	var out []Packet
	for _, p := range pkts {
		if p.Src.Addr() == addr && p.Time.After(after) && p.Time.Before(before) {
			out = append(out, p)
		}
	}
	return out
}
