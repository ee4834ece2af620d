//go:build race && linux && (amd64 || arm64 || arm)

package sockio

import (
	"runtime"
	"unsafe"
)

// The race detector learns about a read or write from syscall.Read and
// syscall.Write, which a raw system call bypasses; these tell it the same:
// the bytes a read filled and a write sent, and an order from every write
// to every later read, as syscall's own ioSync does. That order runs
// between sockio's reads and writes only: bytes written by a plain
// connection and read here (or the reverse) give the detector no order.

var ioSync int64

func raceWritten(p []byte) { runtime.RaceWriteRange(unsafe.Pointer(&p[0]), len(p)) }
func raceRead(p []byte)    { runtime.RaceReadRange(unsafe.Pointer(&p[0]), len(p)) }
func raceReleasing()       { runtime.RaceReleaseMerge(unsafe.Pointer(&ioSync)) }
func raceAcquired()        { runtime.RaceAcquire(unsafe.Pointer(&ioSync)) }
