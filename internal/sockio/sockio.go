// Package sockio reads and writes TCP connections without the Go
// scheduler's system-call bookkeeping.
//
// Every read and write on a net.Conn goes through the runtime's
// entersyscall and exitsyscall, as if the call might block. On a socket
// the net package has made non-blocking it never does: it copies what
// the kernel has, or fails with EAGAIN and the goroutine waits in the
// network poller. The bookkeeping is not free. When every P of the
// process has gone idle, the runtime's monitor thread (sysmon) sleeps
// until the next entersyscall wakes it, and after such a wake-up it polls
// every 20 µs for at least a millisecond. A tunnel that serves requests
// goes idle and busy again between every request or two, so its monitor
// thread spends its time waking up: 12-16 % of the proxy's and the
// gateway's CPU in profiles on a 2-core virtual machine, where each of
// those sleeps is a trip through the hypervisor.
//
// Wrap returns a connection whose Read and Write make recvfrom(2) and
// sendto(2) calls with MSG_DONTWAIT (so they never block, whatever the
// descriptor's mode) through syscall.RawSyscall6 inside the connection's
// syscall.RawConn, so the network poller, deadlines and Close work as for
// the connection itself. Everything else (CloseWrite, SetDeadline,
// addresses) is the wrapped *net.TCPConn's. On other systems and
// architectures than Linux on amd64, arm64 and arm, and for anything but
// a *net.TCPConn, Wrap returns the connection unchanged.
package sockio

import "net"

// Listener wraps every connection ln accepts.
type Listener struct{ net.Listener }

// Accept waits for the next connection and wraps it.
func (l Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c), nil
}
