//go:build linux && (amd64 || arm64 || arm)

package sockio

import (
	"io"
	"runtime"
	"testing"
	"time"
)

// TestReadsAndWritesGoThroughTheRawCalls counts the callbacks: a Read or
// Write that fell back to the TCPConn's own would make none.
func TestReadsAndWritesGoThroughTheRawCalls(t *testing.T) {
	w, p := pair(t)
	c := w.(*Conn)
	var reads, writes int
	r, wr := c.r.fn, c.w.fn
	c.r.fn = func(fd uintptr) bool { reads++; return r(fd) }
	c.w.fn = func(fd uintptr) bool { writes++; return wr(fd) }
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(p, b); err != nil {
		t.Fatal(err)
	}
	p.Write([]byte("pong"))
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "pong" {
		t.Fatalf("read %q, %v", b, err)
	}
	if reads == 0 || writes == 0 {
		t.Errorf("callbacks: %d reads, %d writes; want both", reads, writes)
	}
}

// TestABlockingDescriptorStallsNothing: TCPConn.File's Fd puts the socket
// in blocking mode. A raw read(2) would then block holding its P, and the
// next garbage collection, which must stop every running goroutine, would
// wait for it for ever. recvfrom with MSG_DONTWAIT does not block.
func TestABlockingDescriptorStallsNothing(t *testing.T) {
	w, p := pair(t)
	f, err := w.(*Conn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Fd() // sets the shared file description blocking

	got := make(chan error, 1)
	go func() {
		b := make([]byte, 4)
		_, err := io.ReadFull(w, b)
		got <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the Read wait
	gc := make(chan struct{})
	go func() { runtime.GC(); close(gc) }()
	select {
	case <-gc:
	case <-time.After(10 * time.Second):
		t.Fatal("a collection did not finish while a Read waited on a blocking descriptor")
	}
	p.Write([]byte("late"))
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the Read did not see data written after it started waiting")
	}
	// A Write with no room waits in the poller instead of blocking.
	w.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := w.Write(make([]byte, 64<<20)); err == nil {
		t.Error("a 64 MiB Write nobody reads finished before its deadline")
	}
}
