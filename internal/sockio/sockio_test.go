package sockio

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// pair returns both ends of a loopback TCP connection, the dialled end
// wrapped, the accepted end as the net package made it.
func pair(t testing.TB) (wrapped net.Conn, plain *net.TCPConn) {
	c, p := tcpPair(t)
	return Wrap(c), p
}

// tcpPair returns both ends of a loopback TCP connection, closed at the
// end of the test.
func tcpPair(t testing.TB) (dialled, accepted *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() { // ends at the first Accept; ln.Close above ends a failed one
		c, _ := ln.Accept()
		acc <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p := <-acc
	if p == nil {
		c.Close()
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); p.Close() })
	return c.(*net.TCPConn), p.(*net.TCPConn)
}

func TestWrapOnlyTCPOnLinux(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Wrap(a) != a {
		t.Error("Wrap changed a net.Pipe connection")
	}
	w, _ := pair(t)
	_, plain := w.(*net.TCPConn)
	if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" && !Raw {
		t.Error("no raw path on linux/amd64, where CI runs")
	}
	if want := !Raw; plain != want {
		t.Errorf("Wrap(TCP) is still a *net.TCPConn: %t, want %t on %s/%s", plain, want, runtime.GOOS, runtime.GOARCH)
	}
}

// TestBothWaysAtOnce moves 32 MiB each way at the same time, each side's
// writes in one call: more than the kernel's socket buffers take (at most
// 4 MiB to send and 6 MiB to receive by default), so the wrapped Write has
// to wait for room many times and the wrapped Read for data; then checks
// the bytes.
func TestBothWaysAtOnce(t *testing.T) {
	w, p := pair(t)
	out, back := make([]byte, 32<<20), make([]byte, 32<<20)
	rand.Read(out)
	rand.Read(back)
	w.SetDeadline(time.Now().Add(30 * time.Second))
	p.SetDeadline(time.Now().Add(30 * time.Second))

	errs := make(chan error, 3)
	got := make(chan []byte, 1)
	go func() { // the plain end echoes nothing: it reads out and writes back
		b, err := io.ReadAll(io.LimitReader(p, int64(len(out))))
		got <- b
		errs <- err
	}()
	go func() {
		_, err := p.Write(back)
		errs <- err
	}()
	go func() {
		n, err := w.Write(out) // one call: it must wait for room many times
		if err == nil && n != len(out) {
			err = io.ErrShortWrite
		}
		errs <- err
	}()
	in := make([]byte, len(back))
	if _, err := io.ReadFull(w, in); err != nil {
		t.Fatalf("wrapped read: %v", err)
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(in, back) {
		t.Error("the wrapped end read other bytes than were sent")
	}
	if !bytes.Equal(<-got, out) {
		t.Error("the wrapped end wrote other bytes than it was given")
	}
}

func TestEOFAfterPeerCloseWrite(t *testing.T) {
	w, p := pair(t)
	p.Write([]byte("last"))
	p.CloseWrite()
	b, err := io.ReadAll(w) // ReadAll stops at io.EOF and reports nil
	if err != nil || string(b) != "last" {
		t.Fatalf("ReadAll = %q, %v; want \"last\", nil", b, err)
	}
	if n, err := w.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Errorf("Read after EOF = %d, %v; want 0, io.EOF", n, err)
	}
	// CloseWrite is the TCPConn's, so a half-close reaches the peer.
	hc, ok := w.(interface{ CloseWrite() error })
	if !ok {
		t.Fatal("wrapped connection has no CloseWrite")
	}
	if err := hc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	p.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := p.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Errorf("peer Read after CloseWrite = %d, %v; want 0, io.EOF", n, err)
	}
}

func TestZeroLength(t *testing.T) {
	w, _ := pair(t)
	if n, err := w.Read(nil); n != 0 || err != nil {
		t.Errorf("Read(nil) = %d, %v", n, err)
	}
	if n, err := w.Write(nil); n != 0 || err != nil {
		t.Errorf("Write(nil) = %d, %v", n, err)
	}
}

// TestDeadlines: a read deadline and a write deadline end the calls as on
// a *net.TCPConn, with the same error text.
func TestDeadlines(t *testing.T) {
	w, p := pair(t)
	w.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := w.Read(make([]byte, 8))
	checkTimeout(t, "read", err)

	// The same on the plain end gives the same text, addresses swapped.
	p.SetReadDeadline(time.Now().Add(-time.Second))
	_, perr := p.Read(make([]byte, 8))
	if want := swapAddrs(perr.Error(), p); err.Error() != want {
		t.Errorf("read timeout text %q, a TCPConn's %q", err, want)
	}

	w.SetReadDeadline(time.Time{})
	w.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	big := make([]byte, 64<<20) // more than both socket buffers; nobody reads
	n, err := w.Write(big)
	checkTimeout(t, "write", err)
	if n <= 0 || n >= len(big) {
		t.Errorf("Write wrote %d of %d bytes before its deadline, want some", n, len(big))
	}
}

func checkTimeout(t *testing.T, op string, err error) {
	t.Helper()
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%s after its deadline: %v, want a timeout", op, err)
	}
	if oe, ok := errors.AsType[*net.OpError](err); !ok || oe.Op != op {
		t.Errorf("%s error %#v, want a *net.OpError for %q", op, err, op)
	}
}

// swapAddrs rewrites the plain end's error text as the wrapped end's.
func swapAddrs(s string, p net.Conn) string {
	l, r := p.LocalAddr().String(), p.RemoteAddr().String()
	return string(bytes.Replace([]byte(s), []byte(l+"->"+r), []byte(r+"->"+l), 1))
}

func TestCloseEndsABlockedReadAndWrite(t *testing.T) {
	w, _ := pair(t)
	read, wrote := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := w.Read(make([]byte, 8))
		read <- err
	}()
	go func() { // more than both socket buffers hold, and nobody reads
		_, err := w.Write(make([]byte, 64<<20))
		wrote <- err
	}()
	time.Sleep(50 * time.Millisecond) // let both wait in the poller
	select {
	case err := <-read:
		t.Fatalf("Read returned before Close: %v", err)
	case err := <-wrote:
		t.Fatalf("Write returned before Close: %v", err)
	default:
	}
	w.Close()
	for name, ch := range map[string]chan error{"Read": read, "Write": wrote} {
		select {
		case err := <-ch:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("%s ended by Close: %v, want net.ErrClosed", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Close did not end a blocked %s", name)
		}
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v, want net.ErrClosed", err)
	}
	// As on a *net.TCPConn, even empty calls report the closed connection.
	if _, err := w.Read(nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read(nil) after Close: %v, want net.ErrClosed", err)
	}
	if _, err := w.Write(nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write(nil) after Close: %v, want net.ErrClosed", err)
	}
}

func TestResetIsReported(t *testing.T) {
	w, p := pair(t)
	p.SetLinger(0) // close sends RST
	p.Close()
	w.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := w.Read(make([]byte, 8))
	if runtime.GOOS == "linux" && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after the peer's reset: %v, want ECONNRESET", err)
	}
	if oe, ok := errors.AsType[*net.OpError](err); !ok || oe.Op != "read" {
		t.Errorf("reset error %#v, want a *net.OpError for read", err)
	}
}

func TestListenerWraps(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Listener{Listener: ln}
	defer l.Close()
	go func() { // ends when the dial is answered or fails
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, plain := c.(*net.TCPConn); plain != !Raw {
		t.Errorf("accepted %T", c)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(c); err != nil || string(b) != "hi" {
		t.Errorf("read %q, %v", b, err)
	}
	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
}

// TestNoAllocations: a Read and a Write through the wrapper allocate
// nothing (the callbacks are made once, in Wrap).
func TestNoAllocations(t *testing.T) {
	w, p := pair(t)
	out, in := []byte("ping"), make([]byte, 4)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := w.Write(out); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(p, in); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Write(in); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(w, in); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per round trip, want 0", allocs)
	}
}
