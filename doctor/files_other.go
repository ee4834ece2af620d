//go:build !unix

package doctor

import "io/fs"

func fileUID(fs.FileInfo) (uint32, bool) { return 0, false }
