package eas

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
)

// attemptTap records the command and the attempt header (SPEC B9) of each
// request before a scriptEAS sees it, and answers 503 instead of it to the
// n-th request of a command that fail names.
type attemptTap struct {
	next http.Handler
	fail map[string][]int // command -> which of its requests (from 1) fail

	mu   sync.Mutex
	nums map[string]int
	log  []string // "FolderSync -", "Sync 1", ...
	wake chan struct{}
}

func (a *attemptTap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cmd := r.URL.Query().Get("Cmd")
	attempt := "-"
	if vs, ok := r.Header[backoff.HeaderRetryAttempt]; ok {
		attempt = strings.Join(vs, ",")
	}
	a.mu.Lock()
	a.nums[cmd]++
	failing := slices.Contains(a.fail[cmd], a.nums[cmd])
	a.log = append(a.log, cmd+" "+attempt)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
	if failing {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	a.next.ServeHTTP(w, r)
}

// TestSessionAttemptHeader: with the header named only in the session's
// backoff.Policy, every request of the session carries it while the
// controller counts failures, FolderSync, Sync and Ping alike, with the
// failure count as its value, and none does once a request succeeded
// (SPEC B9). The setup's FolderSync fails once; later a Ping fails, so the
// Sync that recovers (SPEC T4) carries the count, fails in turn, and its
// retry carries the next one.
func TestSessionAttemptHeader(t *testing.T) {
	f := newScriptEAS(t)
	tap := &attemptTap{next: f, nums: map[string]int{}, wake: make(chan struct{}, 1),
		fail: map[string][]int{"FolderSync": {1}, "Ping": {2}, "Sync": {3}}}
	srv := newLoopbackServer(t, tap)
	// The second Ping is refused; every other is answered at once, with a
	// change (status 2) for the first one.
	f.pingStatus = func(n int) string {
		if n == 1 {
			return "2"
		}
		return ""
	}
	s, _, _ := newTestSession(t, srv.URL, func(c *SessionConfig) {
		bo, err := backoff.New(backoff.Policy{AttemptHeader: backoff.HeaderRetryAttempt, Base: 5 * time.Millisecond, Cap: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		c.Loop.Backoff = bo
	})
	runSession(t, s)
	want := []string{
		"FolderSync -", // fails
		"FolderSync 1", // the setup again, while failing
		"Sync 1",       // priming, still failing: the setup observes no success
		"Ping 1",       // answered with a change: a success
		"Sync -",       // the change
		"Ping -",       // refused with 503
		"Sync 1",       // the loop recovers by syncing: refused with 503
		"Sync 2",       // and again
		"Ping -",       // after that Sync's success
	}
	timeout := time.After(20 * time.Second)
	for {
		tap.mu.Lock()
		got := slices.Clone(tap.log)
		tap.mu.Unlock()
		if len(got) >= len(want) {
			if !slices.Equal(got[:len(want)], want) {
				t.Fatalf("requests and their attempt headers:\n%q\nwant\n%q", got, want)
			}
			return
		}
		select {
		case <-tap.wake:
		case <-timeout:
			t.Fatalf("after 20 s, only %q", got)
		}
	}
}
