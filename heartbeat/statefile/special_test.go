package statefile_test

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/heartbeat/statefile"
)

// tree describes every entry under dir (name, type, size, link target),
// so a test can see that nothing was touched.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		line := p + " " + fi.Mode().String()
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			line += " " + string(b)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			line += " -> " + target
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// within runs f and fails the test if it has not returned after limit:
// a FIFO must not block Load or Save.
func within(t *testing.T, limit time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("%s still blocked after %v", what, limit)
	}
}

// TestNotRegular: -state naming a FIFO, a character device, a directory
// (with a file in it), a socket, or a symbolic link (to a good state file,
// or to /dev/null) is refused by Check, Load and Save with an error wrapping
// ErrNotRegular that names the path and what it is; nothing in the
// directory changes and the tuner keeps its state; a FIFO blocks nothing
// (SPEC L5). Run as root, the character device is a real one made with
// mknod (the null device's numbers); unprivileged, a link to /dev/null
// stands in for it.
func TestNotRegular(t *testing.T) {
	good := func() string {
		tr := newTuner(t)
		for i := 0; i < 4; i++ {
			tr.Observe(heartbeat.Expired)
		}
		return state(t, tr)
	}()
	tests := []struct {
		name, what string
		make       func(t *testing.T, path string)
	}{
		{"fifo", "a FIFO", func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"char-device", "a character device", func(t *testing.T, path string) {
			err := syscall.Mknod(path, syscall.S_IFCHR|0o600, int(1<<8|3)) // like /dev/null
			if errors.Is(err, syscall.EPERM) {
				t.Logf("mknod: %v; a link to /dev/null stands in", err)
				err = os.Symlink("/dev/null", path)
			}
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"directory", "a directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(path, "inside"), []byte("keep me"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"socket", "a socket", func(t *testing.T, path string) {
			l, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			l.(*net.UnixListener).SetUnlinkOnClose(false)
			t.Cleanup(func() { l.Close() })
		}},
		{"symlink-to-state", "a symbolic link", func(t *testing.T, path string) {
			target := filepath.Join(filepath.Dir(path), "real.json")
			if err := os.WriteFile(target, []byte(good), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}},
		{"symlink-to-dev-null", "a symbolic link", func(t *testing.T, path string) {
			if err := os.Symlink("/dev/null", path); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state.json")
			tc.make(t, path)
			before := tree(t, dir)
			tr := newTuner(t)
			tr.Observe(heartbeat.Expired)
			tunerBefore := state(t, tr)

			check := func(op string, err error) {
				t.Helper()
				want := tc.what
				if fi, _ := os.Lstat(path); fi != nil && fi.Mode()&fs.ModeSymlink != 0 {
					want = "a symbolic link"
				}
				if !errors.Is(err, statefile.ErrNotRegular) || !strings.Contains(err.Error(), path) ||
					!strings.Contains(err.Error(), want) {
					t.Fatalf("%s: %v, want ErrNotRegular naming %s as %s", op, err, path, want)
				}
			}
			within(t, 10*time.Second, "Check, Load and Save", func() {
				check("Check", statefile.Check(path))
				adjusted, err := statefile.Load(path, tr)
				check("Load", err)
				if adjusted != nil {
					t.Errorf("Load adjusted %q", adjusted)
				}
				check("Save", statefile.Save(path, tr))
			})
			if after := tree(t, dir); after != before {
				t.Fatalf("the directory changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if state(t, tr) != tunerBefore {
				t.Fatal("the tuner changed")
			}
		})
	}
}

// TestMissingDirectory: a path in a directory that does not exist, or
// whose "directory" is a file, fails Check, Load and Save at once, creating
// nothing (SPEC L5).
func TestMissingDirectory(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := tree(t, root)
	for _, path := range []string{filepath.Join(root, "no", "such", "state.json"), filepath.Join(file, "state.json")} {
		tr := newTuner(t)
		for op, err := range map[string]error{
			"Check": statefile.Check(path),
			"Load":  func() error { _, err := statefile.Load(path, tr); return err }(),
			"Save":  statefile.Save(path, tr),
		} {
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("%s(%s) = %v, want an error naming the path", op, path, err)
			}
			if errors.Is(err, statefile.ErrCorrupt) {
				t.Errorf("%s(%s) = %v: a missing directory is no corrupt file", op, path, err)
			}
		}
	}
	if !errors.Is(statefile.Check(filepath.Join(root, "no", "state.json")), fs.ErrNotExist) {
		t.Error("Check of a missing directory does not wrap fs.ErrNotExist")
	}
	if after := tree(t, root); after != before {
		t.Fatalf("something was created:\n%s", after)
	}
	if err := statefile.Check(filepath.Join(root, "new.json")); err != nil {
		t.Errorf("Check of a new file in an existing directory: %v", err)
	}
	if err := statefile.Check(file); err != nil {
		t.Errorf("Check of a regular file: %v", err)
	}
}

// TestOtherBounds: a file learned under other tuner bounds is kept, not
// moved aside: what still fits is restored and the adjustments are
// reported (H12, L5).
func TestOtherBounds(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	wide := newTuner(t)
	wide.SwitchNetwork("wifi:Home")
	for i := 0; i < 4; i++ {
		wide.Observe(heartbeat.Expired) // 8, 8, 13, 13: now at 28 min, unproven (Adaptive's first search, H10)
	}
	wide.SwitchNetwork("cell:1")
	if err := statefile.Save(path, wide); err != nil {
		t.Fatal(err)
	}
	saved, _ := os.ReadFile(path)

	narrow, err := heartbeat.New(heartbeat.Config{Max: 12 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	adjusted, err := statefile.Load(path, narrow)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if strings.Join(adjusted, "\n") != `network "wifi:Home": interval 28m0s clamped to 12m0s`+"\n"+
		`network "wifi:Home": interval before the unproven raise (13m0s) dropped` {
		t.Fatalf("adjusted %q", adjusted)
	}
	if now, _ := os.ReadFile(path); string(now) != string(saved) {
		t.Fatal("the file changed on Load")
	}
	if moved, _ := filepath.Glob(path + ".bad-*"); len(moved) != 0 {
		t.Fatalf("moved aside: %v", moved)
	}
	if narrow.Snapshot().Network != "cell:1" {
		t.Fatalf("current network %q", narrow.Snapshot().Network)
	}
	if narrow.SwitchNetwork("wifi:Home"); narrow.Interval() != 12*time.Minute {
		t.Fatalf("wifi:Home at %v, want 12m0s", narrow.Interval())
	}
}
