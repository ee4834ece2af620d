package keys

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrBadPermissions is wrapped by every error that refuses a file because of
// its type, mode or owner.
var ErrBadPermissions = errors.New("bad permissions")

// PermissionError is the error that refuses a file because of its type,
// mode or owner. It wraps [ErrBadPermissions].
type PermissionError struct {
	Path    string
	Problem string // what is wrong, e.g. "is mode 0644; it must not be accessible by others"
	Fix     string // the command that fixes it, or to run instead; "" when there is none
}

func (e *PermissionError) Error() string {
	msg := fmt.Sprintf("%v: %q %s", ErrBadPermissions, e.Path, e.Problem)
	if e.Fix != "" {
		msg += " (run: " + e.Fix + ")"
	}
	return msg
}

func (e *PermissionError) Unwrap() error { return ErrBadPermissions }

// CheckPrivateFile refuses a file holding a private key unless it is a regular
// file owned by the current user with no group or other permission bits
// (mode&0o077 == 0). Ownership and mode are only checked on Unix. The error
// wraps [ErrBadPermissions], or is the error from stat.
func CheckPrivateFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return checkPrivate(path, fi)
}

// CheckNotWritable refuses a file (authorized_keys, a config file) that is not
// a regular file, is group- or world-writable (mode&0o022 != 0), or is owned by
// someone other than the current user or root. Ownership and mode are only
// checked on Unix. The error wraps [ErrBadPermissions], or is the error from
// stat.
func CheckNotWritable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return checkNotWritable(path, fi)
}

func checkPrivate(path string, fi fs.FileInfo) error {
	if err := checkRegular(path, fi); err != nil || !unixPermissions {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return &PermissionError{Path: path, Problem: fmt.Sprintf("is mode %04o; it must not be accessible by others", perm),
			Fix: "chmod 600 " + shellQuote(path)}
	}
	return checkOwner(path, fi, false)
}

func checkNotWritable(path string, fi fs.FileInfo) error {
	if err := checkRegular(path, fi); err != nil || !unixPermissions {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return &PermissionError{Path: path, Problem: fmt.Sprintf("is mode %04o; it must not be writable by group or others", perm),
			Fix: "chmod go-w " + shellQuote(path)}
	}
	return checkOwner(path, fi, true)
}

func checkRegular(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return &PermissionError{Path: path, Problem: "is not a regular file"}
	}
	return nil
}

// shellQuote returns path as a word that a POSIX shell reads back unchanged.
func shellQuote(path string) string {
	safe := path != "" && strings.IndexFunc(path, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("/._-+:@%=,", r))
	}) < 0
	if safe {
		return path
	}
	return "'" + strings.ReplaceAll(path, "'", `'\''`) + "'"
}

// readChecked reads at most limit+1 bytes of the file at path after check has
// accepted it, both before opening (so that a FIFO is refused rather than
// blocking) and on the opened file (so that a swapped file is caught too).
// Callers compare the length with limit.
func readChecked(path string, check func(string, fs.FileInfo) error, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := check(path, fi); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := check(path, fi); err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(f, limit+1))
}

// WriteFileAtomic writes data to a temporary file in the directory of path
// (created with mode 0600), syncs it, sets its mode to perm, renames it over
// path and syncs the directory (best effort where directories cannot be
// synced). On any error before the rename the temporary file is removed and
// path is unchanged; an error syncing the directory is returned even though
// path already holds data.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// CreateFileExclusive is like [WriteFileAtomic] but fails with an error
// wrapping [fs.ErrExist] if path already exists. The complete file appears at
// path in one step (a hard link of the synced temporary file). On file systems
// without hard links it falls back to creating path with O_EXCL and writing it
// in place, removing it again on error.
func CreateFileExclusive(path string, data []byte, perm os.FileMode) error {
	if _, err := os.Lstat(path); err == nil {
		return existError(path)
	}
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := linkFile(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return existError(path)
		}
		return createInPlace(path, data, perm)
	}
	return syncDir(filepath.Dir(path))
}

// linkFile is os.Link; tests replace it to exercise the fallback.
var linkFile = os.Link

func createInPlace(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return existError(path)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := fill(f, data, perm); err != nil {
		os.Remove(path)
		return fmt.Errorf("create %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

func existError(path string) error {
	return fmt.Errorf("create %s: %w", path, fs.ErrExist)
}

// writeTemp writes data to a new temporary file next to path and returns its
// name; on error nothing is left behind.
func writeTemp(path string, data []byte, perm os.FileMode) (string, error) {
	base := filepath.Base(path)
	if len(base) > 100 {
		base = base[:100]
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+base+".tmp*")
	if err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := fill(f, data, perm); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return f.Name(), nil
}

// fill writes data to f, syncs it, sets its mode and closes it.
func fill(f *os.File, data []byte, perm os.FileMode) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = f.Chmod(perm.Perm())
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
