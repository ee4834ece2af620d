//go:build unix

package keys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// unixPermissions says that mode bits and owners mean what they say here.
const unixPermissions = true

// checkOwner refuses a file not owned by the current user (or by root, when
// rootOK).
func checkOwner(path string, fi fs.FileInfo, rootOK bool) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	uid := os.Getuid()
	if int64(st.Uid) == int64(uid) || (rootOK && st.Uid == 0) {
		return nil
	}
	if uid == 0 {
		// Root reading another user's files: the service runs as that user.
		// Changing the owner to root would stop the service; run as it.
		return &PermissionError{Path: path,
			Problem: fmt.Sprintf("is owned by uid %d, and this program runs as root; run it as that user, the one the gateway runs as", st.Uid),
			Fix:     fmt.Sprintf("sudo -u '#%d' <the same command>", st.Uid)}
	}
	want := fmt.Sprintf("uid %d", uid)
	if rootOK && uid != 0 {
		want += " or root"
	}
	return &PermissionError{Path: path,
		Problem: fmt.Sprintf("is owned by uid %d; it must be owned by %s, the user running this program", st.Uid, want),
		Fix:     fmt.Sprintf("chown %d %s", uid, shellQuote(path))}
}

// syncDir makes a rename or link in dir durable. File systems that cannot sync
// a directory are not an error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	err = d.Sync()
	if err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
