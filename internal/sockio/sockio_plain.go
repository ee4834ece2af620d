//go:build !linux || !(amd64 || arm64 || arm)

package sockio

import "net"

// Raw reports whether Wrap gives raw reads and writes on this platform.
const Raw = false

// Wrap returns c: the raw path is for Linux on amd64, arm64 and arm.
func Wrap(c net.Conn) net.Conn { return c }
