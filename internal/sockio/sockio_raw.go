//go:build linux && (amd64 || arm64 || arm)

package sockio

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// maxRW bounds one recvfrom(2) or sendto(2), as the net package bounds a read or write.
const maxRW = 1 << 30

// Raw reports whether Wrap gives raw reads and writes on this platform.
const Raw = true

// Wrap returns c with raw reads and writes if it is a *net.TCPConn, and c
// itself otherwise.
func Wrap(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	r := &Conn{TCPConn: tc}
	// Method values made once, not per call.
	r.r.op, r.r.call, r.r.fn = "read", rc.Read, r.read
	r.w.op, r.w.call, r.w.fn = "write", rc.Write, r.write
	r.p.op, r.p.call, r.p.fn = "read", rc.Read, r.peek
	return r
}

// Conn is a *net.TCPConn whose Read and Write skip the scheduler's
// system-call bookkeeping. Reads are serialised by a mutex, and so are
// writes (the descriptor's own locks serialise them anyway); a Read and a
// Write run at the same time, as on any net.Conn.
//
// The calls are recvfrom(2) and sendto(2) with MSG_DONTWAIT, which never
// block whatever the descriptor's mode: a raw call keeps its P and cannot
// be preempted, so a call that blocked would stall the garbage collector
// and with it the process (TCPConn.File shares the descriptor's flags with
// a duplicate, and its Fd makes both blocking). The other methods,
// promoted from the *net.TCPConn (File, ReadFrom, WriteTo, CloseWrite,
// deadlines), are the connection's own and use the ordinary path.
type Conn struct {
	*net.TCPConn
	r, w   half
	p      half    // WaitRead's
	peeked [1]byte // where WaitRead's MSG_PEEK puts the byte it looks at
}

// half is one direction: how it calls the RawConn, set once by Wrap, and
// the call in progress (the buffer its callback uses and what it found).
type half struct {
	op   string                              // "read" or "write", for errors
	call func(f func(fd uintptr) bool) error // the RawConn's Read or Write
	fn   func(fd uintptr) bool               // Conn.read, Conn.write or Conn.peek
	mu   sync.Mutex
	buf  []byte
	n    int
	err  error // what the system call reported
}

// sysIO makes one recvfrom(2) or sendto(2) (trap) of p with flags, which
// include MSG_DONTWAIT, retried on EINTR. It returns the bytes moved, or
// wait when the socket has no data or no room (EAGAIN), or the error,
// including a count the kernel should never give (more than p).
func sysIO(trap, fd uintptr, p []byte, flags uintptr) (n int, wait bool, err error) {
	for {
		r, _, e := syscall.RawSyscall6(trap, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), flags, 0, 0)
		switch e {
		case 0:
			if int(r) > len(p) {
				return 0, false, fmt.Errorf("%s returned %d bytes for %d", name(trap), r, len(p))
			}
			return int(r), false, nil
		case syscall.EINTR:
		case syscall.EAGAIN:
			return 0, true, nil
		default:
			return 0, false, os.NewSyscallError(name(trap), e)
		}
	}
}

func name(trap uintptr) string {
	if trap == syscall.SYS_RECVFROM {
		return "recvfrom"
	}
	return "sendto"
}

// read is the RawConn.Read callback: one recvfrom. It returns false when
// there is nothing to read, so that RawConn.Read waits for the socket to
// become readable (or a deadline, or Close) and calls it again. An empty
// buffer makes no call: RawConn.Read has checked the connection is open.
func (c *Conn) read(fd uintptr) bool {
	if len(c.r.buf) == 0 {
		return true
	}
	n, wait, err := sysIO(syscall.SYS_RECVFROM, fd, c.r.buf, syscall.MSG_DONTWAIT)
	c.r.n, c.r.err = n, err
	return !wait
}

// peek is WaitRead's RawConn.Read callback. Called first, it looks with
// recvfrom(MSG_PEEK) whether a read would wait, and if so returns false,
// so that RawConn.Read waits for the socket to become readable. Called
// again, after that wait, it returns true without another system call:
// the poller has seen data, the peer's FIN or an error. (Should that ever
// be wrong, the Read that follows finds nothing and waits as any Read does.)
func (c *Conn) peek(fd uintptr) bool {
	if c.p.n > 0 { // run sets n to 0 before the first call; it counts this one
		return true
	}
	c.p.n = 1
	_, wait, err := sysIO(syscall.SYS_RECVFROM, fd, c.p.buf, syscall.MSG_DONTWAIT|syscall.MSG_PEEK)
	c.p.err = err
	return !wait
}

// WaitRead waits until a Read would not wait: data has arrived, the peer
// has finished sending, or the connection has failed. It needs no buffer,
// so a caller can wait without holding one. It returns the error a Read
// would after a read deadline or Close (or a failure the socket reports),
// and reads nothing. It must not run at the same time as a Read.
func (c *Conn) WaitRead() error {
	_, err := c.p.run(c, c.peeked[:])
	return err
}

// write is the RawConn.Write callback: sendto until all of w.buf is
// written; false when there is no room, to wait for it.
func (c *Conn) write(fd uintptr) bool {
	for c.w.n < len(c.w.buf) {
		p := c.w.buf[c.w.n:]
		n, wait, err := sysIO(syscall.SYS_SENDTO, fd, p[:min(len(p), maxRW)], syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL)
		switch {
		case wait:
			return false
		case err == nil && n == 0: // as poll.FD.Write: never loop on nothing written
			err = fmt.Errorf("sendto wrote nothing: %w", io.ErrUnexpectedEOF)
		}
		if err != nil {
			c.w.err = err
			return true
		}
		c.w.n += n
	}
	return true
}

// Read reads as (*net.TCPConn).Read does: io.EOF once the peer has
// finished sending, net.ErrClosed after Close, os.ErrDeadlineExceeded
// after a read deadline, each in a *net.OpError.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.r.run(c, p[:min(len(p), maxRW)])
	if err != nil {
		return n, err
	}
	raceAcquired()
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	if n > 0 {
		raceWritten(p[:n])
	}
	return n, nil
}

// Write writes all of p, as (*net.TCPConn).Write does, or fails with how
// much was written.
func (c *Conn) Write(p []byte) (int, error) {
	raceReleasing()
	n, err := c.w.run(c, p)
	if n > 0 {
		raceRead(p[:n])
	}
	return n, err
}

// run makes one Read or Write of p through the connection's RawConn, and
// returns the bytes moved and the error as the net package words it.
func (h *half) run(c *Conn, p []byte) (int, error) {
	h.mu.Lock()
	h.buf, h.n, h.err = p, 0, nil
	err := h.call(h.fn)
	n, serr := h.n, h.err
	h.buf, h.err = nil, nil
	h.mu.Unlock()
	switch {
	case err != nil:
		return n, c.opError(h.op, err)
	case serr != nil:
		return n, c.opError(h.op, serr)
	}
	return n, nil
}

// opError wraps err as the net package wraps a connection's errors. An
// error from the RawConn (closed, deadline) is already a *net.OpError,
// named "raw-read" or "raw-write"; its cause is kept under the usual name.
func (c *Conn) opError(op string, err error) error {
	if oe, ok := errors.AsType[*net.OpError](err); ok {
		err = oe.Err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
