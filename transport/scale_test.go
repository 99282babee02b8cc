package transport_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/transport"
	"github.com/pushbeat/pushbeat/transport/pingtest"
)

// The scale test (T7: a loop costs little when idle) is not part of the default run. Run it, without
// the race detector, with
//
//	PUSHBEAT_SCALE=1 go test -run '^TestScale$' -v -timeout 30m ./transport
//
// For each N (PUSHBEAT_SCALE_N, default "100,1000,10000") it starts two
// processes, both this test binary run again: a pingtest server
// (TestScaleServer) and a client (TestScaleClient) that runs N loops
// against it, so that the client's memory figures hold the client alone.
// The client starts its loops spread over one heartbeat, lets them settle,
// measures its memory with the pings held (heap and goroutine stacks from
// runtime.MemStats, RSS from /proc/self/status), then records for
// scaleMeasure how each ping completed against its heartbeat. Both report
// JSON; TestScale prints the table.
//
// Knobs: PUSHBEAT_SCALE_HEARTBEAT (default 10s: 1,000 pings a second at
// N = 10,000, which the two processes sharing two cores keep up with; at
// 2s they do not), PUSHBEAT_SCALE_TLS=0 for plain HTTP (default: TLS, as
// SPEC T7 asks), PUSHBEAT_SCALE_MEASURE (default 20s),
// PUSHBEAT_SCALE_BUFFER=bytes for the client's per-connection read and
// write buffers (default net/http's 4 KiB each; ping answers need far less),
// PUSHBEAT_SCALE_HEAPPROFILE=path to write the client's heap profile at
// the memory measurement to path.N.
const (
	scaleEnv     = "PUSHBEAT_SCALE"
	scaleRoleEnv = "PUSHBEAT_SCALE_ROLE"
)

// scaleConfig is what the parent hands its children.
type scaleConfig struct {
	N         int
	Heartbeat time.Duration
	Buffer    time.Duration
	Measure   time.Duration
	TLS       bool
	URL       string
	// BufferSize is the client's per-connection read and write buffer
	// size; zero means net/http's default, 4 KiB each.
	BufferSize int
}

func scaleConfigFromEnv(t *testing.T) scaleConfig {
	c := scaleConfig{Heartbeat: 10 * time.Second, Measure: 20 * time.Second, TLS: os.Getenv("PUSHBEAT_SCALE_TLS") != "0"}
	for name, d := range map[string]*time.Duration{"PUSHBEAT_SCALE_HEARTBEAT": &c.Heartbeat, "PUSHBEAT_SCALE_MEASURE": &c.Measure} {
		if v := os.Getenv(name); v != "" {
			var err error
			if *d, err = time.ParseDuration(v); err != nil || *d <= 0 {
				t.Fatalf("%s=%q: want a positive duration", name, v)
			}
		}
	}
	c.Buffer = c.Heartbeat / 2
	if v := os.Getenv("PUSHBEAT_SCALE_BUFFER"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			t.Fatalf("PUSHBEAT_SCALE_BUFFER=%q: want bytes", v)
		}
		c.BufferSize = n
	}
	return c
}

// scaleResult is what a client child reports.
type scaleResult struct {
	N                    int
	Started              time.Duration // until every loop had sent its first ping
	Goroutines           int           // added by the loops
	HeapBytes, StackByte int64         // added by the loops (HeapInuse, StackInuse)
	RSSBytes             int64         // added by the loops (VmRSS)
	SysBytes             int64         // added by the loops (MemStats.Sys)
	Pings                int64         // answered within the measurement
	Late                 scaleQuantiles
	TimedOut, Failed     int64
	FailedKinds          map[string]int64
	CPU                  time.Duration // user + system time of the whole client process
	NoFile               [2]uint64     // RLIMIT_NOFILE soft and hard, after any raise
}

// scaleQuantiles are lateness figures: how long past its heartbeat a ping
// was answered.
type scaleQuantiles struct {
	Min, P50, P90, P99, P999, Max time.Duration
	Over100ms                     int64 // answered more than 100 ms late
}

// scaleServerResult is what the server child reports.
type scaleServerResult struct {
	Expired   int
	Other     map[string]int
	HeldLate  scaleQuantiles // Ended - Arrived - Heartbeat of expired pings
	RSSBytes  int64
	CPU       time.Duration
	Requests  int
	Abandoned int
}

// TestScale runs the scale benchmark: see the comment above.
func TestScale(t *testing.T) {
	if os.Getenv(scaleEnv) == "" || os.Getenv(scaleRoleEnv) != "" {
		t.Skip("the scale benchmark runs only with " + scaleEnv + "=1; see scale_test.go")
	}
	cfg := scaleConfigFromEnv(t)
	ns := []int{100, 1000, 10000}
	if v := os.Getenv("PUSHBEAT_SCALE_N"); v != "" {
		ns = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				t.Fatalf("PUSHBEAT_SCALE_N=%q", v)
			}
			ns = append(ns, n)
		}
	}
	type row struct {
		c scaleResult
		s scaleServerResult
	}
	var rows []row
	for _, n := range ns {
		cfg.N = n
		c, s := runScale(t, cfg)
		rows = append(rows, row{c, s})
	}
	proto := "TLS"
	if !cfg.TLS {
		proto = "plain HTTP"
	}
	bufs := "net/http's 4 KiB"
	if cfg.BufferSize > 0 {
		bufs = fmt.Sprintf("%d-byte", cfg.BufferSize)
	}
	t.Logf("scale: heartbeat %v, tuner buffer %v, %s over loopback with %s connection buffers, server in its own process, measured for %v",
		cfg.Heartbeat, cfg.Buffer, proto, bufs, cfg.Measure)
	t.Logf("%7s %9s %9s %9s %9s %6s %8s %8s %8s %8s %8s %6s %7s %9s %9s",
		"loops", "heap/loop", "stack/lp", "RSS/loop", "sys/loop", "gor/lp", "pings", "late p50", "p99", "p99.9", "max", ">100ms", "missed", "srv p99", "cpu/ping")
	for _, r := range rows {
		c, s := r.c, r.s
		per := func(b int64) string { return fmt.Sprintf("%.1fK", float64(b)/float64(c.N)/1024) }
		cpuPer := time.Duration(0)
		if c.Pings > 0 {
			cpuPer = c.CPU / time.Duration(c.Pings)
		}
		t.Logf("%7d %9s %9s %9s %9s %6.2f %8d %8v %8v %8v %8v %6d %7d %9v %9v",
			c.N, per(c.HeapBytes), per(c.StackByte), per(c.RSSBytes), per(c.SysBytes), float64(c.Goroutines)/float64(c.N),
			c.Pings, c.Late.P50.Round(10*time.Microsecond), c.Late.P99.Round(10*time.Microsecond), c.Late.P999.Round(10*time.Microsecond), c.Late.Max.Round(10*time.Microsecond),
			c.Late.Over100ms, c.TimedOut+c.Failed, s.HeldLate.P99.Round(10*time.Microsecond), cpuPer.Round(time.Microsecond))
	}
	for _, r := range rows {
		t.Logf("N=%d: client started all loops in %v, failures %v, RLIMIT_NOFILE %v, client CPU %v; server: %d expired, other %v, held late p50 %v max %v, %d abandoned, RSS %.1f MiB, CPU %v",
			r.c.N, r.c.Started.Round(time.Millisecond), r.c.FailedKinds, r.c.NoFile, r.c.CPU.Round(time.Millisecond),
			r.s.Expired, r.s.Other, r.s.HeldLate.P50, r.s.HeldLate.Max, r.s.Abandoned, float64(r.s.RSSBytes)/(1<<20), r.s.CPU.Round(time.Millisecond))
	}
	// The goals, checked so that a run says plainly when one is
	// missed; the figures above say by how much.
	for _, r := range rows {
		if per := float64(r.c.RSSBytes) / float64(r.c.N); r.c.N >= 1000 && per > 64<<10 {
			t.Errorf("N=%d: %.1f KiB of client RSS per idle loop, goal at most 64 KiB", r.c.N, per/1024)
		}
		if r.c.TimedOut+r.c.Failed > 0 {
			t.Errorf("N=%d: %d pings missed (timed out or failed): %v", r.c.N, r.c.TimedOut+r.c.Failed, r.c.FailedKinds)
		}
	}
}

// runScale runs one N: a server child and a client child.
func runScale(t *testing.T, cfg scaleConfig) (scaleResult, scaleServerResult) {
	t.Helper()
	enc, _ := json.Marshal(cfg)
	srv, srvIn, srvOut := startChild(t, "TestScaleServer", scaleRoleEnv+"=server", "PUSHBEAT_SCALE_CONFIG="+string(enc))
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	lines := bufio.NewScanner(srvOut)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	for lines.Scan() {
		if u, ok := strings.CutPrefix(lines.Text(), "URL "); ok {
			cfg.URL = u
			break
		}
	}
	if cfg.URL == "" {
		t.Fatalf("the server child did not say its URL: %v", lines.Err())
	}

	enc, _ = json.Marshal(cfg)
	out, err := childCommand("TestScaleClient", scaleRoleEnv+"=client", "PUSHBEAT_SCALE_CONFIG="+string(enc)).Output()
	var res scaleResult
	if !scaleDecode(string(out), "RESULT ", &res) {
		t.Fatalf("N=%d: the client child failed (%v):\n%s", cfg.N, err, out)
	}

	_ = srvIn.Close() // the server reports and exits
	var sres scaleServerResult
	var rest strings.Builder
	for lines.Scan() {
		rest.WriteString(lines.Text() + "\n")
	}
	if !scaleDecode(rest.String(), "SERVER ", &sres) {
		t.Fatalf("N=%d: the server child did not report:\n%s", cfg.N, rest.String())
	}
	return res, sres
}

// scaleDecode finds the line starting with prefix in out and decodes the
// JSON after it into v.
func scaleDecode(out, prefix string, v any) bool {
	for _, line := range strings.Split(out, "\n") {
		if j, ok := strings.CutPrefix(line, prefix); ok {
			return json.Unmarshal([]byte(j), v) == nil
		}
	}
	return false
}

func scaleChildConfig(t *testing.T, role string) scaleConfig {
	if os.Getenv(scaleRoleEnv) != role {
		t.Skip("a child process of TestScale")
	}
	var cfg scaleConfig
	if err := json.Unmarshal([]byte(os.Getenv("PUSHBEAT_SCALE_CONFIG")), &cfg); err != nil {
		t.Fatal(err)
	}
	scaleRaiseNoFile(t, cfg.N+256)
	return cfg
}

// scaleRaiseNoFile raises the soft limit on open files to at least want,
// up to the hard limit, and returns both.
func scaleRaiseNoFile(t *testing.T, want int) [2]uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < uint64(want) {
		lim.Cur = min(uint64(want), lim.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
	}
	if lim.Cur < uint64(want) {
		t.Fatalf("RLIMIT_NOFILE hard limit %d is below the %d files needed: raise it (ulimit -Hn) first", lim.Max, want)
	}
	return [2]uint64{lim.Cur, lim.Max}
}

// TestScaleServer is the server child of TestScale: a pingtest server that
// holds every ping for its heartbeat, until its standard input closes; then
// it reports how late it answered.
func TestScaleServer(t *testing.T) {
	cfg := scaleChildConfig(t, "server")
	srv, err := pingtest.NewServer(pingtest.Config{PlainHTTP: !cfg.TLS, LogSize: 1 << 21})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("URL " + srv.URL())
	_, _ = io.Copy(io.Discard, os.Stdin)
	res := scaleServerResult{Other: make(map[string]int), RSSBytes: scaleRSS(), CPU: scaleCPU()}
	st := srv.Stats()
	res.Requests, res.Abandoned = st.Requests, st.Abandoned
	var late []time.Duration
	for _, q := range srv.Log() {
		if q.Answer == pingtest.Expired {
			res.Expired++
			late = append(late, q.Ended.Sub(q.Arrived)-q.Heartbeat)
		} else {
			res.Other[q.Answer.String()]++
		}
	}
	res.HeldLate = scaleQuantilesOf(late)
	srv.Close()
	enc, _ := json.Marshal(res)
	fmt.Println("SERVER " + string(enc))
}

// TestScaleClient is the client child of TestScale: N loops against the
// server at cfg.URL; see the comment at the top of this file.
func TestScaleClient(t *testing.T) {
	cfg := scaleChildConfig(t, "client")
	res := scaleResult{N: cfg.N, FailedKinds: make(map[string]int64)}
	res.NoFile = scaleRaiseNoFile(t, cfg.N+256)

	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: scaleTrust(t, cfg), MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: time.Minute,
		MaxIdleConnsPerHost: cfg.N + 16,
		DisableCompression:  true,
		ReadBufferSize:      cfg.BufferSize, // zero: net/http's 4 KiB
		WriteBufferSize:     cfg.BufferSize,
	}}
	defer client.CloseIdleConnections()

	// Lateness in 100 µs buckets from -Heartbeat to +Buffer; counted only
	// while measuring.
	const bucket = 100 * time.Microsecond
	lo, hi := -cfg.Heartbeat, cfg.Buffer
	buckets := make([]atomic.Int64, int((hi-lo)/bucket)+1)
	var measuring atomic.Bool
	var timedOut, failed atomic.Int64
	var kindsMu sync.Mutex
	var firstPings atomic.Int64

	onEvent := func(e transport.Event) {
		switch e.Kind {
		case transport.PingStarted:
			firstPings.Add(1)
		case transport.PingAnswered:
			if measuring.Load() {
				i := int((min(max(e.Elapsed-e.Interval, lo), hi) - lo) / bucket)
				buckets[i].Add(1)
			}
		case transport.PingFailed:
			if errors.Is(e.Err, transport.ErrTimedOut) {
				timedOut.Add(1)
			} else {
				failed.Add(1)
			}
			kindsMu.Lock()
			res.FailedKinds[failureName(e.Err)]++
			kindsMu.Unlock()
		}
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	rssBefore, gBefore := scaleRSS(), runtime.NumGoroutine()

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	start := time.Now()
	// Spread the first pings over one heartbeat, as users of a gateway
	// come and go, rather than all in one instant.
	for i := range cfg.N {
		pinger, err := transport.NewHTTPPinger(transport.HTTPConfig{URL: cfg.URL + "/ping", Client: client, AllowInsecureHTTP: !cfg.TLS})
		if err != nil {
			t.Fatal(err)
		}
		tuner, err := heartbeat.New(heartbeat.Config{Min: cfg.Heartbeat, Max: cfg.Heartbeat, Buffer: cfg.Buffer})
		if err != nil {
			t.Fatal(err)
		}
		bo, err := backoff.New(backoff.Policy{})
		if err != nil {
			t.Fatal(err)
		}
		loop, err := transport.NewLoop(transport.Config{Pinger: pinger, Tuner: tuner, Backoff: bo, OnEvent: onEvent})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { _ = loop.Run(ctx) })
		if next := start.Add(cfg.Heartbeat * time.Duration(i+1) / time.Duration(cfg.N)); time.Until(next) > 0 {
			time.Sleep(time.Until(next))
		}
	}
	for firstPings.Load() < int64(cfg.N) {
		time.Sleep(10 * time.Millisecond)
	}
	res.Started = time.Since(start)
	time.Sleep(2 * cfg.Heartbeat) // settle: every connection made, every loop in its rhythm

	// Memory with the pings held: at any instant all but a handful of the
	// loops are idle, waiting for their answer.
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	res.RSSBytes = scaleRSS() - rssBefore
	res.Goroutines = runtime.NumGoroutine() - gBefore
	res.HeapBytes = int64(after.HeapInuse) - int64(before.HeapInuse)
	res.StackByte = int64(after.StackInuse) - int64(before.StackInuse)
	res.SysBytes = int64(after.Sys) - int64(before.Sys)
	if path := os.Getenv("PUSHBEAT_SCALE_HEAPPROFILE"); path != "" {
		f, err := os.Create(fmt.Sprintf("%s.%d", path, cfg.N))
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}

	timedOut.Store(0)
	failed.Store(0)
	kindsMu.Lock()
	clear(res.FailedKinds)
	kindsMu.Unlock()
	measuring.Store(true)
	time.Sleep(cfg.Measure)
	measuring.Store(false)
	res.TimedOut, res.Failed = timedOut.Load(), failed.Load()
	cancel()
	wg.Wait()
	res.CPU = scaleCPU()

	var all []time.Duration // expanded from the buckets for the quantiles
	for i := range buckets {
		n := buckets[i].Load()
		res.Pings += n
		for range n {
			all = append(all, lo+time.Duration(i)*bucket)
		}
	}
	res.Late = scaleQuantilesOf(all)
	kindsMu.Lock()
	enc, _ := json.Marshal(res)
	kindsMu.Unlock()
	fmt.Println("RESULT " + string(enc))
}

// scaleTrust returns a pool trusting the server's self-signed certificate,
// fetched over loopback on first use (the server is a child of the same
// test), or nil for plain HTTP.
func scaleTrust(t *testing.T, cfg scaleConfig) *x509.CertPool {
	if !cfg.TLS {
		return nil
	}
	host := strings.TrimPrefix(cfg.URL, "https://")
	conn, err := tls.Dial("tcp", host, &tls.Config{InsecureSkipVerify: true}) // only to read the certificate
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pool := x509.NewCertPool()
	pool.AddCert(conn.ConnectionState().PeerCertificates[0])
	return pool
}

func scaleQuantilesOf(xs []time.Duration) scaleQuantiles {
	if len(xs) == 0 {
		return scaleQuantiles{}
	}
	slices.Sort(xs)
	q := func(p float64) time.Duration { return xs[min(len(xs)-1, int(math.Ceil(p*float64(len(xs))))-1)] }
	res := scaleQuantiles{Min: xs[0], P50: q(0.5), P90: q(0.9), P99: q(0.99), P999: q(0.999), Max: xs[len(xs)-1]}
	for _, x := range xs {
		if x > 100*time.Millisecond {
			res.Over100ms++
		}
	}
	return res
}

// scaleRSS returns this process's resident set size (VmRSS), in bytes.
func scaleRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// scaleCPU returns the user and system time this process has used.
func scaleCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
