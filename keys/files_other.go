//go:build !unix

package keys

import (
	"io/fs"
	"os"
)

// unixPermissions is false where mode bits and owners do not carry access
// control (Windows uses ACLs, which this package does not inspect).
const unixPermissions = false

func checkOwner(string, fs.FileInfo, bool) error { return nil }

// syncDir is best effort: directories cannot always be opened or synced here.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	d.Sync()
	d.Close()
	return nil
}
