package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind (T7):
// the demo server, the mail, the status line and the HTTP connections must
// all be gone when run returns.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// runArgs runs the program in-process with args and returns its exit
// status and output.
func runArgs(t *testing.T, ctx context.Context, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// syncBuffer is a bytes.Buffer safe to read while run writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runUntil runs the program in-process until its output satisfies done,
// then cancels it as Ctrl-C would, so a test waits as long as the story
// takes on a loaded machine and no longer. It gives up after limit. It
// returns the exit status, the output, and whether done was reached.
func runUntil(t *testing.T, limit time.Duration, done func(out string) bool, args ...string) (code int, stdout, stderr string, reached bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	exit := make(chan int, 1)
	go func() { exit <- run(ctx, args, &out, &errOut) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(limit)
wait:
	for {
		select {
		case code = <-exit:
			return code, out.String(), errOut.String(), done(out.String())
		case <-deadline:
			break wait
		case <-tick.C:
			if done(out.String()) {
				reached = true
				break wait
			}
		}
	}
	cancel()
	code = <-exit
	return code, out.String(), errOut.String(), reached
}

// jsonLines parses -json output: one object per line, every one with
// event, t and interval_s (E1).
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for i := 1; sc.Scan(); i++ {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i, err, sc.Text())
		}
		for _, k := range []string{"event", "t", "interval_s"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %d lacks %q: %s", i, k, sc.Text())
			}
		}
		objs = append(objs, m)
	}
	if len(objs) == 0 {
		t.Fatalf("no JSON output")
	}
	return objs
}

// events returns the objects of one kind.
func events(objs []map[string]any, kind string) []map[string]any {
	var r []map[string]any
	for _, o := range objs {
		if o["event"] == kind {
			r = append(r, o)
		}
	}
	return r
}

// num reads a number field.
func num(t *testing.T, o map[string]any, key string) float64 {
	t.Helper()
	v, ok := o[key].(float64)
	if !ok {
		t.Fatalf("%q = %#v in %v, want a number", key, o[key], o)
	}
	return v
}

// hasControl reports whether s holds a control character other than a
// newline: plain output must not redraw anything.
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 && r != '\n' || r == 0x7f {
			return true
		}
	}
	return false
}
