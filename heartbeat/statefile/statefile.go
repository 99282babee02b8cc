// Package statefile keeps a heartbeat.Tuner's learned state in a file, so
// that what a device learned about its networks survives restarts (SPEC
// H12).
//
// Save replaces the file atomically: it writes a temporary file in the same
// directory, syncs it, renames it over the old one and syncs the directory,
// so a crash at any instant leaves either the old or the new file, never a
// torn one. Load never loses data either: a file it cannot use is renamed
// aside (never deleted) and reported, and the tuner keeps its defaults. A
// file written under other tuner bounds is not unusable: Load keeps what
// still fits and reports what it adjusted (heartbeat.Tuner.Restore).
//
// # Only regular files (SPEC L5)
//
// The path must name a regular file, or nothing yet. Load, Save and Check
// refuse anything else with an error wrapping ErrNotRegular and touch
// nothing: a FIFO (opening it would block the program until a writer
// comes), a device (renaming /dev/null aside and putting a file in its
// place would break the system), a directory (renaming it aside would move
// everything in it), a socket. Files are opened with O_NONBLOCK, so even a
// FIFO put in place between the check and the open cannot block, and the
// opened file is checked again (fstat) before it is read.
//
// A symbolic link is refused too, even one to a regular file: Save's atomic
// rename would replace the link itself, not the file it points to, and
// moving a corrupt file aside would move the link; a link planted in a
// shared directory could also point a privileged program at any file.
// Name the file itself. The directory part of the path may contain links.
//
// Call Check when the program starts, so that a path that can never work
// (a missing directory, a FIFO) is an error then, not at the first Save
// hours later.
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

// ErrCorrupt is wrapped by the error Load returns for a regular file that
// cannot be used: unreadable, empty, truncated, corrupt, of another version
// or inconsistent. The error names the file and where it was moved.
var ErrCorrupt = errors.New("statefile: unusable state file")

// ErrNotRegular is wrapped by the error Load, Save and Check return when the
// path names something other than a regular file: a directory, a FIFO, a
// device, a socket or a symbolic link (SPEC L5). Nothing is touched.
var ErrNotRegular = errors.New("statefile: not a regular file")

// Check reports whether path can hold a state file: its directory must
// exist and be a directory, and path itself must be missing or a regular
// file. The error wraps ErrNotRegular, or fs.ErrNotExist for a missing
// directory. It reads nothing and changes nothing.
func Check(path string) error {
	dir := filepath.Dir(path)
	switch fi, err := os.Stat(dir); {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("statefile: %s: the directory %s does not exist: %w", path, dir, fs.ErrNotExist)
	case err != nil:
		return fmt.Errorf("statefile: %s: %w", path, err)
	case !fi.IsDir():
		return fmt.Errorf("statefile: %s: %s is not a directory: %w", path, dir, ErrNotRegular)
	}
	_, err := lstatRegular(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// lstatRegular returns the FileInfo of path, without following a symbolic
// link, or an error wrapping ErrNotRegular if it is not a regular file.
func lstatRegular(path string) (fs.FileInfo, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if err := regular(path, fi); err != nil {
		return nil, err
	}
	return fi, nil
}

// regular returns an error wrapping ErrNotRegular naming what fi is, or nil
// for a regular file.
func regular(path string, fi fs.FileInfo) error {
	var what string
	switch m := fi.Mode(); {
	case m.IsRegular():
		return nil
	case m&fs.ModeSymlink != 0:
		what = "a symbolic link (name the file itself)"
	case m.IsDir():
		what = "a directory"
	case m&fs.ModeNamedPipe != 0:
		what = "a FIFO"
	case m&fs.ModeCharDevice != 0:
		what = "a character device"
	case m&fs.ModeDevice != 0:
		what = "a block device"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	default:
		what = "not a regular file (" + m.Type().String() + ")"
	}
	return fmt.Errorf("%w: %s is %s; it was left alone", ErrNotRegular, path, what)
}

// Load restores t from the file at path and returns what Restore had to
// adjust to fit t's bounds (nil if nothing; see heartbeat.Tuner.Restore).
//
// A missing file is not an error: there is nothing learned yet, and t is
// left as it is; but a missing directory is (it wraps fs.ErrNotExist), as in
// Check. A path that is not a regular file returns an error wrapping
// ErrNotRegular and touches nothing. A regular file that cannot be used
// leaves t unchanged, is renamed to path + ".bad-<time>" so that nothing is
// lost, and returns an error wrapping ErrCorrupt (and the cause, e.g.
// heartbeat.ErrInvalidState).
func Load(path string, t *heartbeat.Tuner) (adjusted []string, err error) {
	if err := Check(path); err != nil {
		return nil, err
	}
	data, fi, err := readFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case errors.Is(err, ErrNotRegular):
		return nil, err
	case err == nil:
		_, adjusted, err = t.Restore(data)
		if err == nil {
			return adjusted, nil
		}
	}
	return nil, moveAside(path, fi, err)
}

// moveAside renames the unusable regular file at path (fi, if known, is the
// file that was read) and returns the ErrCorrupt error for cause. It renames
// only if path is still that same regular file.
func moveAside(path string, fi fs.FileInfo, cause error) error {
	now, err := lstatRegular(path)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %s: %w (and it was not moved aside: %w)", ErrCorrupt, path, cause, err)
	case fi != nil && !os.SameFile(fi, now):
		return fmt.Errorf("%w: %s: %w (not moved aside: the file was replaced meanwhile)", ErrCorrupt, path, cause)
	}
	aside := fmt.Sprintf("%s.bad-%s", path, time.Now().UTC().Format("20060102T150405.000000000Z"))
	if rerr := os.Rename(path, aside); rerr != nil {
		return fmt.Errorf("%w: %s: %w (and it could not be moved aside: %v)", ErrCorrupt, path, cause, rerr)
	}
	return fmt.Errorf("%w: %s (moved to %s): %w", ErrCorrupt, path, aside, cause)
}

// readFile reads at most maxFileBytes+1 bytes of the regular file at path.
// It opens without following a link and without blocking (a FIFO put in
// place since the check cannot hang it), then checks what it opened.
func readFile(path string) ([]byte, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		if _, lerr := lstatRegular(path); lerr != nil && !errors.Is(lerr, fs.ErrNotExist) {
			err = lerr // a link swapped in (O_NOFOLLOW): say what it is
		}
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if err := regular(path, fi); err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fi, err
	}
	if len(data) > maxFileBytes {
		return nil, fi, fmt.Errorf("file larger than %d bytes", maxFileBytes)
	}
	return data, fi, nil
}

// Save writes t's state to path atomically (see the package
// documentation). The file is created with mode 0600: it reveals which
// networks the device has used. A path that is not a regular file (or
// missing) returns an error wrapping ErrNotRegular and is not replaced.
func Save(path string, t *heartbeat.Tuner) error {
	if err := Check(path); err != nil {
		return err
	}
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
	// Check again just before the rename, the moment that could replace
	// something that is not a state file.
	if _, err = lstatRegular(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
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
