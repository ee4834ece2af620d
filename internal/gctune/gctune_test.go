package gctune

import (
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
	"weak"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		live, headroom uint64
		want           int
	}{
		// goal = max(live*(1+p/100), 4 MiB*p/100), about live + headroom
		{live: 2 * mib, headroom: 16 * mib, want: 450},  // goal 18 MiB by the scaled minimum (live alone: 11 MiB)
		{live: 4 * mib, headroom: 16 * mib, want: 400},  // goal 20 MiB both ways
		{live: 8 * mib, headroom: 16 * mib, want: 200},  // goal 24 MiB
		{live: 15 * mib, headroom: 16 * mib, want: 106}, // goal about 31 MiB
		{live: 16 * mib, headroom: 16 * mib, want: 100}, // live reached headroom: Go's default
		{live: 64 * mib, headroom: 16 * mib, want: 100}, // never below the default
		{live: 1024, headroom: 16 * mib, want: 400},     // tiny heap: the scaled minimum, not 400 MB
		{live: 0, headroom: 16 * mib, want: 400},        // before the first collection
		{live: 1, headroom: 1 << 62, want: maxPercent},  // no overflow
		{live: 1 << 50, headroom: 1 << 62, want: 100},   // no overflow
		{live: 2 * mib, headroom: 0, want: 100},
		{live: 2 * mib, headroom: 1 << 30, want: maxPercent}, // bounded
	} {
		if got := Percent(tc.live, tc.headroom); got != tc.want {
			t.Errorf("Percent(%d, %d) = %d, want %d", tc.live, tc.headroom, got, tc.want)
		}
	}
}

func gogc() int64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// eventually polls GOGC until ok holds or a second has passed, and returns
// the last value: the tuner's finalizer runs just after a collection ends.
func eventually(ok func(int64) bool) int64 { return within(time.Second, ok) }

// within polls GOGC like eventually, for up to d.
func within(d time.Duration, ok func(int64) bool) int64 {
	deadline := time.Now().Add(d)
	for {
		p := gogc()
		if ok(p) || time.Now().After(deadline) {
			return p
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func TestRates(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		allocated   uint64
		elapsed     time.Duration
		busy, quiet bool
	}{
		{allocated: 64 * mib, elapsed: time.Second, busy: true},           // at MinRate: the headroom
		{allocated: 16 * mib, elapsed: 10 * time.Millisecond, busy: true}, // bulk traffic
		{allocated: 63 * mib, elapsed: time.Second},                       // just under MinRate, not quiet either
		{allocated: 4 * mib, elapsed: time.Second},                        // at QuietRate: not quiet
		{allocated: 4*mib - 1, elapsed: time.Second, quiet: true},         // just under
		{allocated: 4 * mib, elapsed: time.Minute, quiet: true},           // idle tunnels
		{allocated: 64 * mib, elapsed: 0},                                 // no interval yet
		{allocated: 64 * mib, elapsed: -time.Second},                      // a clock step back
	} {
		if got := busy(tc.allocated, tc.elapsed); got != tc.busy {
			t.Errorf("busy(%d B in %v) = %t, want %t", tc.allocated, tc.elapsed, got, tc.busy)
		}
		if got := quiet(tc.allocated, tc.elapsed); got != tc.quiet {
			t.Errorf("quiet(%d B in %v) = %t, want %t", tc.allocated, tc.elapsed, got, tc.quiet)
		}
	}
}

// sink and keep hold memory so the test can make garbage at a rate and
// move the live heap past the headroom.
var (
	sink []byte
	keep [][]byte
)

// churn allocates garbage in 32 KiB pieces, the way an SSH stream does,
// until until(GOGC) holds or 1 GiB is allocated, and returns the last
// GOGC seen. The tuner's finalizer runs just after each collection, so
// GOGC is read while the allocation goes on.
func churn(until func(int64) bool) int64 {
	var p int64
	for i := range (1 << 30) / (32 << 10) {
		sink = make([]byte, 32<<10)
		if i%64 == 0 {
			if p = gogc(); until(p) {
				break
			}
		}
	}
	sink = nil
	return p
}

func TestStartFollowsTrafficAndLiveHeap(t *testing.T) {
	unsetenv(t, "GOGC", "GOMEMLIMIT")
	before := gogc()
	const headroom = 64 << 20
	stop, tuned := Start(headroom)
	t.Cleanup(stop)
	if !tuned {
		t.Fatal("Start did not tune with neither GOGC nor GOMEMLIMIT set")
	}
	runtime.GC()
	if got := churn(func(p int64) bool { return p > 100 }); got <= 100 {
		t.Fatalf("GOGC during bulk allocation with %d KiB live = %d, want > 100", liveHeap()>>10, got)
	}

	// Quiet again: within a quiet check or two, Go's default is back.
	if got := within(3*QuietAfter, func(p int64) bool { return p == 100 }); got != 100 {
		t.Errorf("GOGC %v after the traffic stopped = %d, want 100", 3*QuietAfter, got)
	}

	// Once the live heap outgrows the headroom, bulk allocation no longer raises it.
	for range 80 {
		keep = append(keep, make([]byte, 1<<20))
	}
	runtime.GC()
	if got := churn(func(p int64) bool { return p != 100 }); got != 100 {
		t.Errorf("GOGC with %d MiB live and %d MiB headroom = %d, want 100", liveHeap()>>20, headroom>>20, got)
	}
	keep = nil

	stop()
	if got := gogc(); got != before {
		t.Errorf("GOGC after stop = %d, want the %d from before Start", got, before)
	}
	if got := churn(func(p int64) bool { return p != before }); got != before {
		t.Errorf("GOGC after stop and bulk allocation = %d, want %d: the tuner kept running", got, before)
	}
	stop() // a second stop is harmless
}

func TestStartLeavesOperatorSettings(t *testing.T) {
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Run(env, func(t *testing.T) {
			unsetenv(t, "GOGC", "GOMEMLIMIT")
			t.Setenv(env, "200")
			before := gogc()
			stop, tuned := Start(16 << 20)
			defer stop()
			if tuned {
				t.Fatalf("Start tuned although %s is set", env)
			}
			runtime.GC()
			runtime.GC()
			if got := gogc(); got != before {
				t.Errorf("GOGC = %d with %s set, want it left at %d", got, env, before)
			}
		})
	}
	unsetenv(t, "GOGC", "GOMEMLIMIT")
	if _, tuned := Start(0); tuned {
		t.Error("Start(0) tuned; headroom 0 must leave the collector alone")
	}
}

// unsetenv removes names for the rest of the test; t.Setenv first, so they
// are restored afterwards.
func unsetenv(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		old, _ := os.LookupEnv(n)
		t.Setenv(n, old)
		if err := os.Unsetenv(n); err != nil {
			t.Fatal(err)
		}
	}
}

func forcedGCs() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/forced:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func TestReleasesMemoryOnceTrafficStops(t *testing.T) {
	unsetenv(t, "GOGC", "GOMEMLIMIT")
	stop, _ := Start(64 << 20)
	t.Cleanup(stop)

	// No bulk traffic: nothing is forced.
	before := forcedGCs()
	time.Sleep(QuietAfter + QuietAfter/2)
	if got := forcedGCs(); got != before {
		t.Errorf("forced collections without traffic: got %d more, want 0", got-before)
	}

	if got := churn(func(p int64) bool { return p > 100 }); got <= 100 {
		t.Fatalf("GOGC during bulk allocation = %d, want > 100", got)
	}
	before = forcedGCs()
	deadline := time.Now().Add(3 * QuietAfter)
	for forcedGCs() == before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if forcedGCs() == before {
		t.Fatalf("no release within %v of the traffic stopping", 3*QuietAfter)
	}
	if got := eventually(func(p int64) bool { return p == 100 }); got != 100 {
		t.Errorf("GOGC after the release = %d, want 100", got)
	}
	// Let the release's second collection finish inside this test.
	for deadline := time.Now().Add(time.Second); forcedGCs() < before+2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := forcedGCs() - before; got != 2 {
		t.Errorf("forced collections in the release: got %d, want 2", got)
	}
}

// TestReleaseFreesPooledBuffers: one collection only moves what a
// sync.Pool holds to its victim cache; the release must free it, as the
// tunnels' copies leave their large buffers in pools.
func TestReleaseFreesPooledBuffers(t *testing.T) {
	var pool sync.Pool
	pooled := putBuffer(&pool, 128<<10)
	release()
	if pooled.Value() != nil {
		t.Error("a buffer left in a sync.Pool outlived the release")
	}
	runtime.KeepAlive(&pool)
}

// putBuffer puts a new buffer of size bytes into pool, which then holds
// the only reference to it, and returns a weak pointer to its bytes.
func putBuffer(pool *sync.Pool, size int) weak.Pointer[byte] {
	b := make([]byte, size)
	pool.Put(&b)
	return weak.Make(&b[0])
}

// TestKeepsHeadroomWhileTrafficContinues: once bulk traffic has raised
// GOGC, traffic that goes on below MinRate but above QuietRate keeps it
// and forces no release; flipping back and forth made a proxy at about
// MinRate fault its heap in again every second.
func TestKeepsHeadroomWhileTrafficContinues(t *testing.T) {
	unsetenv(t, "GOGC", "GOMEMLIMIT")
	stop, _ := Start(16 << 20)
	t.Cleanup(stop)
	if got := churn(func(p int64) bool { return p > 100 }); got <= 100 {
		t.Fatalf("GOGC during bulk allocation = %d, want > 100", got)
	}
	// 16 MiB/s for 3.5 quiet checks: a collection every second or so, and
	// three looks at the rate. The pieces keep up with the clock, so a
	// late wake-up on a loaded machine does not lower the rate.
	const perSecond = 16 << 20
	forced := forcedGCs()
	cycles := gcCycles()
	start := time.Now()
	for allocated := 0; time.Since(start) < 3*QuietAfter+QuietAfter/2; {
		for allocated < int(time.Since(start).Seconds()*perSecond) {
			sink = make([]byte, 32<<10)
			allocated += 32 << 10
		}
		time.Sleep(2 * time.Millisecond)
		if p := gogc(); p <= 100 {
			t.Fatalf("GOGC = %d while allocation went on at 16 MiB/s, want the headroom kept", p)
		}
	}
	sink = nil
	if got := forcedGCs() - forced; got != 0 {
		t.Errorf("%d forced collections (releases) while allocation went on at 16 MiB/s, want 0", got)
	}
	if gcCycles() == cycles {
		t.Error("no collection while allocation went on: the test checked nothing")
	}
	// Then it stops: Go's default and a release follow.
	if got := within(3*QuietAfter, func(p int64) bool { return p == 100 }); got != 100 {
		t.Errorf("GOGC %v after the traffic stopped = %d, want 100", 3*QuietAfter, got)
	}
	// The release follows the GOGC reset, outside the tuner's lock.
	for deadline := time.Now().Add(time.Second); forcedGCs() == forced && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if forcedGCs() == forced {
		t.Error("no release after the traffic stopped")
	}
}

func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

//go:noinline
func deepStack(n int, wait chan struct{}) byte {
	var pad [1024]byte
	pad[n%1024] = byte(n)
	if n == 0 {
		<-wait
		return pad[0]
	}
	return deepStack(n-1, wait) + pad[3]
}

// TestGoalCountsStacks: the runtime scales stacks and globals by GOGC
// too, so with many goroutines (a gateway with many tunnels) the heap goal
// must still stay within base + max(base, headroom), base being live heap,
// stacks and globals.
func TestGoalCountsStacks(t *testing.T) {
	unsetenv(t, "GOGC", "GOMEMLIMIT")
	wait := make(chan struct{})
	defer close(wait)
	for range 1000 {
		go deepStack(7, wait) // about 8 KiB of stack each
	}
	time.Sleep(100 * time.Millisecond)
	stop, _ := Start(Headroom)
	defer stop()
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}, {Name: "/gc/heap/live:bytes"},
		{Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}, {Name: "/gc/gogc:percent"}}
	checked := 0
	var worst int64
	var seen string
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		for range 256 {
			sink = make([]byte, 32<<10)
		}
		metrics.Read(s)
		goal, base := s[0].Value.Uint64(), s[1].Value.Uint64()+s[2].Value.Uint64()+s[3].Value.Uint64()
		if int(s[4].Value.Uint64()) != Percent(base, Headroom) {
			continue // the tuner runs just after a collection; this sample is from before it did
		}
		checked++
		// The promise: live + max(live, headroom), with stacks and globals
		// counted as live (at GOGC=100 the runtime adds them once more).
		if over := int64(goal) - int64(base+max(base, Headroom)); over > worst {
			worst = over
			seen = fmt.Sprintf("goal %d KiB, live+stacks+globals %d KiB", goal>>10, base>>10)
		}
	}
	sink = nil
	if checked == 0 {
		t.Fatal("never saw the tuner's setting in force")
	}
	if worst > 4<<20 { // slack: stacks and the live sample move between collections
		t.Errorf("heap goal %d KiB over base + max(base, headroom) (%s)", worst>>10, seen)
	}
}

// TestReadCountsStacks: what the tuner scales by is the live heap plus the
// goroutine stacks and globals, as the runtime's goal does.
func TestReadCountsStacks(t *testing.T) {
	wait := make(chan struct{})
	defer close(wait)
	for range 1000 {
		go deepStack(7, wait) // about 8 KiB of stack each
	}
	time.Sleep(100 * time.Millisecond)
	runtime.GC()
	tu := &tuner{sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}}
	base, _ := tu.read()
	if live := liveHeap(); base < live+4<<20 {
		t.Errorf("base %d KiB, live heap %d KiB: want the 1,000 goroutines' stacks (about 8 MiB) counted", base>>10, live>>10)
	}
}
