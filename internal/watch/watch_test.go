package watch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPollSeesEditsRenamesAndDeletes(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(f, []byte("a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	changed := make(chan struct{}, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Poll(ctx, 10*time.Millisecond, func() []string { return []string{f} }, func() { n.Add(1); changed <- struct{}{} })
	}()
	t.Cleanup(func() { cancel(); <-done })
	expect := func(what string) {
		t.Helper()
		select {
		case <-changed:
		case <-time.After(2 * time.Second):
			t.Fatalf("%s: no change noticed within 2s", what)
		}
	}
	time.Sleep(30 * time.Millisecond)
	if err := os.WriteFile(f, []byte("ab\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	expect("append")
	tmp := filepath.Join(dir, "tmp")
	if err := os.WriteFile(tmp, []byte("xy\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, f); err != nil {
		t.Fatal(err)
	}
	expect("atomic rename")
	if err := os.Remove(f); err != nil {
		t.Fatal(err)
	}
	expect("delete")
	time.Sleep(100 * time.Millisecond)
	select {
	case <-changed:
		t.Fatal("a change reported with nothing changed")
	default:
	}
	if got := n.Load(); got != 3 {
		t.Fatalf("changes: got %d, want 3", got)
	}
}

// TestPollWaitsForTheWriterToFinish: while a file keeps changing faster
// than the poll interval it is never reported; once it settles, it is
// reported once. The premise needs the writer to keep writing: a round
// in which the machine held it up for half an interval or more proves
// nothing, and is run again (at most three rounds).
func TestPollWaitsForTheWriterToFinish(t *testing.T) {
	const interval = 200 * time.Millisecond
	for round := 1; ; round++ {
		stalled, ok := pollChurn(t, interval)
		if ok {
			return
		}
		if round == 3 {
			t.Fatalf("the writer stalled for %v (half the %v interval or more) in each of 3 rounds", stalled, interval)
		}
		t.Logf("round %d: the writer stalled for %v; running again", round, stalled)
	}
}

// pollChurn is one round of TestPollWaitsForTheWriterToFinish. ok is
// false when the writer was held up for interval/2 or more, and stalled is
// then the longest gap between two of its writes.
func pollChurn(t *testing.T, interval time.Duration) (stalled time.Duration, ok bool) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "authorized_keys")
	if err := os.WriteFile(f, []byte("a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Poll(ctx, interval, func() []string { return []string{f} }, func() { n.Add(1) })
	}()
	defer func() { cancel(); <-done }()
	last := time.Now()
	for i := range 40 { // 40 writes, 15 ms apart: 600 ms of churn
		if err := os.WriteFile(f, []byte(strings.Repeat("x", i+2)), 0o600); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		stalled, last = max(stalled, now.Sub(last)), now
		time.Sleep(15 * time.Millisecond)
	}
	got := n.Load()
	if stalled >= interval/2 {
		return stalled, false
	}
	if got != 0 {
		t.Fatalf("changes reported while the file kept changing: got %d, want 0 (longest gap between writes %v)", got, stalled)
	}
	deadline := time.Now().Add(10 * interval)
	for n.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(3 * interval)
	if got := n.Load(); got != 1 {
		t.Fatalf("changes reported after the file settled: got %d, want 1", got)
	}
	return stalled, true
}

// TestPollTicksTooCloseDoNotSettle: a tick taken late and the next taken
// at once are two looks a moment apart, not a file that held still for
// an interval; only a look at least half an interval after the last may
// find the change settled.
func TestPollTicksTooCloseDoNotSettle(t *testing.T) {
	f := filepath.Join(t.TempDir(), "authorized_keys")
	if err := os.WriteFile(f, []byte("a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const interval = 100 * time.Millisecond
	t0 := time.Unix(1e9, 0)
	var clock atomic.Int64 // ns after t0
	looked := make(chan struct{}, 1)
	now := func() time.Time { // poll reads the clock once a snapshot is taken
		looked <- struct{}{}
		return t0.Add(time.Duration(clock.Load()))
	}
	ticks := make(chan time.Time) // unbuffered: a send returns once poll waits again, so the tick before it is done
	var n atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		poll(ctx, ticks, now, interval, func() []string { return []string{f} }, func() { n.Add(1) })
	}()
	defer func() { cancel(); <-done }()
	<-looked // the first snapshot
	tickAt := func(d time.Duration) {
		clock.Store(int64(d))
		ticks <- t0.Add(d)
		<-looked // this tick's snapshot taken and the clock read
	}
	if err := os.WriteFile(f, []byte("a\nb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tickAt(100 * time.Millisecond) // sees the change
	tickAt(101 * time.Millisecond) // the same, 1 ms later: too soon to call it settled
	tickAt(102 * time.Millisecond) // and again (its send also waits for the tick before)
	if got := n.Load(); got != 0 {
		t.Fatalf("changes reported from looks 1 ms apart: got %d, want 0", got)
	}
	tickAt(150 * time.Millisecond) // half an interval after the last look that counted
	tickAt(250 * time.Millisecond) // (its send also waits for the tick before)
	if got := n.Load(); got != 1 {
		t.Fatalf("changes reported once settled: got %d, want 1", got)
	}
}
