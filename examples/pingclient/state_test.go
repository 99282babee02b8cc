package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/heartbeat/statefile"
	"github.com/pushbeat/pushbeat/transport/pingtest"
)

// TestStateNotRegular: -state on a FIFO, a directory, or in a missing
// directory ends the run at start with a clear message and exit status 1,
// before any ping, and touches nothing (SPEC L5). A FIFO used to hang the
// client at start, deaf to -duration and signals: the run gets a context
// that ends after 10 s, so a hang fails the test instead of blocking it.
func TestStateNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "inside"), []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	entries := func() string {
		var names []string
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			names = append(names, p)
			return nil
		})
		return strings.Join(names, "\n")
	}
	before := entries()
	for _, tc := range []struct{ path, want string }{
		{fifo, "is a FIFO"},
		{sub, "is a directory"},
		{filepath.Join(dir, "missing", "state.json"), "does not exist"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		// The URL is never dialed: the run ends before it pings.
		code, out, errOut := runArgs(t, ctx, "-url", "http://127.0.0.1:9/ping", "-insecure-http", "-state", tc.path, "-duration", "30s")
		blocked := ctx.Err() != nil
		cancel()
		if blocked {
			t.Fatalf("-state %s: the run blocked until the context ended", tc.path)
		}
		if code != exitFailure || !strings.Contains(errOut, "-state: ") || !strings.Contains(errOut, tc.path) ||
			!strings.Contains(errOut, tc.want) || strings.Contains(out, "ping ") {
			t.Errorf("-state %s: exit %d, stderr %q, stdout %q; want exit %d naming it, %q, no ping", tc.path, code, errOut, out, exitFailure, tc.want)
		}
	}
	if after := entries(); after != before {
		t.Fatalf("the directory changed:\n%s\nwant:\n%s", after, before)
	}
}

// TestStateOtherBounds: a -state file learned with a larger -max is kept,
// not moved aside; the run says what it clamped and starts from what still
// fits (SPEC H12, L5).
func TestStateOtherBounds(t *testing.T) {
	t.Parallel()
	srv := newServer(t, pingtest.Config{PlainHTTP: true})
	state := filepath.Join(t.TempDir(), "state.json")
	wide, err := heartbeat.New(heartbeat.Config{Min: 200 * time.Millisecond, Max: 2 * time.Second, Increment: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		wide.Observe(heartbeat.Expired) // 0.2, 0.2, 0.6, 0.6, 1.8, 1.8: now at 2 s (Adaptive's first search, H10)
	}
	if err := statefile.Save(state, wide); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-url", srv.URL(), "-insecure-http", "-state", state, "-duration", "30s", "-json"}, fastTuner...)
	code, out, errOut, reached := runUntil(t, 15*time.Second, func(out string) bool {
		return strings.Contains(out, `"event":"ping-started"`)
	}, args...)
	if code != 0 || !reached {
		t.Fatalf("exit %d, stderr %q; a ping: %v\n%s", code, errOut, reached, out)
	}
	objs := jsonLines(t, out)
	loaded := events(objs, "state-loaded")
	if len(loaded) != 1 || !strings.Contains(fmt.Sprint(loaded[0]["adjusted"]), "interval 2s clamped to 1s") {
		t.Fatalf("state-loaded %v, want the interval clamped to -max 1s:\n%s", loaded, out)
	}
	if got := num(t, events(objs, "ping-started")[0], "interval_s"); got != 1 {
		t.Errorf("first ping at %vs, want the clamped 1s", got)
	}
	if moved, _ := filepath.Glob(state + ".bad-*"); len(moved) != 0 {
		t.Errorf("moved aside: %v", moved)
	}
}
