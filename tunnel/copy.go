package tunnel

import (
	"io"
	"sync"
)

// Buffer sizes for copying a tunnel's bytes. A tunnel waiting for data
// holds only a small buffer; once a read fills it, the copy borrows a
// large one from a pool and gives it back when a read finds less than half
// of a packet's worth ready (the flow slowed, or a response ended). An idle
// tunnel therefore costs smallBuf per direction, not 32 KiB, also after
// traffic.
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
// one per 32 KiB packet: a 512 MiB download made 29,579 write system calls
// in the client before, 9,349 after (docs/PERFORMANCE.md, change 14).
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
)

// copyAdaptive copies src to dst until EOF or an error, like io.Copy, and
// returns the bytes written. A nil error means src reached EOF. While data
// flows it reads up to limit bytes at a time (at most channelReadBuf).
func copyAdaptive(dst io.Writer, src io.Reader, limit int) (int64, error) {
	limit = min(limit, channelReadBuf)
	pool := &largeBufs
	if limit > largeBuf {
		pool = &channelReadBufs
	}
	slow := min(limit, largeBuf) / 2 // a read of less means the flow slowed
	small := make([]byte, smallBuf)
	var large *[]byte
	defer func() {
		if large != nil {
			pool.Put(large)
		}
	}()
	var written int64
	for {
		buf := small
		if large != nil {
			buf = (*large)[:limit]
		}
		n, rerr := src.Read(buf)
		if n > 0 {
			w, werr := dst.Write(buf[:n])
			written += int64(w)
			if werr != nil {
				return written, werr
			}
			if w != n {
				return written, io.ErrShortWrite
			}
		}
		switch {
		case rerr == io.EOF:
			return written, nil
		case rerr != nil:
			return written, rerr
		case large == nil && n == len(small):
			large = pool.Get().(*[]byte) // data is flowing: read in large bites
		case large != nil && n < slow:
			// The source had less than half a packet ready: the flow has
			// slowed or the message ended, and the next read may wait a
			// long time. Wait with the small buffer.
			pool.Put(large)
			large = nil
		}
	}
}
