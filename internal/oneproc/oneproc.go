// Package oneproc runs a program's Go code on one thread at a time
// (GOMAXPROCS=1) unless the environment sets GOMAXPROCS. Import it for its
// side effect, as the client does:
//
//	import _ "github.com/loopgate/loopgate/internal/oneproc"
//
// It acts in its package initialiser rather than in main because changing
// GOMAXPROCS stops the world and hands back the caches of the P it
// removes; the later that happens, the more span caches there are to hand
// back (each a fresh page, and page faults are dear on small virtual
// machines). Its only imports are runtime and syscall, so the runtime
// initialises it before almost every other package. Measured on 2 cores
// (docs/PERFORMANCE.md, change 13): a new client connection and its first
// request 2 ms sooner than with the same call at the top of main.
package oneproc

import (
	"runtime"
	"syscall"
)

func init() { apply(syscall.Getenv) }

// apply sets GOMAXPROCS to 1 unless getenv reports the variable set, and
// says whether it did.
func apply(getenv func(string) (string, bool)) bool {
	if _, set := getenv("GOMAXPROCS"); set {
		return false
	}
	runtime.GOMAXPROCS(1)
	return true
}
