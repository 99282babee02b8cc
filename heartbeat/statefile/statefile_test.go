package statefile_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/heartbeat/statefile"
)

func newTuner(t testing.TB) *heartbeat.Tuner {
	t.Helper()
	tr, err := heartbeat.New(heartbeat.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func state(t testing.TB, tr *heartbeat.Tuner) string {
	t.Helper()
	b, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRoundTrip: what Save writes, Load restores, with nothing left behind.
func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	a := newTuner(t)
	a.SwitchNetwork("wifi:Home")
	for _, o := range []heartbeat.Outcome{heartbeat.Expired, heartbeat.Expired, heartbeat.Expired} {
		a.Observe(o)
	}
	if err := statefile.Save(path, a); err != nil {
		t.Fatal(err)
	}
	b := newTuner(t)
	if adjusted, err := statefile.Load(path, b); err != nil || adjusted != nil {
		t.Fatal(err, adjusted)
	}
	if state(t, a) != state(t, b) {
		t.Fatal("state differs after Save and Load")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	// Saving again replaces the file; no temporary file stays.
	a.Observe(heartbeat.TimedOut)
	if err := statefile.Save(path, a); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the state file", len(entries))
	}
}

// TestMissing: no file yet means nothing learned yet.
func TestMissing(t *testing.T) {
	tr := newTuner(t)
	before := state(t, tr)
	if _, err := statefile.Load(filepath.Join(t.TempDir(), "none.json"), tr); err != nil {
		t.Fatalf("Load of a missing file: %v", err)
	}
	if state(t, tr) != before {
		t.Fatal("Load of a missing file changed the tuner")
	}
	if err := statefile.Save(filepath.Join(t.TempDir(), "no", "such", "dir", "s.json"), tr); err == nil {
		t.Fatal("Save into a missing directory succeeded")
	}
}

// TestUnusable: a corrupt, truncated, empty, wrong-version or oversized
// regular file gives an error naming the file, leaves the tuner at its
// defaults, and is moved aside, not deleted (SPEC H12).
func TestUnusable(t *testing.T) {
	good := func() string {
		tr := newTuner(t)
		tr.Observe(heartbeat.Expired)
		return state(t, tr)
	}()
	tests := []struct {
		name    string
		content string
		cause   error
	}{
		{name: "corrupt", content: "{\"version\":1,\"netw\x00rk", cause: heartbeat.ErrInvalidState},
		{name: "truncated", content: good[:len(good)-10], cause: heartbeat.ErrInvalidState},
		{name: "empty", content: "", cause: heartbeat.ErrInvalidState},
		{name: "wrong version", content: strings.Replace(good, `"version":1`, `"version":7`, 1), cause: heartbeat.ErrInvalidState},
		{name: "oversized", content: strings.Repeat(" ", 2<<20) + good},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			tr := newTuner(t)
			before := state(t, tr)
			_, err := statefile.Load(path, tr)
			if !errors.Is(err, statefile.ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Load: %v, want ErrCorrupt naming %s", err, path)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Fatalf("Load: %v does not wrap %v", err, tc.cause)
			}
			if state(t, tr) != before {
				t.Fatal("an unusable file changed the tuner")
			}
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the unusable file is still at %s", path)
			}
			matches, _ := filepath.Glob(path + ".bad-*")
			if len(matches) != 1 {
				t.Fatalf("moved-aside files: %v", matches)
			}
			kept, err := os.ReadFile(matches[0])
			if err != nil || string(kept) != tc.content {
				t.Fatalf("the moved-aside file lost its content: %v", err)
			}
			// The next Save starts afresh at the same path.
			if err := statefile.Save(path, tr); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// childEnv names the directory a crash-test child works in.
const childEnv = "PUSHBEAT_STATEFILE_CRASH_CHILD"

// TestCrashChild is not a test on its own: TestCrashSafety runs the test
// binary again with childEnv set, and this function then saves new
// versions of the state in a tight loop until it is killed. Before each
// Save it appends the hash of the version to a log and syncs it, so the
// parent knows every version that may be on disk.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		t.Skip("helper process for TestCrashSafety")
	}
	path := filepath.Join(dir, "state.json")
	tr := newTuner(t)
	if _, err := statefile.Load(path, tr); err != nil {
		fmt.Println("load:", err)
		os.Exit(3)
	}
	log, err := os.OpenFile(filepath.Join(dir, "versions.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		os.Exit(4)
	}
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
	outcomes := []heartbeat.Outcome{heartbeat.Expired, heartbeat.Expired, heartbeat.Changed, heartbeat.TimedOut, heartbeat.NetworkLost}
	networks := []string{"wifi:Home", "cell:310-260", "wifi:Office"}
	for i := 0; ; i++ {
		if rng.IntN(7) == 0 {
			tr.SwitchNetwork(networks[rng.IntN(len(networks))])
		}
		tr.Observe(outcomes[rng.IntN(len(outcomes))])
		data := state(t, tr)
		sum := sha256.Sum256([]byte(data))
		if _, err := log.WriteString(hex.EncodeToString(sum[:]) + "\n"); err != nil {
			os.Exit(5)
		}
		if err := log.Sync(); err != nil {
			os.Exit(6)
		}
		if err := statefile.Save(path, tr); err != nil {
			fmt.Println("save:", err)
			os.Exit(7)
		}
		fmt.Println("saved", i)
	}
}

// TestCrashSafety kills a process that is saving state at random moments,
// many times: after every kill the file loads and is one of the versions
// written (H12: a saved state is never lost).
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	rng := rand.New(rand.NewPCG(2026, 11))
	const kills = 40
	deadline := time.Now().Add(60 * time.Second)
	var done, latest int
	defer func() {
		t.Logf("%d kills; the file held the newest logged version %d times, the one before it otherwise", done, latest)
	}()
	for i := 0; i < kills && time.Now().Before(deadline); i++ {
		done++
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Let it save a random number of versions, then kill it while it
		// keeps saving: the kill lands anywhere in the write cycle.
		want := 1 + rng.IntN(60)
		lines := bufio.NewScanner(out)
		for n := 0; n < want && lines.Scan(); {
			if strings.HasPrefix(lines.Text(), "saved") {
				n++
			}
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()

		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
		if _, err := statefile.Load(path, newTuner(t)); err != nil {
			t.Fatalf("kill %d: the file does not load: %v", i, err)
		}
		sum := sha256.Sum256(data)
		logged, err := os.ReadFile(filepath.Join(dir, "versions.log"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(logged), hex.EncodeToString(sum[:])+"\n") {
			t.Fatalf("kill %d: the file is none of the versions written", i)
		}
		if strings.HasSuffix(string(logged), hex.EncodeToString(sum[:])+"\n") {
			latest++
		}
	}
}
