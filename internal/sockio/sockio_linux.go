//go:build linux

package sockio

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// maxRW bounds one read(2) or write(2), as the net package does.
const maxRW = 1 << 30

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
	r := &Conn{TCPConn: tc, rc: rc}
	r.r.fn, r.w.fn = r.read, r.write // method values made once, not per call
	return r
}

// Conn is a *net.TCPConn whose Read and Write skip the scheduler's
// system-call bookkeeping. Reads are serialised by a mutex, and so are
// writes (the descriptor's own locks serialise them anyway); a Read and a
// Write run at the same time, as on any net.Conn.
type Conn struct {
	*net.TCPConn
	rc   syscall.RawConn
	r, w half
}

// half is one direction's call in progress: the buffer its callback
// uses and what the callback found.
type half struct {
	mu    sync.Mutex
	buf   []byte
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool // Conn.read or Conn.write
}

// read is the RawConn.Read callback: one read(2), retried on EINTR. It
// returns false on EAGAIN, so that RawConn.Read waits for the socket to
// become readable (or a deadline, or Close) and calls it again.
func (c *Conn) read(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&c.r.buf[0])), uintptr(len(c.r.buf)))
		switch e {
		case 0:
			c.r.n = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		default:
			c.r.errno = e
			return true
		}
	}
}

// write is the RawConn.Write callback: write(2) until all of w.buf is
// written, retried on EINTR; false on EAGAIN, to wait for room.
func (c *Conn) write(fd uintptr) bool {
	for c.w.n < len(c.w.buf) {
		p := c.w.buf[c.w.n:]
		if len(p) > maxRW {
			p = p[:maxRW]
		}
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch e {
		case 0:
			c.w.n += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.w.errno = e
			return true
		}
	}
	return true
}

// Read reads as (*net.TCPConn).Read does: io.EOF once the peer has
// finished sending, net.ErrClosed after Close, os.ErrDeadlineExceeded
// after a read deadline, each in a *net.OpError.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := c.r.run(c, "read", p[:min(len(p), maxRW)])
	if err == nil && n == 0 {
		return 0, io.EOF
	}
	return n, err
}

// Write writes all of p, as (*net.TCPConn).Write does, or fails with how
// much was written.
func (c *Conn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return c.w.run(c, "write", p)
}

// run makes one Read ("read") or Write ("write") of p through c's
// RawConn, and returns the bytes moved and the error as the net package
// words it.
func (h *half) run(c *Conn, op string, p []byte) (int, error) {
	h.mu.Lock()
	h.buf, h.n, h.errno = p, 0, 0
	var err error
	if op == "read" {
		err = c.rc.Read(h.fn)
	} else {
		err = c.rc.Write(h.fn)
	}
	n, errno := h.n, h.errno
	h.buf = nil
	h.mu.Unlock()
	switch {
	case err != nil:
		return n, c.opError(op, err)
	case errno != 0:
		return n, c.opError(op, os.NewSyscallError(op, errno))
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
