package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/backoff"
)

// TestURLAttemptHeader: with -url, the pings tell the server how many
// attempts in a row failed while the client backs off (SPEC B9): none on
// the first, "1" and "2" after one and two 500 answers, none after the
// answer that succeeds. The header is named in the backoff policy only.
func TestURLAttemptHeader(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		attempt := "-"
		if vs, ok := r.Header[backoff.HeaderRetryAttempt]; ok {
			attempt = strings.Join(vs, ",")
		}
		mu.Lock()
		got = append(got, attempt)
		n := len(got)
		mu.Unlock()
		if n <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		// At once, a change: the first few in a row are not paced (L2).
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"changed","folders":["inbox"]}`)
	}))
	t.Cleanup(srv.Close)
	const want = 4
	args := append([]string{"-url", srv.URL + "/ping", "-insecure-http", "-backoff-base", "50ms", "-backoff-cap", "200ms",
		"-duration", "30s"}, fastTuner...)
	code, out, errOut, reached := runUntil(t, 15*time.Second, func(string) bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= want
	}, args...)
	mu.Lock()
	seen := slices.Clone(got)
	mu.Unlock()
	if code != 0 || !reached {
		t.Fatalf("exit %d, stderr %q; %d pings: %v\n%s", code, errOut, want, reached, out)
	}
	if w := []string{"-", "1", "2", "-"}; !slices.Equal(seen[:want], w) {
		t.Fatalf("X-Retry-Attempt of the pings %q, want %q first\n%s", seen, w, out)
	}
}
