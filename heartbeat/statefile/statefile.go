// Package statefile keeps a heartbeat.Tuner's learned state in a file, so
// that what a device learned about its networks survives restarts (SPEC
// H12).
//
// Save replaces the file atomically: it writes a temporary file in the same
// directory, syncs it, renames it over the old one and syncs the directory,
// so a crash at any instant leaves either the old or the new file, never a
// torn one. Load never loses data either: a file it cannot use is renamed
// aside (never deleted) and reported, and the tuner keeps its defaults.
package statefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
)

// maxFileBytes bounds what Load reads: a state document is a few kilobytes.
const maxFileBytes = 1 << 20

// ErrCorrupt is wrapped by the error Load returns for a file that exists but
// cannot be used: unreadable, empty, truncated, corrupt, of another version
// or out of the tuner's bounds. The error names the file and where it was
// moved.
var ErrCorrupt = errors.New("statefile: unusable state file")

// Load restores t from the file at path. A missing file is not an error:
// there is nothing learned yet, and t is left as it is. A file that cannot
// be used leaves t unchanged, is renamed to path + ".bad-<time>" so that
// nothing is lost, and returns an error wrapping ErrCorrupt (and the cause,
// e.g. heartbeat.ErrInvalidState).
func Load(path string, t *heartbeat.Tuner) error {
	data, err := readFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		_, err = t.Restore(data)
		if err == nil {
			return nil
		}
	}
	aside := fmt.Sprintf("%s.bad-%s", path, time.Now().UTC().Format("20060102T150405.000000000Z"))
	if rerr := os.Rename(path, aside); rerr != nil {
		return fmt.Errorf("%w: %s: %w (and it could not be moved aside: %v)", ErrCorrupt, path, err, rerr)
	}
	return fmt.Errorf("%w: %s (moved to %s): %w", ErrCorrupt, path, aside, err)
}

// readFile reads at most maxFileBytes+1 bytes of path.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("file larger than %d bytes", maxFileBytes)
	}
	return data, nil
}

// Save writes t's state to path atomically (see the package
// documentation). The file is created with mode 0600: it reveals which
// networks the device has used.
func Save(path string, t *heartbeat.Tuner) error {
	data, err := t.MarshalJSON()
	if err != nil {
		return fmt.Errorf("statefile: %w", err)
	}
	return writeAtomic(path, data)
}

func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("statefile: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("statefile: %w", err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("statefile: writing %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("statefile: syncing %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("statefile: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("statefile: %w", err)
	}
	// The rename is durable only once the directory is synced.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("statefile: %w", err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("statefile: syncing directory %s: %w", dir, err)
	}
	return nil
}
