//go:build linux && (amd64 || arm64 || arm)

package sockio

import (
	"errors"
	"io"
	"net"
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

// waitRead starts c.WaitRead and returns where its result arrives.
func waitRead(c *Conn) <-chan error {
	got := make(chan error, 1)
	go func() { got <- c.WaitRead() }()
	return got
}

// notYet fails if got has a result within 50 ms: WaitRead should wait.
func notYet(t *testing.T, got <-chan error) {
	t.Helper()
	select {
	case err := <-got:
		t.Fatalf("WaitRead returned %v with nothing to read", err)
	case <-time.After(50 * time.Millisecond):
	}
}

func result(t *testing.T, got <-chan error) error {
	t.Helper()
	select {
	case err := <-got:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("WaitRead did not return")
		return nil
	}
}

// TestWaitReadWaitsForDataAndConsumesNothing: WaitRead returns when data
// arrives, or at once when it is already there, and the Read after it
// gets every byte.
func TestWaitReadWaitsForDataAndConsumesNothing(t *testing.T) {
	w, p := pair(t)
	c := w.(*Conn)
	got := waitRead(c)
	notYet(t, got)
	p.Write([]byte("hello"))
	if err := result(t, got); err != nil {
		t.Fatalf("WaitRead after data arrived: %v", err)
	}
	if err := c.WaitRead(); err != nil { // data already waiting: no wait
		t.Fatalf("WaitRead with data waiting: %v", err)
	}
	b := make([]byte, 5)
	c.SetReadDeadline(time.Now().Add(5 * time.Second)) // a wait that consumed bytes would leave this short
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "hello" {
		t.Fatalf("Read after WaitRead: %q, %v; want all of hello", b, err)
	}
	c.SetReadDeadline(time.Time{})
	notYet(t, waitRead(c)) // and once read, there is nothing to return for
}

// TestWaitReadEndsAtEOFDeadlineAndClose: the peer's FIN ends a wait (and
// the Read after it gives io.EOF), and so do a read deadline and Close,
// with the errors a Read would give.
func TestWaitReadEndsAtEOFDeadlineAndClose(t *testing.T) {
	w, p := pair(t)
	c := w.(*Conn)
	got := waitRead(c)
	notYet(t, got)
	p.CloseWrite()
	if err := result(t, got); err != nil {
		t.Fatalf("WaitRead at the peer's FIN: %v", err)
	}
	if n, err := c.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("Read after it: %d, %v; want io.EOF", n, err)
	}

	w, _ = pair(t)
	c = w.(*Conn)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	checkTimeout(t, "read", result(t, waitRead(c)))
	c.SetReadDeadline(time.Time{})
	got = waitRead(c)
	notYet(t, got)
	c.Close()
	if err := result(t, got); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WaitRead ended by Close: %v, want net.ErrClosed", err)
	}
}

// TestWaitReadAllocatesNothing: waiting needs no buffer of the caller's,
// and makes none.
func TestWaitReadAllocatesNothing(t *testing.T) {
	w, p := pair(t)
	c := w.(*Conn)
	out, in := []byte("ping"), make([]byte, 4)
	allocs := testing.AllocsPerRun(100, func() {
		p.Write(out)
		if err := c.WaitRead(); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, in); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per wait and read, want 0", allocs)
	}
}
