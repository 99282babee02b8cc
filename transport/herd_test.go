package transport_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/transport"
	"github.com/pushbeat/pushbeat/transport/internal/stall"
	"github.com/pushbeat/pushbeat/transport/pingtest"
)

// The herd test (SPEC B1): a fleet of loops holds pings on one
// server; the server goes down for maintenance and answers every ping with
// 503 + Retry-After; the fleet comes back. The server must see no request
// before the time it stated, and the returning requests must be spread as
// the fuzz promises: uniformly over [d, d + Fuzz·d) after each client's
// 503, with the default Fuzz of 25%.
//
// Retry-After counts whole seconds, so this test cannot scale time down:
// it waits the Retry-After for real. By default it runs 1,000 loops with
// Retry-After: 2 (a 0.5 s spread window, about 3.5 s in all) over plain
// HTTP on loopback (1,000 TLS handshakes under the race detector would cost
// more than the rest of the test). PUSHBEAT_HERD_RETRY_AFTER=8 widens the
// window to 2 s, for wider bins.
const (
	herdLoops = 1000
	// herdHeartbeat is long enough that no held ping expires while the
	// fleet starts, even on a loaded machine: the maintenance reaches every
	// loop through a change, not through an expiry.
	herdHeartbeat = 10 * time.Second
	herdBins      = 150 // the fuzz window in bins, as 150 one-second bins for a 600 s Retry-After
	herdSlices    = 10  // coarser slices of the window
)

// herdFleet is the fleet and what it saw.
type herdFleet struct {
	srv   *pingtest.Server
	meter *stall.Meter
	loops []*transport.Loop
	// sends is, per loop, when its pinger sent each request (sendLog).
	sends []sendLog
	mu    sync.Mutex // guards draws
	// announced is, per loop, each wait its controller announced.
	announced []waitLog
	// draws is, per loop, every random number its controller drew: the
	// only draws of the run are the fuzz of the 503s' waits.
	draws [][]float64
}

// TestHerd: 1,000 loops, 503 + Retry-After, and the return (B1). Per
// client and 503 it read, it checks that the controller's wait ends in
// [the 503's arrival + Retry-After, its announcement + Retry-After + fuzz),
// and that the next request is sent no sooner than that and within
// herdLatency of running time after it;
// over the fleet, that the fuzz drawn spreads the returns as uniform draws
// do (see herdCheckSpread for the bounds and why). It logs the server's own
// view of the return, and what it would have been without fuzz.
func TestHerd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 1,000 loops for seconds")
	}
	retryAfter := 2
	if v := os.Getenv("PUSHBEAT_HERD_RETRY_AFTER"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("PUSHBEAT_HERD_RETRY_AFTER=%q: want whole seconds", v)
		}
		retryAfter = n
	}
	d := time.Duration(retryAfter) * time.Second
	window := d / 4 // DefaultFuzz · d (d is above Base/15)

	srv, err := pingtest.NewServer(pingtest.Config{PlainHTTP: true, LogSize: 50 * herdLoops})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	f := &herdFleet{srv: srv, meter: stallMeter(t), announced: make([]waitLog, herdLoops), draws: make([][]float64, herdLoops),
		sends: make([]sendLog, herdLoops)}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for i := range herdLoops {
		loop := f.newLoop(t, i)
		f.loops = append(f.loops, loop)
		wg.Go(func() {
			if err := loop.Run(ctx); err != context.Canceled {
				t.Errorf("loop %d: Run: %v", i, err)
			}
		})
	}
	// Every loop holds its first ping. Then maintenance starts, and every
	// loop learns it at once: a change to each loop's folder answers all
	// the held pings, and every ping answers 503 until each loop has had
	// one. (Not "the next 1,000 pings": on a loaded machine the first loops
	// came back before the last had pinged and took their 503s.) A loop
	// that comes back while the maintenance lasts gets another.
	serverUntil(t, srv, patience, "every loop holds a ping", func(s pingtest.Stats) bool { return s.Held == herdLoops })
	if err := srv.InjectRandom(1, pingtest.Fault{Kind: pingtest.ErrorStatus, RetryAfter: strconv.Itoa(retryAfter)}); err != nil {
		t.Fatal(err)
	}
	folders := make([]string, herdLoops)
	for i := range folders {
		folders[i] = herdFolder(i)
	}
	srv.PostChange(folders...)
	waitFor(t, patience, "every loop has had its 503", func() bool {
		for i := range f.announced {
			if len(f.announced[i].all()) == 0 {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("server %+v", srv.Stats()) })
	srv.ClearFaults()
	// Every loop is back: its request after its last 503 is held.
	serverUntil(t, srv, d+window+patience, "every loop is back", func(s pingtest.Stats) bool {
		return s.Held == herdLoops
	})
	cancel()
	wg.Wait()
	srv.Close()

	f.check(t, d, window)
}

// herdHeartbeatOf is loop i's heartbeat: herdHeartbeat plus i milliseconds,
// so that the server's log names the loop of every request. (Mapping
// requests by the client's address failed at a load of 30: ports were
// reused by other loops' new connections.)
func herdHeartbeatOf(i int) time.Duration { return herdHeartbeat + time.Duration(i)*time.Millisecond }

// herdLoopOf returns the loop that asked for heartbeat hb, or -1.
func herdLoopOf(hb time.Duration) int {
	i := int((hb - herdHeartbeat + time.Millisecond/2) / time.Millisecond)
	if i < 0 || i >= herdLoops {
		return -1
	}
	return i
}

// newLoop makes loop i with its own connection pool and its own seeded
// fuzz.
func (f *herdFleet) newLoop(t *testing.T, i int) *transport.Loop {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1}}
	pinger, err := transport.NewHTTPPinger(transport.HTTPConfig{URL: f.srv.URL() + "/ping", Client: f.sends[i].logSends(client), AllowInsecureHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	hb := herdHeartbeatOf(i)
	tuner, err := heartbeat.New(heartbeat.Config{Min: hb, Max: hb, Buffer: herdHeartbeat})
	if err != nil {
		t.Fatal(err)
	}
	// The default policy (Fuzz 25%, Base 15 min) but for Base, which is
	// scaled down so that Base/15 stays below the Retry-After: the fuzz
	// window is then Fuzz·d, as for any real Retry-After above a minute.
	rng := rand.New(rand.NewPCG(uint64(i)+1, 0x4e7d))
	bo, err := backoff.New(backoff.Policy{
		Base: time.Second,
		Rand: func() float64 {
			u := rng.Float64()
			f.mu.Lock()
			f.draws[i] = append(f.draws[i], u)
			f.mu.Unlock()
			return u
		},
		OnChange: f.announced[i].onChange,
	})
	if err != nil {
		t.Fatal(err)
	}
	loop, err := transport.NewLoop(transport.Config{
		Pinger:  pinger,
		Tuner:   tuner,
		Backoff: bo,
		Folders: []string{herdFolder(i)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return loop
}

func herdFolder(i int) string { return "f" + strconv.Itoa(i) }

// herdLatency returns the bounds on how long after the time its
// controller announced a client's return may reach the server, in running
// time (stallMeter), as fractions of the fuzz window: its timer firing, a
// request over loopback, the server reading it, on a machine running 1,000
// loops and the race detector. Measured in real time: about 1 ms median and
// 15 ms at most alone; with two more such tests starving the same two
// cores, a median up to 21 ms and at most 165 ms; at a load of 13 on 2
// cores, returns up to 1.9 s late, the process getting a fifth of a core.
// In running time at a load of 25 with other test binaries: a median of 83
// ms and at most 430 ms. A loop that ignored its announced time and came
// back at the end of the window would be late by half the window at the
// median: the median must stay within a quarter of it, and no loop may be
// two windows late.
func herdLatency(window time.Duration) (each, median time.Duration) {
	return 2 * window, window / 4
}

// check reads the server's log per client and checks what the issue asks:
// no request before the server's stated time, and returns spread as the
// fuzz promises. The spread is asserted on the fuzz the controllers drew
// (exact: each controller's one random draw, times the window) together
// with the checks that each announced wait lies in [d, d+window) (up to
// the moment OnChange could read the clock) and that each return reached
// the server at or after its announced time and within herdLatency of it;
// the server's own view is measured and logged: at this scale a bin is a
// few milliseconds wide, the size of the scheduling jitter of a loaded
// machine, which a real fleet's one-second bins never see.
func (f *herdFleet) check(t *testing.T, d, window time.Duration) {
	t.Helper()
	perLoop := make([][]pingtest.Request, herdLoops)
	for _, q := range f.srv.Log() {
		i := herdLoopOf(q.Heartbeat)
		if i < 0 {
			t.Fatalf("request for heartbeat %v: no such loop", q.Heartbeat)
		}
		perLoop[i] = append(perLoop[i], q)
	}
	var (
		fuzz       []time.Duration // the fuzz drawn: the controller's random draw times window
		serverView []time.Duration // return arrival - 503 arrival - d
		decide     []time.Duration // 503 arrival to the client's decision
		lateness   []time.Duration // announced time to the return's send, in running time
		returns    []time.Time     // return arrivals
		receipts   []time.Time     // the clients' decisions: where returns would be without fuzz
		announce   time.Duration   // the largest lag of OnChange behind the decision seen
		first503   time.Time
		last503    time.Time
		errs       int
		again      int // loops that came back during the maintenance
	)
	fail := func(format string, args ...any) {
		if errs++; errs <= 10 {
			t.Errorf(format, args...)
		}
	}
	for i, qs := range perLoop {
		slices.SortFunc(qs, func(a, b pingtest.Request) int { return a.Arrived.Compare(b.Arrived) })
		ann := f.announced[i].all()
		f.mu.Lock()
		draws := f.draws[i]
		f.mu.Unlock()
		if len(ann) == 0 || len(draws) != len(ann) {
			t.Fatalf("loop %d: %d waits announced and %d random draws, want one each per 503 it received, at least one", i, len(ann), len(draws))
		}
		// Each announced wait answers the last 503 the server sent this
		// loop before the announcement (a 503 with no wait is one the
		// client gave up on before reading it: at a load of 30 on 2 cores
		// some took longer than the 20 s deadline to arrive). The loop's
		// return is its first request sent after the announcement: the
		// server may read a request the client sent before, and gave up on,
		// after it.
		sent := f.sends[i].all()
		for j, w := range ann {
			k := -1
			for x, q := range qs {
				if q.Status == http.StatusServiceUnavailable && !q.Ended.After(w.at) {
					k = x
				}
			}
			ret := firstAfter(sent, w.at)
			if k < 0 || ret.IsZero() {
				t.Fatalf("loop %d: requests %v: no 503 before its wait %d, or no request sent after it", i, herdAnswers(qs), j)
			}
			got503, at, next := qs[k].Arrived, w.at, w.until
			// The server's view of the return: its first arrival after the
			// return was sent.
			back := ret
			if b := slices.IndexFunc(qs, func(q pingtest.Request) bool { return !q.Arrived.Before(ret) }); b >= 0 {
				back = qs[b].Arrived
			}
			// The controller decided after the 503 reached the server and
			// before OnChange read the clock: its time lies in [503 + d,
			// announcement + d + window). Nothing is sent before it.
			late := f.meter.Running(next, ret)
			limit, _ := herdLatency(window)
			switch {
			case next.Before(got503.Add(d)) || !next.Before(at.Add(d+window)):
				fail("loop %d: its controller waits until %v after its 503 (announced %v after it), outside [Retry-After, + fuzz) = [%v, %v)",
					i, next.Sub(got503), at.Sub(got503), d, d+window)
			case ret.Before(next):
				fail("loop %d: sent its next request %v before the time its controller announced", i, next.Sub(ret))
			case late > limit:
				fail("loop %d: sent its next request %v after the time its controller announced, %v of running time, more than two windows, %v", i, ret.Sub(next), late, limit)
			}
			lateness = append(lateness, late)
			if j > 0 {
				continue // the spread is that of each loop's first wait
			}
			if first503.IsZero() || got503.Before(first503) {
				first503 = got503
			}
			if got503.After(last503) {
				last503 = got503
			}
			returns = append(returns, back)
			serverView = append(serverView, back.Sub(got503)-d)
			receipts = append(receipts, at)
			fuzz = append(fuzz, time.Duration(draws[0]*float64(window)))
			decide = append(decide, at.Sub(got503))
			// OnChange reads the clock just after the decision: the wait it
			// sees may be short of d+fuzz by that lag.
			announce = max(announce, d+time.Duration(draws[0]*float64(window))-next.Sub(at))
		}
		if len(ann) > 1 {
			again++
		}
	}
	if errs > 10 {
		t.Errorf("... %d failures in all", errs)
	}
	med := func(xs []time.Duration) (time.Duration, time.Duration) {
		slices.Sort(xs)
		return xs[len(xs)/2].Round(time.Microsecond), xs[len(xs)-1].Round(time.Microsecond)
	}
	t.Logf("%d loops; Retry-After %v; fuzz window %v; the first 503s reached the server over %v; %d loops came back during the maintenance and got another",
		herdLoops, d, window, last503.Sub(first503).Round(time.Millisecond), again)
	m1, x1 := med(decide)
	m2, x2 := med(lateness)
	if _, limit := herdLatency(window); m2 > limit {
		t.Errorf("half the returns were sent more than %v of running time after their announced time, want within a quarter of the window, %v", m2, limit)
	}
	t.Logf("from a 503's arrival to its client's decision: median %v, max %v; from the announced time to the return's send, in running time: median %v, max %v; OnChange at most %v after the decision",
		m1, x1, m2, x2, announce.Round(time.Microsecond))
	herdCheckSpread(t, "fuzz drawn by the controllers", fuzz, window)
	herdReport(t, "server, per client (return - its 503 - Retry-After)", serverView, window)

	// The server's load as the fleet returns, from the first moment a
	// client may come back, against what it would have been without fuzz.
	slices.SortFunc(returns, func(a, b time.Time) int { return a.Compare(b) })
	from := first503.Add(d)
	if returns[0].Before(from) {
		t.Errorf("the first return came %v after the first 503, before Retry-After %v", returns[0].Sub(first503), d)
	}
	span := returns[len(returns)-1].Sub(from) + time.Nanosecond
	abs := make([]time.Duration, len(returns))
	for i, r := range returns {
		abs[i] = r.Sub(from)
	}
	peak, _, _ := herdReport(t, "server clock (return - first 503 - Retry-After)", abs, span)
	noFuzz := make([]time.Duration, len(receipts))
	for i, r := range receipts {
		noFuzz[i] = r.Add(d).Sub(from)
	}
	peakNoFuzz, _, _ := herdReport(t, "server clock without fuzz (decision + Retry-After, same bins)", noFuzz, span)
	t.Logf("the fuzz cut the server's busiest %v from %d requests to %d (%.1f times fewer)", (span / herdBins).Round(time.Microsecond), peakNoFuzz, peak, float64(peakNoFuzz)/float64(max(peak, 1)))
}

func herdAnswers(qs []pingtest.Request) []string {
	var s []string
	for _, q := range qs {
		s = append(s, fmt.Sprintf("%v/%d", q.Answer, q.Status))
	}
	return s
}

// herdCheckSpread bins xs (each in [0, window) if the fuzz is honoured)
// into herdBins bins and herdSlices slices and checks the spread.
//
// What the math supports: n = 1,000 independent uniform draws over 150
// bins put a mean of 6.67 in each, and the busiest bin is the maximum of
// 150 Poisson(6.67)-like counts, typically 13 to 16: 2 to 2.4 times the
// mean, at most 2 only about a quarter of the time. "Peak second at most
// twice the mean", as the issue words it, is therefore not something
// independent fuzz can promise at this fleet size; what it does promise, for
// any seeds, is a peak below 3 times the mean (above 20 with probability
// about 0.2%), and over coarser slices (100 expected each, sd about 9.5) a
// count within [0.5, 1.5] times the mean. Latency blurs the server's view
// only slightly at these bin widths.
func herdCheckSpread(t *testing.T, what string, xs []time.Duration, window time.Duration) {
	t.Helper()
	peak, sliceMin, sliceMax := herdReport(t, what, xs, window)
	mean := float64(len(xs)) / herdBins
	sliceMean := float64(len(xs)) / herdSlices
	if float64(peak) > 3*mean {
		t.Errorf("%s: the busiest of %d bins holds %d returns, more than 3 times the mean %.2f", what, herdBins, peak, mean)
	}
	if float64(sliceMax) > 1.5*sliceMean || float64(sliceMin) < 0.5*sliceMean {
		t.Errorf("%s: slices of the window hold %d to %d returns, want within [0.5, 1.5] times %.1f", what, sliceMin, sliceMax, sliceMean)
	}
}

// herdReport bins xs over [0, span) and logs the figures: the busiest of
// herdBins bins, and the emptiest and busiest of herdSlices slices. Values
// outside [0, span) are counted apart.
func herdReport(t *testing.T, what string, xs []time.Duration, span time.Duration) (peak, sliceMin, sliceMax int) {
	t.Helper()
	bins := make([]int, herdBins)
	outside := 0
	for _, x := range xs {
		b := int(math.Floor(float64(x) / float64(span) * herdBins))
		if b < 0 || b >= herdBins {
			outside++
			continue
		}
		bins[b]++
	}
	peakAt := 0
	for i, n := range bins {
		if n > peak {
			peak, peakAt = n, i
		}
	}
	sliceMin = len(xs)
	per := herdBins / herdSlices
	for s := 0; s < herdSlices; s++ {
		n := 0
		for _, c := range bins[s*per : (s+1)*per] {
			n += c
		}
		sliceMin, sliceMax = min(sliceMin, n), max(sliceMax, n)
	}
	mean := float64(len(xs)) / herdBins
	t.Logf("%s: %d bins of %v: peak %d at bin %d, mean %.2f, peak/mean %.2f; %d slices of %v: %d..%d (mean %.1f); %d outside [0, %v)",
		what, herdBins, (span / herdBins).Round(time.Microsecond), peak, peakAt, mean, float64(peak)/mean,
		herdSlices, (span / herdSlices).Round(time.Microsecond), sliceMin, sliceMax, float64(len(xs))/herdSlices, outside, span.Round(time.Millisecond))
	return peak, sliceMin, sliceMax
}
