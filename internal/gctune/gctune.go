// Package gctune lets the Go heap gather a fixed amount of garbage before
// each collection while the program moves bulk data and its live heap is
// small.
//
// An SSH stream through golang.org/x/crypto/ssh allocates a fresh buffer for
// every packet it receives (golang/go#39117), so a tunnel moving data makes
// garbage at the rate it moves bytes. With Go's default (GOGC=100, a 4 MiB
// minimum) and the few MiB a gateway keeps live, that means a collection,
// and the scavenger handing pages back to the kernel and faulting them in
// again, every hundred or so packets. While allocation runs at MinRate or
// more, the tuner sets the next collection at live + max(live, headroom):
// the heap may grow by headroom bytes of garbage while it is small, and
// behaves as with GOGC=100 once the live heap is larger than headroom, so
// the extra memory is bounded by headroom. It keeps that setting until
// allocation falls below QuietRate for QuietAfter, then goes back to Go's
// default and hands the freed memory back; a program that never reaches
// MinRate (idle tunnels, a few requests) keeps Go's default throughout.
// The gap between the two rates matters: a proxy serving requests at
// about MinRate used to flip between the two settings every second or
// so, and each flip handed pages back that the next second faulted in
// again.
//
// An operator's GOGC or GOMEMLIMIT in the environment always wins: Start
// does nothing when either is set.
package gctune

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// Headroom is what gateway serve, client forward and client proxy use:
// 16 MiB of garbage between collections while the live heap is small.
// With Go's default the floor is 4 MiB; in BenchmarkTunnelBulk a 16 MiB
// floor (GOGC=400) moved about 1.7 times the bytes per second of GOGC=100
// (docs/PERFORMANCE.md).
const Headroom = 16 << 20

// maxPercent bounds the GOGC value Start sets, whatever the live heap.
const maxPercent = 10000

// heapMinimum is the runtime's floor for the heap goal at GOGC=100; the
// runtime scales it by GOGC/100 like the live heap.
const heapMinimum = 4 << 20

// Percent is the GOGC value that sets the next collection at about
// live + max(live, headroom) bytes, never below Go's default of 100 and
// at most maxPercent. The runtime's goal is the larger of
// live + (live+stacks+globals)*GOGC/100 and heapMinimum*GOGC/100; the
// tuner passes live+stacks+globals as live, so both stay at or under
// live + headroom.
func Percent(live, headroom uint64) int {
	headroom = min(headroom, 1<<40) // keeps the arithmetic below from overflowing
	live = max(live, 1)
	if headroom <= live {
		return 100
	}
	p := uint64(maxPercent)
	if headroom/live < maxPercent/100 {
		p = headroom * 100 / live
	}
	if live < 1<<40 {
		p = min(p, (live+headroom)*100/heapMinimum)
	}
	return int(max(p, 100))
}

// FromEnv reports whether the environment sets GOGC or GOMEMLIMIT, in
// which case Start leaves the collector alone.
func FromEnv() bool {
	_, gogc := os.LookupEnv("GOGC")
	_, limit := os.LookupEnv("GOMEMLIMIT")
	return gogc || limit
}

// MinRate is the allocation rate, in bytes per second between two
// collections, from which Start applies the headroom. Below it the
// program is not moving bulk data and keeps Go's default, so opening many
// idle tunnels or serving small requests costs no extra memory.
const MinRate = 64 << 20

// QuietRate is the allocation rate below which, measured over QuietAfter,
// the tuner takes the traffic to have stopped: a sixteenth of MinRate, so
// that traffic hovering around MinRate keeps one setting.
const QuietRate = MinRate / 16

// QuietAfter is how often, once bulk data has been moving, the tuner looks
// whether it has stopped (allocation below QuietRate over the last
// QuietAfter). When it has, the tuner goes back to Go's default and hands
// freed memory back to the kernel: two collections (the first moves what
// sync.Pools hold to their victim caches, the second frees it), which also
// shrink the goroutine stacks the transfer grew, then with
// debug.FreeOSMemory every free page released.
const QuietAfter = time.Second

// rate is allocated bytes per second over elapsed, or 0 for an empty or
// negative interval (a clock step back).
func rate(allocated uint64, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(allocated) / elapsed.Seconds()
}

// busy reports whether allocation ran at MinRate or more: the tuner then
// applies the headroom.
func busy(allocated uint64, elapsed time.Duration) bool {
	return rate(allocated, elapsed) >= MinRate
}

// quiet reports whether allocation ran below QuietRate: the tuner then
// goes back to Go's default.
func quiet(allocated uint64, elapsed time.Duration) bool {
	return elapsed > 0 && rate(allocated, elapsed) < QuietRate
}

// Start re-computes GOGC after every collection until stop is called:
// Percent(live, headroom) from the first collection interval in which
// allocation ran at MinRate or more until a QuietAfter in which it ran
// below QuietRate, Go's default of 100 otherwise. When the traffic stops
// it also releases memory. stop puts back the GOGC value from before
// Start. With headroom 0, or GOGC or GOMEMLIMIT in the environment, Start
// changes nothing and tuned is false.
//
// It runs no goroutine of its own: the re-computation is a finalizer on an
// object that each collection frees, re-armed each time until stop, and
// the quiet check a timer armed only while data moves.
func Start(headroom uint64) (stop func(), tuned bool) {
	if headroom == 0 || FromEnv() {
		return func() {}, false
	}
	t := &tuner{headroom: headroom, sample: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/scan/stack:bytes"},
		{Name: "/gc/scan/globals:bytes"},
	}}
	t.mu.Lock()
	t.before = debug.SetGCPercent(100)
	_, t.allocs = t.read()
	t.at = time.Now()
	t.mu.Unlock()
	t.arm()
	return t.stop, true
}

type tuner struct {
	headroom   uint64
	mu         sync.Mutex // guards the fields below and orders stop after an adjustment
	sample     []metrics.Sample
	before     int
	stopped    bool
	allocs     uint64      // cumulative bytes allocated at the previous collection
	at         time.Time   // when the tuner saw the previous collection
	quietCheck *time.Timer // the pending quiet check; nil when none, which is when the headroom is off
	quietAt    uint64      // cumulative bytes allocated when it was armed
}

// sentinel is garbage from the moment it is made; its finalizer runs once
// per collection.
type sentinel struct{ t *tuner }

func (t *tuner) arm() {
	runtime.SetFinalizer(&sentinel{t: t}, func(s *sentinel) { s.t.collected() })
}

func (t *tuner) collected() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	base, allocs := t.read()
	now := time.Now()
	allocated, elapsed := allocs-t.allocs, now.Sub(t.at)
	t.allocs, t.at = allocs, now
	if busy(allocated, elapsed) && t.quietCheck == nil {
		t.quietAt = allocs
		t.quietCheck = time.AfterFunc(QuietAfter, t.checkQuiet)
	}
	percent := 100
	if t.quietCheck != nil {
		percent = Percent(base, t.headroom)
	}
	debug.SetGCPercent(percent)
	t.arm()
}

// checkQuiet runs QuietAfter after it was armed: while data still moves
// (at QuietRate or more) it looks again later; once it has stopped it
// puts Go's default back and releases memory.
func (t *tuner) checkQuiet() {
	t.mu.Lock()
	if t.stopped {
		t.mu.Unlock()
		return
	}
	_, allocs := t.read()
	if !quiet(allocs-t.quietAt, QuietAfter) {
		t.quietAt = allocs
		t.quietCheck.Reset(QuietAfter)
		t.mu.Unlock()
		return
	}
	t.quietCheck = nil
	debug.SetGCPercent(100)
	t.mu.Unlock()
	release() // outside mu: each collection's finalizer takes it
}

// release frees what the program no longer uses and hands the free pages
// back to the kernel. Two collections: a sync.Pool keeps what one finds in
// it until the next, and the tunnels' copy buffers (up to 128 KiB each)
// wait in pools.
func release() {
	runtime.GC()
	debug.FreeOSMemory()
}

// read samples what the runtime scales by GOGC (the live heap plus the
// goroutine stacks and globals it scans) and the cumulative bytes
// allocated.
func (t *tuner) read() (base, allocs uint64) {
	metrics.Read(t.sample)
	for _, i := range []int{0, 2, 3} {
		if v := t.sample[i].Value; v.Kind() == metrics.KindUint64 {
			base += v.Uint64()
		}
	}
	if v := t.sample[1].Value; v.Kind() == metrics.KindUint64 {
		allocs = v.Uint64()
	}
	return base, allocs
}

func (t *tuner) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	t.stopped = true
	if t.quietCheck != nil {
		t.quietCheck.Stop()
	}
	debug.SetGCPercent(t.before)
}
