package tunnel

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loopgate/loopgate/internal/sockio"
)

// goroutineLog is a writer that records which goroutine made each write,
// and keeps what was written.
type goroutineLog struct {
	mu   sync.Mutex
	ids  []string
	data bytes.Buffer
}

func (w *goroutineLog) Write(p []byte) (int, error) {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _, _ := bytes.Cut(buf, []byte(" ["))
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ids = append(w.ids, string(id))
	return w.data.Write(p)
}

// goroutines is how many different goroutines wrote, in order of first
// write.
func (w *goroutineLog) goroutines() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for i, id := range w.ids {
		if i == 0 || id != w.ids[i-1] {
			n++
		}
	}
	return n
}

// runPump runs a pump copying src to dst and returns where its byte count
// arrives when it ends.
func runPump(dst io.Writer, src io.Reader, limit int, splitTail bool) <-chan int64 {
	ended := make(chan int64, 1)
	p := &pump{copier: newCopier(dst, src, limit, splitTail)}
	p.end = func(n int64) { ended <- n }
	go p.loop()
	return ended
}

func waitEnd(t *testing.T, ended <-chan int64) int64 {
	t.Helper()
	select {
	case n := <-ended:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("the pump did not end")
		return 0
	}
}

// TestPumpHandsASocketCopyOverAfterAQuietSpell: copying from a socket
// that can wait without a buffer, a pump that has moved data hands the
// copy to a fresh goroutine once handOverAfter has passed; every byte
// arrives in order, and the end reports them all.
func TestPumpHandsASocketCopyOverAfterAQuietSpell(t *testing.T) {
	defer func(d time.Duration) { handOverAfter = d }(handOverAfter)
	handOverAfter = 50 * time.Millisecond
	c, peer := tcpPair(t)
	src := sockio.Wrap(c)
	if _, ok := src.(readWaiter); !ok {
		if sockio.Raw {
			t.Fatal("sockio.Wrap gave no WaitRead where it has raw reads, " + runtime.GOOS + "/" + runtime.GOARCH)
		}
		t.Skip("sockio has no raw reads here, so a socket copy never hands over")
	}
	var dst goroutineLog
	ended := runPump(&dst, src, maxChannelData, true)
	want := []byte("first")
	peer.Write([]byte("first"))
	time.Sleep(200 * time.Millisecond) // the deadline passes while the pump waits
	peer.Write([]byte("second"))
	want = append(want, "second"...)
	peer.CloseWrite()
	if n := waitEnd(t, ended); n != int64(len(want)) || !bytes.Equal(dst.data.Bytes(), want) {
		t.Fatalf("copied %d bytes %q, want %q", n, dst.data.Bytes(), want)
	}
	if g := dst.goroutines(); g != 2 {
		t.Errorf("writes came from %d goroutines in turn, want 2 (a hand-over between the two)", g)
	}
}

// TestPumpHandOverLosesNothing: deadlines passing while data streams in
// (a read deadline can fail a Read that had data waiting) lose and
// reorder nothing.
func TestPumpHandOverLosesNothing(t *testing.T) {
	defer func(d time.Duration) { handOverAfter = d }(handOverAfter)
	handOverAfter = time.Millisecond
	c, peer := tcpPair(t)
	data := make([]byte, 8<<20)
	rand.Read(data)
	go func() {
		for rest := data; len(rest) > 0; {
			k := min(len(rest), 1+len(rest)%50000)
			peer.Write(rest[:k])
			rest = rest[k:]
			if len(rest)%7 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		peer.CloseWrite()
	}()
	var dst goroutineLog
	n := waitEnd(t, runPump(&dst, sockio.Wrap(c), maxChannelData, true))
	if n != int64(len(data)) || !bytes.Equal(dst.data.Bytes(), data) {
		t.Fatalf("copied %d bytes, equal %v; want %d intact", n, bytes.Equal(dst.data.Bytes(), data), len(data))
	}
	if g := dst.goroutines(); sockio.Raw && g < 2 {
		t.Fatalf("%d goroutine(s) wrote: no hand-over happened, so none was tested", g)
	}
	t.Logf("%d goroutines took turns", dst.goroutines())
}

// failAfterFirst is a destination whose writes fail after the first.
type failAfterFirst struct{ n int }

func (w *failAfterFirst) Write(p []byte) (int, error) {
	if w.n++; w.n > 1 {
		return 0, errors.New("broken")
	}
	return len(p), nil
}

// TestPumpEndsWithNoDeadlineLeft: a pump that armed its hand-over deadline
// and then ended (here on a write error) clears it, so the socket reads
// normally afterwards.
func TestPumpEndsWithNoDeadlineLeft(t *testing.T) {
	defer func(d time.Duration) { handOverAfter = d }(handOverAfter)
	handOverAfter = 50 * time.Millisecond
	c, peer := tcpPair(t)
	src := sockio.Wrap(c)
	if !sockio.Raw {
		t.Skip("sockio has no raw reads here, so no hand-over deadline is set")
	}
	ended := runPump(&failAfterFirst{}, src, maxChannelData, true)
	peer.Write([]byte("one")) // moved: the deadline is armed
	time.Sleep(10 * time.Millisecond)
	peer.Write([]byte("two")) // its write fails: the pump ends
	waitEnd(t, ended)
	time.Sleep(2 * handOverAfter) // past the deadline, were it still set
	peer.Write([]byte("three"))
	got := make(chan error, 1)
	go func() { // no deadline of our own: it would replace the one tested for
		n, err := src.Read(make([]byte, 16))
		if err == nil && n == 0 {
			err = errors.New("0 bytes")
		}
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("read after the pump ended: %v; want data", err)
		}
	case <-time.After(5 * time.Second):
		c.Close()
		t.Fatal("read after the pump ended: no data in 5 s")
	}
}

// TestPumpHandsAChannelCopyOverAfterEnoughData: copying from a source
// with no WaitRead (an SSH channel), the pump hands over when it goes
// back to the small buffer having moved handOverBytes or more, and not
// before.
func TestPumpHandsAChannelCopyOverAfterEnoughData(t *testing.T) {
	r := &recordingReader{sizes: []int{100, smallBuf, largeBuf, 100, 10, smallBuf, largeBuf, 100, 10}}
	var dst goroutineLog
	waitEnd(t, runPump(&dst, r, channelReadBuf, false))
	// Reads 0-3 go up to the wide buffer and back to the small one with
	// 35,016 bytes moved: no hand-over. Reads 4-7 take it past 64 KiB and
	// back to the small buffer, so the last read's write is a fresh
	// goroutine's.
	dst.mu.Lock()
	defer dst.mu.Unlock()
	if len(dst.ids) != 9 {
		t.Fatalf("%d writes, want 9", len(dst.ids))
	}
	for i := 1; i < 9; i++ {
		if same, want := dst.ids[i] == dst.ids[i-1], i != 8; same != want {
			t.Errorf("write %d on the goroutine of write %d: %v, want %v", i, i-1, same, want)
		}
	}
}

// panicWriter is a connection whose writes panic.
type panicWriter struct{ *net.TCPConn }

func (panicWriter) Write([]byte) (int, error) { panic("boom") }

// recoverGuard recovers a pump's panic and counts it.
type recoverGuard struct{ n atomic.Int32 }

func (g *recoverGuard) protect(string) {
	if recover() != nil {
		g.n.Add(1)
	}
}

// TestSplicePanicStillEnds: a panic in one direction is recovered by the
// guard, and done is still called once both directions are over, after
// the guard has run.
func TestSplicePanicStillEnds(t *testing.T) {
	chLocal, chPeer := tcpPair(t)
	upLocal, upPeer := tcpPair(t)
	var g recoverGuard
	done := make(chan int32, 2)
	splice(chLocal, panicWriter{upLocal}, &g, func(in, out int64) { done <- g.n.Load() })
	// The direction toward the channel ends first, so that the one that
	// panics is the last to end and calls done.
	upPeer.Write([]byte("to the channel"))
	upPeer.CloseWrite()
	chPeer.SetReadDeadline(time.Now().Add(10 * time.Second))
	if got, err := io.ReadAll(chPeer); err != nil || string(got) != "to the channel" {
		t.Fatalf("read %q, %v; want the answer, then EOF", got, err)
	}
	chPeer.Write([]byte("to the service")) // its copy panics writing this
	select {
	case n := <-done:
		if n != 1 { // a gateway logs the panic and closes the connection before the tunnel's end
			t.Errorf("done called after the guard recovered %d panics, want 1", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("done not called after a panic")
	}
	if n := g.n.Load(); n != 1 {
		t.Errorf("guard recovered %d panics, want 1", n)
	}
	select {
	case <-done:
		t.Error("done called twice")
	case <-time.After(50 * time.Millisecond):
	}
}

// pacedReader is a recordingReader that sleeps pause before the read
// numbered slow.
type pacedReader struct {
	recordingReader
	slow  int
	pause time.Duration
}

func (r *pacedReader) Read(p []byte) (int, error) {
	if len(r.offered) == r.slow {
		time.Sleep(r.pause)
	}
	return r.recordingReader.Read(p)
}

// TestPumpHandsAChannelCopyOverAfterAWhile: copying from a source with no
// WaitRead, a pump that has moved a few bytes hands over when it goes back
// to waiting handOverAfter or more after it took over, and not before.
func TestPumpHandsAChannelCopyOverAfterAWhile(t *testing.T) {
	defer func(d time.Duration) { handOverAfter = d }(handOverAfter)
	handOverAfter = 30 * time.Millisecond
	r := &pacedReader{recordingReader: recordingReader{sizes: []int{10, 10, 10}}, slow: 1, pause: 60 * time.Millisecond}
	var dst goroutineLog
	waitEnd(t, runPump(&dst, r, channelReadBuf, false))
	dst.mu.Lock()
	defer dst.mu.Unlock()
	if len(dst.ids) != 3 || dst.ids[0] != dst.ids[1] || dst.ids[1] == dst.ids[2] {
		t.Errorf("writers %v: want the first two on one goroutine (under %s since it started), the third on another", dst.ids, handOverAfter)
	}
}

// loggedChannel stands for an SSH channel: a TCP connection whose writes
// are also logged by goroutine.
type loggedChannel struct {
	*net.TCPConn
	log goroutineLog
}

func (c *loggedChannel) Write(p []byte) (int, error) {
	c.log.Write(p)
	return c.TCPConn.Write(p)
}

// TestSpliceHandsItsSocketSideOver: through splice itself, with the
// service socket wrapped as the gateway and the forward wrap theirs, a
// tunnel quiet for longer than handOverAfter carries its next bytes into
// the channel on another goroutine, and ends as usual.
func TestSpliceHandsItsSocketSideOver(t *testing.T) {
	defer func(d time.Duration) { handOverAfter = d }(handOverAfter)
	handOverAfter = 50 * time.Millisecond
	chLocal, chPeer := tcpPair(t)
	upLocal, upPeer := tcpPair(t)
	up := sockio.Wrap(upLocal)
	if _, ok := up.(readWaiter); !ok {
		t.Skip("sockio has no raw reads here, so a socket copy never hands over")
	}
	ch := &loggedChannel{TCPConn: chLocal}
	done := make(chan [2]int64, 1)
	splice(ch, up.(halfCloser), nil, func(in, out int64) { done <- [2]int64{in, out} })
	upPeer.Write([]byte("before"))
	time.Sleep(200 * time.Millisecond)
	upPeer.Write([]byte("after"))
	upPeer.CloseWrite()
	chPeer.CloseWrite()
	chPeer.SetReadDeadline(time.Now().Add(10 * time.Second))
	if got, err := io.ReadAll(chPeer); err != nil || string(got) != "beforeafter" {
		t.Fatalf("channel side got %q, %v; want beforeafter then EOF", got, err)
	}
	select {
	case got := <-done:
		if got != [2]int64{0, int64(len("beforeafter"))} {
			t.Errorf("done(%d, %d), want (0, %d)", got[0], got[1], len("beforeafter"))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("done not called")
	}
	if g := ch.log.goroutines(); g != 2 {
		t.Errorf("writes into the channel came from %d goroutines in turn, want 2", g)
	}
}
