package tunnel

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

// copyAdaptive runs a copier (no splitTail) to the end on the calling
// goroutine: where a pump would hand the copy over, it goes on itself.
func copyAdaptive(dst io.Writer, src io.Reader, limit int) (int64, error) {
	return copyTiered(dst, src, limit, false)
}

// copyIntoChannel is copyAdaptive as into an SSH channel: reads of at most
// maxChannelData, a drained tail split.
func copyIntoChannel(ch io.Writer, src io.Reader) (int64, error) {
	return copyTiered(ch, src, maxChannelData, true)
}

func copyTiered(dst io.Writer, src io.Reader, limit int, splitTail bool) (int64, error) {
	c := newCopier(dst, src, limit, splitTail)
	defer c.setTier(0)
	for {
		over, err := c.run()
		if !over {
			return c.written, err
		}
		c.handOver()
	}
}

// chunkReader returns data in reads of the given sizes, cycling.
type chunkReader struct {
	data  []byte
	sizes []int
	i     int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.sizes[r.i%len(r.sizes)], len(r.data))
	r.i++
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

func TestCopyAdaptiveKeepsEveryByte(t *testing.T) {
	data := make([]byte, 3<<20)
	rand.Read(data)
	tests := []struct {
		name  string
		sizes []int
		limit int
	}{
		{"bulk", []int{1 << 20}, largeBuf},
		{"bulk into a channel", []int{1 << 20}, maxChannelData},
		{"trickle", []int{1, 7, 100}, largeBuf},
		{"bursts then trickle", []int{smallBuf, largeBuf, largeBuf, 10, smallBuf - 1, smallBuf, 5}, largeBuf},
		{"bursts then trickle into a channel", []int{smallBuf, largeBuf, largeBuf, 10, smallBuf - 1, smallBuf, 5}, maxChannelData},
		{"exact small", []int{smallBuf}, largeBuf},
		{"bulk out of a channel", []int{1 << 20}, channelReadBuf},
		{"bursts then trickle out of a channel", []int{smallBuf, largeBuf, channelReadBuf, 40 << 10, largeBuf, 20 << 10, 10, smallBuf - 1, smallBuf, 5}, channelReadBuf},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			n, err := copyAdaptive(&out, &chunkReader{data: data, sizes: tt.sizes}, tt.limit)
			if err != nil || n != int64(len(data)) || !bytes.Equal(out.Bytes(), data) {
				t.Fatalf("got n=%d err=%v equal=%v, want %d bytes intact, nil error", n, err, bytes.Equal(out.Bytes(), data), len(data))
			}
		})
	}
}

func TestCopyAdaptiveErrors(t *testing.T) {
	if _, err := copyAdaptive(io.Discard, iotest.ErrReader(errBoom), largeBuf); !errors.Is(err, errBoom) {
		t.Fatalf("read error: got %v, want boom", err)
	}
	n, err := copyAdaptive(failWriter{after: 10}, bytes.NewReader(make([]byte, 100)), largeBuf)
	if !errors.Is(err, errBoom) || n != 10 {
		t.Fatalf("write error: got %d, %v; want 10, boom", n, err)
	}
	data := make([]byte, 5*smallBuf)
	var out bytes.Buffer
	if _, err := copyAdaptive(&out, iotest.DataErrReader(bytes.NewReader(data)), largeBuf); err != nil || out.Len() != len(data) {
		t.Fatalf("data with EOF: got %d bytes, %v; want %d, nil", out.Len(), err, len(data))
	}
}

var errBoom = errors.New("boom")

// failWriter writes at most after bytes of a call, then fails.
type failWriter struct{ after int }

func (w failWriter) Write(p []byte) (int, error) {
	return min(len(p), w.after), errBoom
}

// recordingReader answers each read with the next of sizes (0: EOF) and
// records the buffer length it was offered.
type recordingReader struct {
	sizes   []int
	offered []int
}

func (r *recordingReader) Read(p []byte) (int, error) {
	r.offered = append(r.offered, len(p))
	if len(r.sizes) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.sizes[0])
	r.sizes = r.sizes[1:]
	return n, nil
}

// TestCopyAdaptiveBufferChoice: the packet-sized buffer (limit bytes, at
// most largeBuf) is borrowed once the small one fills and given back when a
// read finds less than half a packet's worth ready, so a tunnel that goes
// quiet after a response waits with the small one.
func TestCopyAdaptiveBufferChoice(t *testing.T) {
	for _, limit := range []int{largeBuf, maxChannelData} {
		slow := limit / 2
		r := &recordingReader{sizes: []int{smallBuf, limit, slow, slow - 1, 10}}
		if _, err := copyAdaptive(io.Discard, r, limit); err != nil {
			t.Fatal(err)
		}
		want := []int{smallBuf, limit, limit, limit, smallBuf, smallBuf}
		if fmt.Sprint(r.offered) != fmt.Sprint(want) {
			t.Errorf("limit %d: buffers offered: got %v, want %v", limit, r.offered, want)
		}
	}
}

// waitingReader is a recordingReader that can wait without a buffer, as
// a sockio socket can; its log has a 0 for each wait. wait, if set, is
// what a wait returns.
type waitingReader struct {
	recordingReader
	wait error
}

func (r *waitingReader) SetReadDeadline(time.Time) error { return nil }

func (r *waitingReader) WaitRead() error {
	r.offered = append(r.offered, 0)
	return r.wait
}

// TestCopyWaitsWithoutABuffer: from a source that can wait without a
// buffer, the copy never reads into the small one: it waits, reads into a
// packet-sized buffer, keeps reading while reads fill it and waits again
// (the buffer back in its pool) once one does not. Through the idle
// timer's wrapper too. A failed wait ends the copy with its error.
func TestCopyWaitsWithoutABuffer(t *testing.T) {
	r := &waitingReader{recordingReader: recordingReader{sizes: []int{100, maxChannelData, maxChannelData, 20 << 10, 10}}}
	idle := newIdleTimer(0, func() {})
	defer idle.stop()
	if _, err := copyIntoChannel(io.Discard, touchReader{halfCloserOf(r), idle}); err != nil {
		t.Fatal(err)
	}
	p := maxChannelData
	want := []int{0, p, 0, p, p, p, 0, p, 0, p}
	if fmt.Sprint(r.offered) != fmt.Sprint(want) {
		t.Errorf("waits (0) and buffers offered: got %v, want %v", r.offered, want)
	}

	// Without the tail split: a read of more than half a packet that
	// leaves the buffer part empty is a drained source too.
	r = &waitingReader{recordingReader: recordingReader{sizes: []int{largeBuf, 20 << 10, 10}}}
	if _, err := copyAdaptive(io.Discard, r, largeBuf); err != nil {
		t.Fatal(err)
	}
	l := largeBuf
	if want := []int{0, l, l, 0, l, 0, l}; fmt.Sprint(r.offered) != fmt.Sprint(want) {
		t.Errorf("copyAdaptive: waits (0) and buffers offered: got %v, want %v", r.offered, want)
	}

	r = &waitingReader{wait: errBoom}
	if _, err := copyIntoChannel(io.Discard, r); !errors.Is(err, errBoom) {
		t.Errorf("copy after a failed wait: %v, want its error", err)
	}
}

// halfCloserOf makes a reader a halfCloser, for touchReader.
func halfCloserOf(r *waitingReader) halfCloser { return waitingHalfCloser{r} }

type waitingHalfCloser struct{ *waitingReader }

func (waitingHalfCloser) Write(p []byte) (int, error) { return len(p), nil }
func (waitingHalfCloser) CloseWrite() error           { return nil }

// TestCopyAdaptiveWideReads: with limit channelReadBuf, a full packet-sized
// read moves the copy up to the wide buffer, which it keeps while reads
// fill it; a read that leaves it part empty has drained the source, and
// the copy waits with the small buffer again.
func TestCopyAdaptiveWideReads(t *testing.T) {
	r := &recordingReader{sizes: []int{smallBuf, largeBuf, channelReadBuf, channelReadBuf, 40 << 10, smallBuf, largeBuf, 20 << 10, 10}}
	if _, err := copyAdaptive(io.Discard, r, channelReadBuf); err != nil {
		t.Fatal(err)
	}
	want := []int{smallBuf, largeBuf, channelReadBuf, channelReadBuf, channelReadBuf, smallBuf, largeBuf, channelReadBuf, smallBuf, smallBuf}
	if fmt.Sprint(r.offered) != fmt.Sprint(want) {
		t.Errorf("buffers offered: got %v, want %v", r.offered, want)
	}
}

// writeLog records the size of every write.
type writeLog struct{ sizes []int }

func (w *writeLog) Write(p []byte) (int, error) {
	w.sizes = append(w.sizes, len(p))
	return len(p), nil
}

// TestCopyIntoChannelSplitsDrainedTail: a read of splitTailMin or more that
// finds the source drained goes out as all but its last byte and then that
// byte, so the receiver's last packet is tiny; full reads and small
// answers go out whole; every byte arrives in order.
func TestCopyIntoChannelSplitsDrainedTail(t *testing.T) {
	r := &recordingReader{sizes: []int{smallBuf, maxChannelData, 10000, smallBuf, splitTailMin - 1, 10}}
	var w writeLog
	if _, err := copyIntoChannel(&w, r); err != nil {
		t.Fatal(err)
	}
	wantWrites := []int{smallBuf, maxChannelData, 9999, 1, smallBuf, splitTailMin - 1, 10}
	if fmt.Sprint(w.sizes) != fmt.Sprint(wantWrites) {
		t.Errorf("writes: got %v, want %v", w.sizes, wantWrites)
	}
	// After the split the copy waits with the small buffer again.
	wantOffered := []int{smallBuf, maxChannelData, maxChannelData, smallBuf, maxChannelData, smallBuf, smallBuf}
	if fmt.Sprint(r.offered) != fmt.Sprint(wantOffered) {
		t.Errorf("buffers offered: got %v, want %v", r.offered, wantOffered)
	}

	data := make([]byte, 1<<20)
	rand.Read(data)
	var out bytes.Buffer
	sizes := []int{smallBuf, maxChannelData, 10000, 5, smallBuf, 20000, 7000, splitTailMin}
	n, err := copyIntoChannel(&out, &chunkReader{data: data, sizes: sizes})
	if err != nil || n != int64(len(data)) || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("got n=%d err=%v equal=%v, want %d bytes intact", n, err, bytes.Equal(out.Bytes(), data), len(data))
	}
}

// TestChannelDataFitsASmallAllocation: a full packet from our copy into a
// channel, as x/crypto's receiver copies it (type, channel id, length and
// data), costs the 32 KiB of Go's largest small size class, not the 40 KiB
// span a large object takes from the heap.
func TestChannelDataFitsASmallAllocation(t *testing.T) {
	payload := 1 + 4 + 4 + maxChannelData
	if payload != 32<<10 {
		t.Fatalf("a full channel data packet's payload is %d bytes, want 32768", payload)
	}
	perPacket := func(size int) uint64 {
		const n = 200
		keep := make([][]byte, n)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range keep {
			keep[i] = make([]byte, size)
		}
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(keep)
		return (after.TotalAlloc - before.TotalAlloc) / n
	}
	if got := perPacket(payload); got >= 36<<10 {
		t.Errorf("a %d-byte packet copy costs %d bytes, want 32768", payload, got)
	}
	if got := perPacket(payload + 1); got < 36<<10 { // the check can fail
		t.Errorf("a %d-byte packet copy costs %d bytes; the size classes changed", payload+1, got)
	}
}

// writeSizes records the largest and the last single write to a stream,
// and passes CloseWrite on to it.
type writeSizes struct {
	*net.TCPConn
	max, last atomic.Int64
}

func (w *writeSizes) Write(p []byte) (int, error) {
	for cur := w.max.Load(); int64(len(p)) > cur && !w.max.CompareAndSwap(cur, int64(len(p))); cur = w.max.Load() {
	}
	w.last.Store(int64(len(p)))
	return w.TCPConn.Write(p)
}

// TestSpliceWritesChannelSizedChunks: splice writes at most maxChannelData
// at a time into the channel side, and reads the channel side in bites of
// up to channelReadBuf, more than one packet, toward the service.
func TestSpliceWritesChannelSizedChunks(t *testing.T) {
	chLocal, chPeer := tcpPair(t) // chLocal stands for the SSH channel
	upLocal, upPeer := tcpPair(t) // upLocal for the service connection
	ch, up := &writeSizes{TCPConn: chLocal}, &writeSizes{TCPConn: upLocal}
	data := make([]byte, 4<<20)
	for _, from := range []*net.TCPConn{chPeer, upPeer} {
		go func() { from.Write(data); from.CloseWrite() }()
	}
	// Let the socket buffers fill first, so that the copy out of the
	// channel side finds more than a packet waiting and reads wide.
	time.Sleep(50 * time.Millisecond)
	done := make(chan struct{})
	go func() { defer close(done); spliceWait(ch, up) }()
	for _, to := range []*net.TCPConn{chPeer, upPeer} {
		if n, err := io.Copy(io.Discard, to); err != nil || n != int64(len(data)) {
			t.Fatalf("copied %d, %v; want %d bytes", n, err, len(data))
		}
	}
	<-done
	if got := ch.max.Load(); got != maxChannelData {
		t.Errorf("largest write into the channel: got %d, want %d", got, maxChannelData)
	}
	if got := up.max.Load(); got <= largeBuf || got > channelReadBuf {
		t.Errorf("largest write toward the service: got %d, want more than %d and at most %d", got, largeBuf, channelReadBuf)
	}
}

// TestSpliceEndsADrainedBurstWithOneByte: splice copies toward the channel
// side with copyIntoChannel, so an answer of splitTailMin or more that
// leaves the service quiet ends with a one-byte packet, which is all the
// receiver keeps while the tunnel idles.
func TestSpliceEndsADrainedBurstWithOneByte(t *testing.T) {
	chLocal, chPeer := tcpPair(t)
	upLocal, upPeer := tcpPair(t)
	ch := &writeSizes{TCPConn: chLocal}
	answer := make([]byte, 10000)
	if _, err := upPeer.Write(answer); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the whole answer waits before the first read
	done := make(chan struct{})
	go func() { defer close(done); spliceWait(ch, upLocal) }()
	got := make([]byte, len(answer))
	if _, err := io.ReadFull(chPeer, got); err != nil {
		t.Fatal(err)
	}
	if n := ch.last.Load(); n != 1 {
		t.Errorf("last write into the channel side after a drained %d-byte answer: got %d bytes, want 1", len(answer), n)
	}
	upPeer.CloseWrite()
	chPeer.CloseWrite()
	<-done
}

// tcpPair is both ends of one loopback TCP connection, closed at cleanup.
func tcpPair(tb testing.TB) (*net.TCPConn, *net.TCPConn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	b, err := ln.Accept()
	if err != nil {
		a.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.Close(); b.Close() })
	return a.(*net.TCPConn), b.(*net.TCPConn)
}

// spliceWait runs splice and waits for both directions to finish.
func spliceWait(ch, up halfCloser) (in, out int64) {
	done := make(chan struct{})
	splice(ch, up, nil, func(i, o int64) { in, out = i, o; close(done) })
	<-done
	return in, out
}
