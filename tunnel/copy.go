package tunnel

import (
	"errors"
	"io"
	"os"
	"sync"
	"time"
)

// Buffer sizes for copying a tunnel's bytes. A tunnel waiting for data
// holds only a small buffer, and a socket on Linux none; while data flows
// the copy borrows larger ones from pools (copier says when), so an idle
// tunnel costs at most smallBuf per direction rather than 32 KiB, and
// after traffic at most a packet's worth.
const (
	smallBuf = 2 << 10
	largeBuf = 32 << 10 // one SSH packet's worth
)

// channelReadBuf is the most a copy out of an SSH channel reads at a time.
// x/crypto grants its peer more window on a channel Read once more than 96
// KiB has arrived and not been granted back; while data arrives faster
// than the copy writes it on, more than that is always waiting, so every
// Read sends a window adjustment (a packet and a write system call on both
// ends). Reading up to 128 KiB at a time sends one per 128 KiB rather than
// one per 32 KiB packet: a 512 MiB download made 29,199-29,642 write system
// calls in the client before, 12,660-13,063 after (docs/PERFORMANCE.md,
// change 14).
const channelReadBuf = 128 << 10

// maxChannelData is the most a copy into an SSH channel reads at a time,
// and so the most data one of our SSH_MSG_CHANNEL_DATA packets carries:
// 32 KiB less the message's 9-byte header (type, channel, length). The
// receiving x/crypto copies every packet's payload into a fresh allocation;
// at 32 KiB that is Go's largest small size class, served from a per-P
// cache, where 32 KiB + 9 bytes is a large object taken from the heap
// under its lock (and zeroed, and often faulted in anew) for every packet.
const maxChannelData = largeBuf - 9

var (
	largeBufs       = sync.Pool{New: func() any { b := make([]byte, largeBuf); return &b }}
	channelReadBufs = sync.Pool{New: func() any { b := make([]byte, channelReadBuf); return &b }}
	// tierPools lends the buffers of copier's tiers 1 and 2.
	tierPools = [3]*sync.Pool{nil, &largeBufs, &channelReadBufs}
)

// splitTailMin is the smallest short read that a copy into a channel
// (splitTail) sends as two packets.
const splitTailMin = 4 << 10

// readWaiter is a source that can wait for data without a buffer: a
// socket from sockio.Wrap, on the systems where it has raw reads.
type readWaiter interface {
	WaitRead() error
	SetReadDeadline(time.Time) error
}

// waitOf returns src's WaitRead and SetReadDeadline, looking through the
// idle-timeout wrapper, or nils if it cannot wait without a buffer.
func waitOf(src io.Reader) (wait func() error, deadline func(time.Time) error) {
	if t, ok := src.(touchReader); ok {
		src = t.halfCloser
	}
	if w, ok := src.(readWaiter); ok {
		return w.WaitRead, w.SetReadDeadline
	}
	return nil, nil
}

// copier is the state of one direction of a splice, copying src to dst
// until EOF or an error, like io.Copy; a pump runs it across the
// goroutines it hands the copy over to. limit is at least smallBuf.
//
// It reads with one of three buffers, by how much the source had ready:
// tier 0, the small one, while waiting; once a read fills it, tier 1, a
// packet's worth (up to limit bytes, at most largeBuf) from a pool; and
// with limit above largeBuf, once a tier 1 read fills (more than a packet
// was waiting), tier 2, up to limit. A tier 1 read of less than half a
// packet, or a tier 2 read that leaves its buffer part empty, means the
// source has been drained and the next read may wait a long time: the
// copy goes back to tier 0 and waits with the small buffer. A tunnel left
// idle after a transfer so holds a packet's worth only if the transfer
// ended in a steady tier 1 flow (measured, 1,000 connections after 1 MiB
// each: the client's RSS per connection 55 → 42.5 KiB). The price: a
// peer whose packets carry a full 32 KiB (ours carry maxChannelData) and
// that sends more slowly than the copy runs makes it cycle through the
// three tiers, about four reads for two packets instead of two; such a
// link is slow, so it is little CPU.
type copier struct {
	dst          io.Writer
	src          io.Reader
	limit        int
	packet, slow int
	// splitTail is set for the copy into an SSH channel (limit
	// maxChannelData): a read of splitTailMin or more that finds the source
	// drained (it returns less than the buffer) is sent as two packets, all
	// but its last byte and then that byte. The receiving x/crypto keeps
	// the last packet a channel received until the next arrives (its buffer
	// keeps an empty slice of it), so a tunnel idle after a transfer then
	// holds a few bytes there instead of up to 32 KiB. Measured, 1,000
	// connections idle after 1 MiB each: the client's RSS per connection
	// 41.9 → 23.6 KiB (docs/PERFORMANCE.md, change 16). Responses under
	// splitTailMin, such as an admin API's small JSON, are not split.
	splitTail bool
	// wait is src's WaitRead, or nil: a source that can wait without a
	// buffer (a socket, on Linux) is waited on with none. Tier 0 is then
	// that wait, and every read goes into a pooled buffer that goes back
	// to its pool as soon as a read finds the source drained. Others wait
	// in a Read with the small buffer.
	wait    func() error
	small   []byte
	tier    int
	held    *[]byte // the pooled buffer of tiers 1 and 2
	written int64

	// For hand-overs (splice.go): the source's SetReadDeadline when it has
	// wait, whether a hand-over deadline is set on it, and written and the
	// time when the goroutine now running the copy took it over.
	deadline func(time.Time) error
	armed    bool
	since    int64
	tookOver time.Time
}

func newCopier(dst io.Writer, src io.Reader, limit int, splitTail bool) copier {
	limit = min(limit, channelReadBuf)
	c := copier{dst: dst, src: src, limit: limit, packet: min(limit, largeBuf), splitTail: splitTail}
	c.slow = c.packet / 2
	c.tookOver = time.Now()
	c.wait, c.deadline = waitOf(src)
	if c.wait == nil {
		c.small = make([]byte, smallBuf)
	}
	return c
}

// setTier gives back the pooled buffer held, if any, and borrows the one
// of tier t.
func (c *copier) setTier(t int) {
	if c.held != nil {
		tierPools[c.tier].Put(c.held)
		c.held = nil
	}
	if c.tier = t; t > 0 {
		c.held = tierPools[t].Get().(*[]byte)
	}
}

// run copies until src's EOF (a nil error) or an error, or until the copy
// should go on on a fresh goroutine (over; see splice.go), which a pump
// does after handOver.
func (c *copier) run() (over bool, err error) {
	for {
		if c.tier == 0 && c.wait != nil {
			if err := c.wait(); err != nil {
				if c.expired(err) {
					return true, nil
				}
				return false, err
			}
			c.setTier(1)
		}
		buf := c.small
		switch c.tier {
		case 1:
			buf = (*c.held)[:c.packet]
		case 2:
			buf = (*c.held)[:c.limit]
		}
		n, rerr := c.src.Read(buf)
		if n == 0 && c.expired(rerr) {
			return true, nil
		}
		drained := c.tier > 0 && n < len(buf)
		parts := [2][]byte{buf[:n], nil}
		if c.splitTail && drained && n >= splitTailMin {
			parts = [2][]byte{buf[:n-1], buf[n-1 : n]}
		}
		for _, p := range parts {
			if len(p) == 0 {
				continue
			}
			w, werr := c.dst.Write(p)
			c.written += int64(w)
			if werr != nil {
				return false, werr
			}
			if w != len(p) {
				return false, io.ErrShortWrite
			}
		}
		if n > 0 && c.deadline != nil && !c.armed {
			// Moving data grows this goroutine's stack: in handOverAfter,
			// hand the copy over to a fresh goroutine (see handOver).
			c.armed = true
			c.deadline(time.Now().Add(handOverAfter))
		}
		switch {
		case rerr == io.EOF:
			return false, nil
		case rerr != nil:
			return false, rerr
		case c.tier > 0 && n < c.slow, c.tier == 2 && drained, c.splitTail && drained, c.wait != nil && drained:
			c.setTier(0)
		case c.tier == 0 && n == len(buf):
			c.setTier(1)
		case c.tier == 1 && n == len(buf) && c.limit > c.packet:
			c.setTier(2)
		}
		if c.deadline == nil && c.tier == 0 && c.movedEnough() {
			return true, nil
		}
	}
}

// handOver readies the copy for a fresh goroutine: no deadline and no
// pooled buffer (the new goroutine waits first).
func (c *copier) handOver() {
	c.disarm()
	if c.wait != nil {
		c.setTier(0)
	}
	c.since, c.tookOver = c.written, time.Now()
}

// disarm clears the hand-over deadline, if one is set.
func (c *copier) disarm() {
	if c.armed {
		c.armed = false
		c.deadline(time.Time{})
	}
}

// movedEnough reports whether a copy with no deadline, back to waiting,
// should hand over: it has moved handOverBytes since it took over, or
// anything if it took over handOverAfter ago.
func (c *copier) movedEnough() bool {
	moved := c.written - c.since
	return moved >= handOverBytes || moved > 0 && time.Since(c.tookOver) >= handOverAfter
}

// expired reports whether err is the hand-over deadline passing.
func (c *copier) expired(err error) bool {
	return c.armed && errors.Is(err, os.ErrDeadlineExceeded)
}
