//go:build linux

package natlab_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/internal/natlab"
)

// The lab runs only when asked, because it takes real time and root:
//
//	PUSHBEAT_NATLAB=1 go test -run '^TestNATLab' -v -timeout 30m ./internal/natlab
//
// TestNATLab runs at the scale of the field: a NAT that forgets TCP flows
// idle for 60 s (PUSHBEAT_NATLAB_TIMEOUT to change it) and heartbeats of
// 30 s to 3 min, about 10 minutes, both router policies at once.
// TestNATLabScaled runs the same lab with a 3 s NAT in half a minute: it
// exercises the machinery but cannot see TCP keepalives, whose first probe
// comes after 15 s of idle. PUSHBEAT_REQUIRE_NATLAB=1 (CI) runs them too,
// and fails rather than skips when the machine cannot build a lab.
const (
	runEnv     = "PUSHBEAT_NATLAB"
	timeoutEnv = "PUSHBEAT_NATLAB_TIMEOUT"
	traceEnv   = "PUSHBEAT_NATLAB_TRACE" // 1: log every captured packet among the pings
)

func gate(t *testing.T) {
	t.Helper()
	if os.Getenv(runEnv) != "1" && os.Getenv(natlab.RequireEnv) != "1" {
		t.Skipf("the kernel NAT lab runs in real time and needs root: set %s=1 to run it", runEnv)
	}
	natlab.Require(t)
}

func TestNATLab(t *testing.T) {
	gate(t)
	t.Parallel() // with TestNATLabScaled: each lab has its own namespaces
	nat := natlab.DefaultIdleTimeout
	if v := os.Getenv(timeoutEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d%time.Second != 0 {
			t.Fatalf("%s=%q: want whole seconds, e.g. 60s", timeoutEnv, v)
		}
		nat = d
	}
	runLab(t, nat)
}

func TestNATLabScaled(t *testing.T) {
	gate(t)
	t.Parallel()
	runLab(t, 3*time.Second)
}

// plan is one lab run's timing, all in proportion to the NAT's timeout:
// at 60 s, heartbeats from 30 s up by at most 25 s to 3 min, a 10 s
// buffer and a 15 s resolution. The steps avoid the timeout itself (a
// heartbeat equal to it would race the router's timer): the tuner goes 30,
// 55, 130 (killed: Adaptive's first search triples its step, H10), back to
// 55, 80 (killed), back to 55, 67.5 (killed), and settles at 55, within
// the resolution below 60. One confirmation per step keeps that inside
// the run: 11.3 NAT timeouts with the Reset router (two resets per killed
// interval), and the run lasts 13.
type plan struct {
	nat, min, increment, max, buffer, resolution, duration time.Duration
}

func planFor(nat time.Duration) plan {
	return plan{
		nat:        nat,
		min:        nat / 2,
		increment:  nat * 5 / 12,
		max:        3 * nat,
		buffer:     nat / 6,
		resolution: nat / 4,
		duration:   nat * 13,
	}
}

func (p plan) clientArgs(url, cert string) []string {
	return []string{
		"-url", url, "-cacert", cert, "-json",
		"-min", p.min.String(), "-default", p.min.String(), "-increment", p.increment.String(),
		"-max", p.max.String(), "-buffer", p.buffer.String(), "-resolution", p.resolution.String(),
		"-confirmations", "1", "-duration", p.duration.String(),
	}
}

func runLab(t *testing.T, nat time.Duration) {
	bin := natlab.BuildPingclient(t)
	p := planFor(nat)
	t.Logf("plan: NAT idle timeout %v; pingclient %s", nat, strings.Join(p.clientArgs("URL", "CERT"), " "))
	for _, policy := range []natlab.Policy{natlab.Drop, natlab.Reset} {
		t.Run(policy.String(), func(t *testing.T) {
			t.Parallel()
			runVariant(t, bin, p, policy)
		})
	}
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// ping is one completed ping as the client reported it, placed in wall
// time, with what the capture saw the client send while it was held.
type ping struct {
	interval   time.Duration
	start, end time.Time
	outcome    string // the answer's status, or the failure's kind
	failed     bool
	elapsed    time.Duration
	held       time.Duration   // how long the capture shows it held, less the margins
	idle       []natlab.Packet // client packets while held, its own doing
	provoked   []natlab.Packet // client packets while held, answering the router's probe
	closing    []natlab.Packet // client packets while held, retransmitting the close of a dead connection
	request    natlab.Packet   // the request's last segment (zero if the capture does not show it)
	closed     []natlab.Packet // every client packet on the ping's connection after the request, to the capture's end
}

func runVariant(t *testing.T, bin string, p plan, policy natlab.Policy) {
	began := time.Now()
	lab := natlab.New(t, natlab.Config{IdleTimeout: p.nat, Policy: policy})
	capture, err := lab.StartCapture()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = capture.Stop() })

	cert := filepath.Join(t.TempDir(), "server.pem")
	srvLines := startServer(t, lab, cert)

	url := fmt.Sprintf("https://%s/ping", natlab.ServerAddr)
	lines, start := runClient(t, lab, bin, p.clientArgs(url, cert), p.duration+2*p.max+time.Minute)
	// The capture covers everything until it is asked to stop, after the
	// client has ended.
	captured := time.Now()
	pkts, err := capture.Stop()
	if err != nil {
		t.Fatalf("capture: %v", err)
	}
	counters, err := lab.Counters()
	if err != nil {
		t.Fatal(err)
	}

	pings, changes, summary := parseEvents(t, lines, start)
	srv := srvLines()
	for i := range pings {
		pg := &pings[i]
		pg.held, pg.idle, pg.provoked, pg.closing, pg.request = heldTraffic(pkts, srv, *pg)
		pg.closed = closeTraffic(pkts, pg.request, min(time.Second, pg.interval/10))
	}
	report(t, p, policy, pings, changes, summary, counters, srv, lab.Evictions(), pkts, time.Since(began))
	if os.Getenv(traceEnv) == "1" {
		trace(t, pkts, pings, start, lab.Evictions())
	}
	check(t, p, policy, pings, changes, counters, pkts)
	if policy == natlab.Drop {
		checkAbortiveClose(t, p, pings, captured)
	}
}

// startPiped starts cmd with its standard output on a pipe to read and its
// standard error collected, for the error message when it fails.
func startPiped(t *testing.T, cmd *exec.Cmd) (io.ReadCloser, *bytes.Buffer) {
	t.Helper()
	stderr := new(bytes.Buffer)
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return stdout, stderr
}

// startServer starts the lab's ping server in the server's namespace and
// returns a function that reads what it has said about pings so far.
func startServer(t *testing.T, lab *natlab.Lab, cert string) func() []serverLine {
	t.Helper()
	cmd := lab.Command(lab.Server, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serverRoleEnv+"=1", serverCertEnv+"="+cert)
	stdout, stderr := startPiped(t, cmd)
	var (
		mu    sync.Mutex
		lines []serverLine
	)
	ready := make(chan bool, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() || sc.Text() != "ready" {
			ready <- false
			return
		}
		ready <- true
		for sc.Scan() {
			var l serverLine
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				mu.Lock()
				lines = append(lines, l)
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-done
		_ = cmd.Wait()
	})
	if !<-ready {
		t.Fatalf("lab server did not start: %s", stderr.String())
	}
	return func() []serverLine {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(lines)
	}
}

// runClient runs pingclient in the client's namespace to its end and
// returns its JSON lines and its start in wall time. The start is placed
// from the lines' arrival: each event's "t" is its time since the start,
// so arrival - t can only be later than the start, and the smallest such
// value is the start to within the quickest line's latency.
func runClient(t *testing.T, lab *natlab.Lab, bin string, args []string, limit time.Duration) ([][]byte, time.Time) {
	t.Helper()
	cmd := lab.Command(lab.Client, bin, args...)
	stdout, stderr := startPiped(t, cmd)
	killer := time.AfterFunc(limit, func() { _ = cmd.Process.Kill() })
	defer killer.Stop()
	var (
		lines [][]byte
		start time.Time
	)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		arrived := time.Now()
		line := slices.Clone(sc.Bytes())
		lines = append(lines, line)
		var e natlab.Event
		if json.Unmarshal(line, &e) == nil {
			if s := arrived.Add(-secs(e.T)); start.IsZero() || s.Before(start) {
				start = s
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("pingclient: %v\n%s", err, stderr.String())
	}
	if start.IsZero() {
		t.Fatalf("pingclient printed no events\n%s", stderr.String())
	}
	return lines, start.Round(0)
}

// parseEvents turns the client's lines into completed pings, interval
// changes and the summary.
func parseEvents(t *testing.T, lines [][]byte, start time.Time) (pings []ping, changes []natlab.Event, summary natlab.Event) {
	t.Helper()
	var cur *ping
	for _, line := range lines {
		var e natlab.Event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("pingclient line %q: %v", line, err)
		}
		at := start.Add(secs(e.T))
		switch e.Event {
		case "ping-started":
			cur = &ping{interval: secs(e.Interval), start: at}
		case "ping-answered", "ping-failed":
			if cur == nil {
				t.Fatalf("%s without ping-started: %s", e.Event, line)
			}
			cur.end, cur.elapsed = at, secs(e.Elapsed)
			cur.outcome, cur.failed = e.Status, e.Event == "ping-failed"
			if cur.failed {
				cur.outcome = e.ErrorKind
			}
			pings = append(pings, *cur)
			cur = nil
		case "interval-changed":
			changes = append(changes, e)
		case "summary":
			summary = e
		}
	}
	return pings, changes, summary
}

// heldTraffic sorts the client's packets sent while a ping was held. The
// hold is placed from the capture and the server's log, which share the
// machine's clock with it, not from the client's events (placed from their
// arrival, and late on a busy machine). It begins with the request: the
// last segment with data the client sent before the server had read the
// request, or, for a request that never reached the server, the first
// after the ping started. It ends with whatever ends it on the request's
// connection: the server's answer, or a FIN or RST either way (the
// client's close at its deadline, the router's reset), or the ping's end
// event if that comes first. A margin at each end (a tenth of the
// heartbeat, or of the ping's time if a reset ended it sooner, at most 1 s)
// leaves out the rest of the request and its
// acknowledgement (milliseconds on this link), the answer's
// acknowledgement, and a TLS close_notify just before a FIN. Whatever the
// client sent in between is what T9 forbids (idle), except two kinds it did
// not choose and which refresh no NAT entry: packets answering a SYN from
// the server's side (the Reset router's probe, answered with a challenge
// ACK), and retransmissions of the close of a connection the client had
// already given up on (its FIN, which the router drops as a forgotten
// flow's).
func heldTraffic(pkts []natlab.Packet, srv []serverLine, p ping) (span time.Duration, idle, provoked, closing []natlab.Packet, request natlab.Packet) {
	margin := min(time.Second, p.interval/10, p.elapsed/10)
	i := -1
	slack := min(500*time.Millisecond, p.interval/4)
	if j := slices.IndexFunc(srv, func(l serverLine) bool {
		return l.Received.After(p.start.Add(-slack)) && l.Received.Before(p.end)
	}); j >= 0 {
		for k := len(pkts) - 1; k >= 0; k-- {
			if q := pkts[k]; q.Src.Addr() == natlab.ClientAddr && q.Len > 0 && !q.Time.After(srv[j].Received) {
				i = k
				break
			}
		}
	}
	if i < 0 {
		i = slices.IndexFunc(pkts, func(q natlab.Packet) bool {
			return q.Src.Addr() == natlab.ClientAddr && q.Len > 0 && !q.Time.Before(p.start)
		})
	}
	if i < 0 {
		return 0, nil, nil, nil, natlab.Packet{}
	}
	req := pkts[i]
	from, end := req.Time.Add(margin), p.end
	for _, q := range pkts[i+1:] {
		if !q.Time.After(from) {
			continue
		}
		if !q.Time.Before(end) {
			break
		}
		onConn := (q.Src == req.Src && q.Dst == req.Dst) || (q.Src == req.Dst && q.Dst == req.Src)
		if onConn && (q.Flags&(natlab.FIN|natlab.RST) != 0 || (q.Src == req.Dst && q.Len > 0)) {
			end = q.Time
			break
		}
	}
	span = end.Add(-margin).Sub(from)
	for _, c := range natlab.Sent(pkts, natlab.ClientAddr, from, end.Add(-margin)) {
		switch prev, ok := previous(pkts, c); {
		case ok && prev.Src == c.Dst && prev.Flags&natlab.SYN != 0:
			provoked = append(provoked, c)
		case c.Flags&(natlab.FIN|natlab.RST) != 0 || closedBefore(pkts, c):
			closing = append(closing, c)
		default:
			idle = append(idle, c)
		}
	}
	return span, idle, provoked, closing, req
}

// closeTraffic returns the client's packets on req's connection later than
// margin after req, to the end of the capture. For a ping killed by a
// silent drop that is how the client closed the dead connection: T9 leaves
// nothing else to send during the hold.
func closeTraffic(pkts []natlab.Packet, req natlab.Packet, margin time.Duration) []natlab.Packet {
	if req.Time.IsZero() {
		return nil
	}
	var out []natlab.Packet
	for _, q := range pkts {
		if q.Src == req.Src && q.Dst == req.Dst && q.Time.After(req.Time.Add(margin)) {
			out = append(out, q)
		}
	}
	return out
}

// checkAbortiveClose asserts that each ping killed by the Drop router, once
// the client gave it up at its deadline, cost exactly one packet more: the
// RST of an abortive close (SO_LINGER 0), with no TLS close_notify before
// it and nothing after it, where an orderly close's FIN would be dropped by
// the router and retransmitted by the client's kernel about ten times over
// a minute (SPEC T9, T11). The capture must extend well past the RST for
// "nothing after it" to mean anything: the first retransmission of an
// unanswered FIN comes after one retransmission timeout, at least 200 ms
// on Linux; the capture is required to cover the plan's buffer (and at
// least 2 s, ten such timeouts) beyond it, and in practice covers the rest
// of the run.
func checkAbortiveClose(t *testing.T, p plan, pings []ping, captured time.Time) {
	t.Helper()
	cover := max(p.buffer, 2*time.Second)
	for i, pg := range pings {
		if !pg.failed || pg.outcome != killedOutcome(natlab.Drop) {
			continue
		}
		switch c := pg.closed; {
		case pg.request.Time.IsZero():
			t.Errorf("ping %d at %v (%s): its request is not in the capture", i+1, pg.interval, pg.outcome)
		case len(c) != 1 || c[0].Flags&natlab.RST == 0 || c[0].Flags&natlab.FIN != 0 || c[0].Len != 0:
			t.Errorf("ping %d at %v (%s): after the request the client sent %d packets on the dead connection, want exactly one RST: %s",
				i+1, pg.interval, pg.outcome, len(c), packetList(c, pg.start))
		case captured.Sub(c[0].Time) < cover:
			t.Errorf("ping %d at %v (%s): the capture ended %v after its RST, too soon (want %v) to show that nothing followed",
				i+1, pg.interval, pg.outcome, captured.Sub(c[0].Time).Round(time.Millisecond), cover)
		}
	}
}

// packetList lists packets with their time since start and their flags.
func packetList(pkts []natlab.Packet, start time.Time) string {
	var b strings.Builder
	for i, q := range pkts {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "+%.2fs %s len %d", q.Time.Sub(start).Seconds(), flagString(q.Flags), q.Len)
	}
	return b.String()
}

// flagString spells TCP flags as tcpdump does: S, F, R, P and "." for ACK.
func flagString(f uint8) string {
	var b strings.Builder
	for _, x := range []struct {
		bit uint8
		c   byte
	}{{natlab.SYN, 'S'}, {natlab.FIN, 'F'}, {natlab.RST, 'R'}, {natlab.PSH, 'P'}, {natlab.ACK, '.'}} {
		if f&x.bit != 0 {
			b.WriteByte(x.c)
		}
	}
	return "[" + b.String() + "]"
}

// closedBefore reports whether the client sent a FIN or RST on c's
// connection before c.
func closedBefore(pkts []natlab.Packet, c natlab.Packet) bool {
	for _, q := range pkts {
		if q == c {
			return false
		}
		if q.Src == c.Src && q.Dst == c.Dst && q.Flags&(natlab.FIN|natlab.RST) != 0 {
			return true
		}
	}
	return false
}

// previous returns the packet before c on c's connection, either way.
func previous(pkts []natlab.Packet, c natlab.Packet) (natlab.Packet, bool) {
	i := slices.IndexFunc(pkts, func(p natlab.Packet) bool { return p == c })
	for j := i - 1; j >= 0; j-- {
		q := pkts[j]
		if (q.Src == c.Src && q.Dst == c.Dst) || (q.Src == c.Dst && q.Dst == c.Src) {
			return q, true
		}
	}
	return natlab.Packet{}, false
}

// killedOutcome is how a ping killed by the router must be reported.
func killedOutcome(policy natlab.Policy) string {
	if policy == natlab.Reset {
		return "closed"
	}
	return "timed-out"
}

// check asserts what the lab exists to prove (SPEC T2, T3, T9, T11).
func check(t *testing.T, p plan, policy natlab.Policy, pings []ping, changes []natlab.Event, counters natlab.Counters, pkts []natlab.Packet) {
	t.Helper()
	if len(pings) == 0 {
		t.Fatal("no ping completed")
	}
	killed := 0
	poll := min(max(p.nat/60, 100*time.Millisecond), time.Second)
	for i, pg := range pings {
		switch {
		case pg.interval < p.nat:
			if pg.failed {
				t.Errorf("ping %d at %v (below the NAT's %v) failed: %s", i+1, pg.interval, p.nat, pg.outcome)
			}
		case !pg.failed:
			t.Errorf("ping %d held %v, longer than the NAT's %v idle timeout, and came back %s: something kept the flow alive", i+1, pg.interval, p.nat, pg.outcome)
		case pg.outcome != killedOutcome(policy):
			t.Errorf("ping %d at %v killed by the %v router was reported %s, want %s", i+1, pg.interval, policy, pg.outcome, killedOutcome(policy))
		default:
			killed++
			// T2: a silent drop is detected at the deadline, no later; a
			// reset as soon as the router forgets the flow.
			lo, hi := pg.interval+p.buffer, pg.interval+p.buffer+max(p.buffer/4, 500*time.Millisecond)
			if policy == natlab.Reset {
				lo, hi = p.nat, p.nat+poll+max(p.nat/30, 500*time.Millisecond)
			}
			if pg.elapsed < lo || pg.elapsed > hi {
				t.Errorf("ping %d at %v: %s after %v, want %v to %v", i+1, pg.interval, pg.outcome, pg.elapsed, lo, hi)
			}
		}
		// T9: nothing from the client while a ping is held, judged over
		// (nearly) the whole hold.
		if want := min(pg.interval, p.nat) * 7 / 10; pg.held < want {
			t.Errorf("ping %d at %v (%s): the capture shows it held for %v, want at least %v: the hold was not found on the wire",
				i+1, pg.interval, pg.outcome, pg.held, want)
		}
		if len(pg.idle) > 0 {
			t.Errorf("ping %d at %v (%s): the client sent %d packets while the ping was held: %s",
				i+1, pg.interval, pg.outcome, len(pg.idle), describe(pg.idle, pkts, pg.start))
		}
	}
	if killed == 0 {
		t.Errorf("no ping outlasted the NAT's %v timeout and was killed: the lab proved nothing about it", p.nat)
	}
	if counters.Forgotten == 0 {
		t.Errorf("the router saw no packet of a forgotten flow (%+v)", counters)
	}
	// The tuner settles below the NAT's timeout, within its resolution
	// (and a few seconds) of it, and its last pings there came back.
	if len(changes) == 0 {
		t.Fatal("the interval never changed")
	}
	final := secs(changes[len(changes)-1].To)
	if few := p.nat / 20; final >= p.nat || final < p.nat-p.resolution-few {
		t.Errorf("settled at %v, want below the NAT's %v and within %v of it", final, p.nat, p.resolution+few)
	}
	last := pings[max(len(pings)-2, 0):]
	for _, pg := range last {
		if pg.interval != final || pg.failed {
			t.Errorf("the last pings did not confirm the settled %v: %v %s", final, pg.interval, pg.outcome)
		}
	}
}

// describe lists packets with their time since a ping's start, their
// connection (the client's port) and what they look like.
func describe(pkts []natlab.Packet, all []natlab.Packet, start time.Time) string {
	var b strings.Builder
	for i, p := range pkts {
		if i > 0 {
			b.WriteString(", ")
		}
		kind := "data"
		if p.Len <= 1 && p.Flags == natlab.ACK {
			kind = "bare ACK"
			// A kernel answers a keepalive probe at once; its own probe
			// comes after its idle time.
			if prev, ok := previous(all, p); ok && prev.Src == p.Dst && prev.Len <= 1 && prev.Flags == natlab.ACK &&
				p.Time.Sub(prev.Time) < 50*time.Millisecond {
				kind += " answering the server's (its keepalive probe)"
			} else {
				kind += " (keepalive probe)"
			}
		}
		fmt.Fprintf(&b, "+%.1fs :%d %s", p.Time.Sub(start).Seconds(), p.Src.Port(), kind)
	}
	return b.String()
}

// report logs the run's figures: what the README quotes.
func report(t *testing.T, p plan, policy natlab.Policy, pings []ping, changes []natlab.Event, summary natlab.Event,
	c natlab.Counters, srv []serverLine, ev []natlab.Eviction, pkts []natlab.Packet, wall time.Duration) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%v router, NAT idle timeout %v:\n", policy, p.nat)
	fmt.Fprintf(&b, "  #  interval  outcome     elapsed  held (capture)  client packets while held\n")
	var held time.Duration
	var during, provoked, closing int
	for i, pg := range pings {
		fmt.Fprintf(&b, "%3d  %8v  %-10s  %7.2fs  %13.2fs  %d", i+1, pg.interval, pg.outcome, pg.elapsed.Seconds(), pg.held.Seconds(), len(pg.idle))
		if len(pg.idle) > 0 {
			fmt.Fprintf(&b, " (%s)", describe(pg.idle, pkts, pg.start))
		}
		if len(pg.provoked) > 0 {
			fmt.Fprintf(&b, "; %d answering the router's probe", len(pg.provoked))
		}
		if len(pg.closing) > 0 {
			fmt.Fprintf(&b, "; %d retransmitting the close of a dead connection", len(pg.closing))
		}
		if pg.failed {
			fmt.Fprintf(&b, "; closed with %d packets: %s", len(pg.closed), packetList(pg.closed, pg.start))
		}
		b.WriteByte('\n')
		held += pg.end.Sub(pg.start)
		during += len(pg.idle)
		provoked += len(pg.provoked)
		closing += len(pg.closing)
	}
	var steps []string
	for _, ch := range changes {
		steps = append(steps, fmt.Sprintf("%v->%v (%s)", secs(ch.From), secs(ch.To), ch.Reason))
	}
	fmt.Fprintf(&b, "  interval: %s; summary says settled at %v\n", strings.Join(steps, ", "), secs(summary.Settled))
	fmt.Fprintf(&b, "  %d pings held %v in all; client packets while held: %d (and %d answering the router's probe, %d retransmitting a close)\n",
		len(pings), held.Round(time.Second), during, provoked, closing)
	for _, r := range closeRetransmissions(pkts) {
		fmt.Fprintf(&b, "  client port %d: its close was sent %d more times over %.1fs after the first\n", r.port, r.again, r.span.Seconds())
	}
	protos := map[string]int{}
	for _, l := range srv {
		protos[l.Proto]++
	}
	fmt.Fprintf(&b, "  router: %d packets forwarded out, %d in, %d of forgotten flows %s; server saw %v\n",
		c.Outbound, c.Inbound, c.Forgotten, map[natlab.Policy]string{natlab.Drop: "dropped", natlab.Reset: "answered with RST"}[policy], protos)
	if len(ev) > 0 {
		fmt.Fprintf(&b, "  router forgot %d established flows\n", len(ev))
	}
	fmt.Fprintf(&b, "  wall time %v", wall.Round(time.Second))
	t.Log(b.String())
}

// trace logs every captured packet, the pings' starts and ends and the
// router's evictions, in time order, relative to the client's start.
func trace(t *testing.T, pkts []natlab.Packet, pings []ping, start time.Time, ev []natlab.Eviction) {
	type line struct {
		at   time.Time
		text string
	}
	var ls []line
	for _, p := range pkts {
		ls = append(ls, line{p.Time, p.String()})
	}
	for i, pg := range pings {
		ls = append(ls, line{pg.start, fmt.Sprintf("---- ping %d starts (%v)", i+1, pg.interval)},
			line{pg.end, fmt.Sprintf("---- ping %d ends: %s after %v", i+1, pg.outcome, pg.elapsed)})
	}
	for _, e := range ev {
		ls = append(ls, line{e.Time, fmt.Sprintf("---- router forgot %v -> %v", e.Client, e.Server)})
	}
	slices.SortStableFunc(ls, func(a, b line) int { return a.at.Compare(b.at) })
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "%9.3f %s\n", l.at.Sub(start).Seconds(), l.text)
	}
	t.Log("trace:\n" + b.String())
}

// retransmittedClose is a connection whose close the client sent again.
type retransmittedClose struct {
	port  uint16
	again int           // client packets on it after its first FIN
	span  time.Duration // from the first FIN to the last of them
}

// closeRetransmissions finds the client's connections whose FIN went
// unanswered and was retransmitted: after a silent drop the client's close
// meets a forgotten flow, and its kernel keeps trying.
func closeRetransmissions(pkts []natlab.Packet) []retransmittedClose {
	first := map[netip.AddrPort]time.Time{}
	var out []retransmittedClose
	idx := map[netip.AddrPort]int{}
	for _, p := range pkts {
		if p.Src.Addr() != natlab.ClientAddr {
			continue
		}
		t0, closed := first[p.Src]
		if !closed {
			if p.Flags&natlab.FIN != 0 {
				first[p.Src] = p.Time
			}
			continue
		}
		i, ok := idx[p.Src]
		if !ok {
			i = len(out)
			idx[p.Src] = i
			out = append(out, retransmittedClose{port: p.Src.Port()})
		}
		out[i].again++
		out[i].span = p.Time.Sub(t0)
	}
	return out
}
