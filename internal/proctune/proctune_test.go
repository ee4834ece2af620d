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
		{"raised, busy for DownAfter stays", append(
			[]tick{{100 * ms, 100 * ms, true, false}},
			repeatTick(tick{60 * ms, 100 * ms, false, false}, 20, tick{60 * ms, 100 * ms, false, false})...)},
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

// fakeProcs records what the tuner does, with a CPU clock the test moves.
type fakeProcs struct {
	mu      sync.Mutex
	cpu     time.Duration
	now     time.Time
	calls   []string
	changed chan string
}

func (f *fakeProcs) procs() procs {
	return procs{
		one:      func() { f.record("one") },
		restore:  func() { f.record("default") },
		cpu:      func() (time.Duration, bool) { f.mu.Lock(); defer f.mu.Unlock(); return f.cpu, true },
		now:      func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now },
		interval: time.Millisecond,
	}
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

// advance moves wall time by elapsed and CPU time by cpu, as if the
// process had been that busy.
func (f *fakeProcs) advance(cpu, elapsed time.Duration) {
	f.mu.Lock()
	f.cpu += cpu
	f.now = f.now.Add(elapsed)
	f.mu.Unlock()
}

// TestStartRunStop drives the tuner's goroutine with a fake clock: one P
// at start, the default once busy, one P again once quiet, and the
// default after stop, which returns only once the goroutine has ended.
func TestStartRunStop(t *testing.T) {
	f := &fakeProcs{now: time.Unix(1e9, 0), changed: make(chan string, 1)}
	stop := start(slog.New(slog.NewTextHandler(io.Discard, nil)), f.procs())
	if got := <-f.changed; got != "one" {
		t.Fatalf("first change %q, want one", got)
	}
	wait := func(want string, cpu, elapsed time.Duration) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			f.advance(cpu, elapsed)
			select {
			case got := <-f.changed:
				if got != want {
					t.Fatalf("change %q, want %q", got, want)
				}
				return
			case <-deadline:
				t.Fatalf("no change to %q in 10 s", want)
			case <-time.After(2 * time.Millisecond):
			}
		}
	}
	wait("default", 100*time.Millisecond, 100*time.Millisecond) // a busy core
	wait("one", time.Millisecond, 100*time.Millisecond)         // nearly idle
	stop()
	stop() // a second stop is harmless
	f.mu.Lock()
	calls := append([]string(nil), f.calls...)
	f.mu.Unlock()
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
