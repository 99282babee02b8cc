package imap

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/transport"
	"github.com/pushbeat/pushbeat/transport/imap/imaptest"
)

// The gateway case (SPEC I7): one process holding an IDLE session per
// user, as a webmail gateway would. Not part of the default run; run it,
// without the race detector, with
//
//	PUSHBEAT_IMAP_SCALE=1 go test -run '^TestIMAPScale$' -v -timeout 30m ./transport/imap
//
// For each N (PUSHBEAT_IMAP_SCALE_N, default "100,1000") it starts a
// Dovecot with N users, runs one transport.Loop per user (60 s
// heartbeats) in this process, waits until every session has logged in
// and holds IDLE, and measures this process's memory (Go heap and stacks
// from runtime.MemStats after a GC, RSS from /proc/self/status) against
// the same figures before. Then it delivers a message to each of
// PUSHBEAT_IMAP_SCALE_SAMPLES users (default 20), one after another,
// and measures how long after doveadm save returned the user's loop
// reported the change.
const scaleEnv = "PUSHBEAT_IMAP_SCALE"

func TestIMAPScale(t *testing.T) {
	if os.Getenv(scaleEnv) != "1" {
		t.Skipf("set %s=1 to run the gateway scale test", scaleEnv)
	}
	ns := []int{100, 1000}
	if v := os.Getenv("PUSHBEAT_IMAP_SCALE_N"); v != "" {
		ns = nil
		for f := range strings.SplitSeq(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				t.Fatalf("PUSHBEAT_IMAP_SCALE_N=%q: want a list of positive integers", v)
			}
			ns = append(ns, n)
		}
	}
	samples := 20
	if v := os.Getenv("PUSHBEAT_IMAP_SCALE_SAMPLES"); v != "" {
		var err error
		if samples, err = strconv.Atoi(v); err != nil || samples < 1 {
			t.Fatalf("PUSHBEAT_IMAP_SCALE_SAMPLES=%q: want a positive integer", v)
		}
	}
	var rows []string
	for _, n := range ns {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			rows = append(rows, scaleRun(t, n, min(samples, n)))
		})
	}
	t.Logf("\n%-6s %-12s %-14s %-14s %-12s %-22s\n%s", "N", "login all", "heap+stack/conn", "RSS/conn", "goroutines", "push delay p50 / max", strings.Join(rows, "\n"))
}

// memory returns the Go heap and stacks in use after a GC, and the RSS.
func memory(t *testing.T) (goMem, rss uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			rss = kb << 10
		}
	}
	return ms.HeapInuse + ms.StackInuse, rss
}

func scaleRun(t *testing.T, n, samples int) string {
	srv := imaptest.Start(t, imaptest.Config{Users: n, MaxConnections: n + 20, IdleNotify: -1})
	goBefore, rssBefore := memory(t)
	grBefore := runtime.NumGoroutine()

	var mu sync.Mutex
	idled := make([]bool, n)
	idleCount := 0
	changedAt := make([]chan time.Time, n)
	allIdle := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	pingers := make([]*Pinger, n)
	start := time.Now()
	for i := range n {
		changedAt[i] = make(chan time.Time, 16)
		p, err := New(Config{Addr: srv.Addr, TLSConfig: srv.TLS, Username: fmt.Sprintf("user%d", i), Password: srv.Password})
		if err != nil {
			t.Fatal(err)
		}
		p.onIdle = func() {
			mu.Lock()
			defer mu.Unlock()
			if !idled[i] {
				idled[i] = true
				if idleCount++; idleCount == n {
					close(allIdle)
				}
			}
		}
		pingers[i] = p
		tuner, err := heartbeat.New(heartbeat.Config{Min: time.Minute, Max: time.Minute, Buffer: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		loop, err := transport.NewLoop(transport.Config{Pinger: p, Tuner: tuner, OnEvent: func(ev transport.Event) {
			if ev.Kind == transport.PingAnswered && ev.Status == transport.Changed {
				changedAt[i] <- time.Now()
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { loop.Run(ctx) })
	}
	defer func() {
		cancel()
		wg.Wait()
		for _, p := range pingers {
			p.Close()
		}
	}()
	select {
	case <-allIdle:
	case <-time.After(10 * time.Minute):
		mu.Lock()
		t.Fatalf("after 10 minutes only %d of %d sessions hold IDLE", idleCount, n)
	}
	loginAll := time.Since(start)
	goAfter, rssAfter := memory(t)
	goroutines := runtime.NumGoroutine() - grBefore

	var delays []time.Duration
	for k := range samples {
		i := k * n / samples
		srv.Deliver(t, fmt.Sprintf("user%d", i), "INBOX", fmt.Sprintf("sample %d", k))
		saved := time.Now()
		select {
		case at := <-changedAt[i]:
			delays = append(delays, at.Sub(saved))
		case <-time.After(30 * time.Second):
			t.Fatalf("user%d: no push 30s after the save", i)
		}
	}
	slices.Sort(delays)
	perGo := float64(int64(goAfter)-int64(goBefore)) / float64(n)
	perRSS := float64(int64(rssAfter)-int64(rssBefore)) / float64(n)
	row := fmt.Sprintf("%-6d %-12v %-14s %-14s %-12.1f %v / %v", n, loginAll.Round(100*time.Millisecond),
		fmt.Sprintf("%.1f KiB", perGo/1024), fmt.Sprintf("%.1f KiB", perRSS/1024), float64(goroutines)/float64(n),
		delays[len(delays)/2].Round(time.Millisecond), delays[len(delays)-1].Round(time.Millisecond))
	t.Log(row)
	return row
}
