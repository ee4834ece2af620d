package proctune

import (
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestWindowStep(t *testing.T) {
	const ms = time.Millisecond
	type tick struct {
		cpu, elapsed time.Duration
		raise, lower bool
	}
	for _, tc := range []struct {
		name  string
		ticks []tick
	}{
		{"idle stays on one P", []tick{{0, 100 * ms, false, false}, {10 * ms, 100 * ms, false, false}}},
		{"just under UpShare stays", []tick{{89 * ms, 100 * ms, false, false}}},
		{"at UpShare raises", []tick{{90 * ms, 100 * ms, true, false}}},
		{"more than a core raises", []tick{{150 * ms, 100 * ms, true, false}}},
		{"a clock step back is ignored", []tick{{500 * ms, -100 * ms, false, false}, {500 * ms, 0, false, false}}},
		{"negative CPU counts as none", []tick{{-ms, 100 * ms, false, false}}},
		{"raised, quiet for DownAfter lowers", append(
			[]tick{{100 * ms, 100 * ms, true, false}},
			repeatTick(tick{10 * ms, 100 * ms, false, false}, 19, tick{10 * ms, 100 * ms, false, true})...)},
		{"raised, at DownShare for DownAfter stays", append(
			[]tick{{100 * ms, 100 * ms, true, false}},
			repeatTick(tick{50 * ms, 100 * ms, false, false}, 20, tick{50 * ms, 100 * ms, false, false})...)},
		{"raised, each window judged alone", append(append(
			[]tick{{100 * ms, 100 * ms, true, false}},
			repeatTick(tick{100 * ms, 100 * ms, false, false}, 19, tick{100 * ms, 100 * ms, false, false})...),
			repeatTick(tick{0, 100 * ms, false, false}, 19, tick{0, 100 * ms, false, true})...)},
		{"raised, negative CPU counts as none", append(append(
			[]tick{{100 * ms, 100 * ms, true, false}, {-5 * time.Second, 100 * ms, false, false}},
			repeatTick(tick{55 * ms, 100 * ms, false, false}, 18, tick{55 * ms, 100 * ms, false, false})...),
			tick{55 * ms, 100 * ms, false, false})},
		{"raised, just under DownShare lowers", append(
			[]tick{{100 * ms, 100 * ms, true, false}},
			repeatTick(tick{49 * ms, 100 * ms, false, false}, 19, tick{49 * ms, 100 * ms, false, true})...)},
		{"raised, a burst inside the window keeps it", append(append(
			[]tick{{100 * ms, 100 * ms, true, false}},
			repeatTick(tick{0, 100 * ms, false, false}, 9, tick{1100 * ms, 100 * ms, false, false})...),
			repeatTick(tick{0, 100 * ms, false, false}, 9, tick{0, 100 * ms, false, false})...)},
		{"lowered, raises again", append(append(
			[]tick{{100 * ms, 100 * ms, true, false}},
			repeatTick(tick{0, 100 * ms, false, false}, 19, tick{0, 100 * ms, false, true})...),
			tick{95 * ms, 100 * ms, true, false})},
		{"one long quiet tick lowers", []tick{{100 * ms, 100 * ms, true, false}, {0, 3 * time.Second, false, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w window
			for i, k := range tc.ticks {
				raise, lower := w.step(k.cpu, k.elapsed)
				if raise != k.raise || lower != k.lower {
					t.Fatalf("tick %d (cpu %v over %v): raise %v lower %v, want %v %v", i, k.cpu, k.elapsed, raise, lower, k.raise, k.lower)
				}
			}
		})
	}
}

// repeatTick is n copies of k followed by last.
func repeatTick[T any](k T, n int, last T) []T {
	out := make([]T, 0, n+1)
	for range n {
		out = append(out, k)
	}
	return append(out, last)
}

// fakeProcs records what the tuner does. Its clock moves by tick at each
// CPU reading, and its CPU time by load times that: each of the tuner's
// intervals is a tick of wall time at the load the test sets.
type fakeProcs struct {
	mu        sync.Mutex
	cpu       time.Duration
	now       time.Time
	load      float64 // share of a core the fake process uses
	reads     int
	fail      map[int]bool // readings (from 1) that fail
	stopped   bool
	lateReads int // CPU readings after stop returned
	calls     []string
	changed   chan string
}

const tick = 100 * time.Millisecond

func (f *fakeProcs) procs() procs {
	return procs{
		one:      func() { f.record("one") },
		restore:  func() { f.record("default") },
		cpu:      f.read,
		now:      func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now },
		interval: time.Millisecond,
	}
}

func (f *fakeProcs) read() (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.stopped {
		f.lateReads++
	}
	f.now = f.now.Add(tick)
	f.cpu += time.Duration(f.load * float64(tick))
	if f.fail[f.reads] {
		return 0, false
	}
	return f.cpu, true
}

func (f *fakeProcs) record(s string) {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
	select {
	case f.changed <- s:
	default:
	}
}

func (f *fakeProcs) setLoad(load float64) {
	f.mu.Lock()
	f.load = load
	f.mu.Unlock()
}

func (f *fakeProcs) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

// TestStartRunStop drives the tuner's goroutine with a fake clock: one P
// at start, nothing while idle (though the process used 10 s of CPU
// before, and whichever reading fails), the default once busy, one P
// again once quiet, and the default after stop, which returns only once
// the goroutine has ended.
func TestStartRunStop(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail map[int]bool
	}{
		{"every reading succeeds", nil},
		{"the first reading fails", map[int]bool{1: true}},
		{"later readings fail", map[int]bool{3: true, 7: true, 8: true}},
	} {
		t.Run(tc.name, func(t *testing.T) { runStop(t, tc.fail) })
	}
}

func runStop(t *testing.T, fail map[int]bool) {
	f := &fakeProcs{now: time.Unix(1e9, 0), cpu: 10 * time.Second, fail: fail, changed: make(chan string, 1)}
	stop := start(slog.New(slog.NewTextHandler(io.Discard, nil)), f.procs())
	if got := <-f.changed; got != "one" {
		t.Fatalf("first change %q, want one", got)
	}
	for deadline := time.Now().Add(10 * time.Second); f.readCount() < 50; {
		if time.Now().After(deadline) {
			t.Fatalf("%d readings in 10 s", f.readCount())
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case got := <-f.changed:
		t.Fatalf("change %q while idle", got)
	default:
	}
	wait := func(want string) {
		t.Helper()
		select {
		case got := <-f.changed:
			if got != want {
				t.Fatalf("change %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no change to %q in 10 s", want)
		}
	}
	f.setLoad(1) // a busy core
	wait("default")
	f.setLoad(0.01) // nearly idle
	wait("one")
	stop()
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
	stop() // a second stop is harmless
	time.Sleep(20 * time.Millisecond)
	f.mu.Lock()
	calls := append([]string(nil), f.calls...)
	late := f.lateReads
	f.mu.Unlock()
	if late != 0 {
		t.Errorf("%d CPU readings after stop returned", late)
	}
	want := []string{"one", "default", "one", "default"}
	if len(calls) != len(want) {
		t.Fatalf("calls %v, want %v", calls, want)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Fatalf("calls %v, want %v", calls, want)
		}
	}
}

// TestStartRespectsEnv: with GOMAXPROCS in the environment Start changes
// nothing.
func TestStartRespectsEnv(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Setenv("GOMAXPROCS", "3")
	stop, tuned := Start(slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer stop()
	if tuned {
		t.Error("tuned with GOMAXPROCS set")
	}
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Errorf("GOMAXPROCS %d, want %d unchanged", got, before)
	}
}

// TestStartTwice: a second tuner does not start while one runs.
func TestStartTwice(t *testing.T) {
	if _, set := os.LookupEnv("GOMAXPROCS"); set || runtime.GOMAXPROCS(0) <= 1 {
		t.Skip("GOMAXPROCS set or one CPU: Start tunes nothing (TestStartRespectsEnv, TestStartReal)")
	}
	stop, tuned := Start(nil)
	defer stop()
	if !tuned {
		t.Fatal("first Start did not tune")
	}
	runtime.GOMAXPROCS(2) // as if the first had raised it
	stop2, tuned2 := Start(nil)
	stop2()
	if tuned2 {
		t.Fatal("a second Start tuned while the first runs")
	}
	if got := runtime.GOMAXPROCS(0); got != 2 {
		t.Fatalf("the second Start's stop changed GOMAXPROCS to %d", got)
	}
	stop()
	stop3, tuned3 := Start(nil) // a new tuner once the first has stopped
	defer stop3()
	if !tuned3 {
		t.Fatal("Start after stop did not tune")
	}
	stop()                // the first tuner's stop again: must not free the new one's place
	runtime.GOMAXPROCS(2) // as if the new one had raised it
	stop4, tuned4 := Start(nil)
	stop4()
	if tuned4 {
		t.Fatal("a stale stop let a second tuner start beside the running one")
	}
}

// TestStartReal runs the tuner on the test process: one P at start and
// the runtime's default back after stop.
func TestStartReal(t *testing.T) {
	if _, set := os.LookupEnv("GOMAXPROCS"); set {
		t.Skip("GOMAXPROCS set in the environment: Start leaves it alone (TestStartRespectsEnv)")
	}
	before := runtime.GOMAXPROCS(0)
	stop, tuned := Start(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if before <= 1 {
		stop()
		if tuned {
			t.Fatal("tuned with one CPU")
		}
		t.Skip("one CPU: nothing to tune")
	}
	if !tuned {
		stop()
		t.Fatal("not tuned with GOMAXPROCS unset and more than one CPU")
	}
	if got := runtime.GOMAXPROCS(0); got != 1 {
		stop()
		t.Fatalf("GOMAXPROCS %d after Start, want 1", got)
	}
	stop()
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Fatalf("GOMAXPROCS %d after stop, want the default %d", got, before)
	}
}

// TestCPUTime: spinning adds to the process's CPU time (bounded: 10 ms of
// CPU within 10 s of wall time, however loaded the machine).
func TestCPUTime(t *testing.T) {
	a, ok := cpuTime()
	if !ok {
		t.Skip("no process CPU time on this platform")
	}
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
		for n := 0; n < 1e6; n++ {
			_ = n * n
		}
		if b, _ := cpuTime(); b-a >= 10*time.Millisecond {
			return
		}
	}
	b, _ := cpuTime()
	t.Fatalf("10 s of spinning added %v of CPU time", b-a)
}
