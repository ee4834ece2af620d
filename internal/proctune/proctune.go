// Package proctune runs a server's Go code on one P (GOMAXPROCS=1) while
// one is enough, and on the runtime's default number while the process
// keeps its one P busy.
//
// A tunnel's work is a chain of hand-offs: x/crypto/ssh's reader goroutine
// decrypts a packet and wakes the goroutine that writes it on. With more
// than one P, each such wake-up also wakes an idle thread to look for
// work, which finds none and sleeps again: two futex calls and a spinning
// thread per hand-off, on a machine whose cores the gateway shares with
// the services it fronts. On 2 cores (docs/PERFORMANCE.md, change 23) one
// P took the gateway's CPU per request at one connection from 73-89 µs to
// 52-55, and raised bulk download through it by about a third. One P caps
// the gateway at one core, though, so the tuner watches the process's CPU
// time (user and system, all threads) and goes back to the runtime's
// default (the CPUs it may use, after any cgroup quota) once the process
// uses UpShare of a core or more over one Interval on one P, and back to
// one P once it has used less than DownShare of a core over DownAfter.
// Under a cgroup quota of less than UpShare of a CPU the gateway therefore
// stays on one P, which is all the quota lets it use on average anyway.
//
// An operator's GOMAXPROCS in the environment always wins: Start does
// nothing when it is set (to anything), or when GOMAXPROCS is already one
// when Start is called.
package proctune

import (
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Interval is how often the tuner reads the process's CPU time.
const Interval = 100 * time.Millisecond

// UpShare is the share of one core, used over one Interval on one P, from
// which the tuner raises GOMAXPROCS to the runtime's default: the P is
// then nearly always busy, and work may be waiting for it. On 2 cores the
// gateway on one P used 0.65-0.69 of a core moving a bulk download, 0.39
// at 32 concurrent requests and 0.23 at one.
const UpShare = 0.9

// DownShare and DownAfter: once raised, the tuner goes back to one P when
// the process used less than DownShare of one core over DownAfter. The gap
// between the two shares keeps a load near one of them from flipping the
// setting (more Ps cost more CPU for the same work, so a load just over
// UpShare on one P is well over DownShare on more).
const (
	DownShare = 0.5
	DownAfter = 2 * time.Second
)

// window is the tuner's decision, kept apart from the clock, the process's
// CPU time and the runtime so that it can be tested alone.
type window struct {
	raised       bool          // running on the runtime's default, not on one P
	cpu, elapsed time.Duration // accumulated since raising or the last down check
}

// step takes the CPU time the process used over the last elapsed wall
// time and says whether to raise (to the default) or lower (to one P).
// A zero or negative elapsed is ignored and negative CPU time counts as
// none; neither happens with the monotonic clock and getrusage, but the
// decision does not rely on that.
func (w *window) step(cpu, elapsed time.Duration) (raise, lower bool) {
	if elapsed <= 0 {
		return false, false
	}
	cpu = max(cpu, 0)
	if !w.raised {
		if float64(cpu) >= UpShare*float64(elapsed) {
			w.raised = true // w.cpu and w.elapsed are zero: reset when lowered
			return true, false
		}
		return false, false
	}
	w.cpu += cpu
	w.elapsed += elapsed
	if w.elapsed < DownAfter {
		return false, false
	}
	quiet := float64(w.cpu) < DownShare*float64(w.elapsed)
	w.cpu, w.elapsed = 0, 0
	if quiet {
		w.raised = false
		return false, true
	}
	return false, false
}

// procs is what the tuner changes: the runtime in production, a fake in
// tests.
type procs struct {
	one      func()                       // GOMAXPROCS=1
	restore  func()                       // the runtime's default, with its automatic updates
	cpu      func() (time.Duration, bool) // the process's CPU time so far
	now      func() time.Time
	interval time.Duration
}

// running is set while a tuner runs: one per process.
var running atomic.Bool

// Start puts the process on one P and runs the tuner until stop is
// called; stop ends the tuner's goroutine and puts back the runtime's
// default. It changes nothing, and tuned is false, when the environment
// sets GOMAXPROCS, when GOMAXPROCS is one already (one CPU, or set by the
// program), where the process's CPU time cannot be read, or while another
// tuner runs. A nil log means slog.Default().
func Start(log *slog.Logger) (stop func(), tuned bool) {
	if _, set := os.LookupEnv("GOMAXPROCS"); set || runtime.GOMAXPROCS(0) <= 1 {
		return func() {}, false
	}
	if _, ok := cpuTime(); !ok {
		return func() {}, false
	}
	if !running.CompareAndSwap(false, true) {
		return func() {}, false
	}
	if log == nil {
		log = slog.Default()
	}
	stopTuner := start(log, procs{
		one:      func() { runtime.GOMAXPROCS(1) },
		restore:  runtime.SetDefaultGOMAXPROCS,
		cpu:      cpuTime,
		now:      time.Now,
		interval: Interval,
	})
	return sync.OnceFunc(func() {
		stopTuner()
		running.Store(false)
	}), true
}

// start puts p on one P and runs the tuner's goroutine; stop (safe to
// call more than once) ends it, then restores the default.
func start(log *slog.Logger, p procs) (stop func()) {
	p.one()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { p.run(log, done) })
	return sync.OnceFunc(func() {
		close(done)
		wg.Wait()
		p.restore()
	})
}

// run reads the CPU time every interval and applies window's decisions
// until done is closed.
func (p procs) run(log *slog.Logger, done <-chan struct{}) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	var w window
	lastCPU, primed := p.cpu() // primed: lastCPU and last are a reading
	last := p.now()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		cpu, ok := p.cpu()
		now := p.now()
		if !ok {
			continue // the next reading covers this interval too
		}
		if !primed {
			lastCPU, last, primed = cpu, now, true
			continue
		}
		raise, lower := w.step(cpu-lastCPU, now.Sub(last))
		lastCPU, last = cpu, now
		switch {
		case raise:
			p.restore()
			log.Debug("busy on one P: running on the default", "procs", runtime.GOMAXPROCS(0))
		case lower:
			p.one()
			log.Debug("load fell: running on one P")
		}
	}
}
