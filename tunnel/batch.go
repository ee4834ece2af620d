package tunnel

import (
	"errors"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/loopgate/loopgate/internal/sockio"
)

// batchConn is the network connection under an SSH connection, on both
// sides. x/crypto/ssh writes every packet through a 4 KiB bufio.Writer and
// flushes it at once: one write system call for a small packet, two for a
// full one with AES-GCM, the cipher loopgate negotiates (the buffer sends
// the length and the first 4 KiB, then the rest goes directly), and one
// per packet however many channels are sending at the same moment.
// batchConn copies each Write into a pending buffer and returns; one
// flushing goroutine, started when bytes are pending and ended when none
// are, writes all that is pending with one system call.
// While that call runs, the next packets gather behind it, so a busy
// connection writes several packets at a time, as OpenSSH's event loop does,
// and an idle one holds no goroutine and no buffer. Where packets do not
// gather (one request at a time), Writes go straight to the connection for a
// while (see direct).
//
// Bytes accepted by Write are written in order or not at all: a queued
// Write reports success before its bytes are written, so the first failed
// write closes the connection (an SSH stream with a gap in it is useless)
// and every later Write returns that error. A Write that would take the
// queue past batchMax waits for the flusher, so a connection holds at most
// batchMax queued bytes plus the batch being written (a Write to an empty
// queue is taken whole; x/crypto's are a packet at most). Close ends reads
// at once (Read returns net.ErrClosed) and lets the flusher finish what is
// pending for up to closeGrace, then closes.
type batchConn struct {
	net.Conn

	mu       sync.Mutex
	taken    sync.Cond     // broadcast when the flusher takes the pending bytes, stops, or Close comes
	pending  *[]byte       // queued bytes, in a batchBufs entry; nil when none is held
	flushing bool          // a Write or the flusher is writing to Conn
	closed   bool          // Close was called; Write refuses
	err      error         // the first write error; Write returns it
	grace    *time.Timer   // closes Conn graceFor after Close, if the flusher has not
	graceFor time.Duration // closeGrace; tests lengthen it
	shutOnce sync.Once     // Conn is closed once, by whichever gets there first

	// Queueing pays only when packets gather behind one another; for a
	// lone packet it is a hand-off to another goroutine and nothing saved.
	// After loneFlushes flushes in a row that carried one Write each, the
	// next backoff Writes write themselves, as without batchConn, and then
	// queueing is tried again; backoff doubles from directMin to directMax
	// while the tries find packets alone, and falls back to directMin once
	// they gather.
	queued  int                          // Writes queued since the flusher last took the pending bytes
	counts  struct{ direct, queued int } // Writes each way, for tests
	lone    int                          // flushes in a row that carried one Write
	direct  int                          // Writes left to write directly
	backoff int
}

const (
	// batchMax bounds the bytes waiting for the flusher: x/crypto's
	// channel windows already bound what a peer lets us send, and this
	// bounds what one connection buffers in user space on top of the
	// kernel's socket buffer.
	batchMax = 256 << 10
	// closeGrace is how long Close lets pending bytes reach the kernel. A
	// peer that reads keeps up in microseconds; one that does not would
	// have left a synchronous writer blocked, and that write lost, too.
	closeGrace = 250 * time.Millisecond

	loneFlushes = 4
	directMin   = 16
	directMax   = 1024
)

// batchBufs holds pending buffers between bursts, one packet and its header
// wide to start with; append grows one under a burst, to batchMax and a
// packet at most, and it goes back grown.
var batchBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, largeBuf+64)
	return &b
}}

func newBatchConn(c net.Conn) *batchConn {
	// The handshake's packets go one at a time: start writing directly.
	// sockio: the socket's reads and writes skip the scheduler's
	// system-call bookkeeping (docs/PERFORMANCE.md, change 18).
	b := &batchConn{Conn: sockio.Wrap(c), direct: directMin, backoff: directMin, graceFor: closeGrace}
	b.taken.L = &b.mu
	return b
}

// Write writes p itself while the connection looks quiet, and otherwise
// queues p for the flusher and returns.
func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	for !c.closed && c.err == nil && c.queuedBytes() > 0 && c.queuedBytes()+len(p) > batchMax {
		c.taken.Wait()
	}
	switch {
	case c.closed:
		c.mu.Unlock()
		return 0, net.ErrClosed
	case c.err != nil:
		c.mu.Unlock()
		return 0, c.err
	}
	if !c.flushing && c.direct > 0 {
		c.direct--
		c.counts.direct++
		c.flushing = true
		c.mu.Unlock()
		n, err := c.Conn.Write(p)
		c.mu.Lock()
		c.wrote(err)
		return n, err
	}
	if c.pending == nil {
		c.pending = batchBufs.Get().(*[]byte)
	}
	*c.pending = append(*c.pending, p...)
	c.queued++
	c.counts.queued++
	if !c.flushing {
		c.flushing = true
		go c.flush()
	}
	c.mu.Unlock()
	return len(p), nil
}

// flush writes whatever is pending until nothing is, then ends. It yields
// once first, so that goroutines ready to send get their packets in behind
// the first.
func (c *batchConn) flush() {
	runtime.Gosched()
	var out *[]byte // the batch being written; then, emptied, the next queue
	c.mu.Lock()
	for c.queuedBytes() > 0 && c.err == nil {
		out, c.pending = c.pending, out
		if c.queued > 1 {
			c.lone, c.backoff = 0, directMin
		} else if c.lone++; c.lone == loneFlushes {
			c.lone = 0
			c.direct = c.backoff
			c.backoff = min(2*c.backoff, directMax)
		}
		c.queued = 0
		c.taken.Broadcast()
		c.mu.Unlock()
		_, err := c.Conn.Write(*out)
		*out = (*out)[:0]
		c.mu.Lock()
		if err != nil {
			c.err = err
		}
	}
	releaseBatch(out)
	releaseBatch(c.pending)
	c.pending = nil
	c.wrote(c.err)
}

// wrote ends a turn at writing, the caller's or the flusher's, with c.mu
// held, and releases it: a failed write or a Close that came meanwhile
// closes the connection.
func (c *batchConn) wrote(err error) {
	if err != nil && c.err == nil {
		c.err = err
	}
	if c.queuedBytes() > 0 && c.err == nil {
		// Queued behind a direct Write: the flusher takes over the turn.
		go c.flush()
		c.mu.Unlock()
		return
	}
	c.flushing = false
	closeNow := c.closed || c.err != nil
	if c.grace != nil {
		c.grace.Stop()
	}
	c.taken.Broadcast()
	c.mu.Unlock()
	if closeNow {
		c.closeConn()
	}
}

func (c *batchConn) closeConn() error {
	err := net.ErrClosed
	c.shutOnce.Do(func() { err = c.Conn.Close() })
	return err
}

func (c *batchConn) queuedBytes() int {
	if c.pending == nil {
		return 0
	}
	return len(*c.pending)
}

// releaseBatch returns a pending buffer, grown or not, to the pool.
func releaseBatch(p *[]byte) {
	if p != nil {
		*p = (*p)[:0]
		batchBufs.Put(p)
	}
}

// Close ends reads now and closes the connection once the pending bytes
// are written or closeGrace has passed, whichever is first. Only the first
// Close acts; later ones return net.ErrClosed.
func (c *batchConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return net.ErrClosed
	}
	c.closed = true
	c.taken.Broadcast()
	if !c.flushing {
		c.mu.Unlock()
		return c.closeConn()
	}
	// A connection that cannot end its reads early (an SSH channel under
	// ProxyJump has no deadlines) closes now; pending bytes are lost, as a
	// synchronous writer's blocked write would be.
	if err := c.Conn.SetReadDeadline(time.Unix(1, 0)); err != nil {
		c.mu.Unlock()
		return c.closeConn()
	}
	c.grace = time.AfterFunc(c.graceFor, func() { c.closeConn() })
	c.mu.Unlock()
	return nil
}

// Read reports net.ErrClosed for a deadline error once Close has begun (the
// deadline Close sets, or a LoginGraceTime one racing it), as a closed
// connection does, not a timeout (which the gateway would count against the
// source as an unfinished login). Other errors stay as they are.
func (c *batchConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.mu.Lock()
		if c.closed {
			err = net.ErrClosed
		}
		c.mu.Unlock()
	}
	return n, err
}

// SetDeadline and SetReadDeadline leave alone the deadline Close set.
func (c *batchConn) SetDeadline(t time.Time) error {
	return c.unlessClosed(c.Conn.SetDeadline, t)
}

func (c *batchConn) SetReadDeadline(t time.Time) error {
	return c.unlessClosed(c.Conn.SetReadDeadline, t)
}

func (c *batchConn) unlessClosed(set func(time.Time) error, t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	return set(t)
}
