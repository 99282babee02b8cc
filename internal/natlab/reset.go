//go:build linux

package natlab

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Eviction is a flow the Reset router forgot, and when it noticed.
type Eviction struct {
	Time   time.Time
	Client netip.AddrPort // the inside end, before NAT
	Server netip.AddrPort
}

// Evictions returns the established flows a Reset lab's router has
// forgotten so far, in order; nil under Drop.
func (l *Lab) Evictions() []Eviction {
	if l.agent == nil {
		return nil
	}
	l.agent.mu.Lock()
	defer l.agent.mu.Unlock()
	return append([]Eviction(nil), l.agent.evictions...)
}

// resetAgent makes the router reset the inside host when a flow expires
// (Policy Reset). Linux conntrack forgets a flow without telling either
// end, and a REJECT rule can only answer the packet in front of it: the
// first packet of an expired ping connection is the server's answer, and
// REJECT would reset the server, not the client. So the agent watches the
// router's conntrack table, and when an established flow disappears it
// sends the inside host one SYN in the name of the server. A Linux host
// answers a SYN on an established connection with a challenge ACK (RFC
// 5961, section 4), which meets the router's REJECT rule and draws a RST
// carrying exactly the sequence number the host expects: the host's
// connection is reset, as by a NAT that resets on timeout.
type resetAgent struct {
	l     *Lab
	fd    int // raw IPv4 socket in the router's namespace
	every time.Duration
	quit  chan struct{}
	done  chan struct{}

	mu        sync.Mutex
	evictions []Eviction
	err       error // the last polling error, for the cleanup to report
}

func startResetAgent(l *Lab) (*resetAgent, error) {
	fd, err := rawSocketIn(l.Router)
	if err != nil {
		return nil, err
	}
	// Listing the table also evicts expired entries (the kernel's dump
	// skips and frees them), so polling finds an expiry within one period.
	every := min(max(l.cfg.IdleTimeout/60, 100*time.Millisecond), time.Second)
	a := &resetAgent{l: l, fd: fd, every: every, quit: make(chan struct{}), done: make(chan struct{})}
	go a.run()
	return a, nil
}

func (a *resetAgent) stop() {
	close(a.quit)
	<-a.done
	_ = syscall.Close(a.fd)
}

func (a *resetAgent) run() {
	defer close(a.done)
	tick := time.NewTicker(a.every)
	defer tick.Stop()
	known := map[flow]bool{} // established flows of the last listing
	for {
		select {
		case <-a.quit:
			return
		case <-tick.C:
		}
		out, err := a.l.Run(a.l.Router, "conntrack", "-L", "-p", "tcp")
		if err != nil {
			a.mu.Lock()
			a.err = err
			a.mu.Unlock()
			continue
		}
		now := time.Now()
		listed := parseConntrack(out)
		for f := range known {
			if _, ok := listed[f]; ok {
				continue
			}
			a.mu.Lock()
			a.evictions = append(a.evictions, Eviction{Time: now, Client: f.src, Server: f.dst})
			a.mu.Unlock()
			if err := a.probe(f); err != nil {
				a.mu.Lock()
				a.err = err
				a.mu.Unlock()
			}
		}
		clear(known)
		for f, state := range listed {
			if state == "ESTABLISHED" {
				known[f] = true
			}
		}
	}
}

// flow is a conntrack entry's original direction.
type flow struct{ src, dst netip.AddrPort }

// parseConntrack reads `conntrack -L -p tcp` output: one entry a line,
// "tcp 6 <timeout> <STATE> src=.. dst=.. sport=.. dport=.. src=.. ...",
// and returns each entry's original tuple with its state. Lines it cannot
// read are skipped.
func parseConntrack(out []byte) map[flow]string {
	m := map[flow]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 8 || fs[0] != "tcp" {
			continue
		}
		kv := map[string]string{}
		for _, f := range fs[4:] {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				continue
			}
			if _, seen := kv[k]; !seen { // the first tuple is the original one
				kv[k] = v
			}
		}
		src, err1 := netip.ParseAddrPort(kv["src"] + ":" + kv["sport"])
		dst, err2 := netip.ParseAddrPort(kv["dst"] + ":" + kv["dport"])
		if err1 != nil || err2 != nil {
			continue
		}
		m[flow{src, dst}] = fs[3]
	}
	return m
}

// probe sends the inside end of f a SYN from the outside end.
func (a *resetAgent) probe(f flow) error {
	pkt := synPacket(f.dst, f.src, rand.Uint32())
	sa := &syscall.SockaddrInet4{Addr: f.src.Addr().As4()}
	if err := syscall.Sendto(a.fd, pkt, 0, sa); err != nil {
		return fmt.Errorf("natlab: reset agent: send to %v: %w", f.src, err)
	}
	return nil
}

// synPacket builds an IPv4 header and a TCP SYN from src to dst. The
// kernel fills in the IP checksum and identification.
func synPacket(src, dst netip.AddrPort, seq uint32) []byte {
	b := make([]byte, 40)
	b[0] = 0x45                                // IPv4, 20-byte header
	binary.BigEndian.PutUint16(b[2:4], 40)     // total length
	binary.BigEndian.PutUint16(b[6:8], 0x4000) // don't fragment
	b[8] = 64                                  // TTL
	b[9] = syscall.IPPROTO_TCP
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(b[12:16], s4[:])
	copy(b[16:20], d4[:])
	tcp := b[20:]
	binary.BigEndian.PutUint16(tcp[0:2], src.Port())
	binary.BigEndian.PutUint16(tcp[2:4], dst.Port())
	binary.BigEndian.PutUint32(tcp[4:8], seq)
	tcp[12] = 5 << 4 // 20-byte header
	tcp[13] = SYN
	binary.BigEndian.PutUint16(tcp[14:16], 65535) // window
	binary.BigEndian.PutUint16(tcp[16:18], tcpChecksum(s4, d4, tcp))
	return b
}

// tcpChecksum is the Internet checksum of a TCP segment with its IPv4
// pseudo-header; the segment's checksum field must be zero.
func tcpChecksum(src, dst [4]byte, seg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	add(src[:])
	add(dst[:])
	sum += syscall.IPPROTO_TCP + uint32(len(seg))
	add(seg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// rawSocketIn opens a raw IPv4 socket (IP_HDRINCL) in namespace ns. A
// socket belongs to the namespace it was created in, so the calling
// thread enters ns for the one call and returns; if it cannot return, the
// thread stays locked and Go discards it with the goroutine.
func rawSocketIn(ns string) (int, error) {
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return -1, fmt.Errorf("natlab: %w", err)
	}
	defer target.Close()
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", syscall.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, fmt.Errorf("natlab: %w", err)}
			return
		}
		defer orig.Close()
		if err := setns(int(target.Fd())); err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, fmt.Errorf("natlab: enter namespace %s: %w", ns, err)}
			return
		}
		fd, serr := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_RAW)
		if err := setns(int(orig.Fd())); err != nil {
			// Leave the thread locked: it must never run other goroutines.
			if serr == nil {
				_ = syscall.Close(fd)
			}
			ch <- result{-1, fmt.Errorf("natlab: leave namespace %s: %w", ns, err)}
			return
		}
		runtime.UnlockOSThread()
		if serr != nil {
			ch <- result{-1, fmt.Errorf("natlab: raw socket in %s: %w", ns, serr)}
			return
		}
		ch <- result{fd, nil}
	}()
	r := <-ch
	return r.fd, r.err
}

func setns(fd int) error {
	_, _, errno := syscall.RawSyscall(sysSetns, uintptr(fd), syscall.CLONE_NEWNET, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
