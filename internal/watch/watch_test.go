package watch

import (
	"context"
	"os"
	"path/filepath"
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
