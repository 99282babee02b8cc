//go:build linux

package imap

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/internal/natlab"
	"github.com/pushbeat/pushbeat/transport/imap/imaptest"
)

// TestNATLabIMAP runs the real pingclient -imap against a real Dovecot
// through a kernel NAT that forgets TCP flows idle for 60 s, at real time
// (SPEC I3, I5, T11). It runs with the NAT lab's own tests:
//
//	PUSHBEAT_NATLAB=1 go test -run '^TestNATLabIMAP$' -v -timeout 30m ./transport/imap
//
// Two Dovecots, each in its own lab, at once, for 10 minutes:
//
//   - notifications off: the server is silent during IDLE, so a held IDLE
//     proves its whole heartbeat. The tuner climbs 30 s, 55 s, 130 s
//     (its first search, SPEC H10; dropped by the NAT), back to 55 s, 80 s
//     (dropped), back to 55 s, 67.5 s (dropped), and settles below 60 s,
//     after about 8.4 minutes.
//   - notifications every 30 s: "* OK Still here" refreshes the NAT, so no
//     IDLE is ever dropped, but none proves more than 30 s of silence, and
//     the tuner never confirms an interval above that: measured, it
//     confirms 30 s, raises to 55 s once, and holds 55 s for the rest of
//     the run without a timeout and without confirming it. (Dovecot
//     staggers each session's first notification within the interval: in
//     an earlier run a line fell part-way into the 30 s IDLE, which then
//     proved too little, and the tuner stayed at 30 s.)
//
// The pinger's TCP keepalive probes are off (SPEC T9): the first run of
// this test, with Go's default dialer, saw IDLEs of 130 s survive the 60 s
// NAT, kept alive by a probe every 15 s.
func TestNATLabIMAP(t *testing.T) {
	if os.Getenv("PUSHBEAT_NATLAB") != "1" && os.Getenv(natlab.RequireEnv) != "1" {
		t.Skipf("the kernel NAT lab runs in real time and needs root: set PUSHBEAT_NATLAB=1 to run it")
	}
	natlab.Require(t)
	bin := natlab.BuildPingclient(t)
	for _, tc := range []struct {
		name   string
		notify time.Duration
	}{{"notifications off", -1}, {"notifications every 30s", 30 * time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runIMAPLab(t, bin, tc.notify)
		})
	}
}

func runIMAPLab(t *testing.T, bin string, notify time.Duration) {
	const nat = 60 * time.Second
	lab := natlab.New(t, natlab.Config{IdleTimeout: nat, Policy: natlab.Drop})
	srv := imaptest.Start(t, imaptest.Config{IdleNotify: notify, Listen: natlab.ServerAddr,
		Exec: func(name string, args ...string) *exec.Cmd { return lab.Command(lab.Server, name, args...) }})
	args := []string{"-imap", "imaps://" + srv.Addr + "/INBOX", "-user", srv.User, "-cacert", srv.CAFile(), "-json",
		"-min", "30s", "-default", "30s", "-increment", "25s", "-max", "3m", "-buffer", "10s", "-resolution", "15s",
		"-confirmations", "1", "-duration", "10m"}
	t.Logf("pingclient %s", strings.Join(args, " "))
	capture, err := lab.StartCapture()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = capture.Stop() })
	cmd := lab.Command(lab.Client, bin, args...)
	cmd.Env = append(os.Environ(), envPassword+"="+srv.Password)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killer := time.AfterFunc(12*time.Minute, func() { _ = cmd.Process.Kill() })
	defer killer.Stop()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("pingclient: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	if strings.Contains(stdout.String()+stderr.String(), srv.Password) {
		t.Fatal("the password appears in pingclient's output")
	}
	// The capture covers everything until it is asked to stop, after the
	// client has ended.
	captured := time.Now()
	pkts, err := capture.Stop()
	if err != nil {
		t.Fatalf("capture: %v", err)
	}
	const buffer = 10 * time.Second // pingclient's -buffer below
	dead := deadConns(pkts, buffer)

	var (
		events              []natlab.Event
		timeouts, confirmed int
		maxConfirmedFrom    float64
		maxInterval         float64
		summary             natlab.Event
	)
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var e natlab.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("pingclient line %q: %v", sc.Text(), err)
		}
		events = append(events, e)
		switch {
		case e.Event == "ping-failed" && e.ErrorKind == "timed-out":
			timeouts++
		case e.Event == "interval-changed" && e.Reason == "confirmed":
			confirmed++
			maxConfirmedFrom = max(maxConfirmedFrom, e.From)
		case e.Event == "summary":
			summary = e
		}
		maxInterval = max(maxInterval, e.Interval)
	}
	var b strings.Builder
	for _, e := range events {
		switch e.Event {
		case "ping-answered":
			fmt.Fprintf(&b, "%6.1fs  ping %5.1fs: %s after %.1fs\n", e.T, e.Interval, e.Status, e.Elapsed)
		case "ping-failed":
			fmt.Fprintf(&b, "%6.1fs  ping %5.1fs: %s after %.1fs\n", e.T, e.Interval, e.ErrorKind, e.Elapsed)
		case "interval-changed":
			fmt.Fprintf(&b, "%6.1fs  interval %.1fs -> %.1fs (%s)\n", e.T, e.From, e.To, e.Reason)
		}
	}
	for _, d := range dead {
		fmt.Fprintf(&b, "dead connection (client port %d): %d client packets after the server's last, %d of them from the deadline on: %s\n",
			d.port, len(d.sent), len(d.after), describePackets(d.sent))
	}
	t.Logf("NAT %v, Dovecot notifications %v:\n%ssettled %.1fs; %d timeouts; %d confirmed raises, the highest from %.1fs",
		nat, notify, b.String(), summary.Settled, timeouts, confirmed, maxConfirmedFrom)
	checkAbortiveCloses(t, dead, timeouts, captured)

	if notify < 0 {
		// A silent server: the NAT is the limit, and the tuner finds it.
		if timeouts == 0 {
			t.Error("no IDLE was dropped: the tuner never probed past the NAT's 60 s")
		}
		if summary.Settled <= 0 || secs(summary.Settled) >= nat {
			t.Errorf("settled at %.1fs, want below the NAT's %v", summary.Settled, nat)
		}
		return
	}
	// A talking server: every IDLE survives, none proves more than the
	// notification interval of silence.
	if timeouts != 0 {
		t.Errorf("%d IDLEs timed out although the server refreshed the NAT every %v", timeouts, notify)
	}
	if secs(maxConfirmedFrom) > notify {
		t.Errorf("the tuner confirmed %.1fs, more than the %v of silence the IDLEs held", maxConfirmedFrom, notify)
	}
	if secs(maxInterval) > 55*time.Second {
		t.Errorf("the interval reached %.1fs: past the one raise from 30 s that silence proved", maxInterval)
	}
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// envPassword is pingclient's environment variable for the IMAP password.
const envPassword = "PUSHBEAT_IMAP_PASSWORD"

// deadConn is a connection the client went on sending on after the server's
// last packet on it, unanswered to the end of the capture: a flow the NAT
// forgot while an IDLE was held. The client's DONE, at the heartbeat, is
// the first packet it sent in vain; it gives up a buffer later.
type deadConn struct {
	port  uint16
	sent  []natlab.Packet // the client's packets after the server's last
	after []natlab.Packet // those from the client's deadline on: the cost of its close
}

// deadConns finds the dead connections in a capture and what the client
// sent on each from its deadline on, placed a buffer after the first
// unanswered packet, less half a second. A dead connection's DONE is
// retransmitted about 0.2, 0.4, 0.8, 1.7, 3.3, 6.9 and 13.9 s after it
// (measured; the retransmission timeout doubling from Linux's 200 ms
// minimum): half a second early falls between two of them for a 10 s
// buffer.
func deadConns(pkts []natlab.Packet, buffer time.Duration) []deadConn {
	sent := map[netip.AddrPort][]natlab.Packet{}
	var order []netip.AddrPort
	for _, p := range pkts {
		if p.Src.Addr() != natlab.ClientAddr {
			delete(sent, p.Dst) // the server answered: alive so far
			continue
		}
		if _, ok := sent[p.Src]; !ok && p.Len == 0 && p.Flags&(natlab.FIN|natlab.RST) == 0 {
			continue // a bare ACK of the server's last packet
		}
		if !slices.Contains(order, p.Src) {
			order = append(order, p.Src)
		}
		sent[p.Src] = append(sent[p.Src], p)
	}
	var out []deadConn
	for _, c := range order {
		ps, ok := sent[c]
		if !ok || ps[0].Len == 0 {
			continue // answered, or a close (FIN or RST) that was all it sent
		}
		d := deadConn{port: c.Port(), sent: ps}
		from := ps[0].Time.Add(buffer - time.Second/2)
		for _, p := range ps {
			if !p.Time.Before(from) {
				d.after = append(d.after, p)
			}
		}
		out = append(out, d)
	}
	return out
}

// newData reports whether pkts carry data segments that are not all one
// segment sent again (the DONE a dead connection retransmits): e.g. TLS's
// close_notify after it.
func newData(pkts []natlab.Packet) bool {
	var seq uint32
	seen := false
	for _, p := range pkts {
		if p.Len == 0 {
			continue
		}
		if seen && p.Seq != seq {
			return true
		}
		seq, seen = p.Seq, true
	}
	return false
}

// checkAbortiveCloses asserts that each connection the client gave up for
// dead (one per timed-out IDLE) cost exactly one packet from the client's
// deadline on: a RST (SO_LINGER 0), with no TLS close_notify before it and
// nothing after it (SPEC T9, T11). Before it, the DONE and its
// retransmissions went out during the buffer: DONE must be sent, and the
// client cannot know yet that the flow is gone. The capture must extend
// past the RST for "nothing after it" to mean something: the next
// retransmission would come within 2 s; at least that is required, and
// the run goes on for minutes.
func checkAbortiveCloses(t *testing.T, dead []deadConn, timeouts int, captured time.Time) {
	t.Helper()
	if len(dead) != timeouts {
		t.Errorf("%d dead connections, want one per timed-out IDLE (%d)", len(dead), timeouts)
	}
	for _, d := range dead {
		switch a := d.after; {
		case len(a) != 1 || a[0].Flags&natlab.RST == 0 || a[0].Len != 0:
			t.Errorf("client port %d, given up for dead: %d packets from its deadline on (%s), want exactly one RST", d.port, len(a), describePackets(a))
		case newData(d.sent):
			t.Errorf("client port %d, given up for dead: new data (TLS's close_notify?) went out after the DONE: %s", d.port, describePackets(d.sent))
		case captured.Sub(a[0].Time) < 2*time.Second:
			t.Errorf("client port %d: the capture ended %v after its RST, too soon to show that nothing followed", d.port, captured.Sub(a[0].Time))
		}
	}
}

// describePackets spells packets' flags and lengths, tcpdump-like.
func describePackets(pkts []natlab.Packet) string {
	var parts []string
	for _, p := range pkts {
		f := ""
		for _, x := range []struct {
			bit uint8
			c   string
		}{{natlab.SYN, "S"}, {natlab.FIN, "F"}, {natlab.RST, "R"}, {natlab.PSH, "P"}, {natlab.ACK, "."}} {
			if p.Flags&x.bit != 0 {
				f += x.c
			}
		}
		parts = append(parts, fmt.Sprintf("[%s] len %d at %s", f, p.Len, p.Time.Format("15:04:05.000")))
	}
	return strings.Join(parts, ", ")
}

// TestDeadConns checks what checkAbortiveCloses counts, on a made-up
// capture: a live connection logged out, and a dead one whose DONE went
// unanswered and was retransmitted before and after the deadline.
func TestDeadConns(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	c1 := netip.MustParseAddrPort("192.0.2.2:40000")
	c2 := netip.MustParseAddrPort("192.0.2.2:40001")
	s := netip.MustParseAddrPort("198.51.100.2:993")
	pkt := func(sec float64, src, dst netip.AddrPort, flags uint8, seq uint32, n int) natlab.Packet {
		return natlab.Packet{Time: at(sec), Src: src, Dst: dst, Flags: flags, Seq: seq, Len: n}
	}
	pkts := []natlab.Packet{
		pkt(0, c1, s, natlab.PSH|natlab.ACK, 100, 40),    // IDLE
		pkt(0.01, s, c1, natlab.PSH|natlab.ACK, 900, 40), // + idling
		pkt(0.02, c1, s, natlab.ACK, 140, 0),             // its ACK
		pkt(1, c2, s, natlab.PSH|natlab.ACK, 500, 40),    // the other one's LOGOUT
		pkt(1.01, s, c2, natlab.PSH|natlab.ACK, 700, 80), // BYE, OK
		pkt(1.02, c2, s, natlab.FIN|natlab.ACK, 540, 0),  // its close
		pkt(1.03, s, c2, natlab.FIN|natlab.ACK, 780, 0),  // the server's
		pkt(60, c1, s, natlab.PSH|natlab.ACK, 140, 28),   // DONE
		pkt(60.2, c1, s, natlab.PSH|natlab.ACK, 140, 28), // again
		pkt(66.2, c1, s, natlab.PSH|natlab.ACK, 140, 28), // again
		pkt(70, c1, s, natlab.PSH|natlab.ACK, 168, 24),   // close_notify
		pkt(70, c1, s, natlab.FIN|natlab.ACK, 192, 0),    // FIN
		pkt(72.6, c1, s, natlab.FIN|natlab.PSH|natlab.ACK, 140, 52),
	}
	dead := deadConns(pkts, 10*time.Second)
	if len(dead) != 1 || dead[0].port != 40000 || len(dead[0].sent) != 6 || len(dead[0].after) != 3 || !newData(dead[0].sent) {
		t.Fatalf("orderly close of a dead connection: %+v", dead)
	}
	rst := append(slices.Clone(pkts[:10]), pkt(70, c1, s, natlab.RST|natlab.ACK, 168, 0))
	dead = deadConns(rst, 10*time.Second)
	if len(dead) != 1 || len(dead[0].after) != 1 || dead[0].after[0].Flags&natlab.RST == 0 || newData(dead[0].sent) {
		t.Fatalf("abortive close of a dead connection: %+v", dead)
	}
}
