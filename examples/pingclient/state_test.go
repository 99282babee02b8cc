package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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
