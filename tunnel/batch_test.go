package tunnel

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// heldConn records the writes batchConn makes and can hold each one until
// the test lets it go.
type heldConn struct {
	net.Conn // nil: only the methods below are called

	entered chan int      // receives each write's length as it starts
	release chan struct{} // if held, each write waits for a receive here
	held    atomic.Bool
	fail    error // set before the connection is used
	noDL    bool  // deadlines fail, as on an SSH channel

	mu        sync.Mutex
	writes    [][]byte
	closed    bool
	closes    int
	rdl       time.Time
	rdlSet    chan struct{} // a read deadline was set
	closeSeen chan struct{}
}

func newHeldConn(held bool) *heldConn {
	h := &heldConn{entered: make(chan int, 64), release: make(chan struct{}),
		rdlSet: make(chan struct{}, 8), closeSeen: make(chan struct{})}
	h.held.Store(held)
	return h
}

func (h *heldConn) Write(p []byte) (int, error) {
	h.entered <- len(p)
	if h.held.Load() {
		select {
		case <-h.release:
		case <-h.closeSeen:
			return 0, net.ErrClosed
		}
	}
	if h.fail != nil {
		return 0, h.fail
	}
	h.mu.Lock()
	h.writes = append(h.writes, bytes.Clone(p))
	h.mu.Unlock()
	return len(p), nil
}

func (h *heldConn) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closes++
	if h.closed {
		return net.ErrClosed
	}
	h.closed = true
	close(h.closeSeen)
	return nil
}

func (h *heldConn) SetReadDeadline(t time.Time) error {
	if h.noDL {
		return errors.New("deadline not supported")
	}
	h.mu.Lock()
	h.rdl = t
	h.mu.Unlock()
	select {
	case h.rdlSet <- struct{}{}:
	default:
	}
	return nil
}

func (h *heldConn) SetDeadline(t time.Time) error { return h.SetReadDeadline(t) }

// Read waits for a read deadline in the past, as a blocked read would.
func (h *heldConn) Read(p []byte) (int, error) {
	for {
		h.mu.Lock()
		rdl := h.rdl
		h.mu.Unlock()
		if !rdl.IsZero() && rdl.Before(time.Now()) {
			return 0, os.ErrDeadlineExceeded
		}
		select {
		case <-h.rdlSet:
		case <-time.After(5 * time.Second):
			return 0, errors.New("read never ended")
		}
	}
}

func (h *heldConn) isClosed() (closed bool, closes int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed, h.closes
}

// let releases the held write, failing if the connection closed first.
func (h *heldConn) let(t *testing.T) {
	t.Helper()
	select {
	case h.release <- struct{}{}:
	case <-h.closeSeen:
		t.Fatal("the connection closed while a write was held")
	case <-time.After(5 * time.Second):
		t.Fatal("no write was waiting to be released")
	}
}

// waitClosed fails with why unless the connection is closed within 5 s.
func (h *heldConn) waitClosed(t *testing.T, why string) {
	t.Helper()
	select {
	case <-h.closeSeen:
	case <-time.After(5 * time.Second):
		t.Fatal(why)
	}
}

func (h *heldConn) recorded() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, w := range h.writes {
		out = append(out, string(w))
	}
	return out
}

func waitEntered(t *testing.T, h *heldConn) int {
	t.Helper()
	select {
	case n := <-h.entered:
		return n
	case <-time.After(5 * time.Second):
		t.Fatal("no write reached the connection")
		return 0
	}
}

// writeReturns runs Write in a goroutine and reports whether it returned
// within d.
func writeReturns(c *batchConn, p []byte, d time.Duration) (returned bool, done <-chan error) {
	ch := make(chan error, 1)
	go func() {
		_, err := c.Write(p)
		ch <- err
	}()
	select {
	case err := <-ch:
		ch <- err
		return true, ch
	case <-time.After(d):
		return false, ch
	}
}

func TestBatchConnWritesDirectlyAtFirst(t *testing.T) {
	h := newHeldConn(true)
	c := newBatchConn(h)
	done := mustWriteDirectly(t, c, h, "version") // the handshake's packets go directly
	// A Write that comes meanwhile queues, and goes out after.
	if returned, _ := writeReturns(c, []byte("kexinit"), 2*time.Second); !returned {
		t.Fatal("a Write behind a direct Write waited; it should queue")
	}
	h.release <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitEntered(t, h)
	h.release <- struct{}{}
	waitFlushed(t, c)
	if got := h.recorded(); len(got) != 2 || got[0] != "version" || got[1] != "kexinit" {
		t.Fatalf("writes %q, want [version kexinit]", got)
	}
}

func TestBatchConnGathersPacketsBehindAWrite(t *testing.T) {
	h := newHeldConn(true)
	c := newBatchConn(h)
	c.direct = 0
	for _, p := range []string{"a1", "b22", "c333", "d4444"} {
		if returned, _ := writeReturns(c, []byte(p), 2*time.Second); !returned {
			t.Fatalf("Write(%q) waited for the connection; it should queue", p)
		}
		if p == "a1" {
			waitEntered(t, h) // the flusher holds "a1" in its write
		}
	}
	h.release <- struct{}{}
	if n := waitEntered(t, h); n != len("b22c333d4444") {
		t.Fatalf("second write was %d bytes, want the three queued packets in one (%d)", n, len("b22c333d4444"))
	}
	h.release <- struct{}{}
	waitFlushed(t, c)
	want := []string{"a1", "b22c333d4444"}
	if got := h.recorded(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("writes %q, want %q", got, want)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending != nil {
		t.Fatalf("an idle connection still holds a %d-byte buffer", cap(*c.pending))
	}
}

// mustWriteDirectly starts Write(p) on a connection whose writes h holds,
// and fails unless the Write waits for h (it writes directly) and used one
// of directMin direct Writes. done reports the Write's end.
func mustWriteDirectly(t *testing.T, c *batchConn, h *heldConn, p string) (done <-chan error) {
	t.Helper()
	returned, done := writeReturns(c, []byte(p), 100*time.Millisecond)
	if returned {
		t.Fatalf("Write(%q) returned before its bytes reached the connection; it should write directly", p)
	}
	waitEntered(t, h)
	if direct, queued := directState(c); direct != directMin-1 || queued {
		t.Fatalf("direct Writes left %d, queued bytes %v: Write(%q) should be a direct one", direct, queued, p)
	}
	return done
}

// batchToReader returns a batchConn over a loopback TCP connection whose
// far end read consumes; got reports read's result. The connection is
// closed at cleanup, before tcpServer waits for read, so a test that fails
// before its own Close ends instead of waiting for read forever.
func batchToReader(t *testing.T, read func(net.Conn) error) (c *batchConn, got <-chan error) {
	t.Helper()
	done := make(chan error, 1)
	addr, _ := tcpServer(t, func(s net.Conn) { done <- read(s) })
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return newBatchConn(raw), done
}

// waitWriters waits for the writing goroutines, failing if a Write never
// returns (bytes stuck in a queue no flusher drains).
func waitWriters(t *testing.T, wg *sync.WaitGroup) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("writers still blocked in Write after 30 s")
	}
}

func writeCounts(c *batchConn) (direct, queued int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts.direct, c.counts.queued
}

func directState(c *batchConn) (direct int, queued bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.direct, c.pending != nil
}

func waitFlushed(t testing.TB, c *batchConn) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		busy := c.flushing
		c.mu.Unlock()
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the flusher did not finish")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBatchConnBoundsWhatWaits(t *testing.T) {
	h := newHeldConn(true)
	c := newBatchConn(h)
	c.direct = 0
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	waitEntered(t, h)
	chunk := make([]byte, 32<<10)
	for range batchMax / len(chunk) {
		if returned, _ := writeReturns(c, chunk, 2*time.Second); !returned {
			t.Fatal("a Write within batchMax waited")
		}
	}
	returned, done := writeReturns(c, chunk, 100*time.Millisecond)
	if returned {
		t.Fatalf("a Write beyond batchMax (%d bytes waiting) did not wait", batchMax)
	}
	h.release <- struct{}{} // "x" done; the flusher takes the 256 KiB
	if n := waitEntered(t, h); n != batchMax {
		t.Fatalf("the flusher wrote %d bytes, want %d", n, batchMax)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	h.release <- struct{}{}
	waitEntered(t, h)
	h.release <- struct{}{}
	waitFlushed(t, c)
}

func TestBatchConnFailedWriteClosesAndSticks(t *testing.T) {
	h := newHeldConn(false)
	h.fail = errors.New("connection reset by peer")
	c := newBatchConn(h)
	c.direct = 0
	if _, err := c.Write([]byte("lost")); err != nil {
		t.Fatalf("a queued Write failed before its write: %v", err)
	}
	h.waitClosed(t, "a failed write did not close the connection")
	waitFlushed(t, c)
	if _, err := c.Write([]byte("more")); err == nil || err.Error() != "connection reset by peer" {
		t.Fatalf("Write after a failed write: %v, want the write's error", err)
	}

	// A direct Write returns its own error, and closes too.
	h2 := newHeldConn(false)
	h2.fail = errors.New("broken pipe")
	c2 := newBatchConn(h2)
	if _, err := c2.Write([]byte("x")); err == nil || err.Error() != "broken pipe" {
		t.Fatalf("direct Write: %v, want broken pipe", err)
	}
	select {
	case <-h2.closeSeen:
	default:
		t.Fatal("a failed direct write did not close the connection")
	}
}

func TestBatchConnCloseLetsPendingBytesOut(t *testing.T) {
	h := newHeldConn(true)
	c := newBatchConn(h)
	c.direct = 0
	c.graceFor = time.Minute // the test releases the writes itself
	c.Write([]byte("first"))
	waitEntered(t, h)
	c.Write([]byte("last"))

	readErr := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		readErr <- err
	}()
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close waited for the held write")
	}
	select {
	case err := <-readErr:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("a read ended by Close returned %v, want net.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not end a blocked read")
	}
	if err := c.SetDeadline(time.Time{}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("SetDeadline after Close: %v, want net.ErrClosed (it must not clear Close's deadline)", err)
	}
	if _, err := c.Write([]byte("after")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v, want net.ErrClosed", err)
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v, want net.ErrClosed", err)
	}
	if closed, _ := h.isClosed(); closed {
		t.Fatal("closed before the pending bytes were written")
	}
	h.let(t)
	waitEntered(t, h)
	h.let(t)
	h.waitClosed(t, "not closed after the pending bytes were written")
	if got := h.recorded(); len(got) != 2 || got[0] != "first" || got[1] != "last" {
		t.Fatalf("writes %q, want [first last]", got)
	}
	waitFlushed(t, c)
	if _, n := h.isClosed(); n != 1 {
		t.Fatalf("the connection was closed %d times, want once", n)
	}

	// Closing a quiet connection closes it at once.
	h2 := newHeldConn(false)
	c2 := newBatchConn(h2)
	if err := c2.Close(); err != nil {
		t.Fatal(err)
	}
	if closed, _ := h2.isClosed(); !closed {
		t.Fatal("Close of a quiet connection did not close it")
	}
}

// A peer that stops reading gets closeGrace, then the connection closes.
func TestBatchConnCloseGivesUpAfterGrace(t *testing.T) {
	h := newHeldConn(true)
	c := newBatchConn(h)
	c.direct = 0
	c.Write([]byte("stuck"))
	waitEntered(t, h)
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.closeSeen:
		if d := time.Since(start); d < closeGrace/2 {
			t.Fatalf("closed after %v, before the grace of %v", d, closeGrace)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a write that never finishes kept the connection open")
	}
	waitFlushed(t, c)
}

// Close during a direct Write closes once that write is done.
func TestBatchConnCloseDuringDirectWrite(t *testing.T) {
	h := newHeldConn(true)
	c := newBatchConn(h)
	c.graceFor = time.Minute
	returned, done := writeReturns(c, []byte("direct"), 100*time.Millisecond)
	if returned {
		t.Fatal("the first Write did not write directly")
	}
	waitEntered(t, h)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if closed, _ := h.isClosed(); closed {
		t.Fatal("Close closed under a direct write in progress")
	}
	h.let(t)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	h.waitClosed(t, "not closed after the direct write finished")
}

// A connection whose reads cannot be ended early (an SSH channel under
// ProxyJump has no deadlines) closes at once.
func TestBatchConnCloseWithoutDeadlines(t *testing.T) {
	h := newHeldConn(true)
	h.noDL = true
	c := newBatchConn(h)
	c.direct = 0
	c.Write([]byte("x"))
	waitEntered(t, h)
	c.Close()
	if closed, _ := h.isClosed(); !closed {
		t.Fatal("Close without deadlines left the connection open")
	}
	waitFlushed(t, c)
}

// A Write waiting for room ends with Close or with a failed write.
func TestBatchConnWaitingWriteEnds(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(*heldConn, *batchConn)
		want error
	}{
		{"close", func(h *heldConn, c *batchConn) { c.Close() }, net.ErrClosed},
		{"write error", func(h *heldConn, c *batchConn) { h.release <- struct{}{} }, errReset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHeldConn(true)
			h.fail = errReset
			c := newBatchConn(h)
			c.direct = 0
			c.Write(make([]byte, 1))
			waitEntered(t, h)
			c.Write(make([]byte, batchMax))
			returned, done := writeReturns(c, make([]byte, 1), 100*time.Millisecond)
			if returned {
				t.Fatal("a Write past batchMax did not wait")
			}
			tc.end(h, c)
			select {
			case err := <-done:
				if !errors.Is(err, tc.want) {
					t.Fatalf("the waiting Write returned %v, want %v", err, tc.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the waiting Write never returned")
			}
			h.waitClosed(t, "the connection was not closed")
			waitFlushed(t, c)
		})
	}
}

var errReset = errors.New("connection reset by peer")

func TestBatchConnTakesAnOversizedWriteWhole(t *testing.T) {
	h := newHeldConn(false)
	c := newBatchConn(h)
	c.direct = 0
	big := make([]byte, batchMax+5000)
	if returned, _ := writeReturns(c, big, 2*time.Second); !returned {
		t.Fatal("a Write larger than batchMax to an empty queue waited")
	}
	if n := waitEntered(t, h); n != len(big) {
		t.Fatalf("wrote %d bytes, want %d", n, len(big))
	}
	waitFlushed(t, c)
}

// Lone packets switch a connection to writing directly for a while, and
// the while doubles as long as queueing finds packets alone.
func TestBatchConnWritesLonePacketsDirectly(t *testing.T) {
	h := newHeldConn(false)
	c := newBatchConn(h)
	c.direct = 0
	lone := func() {
		t.Helper()
		for range loneFlushes {
			if _, err := c.Write([]byte("p")); err != nil {
				t.Fatal(err)
			}
			waitEntered(t, h)
			waitFlushed(t, c)
		}
	}
	lone()
	c.mu.Lock()
	direct, backoff := c.direct, c.backoff
	c.mu.Unlock()
	if direct != directMin || backoff != 2*directMin {
		t.Fatalf("after %d lone flushes: %d direct Writes, next %d; want %d and %d", loneFlushes, direct, backoff, directMin, 2*directMin)
	}
	h.held.Store(true)
	done := mustWriteDirectly(t, c, h, "q") // after lone flushes
	h.release <- struct{}{}
	<-done
	h.held.Store(false)
	c.mu.Lock()
	c.direct = 0
	c.mu.Unlock()
	lone()
	c.mu.Lock()
	direct, backoff = c.direct, c.backoff
	c.mu.Unlock()
	if direct != 2*directMin || backoff != 4*directMin {
		t.Fatalf("after a second run of lone flushes: %d direct, next %d; want %d and %d", direct, backoff, 2*directMin, 4*directMin)
	}

	// Packets that gather reset the backoff.
	h.held.Store(true)
	c.mu.Lock()
	c.direct = 0
	c.mu.Unlock()
	c.Write([]byte("a"))
	waitEntered(t, h)
	c.Write([]byte("b"))
	c.Write([]byte("c"))
	h.release <- struct{}{}
	waitEntered(t, h)
	h.release <- struct{}{}
	waitFlushed(t, c)
	c.mu.Lock()
	backoff = c.backoff
	c.mu.Unlock()
	if backoff != directMin {
		t.Fatalf("backoff %d after packets gathered, want %d", backoff, directMin)
	}
}

// Many writers through a real TCP connection: every byte arrives, in the
// order the writers' lock gave them (x/crypto serializes packet writes).
func TestBatchConnKeepsEveryByteInOrder(t *testing.T) {
	type result struct {
		sum [32]byte
		n   int64
	}
	var r result
	c, got := batchToReader(t, func(s net.Conn) error {
		h := sha256.New()
		n, err := io.Copy(h, s)
		copy(r.sum[:], h.Sum(nil))
		r.n = n
		return err
	})
	var order sync.Mutex
	want := sha256.New()
	var total int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 40000)
			for i := range 300 {
				n := 1 + (i*7919+w*104729)%len(buf)
				for j := range buf[:n] {
					buf[j] = byte(w + i + j)
				}
				order.Lock()
				if _, err := c.Write(buf[:n]); err != nil {
					order.Unlock()
					t.Error(err)
					return
				}
				want.Write(buf[:n])
				total += int64(n)
				order.Unlock()
				if i%50 == 0 {
					time.Sleep(time.Millisecond) // quiet spells, so both ways of writing are used
				}
			}
		}()
	}
	waitWriters(t, &wg)
	if d, q := writeCounts(c); d == 0 || q == 0 {
		t.Fatalf("%d direct and %d queued Writes: the test should use both ways", d, q)
	}
	waitFlushed(t, c)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if r.n != total || !bytes.Equal(r.sum[:], want.Sum(nil)) {
		t.Fatalf("received %d bytes (sum %x), want %d (sum %x)", r.n, r.sum[:4], total, want.Sum(nil)[:4])
	}
}

// Writers without a common lock: each Write is a whole record, and every
// writer's records arrive complete and in its order, whichever way
// (direct, queued, or queued behind a direct Write) each went.
func TestBatchConnConcurrentWritesStayWhole(t *testing.T) {
	t.Run("adaptive", func(t *testing.T) { concurrentWrites(t, 0) })
	// Mostly direct, so that Writes queue behind direct ones.
	t.Run("direct", func(t *testing.T) { concurrentWrites(t, 1<<20) })
}

func concurrentWrites(t *testing.T, direct int) {
	const writers, records = 8, 400
	c, got := batchToReader(t, func(s net.Conn) error {
		next := make([]uint32, writers)
		hdr := make([]byte, 7)
		body := make([]byte, 1<<16)
		for range writers * records {
			if _, err := io.ReadFull(s, hdr); err != nil {
				return fmt.Errorf("record header: %w", err)
			}
			w, seq, n := int(hdr[0]), binary.BigEndian.Uint32(hdr[1:5]), int(binary.BigEndian.Uint16(hdr[5:7]))
			if w >= writers || seq != next[w] {
				return fmt.Errorf("writer %d record %d arrived, want record %d", w, seq, next[w%writers])
			}
			next[w]++
			if _, err := io.ReadFull(s, body[:n]); err != nil {
				return fmt.Errorf("record body: %w", err)
			}
			for j, b := range body[:n] {
				if b != byte(w+int(seq)+j) {
					return fmt.Errorf("writer %d record %d byte %d is %d", w, seq, j, b)
				}
			}
		}
		return nil
	})
	if direct > 0 {
		c.direct, c.backoff = direct, direct
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := make([]byte, 7+40000)
			for i := range records {
				n := 1 + (i*7919+w*104729)%40000
				rec[0] = byte(w)
				binary.BigEndian.PutUint32(rec[1:5], uint32(i))
				binary.BigEndian.PutUint16(rec[5:7], uint16(n))
				for j := range n {
					rec[7+j] = byte(w + i + j)
				}
				if _, err := c.Write(rec[:7+n]); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	waitWriters(t, &wg)
	if d, q := writeCounts(c); d == 0 || q == 0 {
		t.Fatalf("%d direct and %d queued Writes: the test should use both ways", d, q)
	}
	waitFlushed(t, c)
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("records went missing: the reader is still waiting")
	}
	c.Close()
}
