//go:build !unix

package proctune

import "time"

// cpuTime cannot be read here; Start then changes nothing.
func cpuTime() (time.Duration, bool) { return 0, false }
