package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loopgate/loopgate/keys"
	"github.com/loopgate/loopgate/limits"
)

// withQuietLog discards audit events, for tests that cause thousands.
func withQuietLog() gatewayOption {
	return func(c *GatewayConfig) { c.Logger = slog.New(slog.DiscardHandler) }
}

// perSourceOff turns off every per-source limit in l, so a test may
// connect from 127.0.0.1 as often and as badly as it likes.
func perSourceOff(l limits.Limits) limits.Limits {
	l.PerSourceMaxStartups = limits.Off
	l.PerSourceConnectRate = limits.Rate{Count: limits.Off, Per: limits.Off}
	l.PerSourcePenalties = limits.Penalties{Off: true}
	return l
}

// usage is what the process holds: goroutines and heap in use after a GC.
type usage struct {
	goroutines int
	heap       uint64
}

func measure() usage {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return usage{goroutines: runtime.NumGoroutine(), heap: m.HeapInuse}
}

func (u usage) String() string {
	return fmt.Sprintf("%d goroutines, %.1f MiB heap in use", u.goroutines, float64(u.heap)/(1<<20))
}

// settle polls for up to 5s until the process is back within the given
// slack of base, or fails and dumps every goroutine.
func settle(t testing.TB, base usage, goroutines int, heap uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		u := measure()
		if u.goroutines <= base.goroutines+goroutines && u.heap <= base.heap+heap {
			t.Logf("baseline %v; now %v", base, u)
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("after 5s: got %v, want within %d goroutines and %d MiB of the baseline (%v)\n%s",
				u, goroutines, heap>>20, base, buf)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// inParallel runs f(0) to f(n-1) on a few goroutines and returns the
// first error.
func inParallel(n, workers int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		once  sync.Once
		first error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// TestRefusalsAndFailedLoginsLeakNothing floods one connection with
// refused channel opens and the gateway with failed logins, then checks
// that goroutines and heap come back to where they were.
func TestRefusalsAndFailedLoginsLeakNothing(t *testing.T) {
	alice, mallory := newSigner(t), newSigner(t)
	tg := startGateway(t, nil, nil, []keys.AuthorizedKey{entry(alice, "alice", keys.Options{})},
		withLimits(perSourceOff(limits.Limits{MaxSessions: limits.Off})), withQuietLog())
	base := measure()
	c := tg.mustDial(t, alice)
	denied := ssh.Marshal(directTCPIP{Host: "nanomq", Port: 8081, OrigHost: "127.0.0.1", OrigPort: 50000})
	open := func(i int) error { // an unknown type and a denied direct-tcpip, alternately
		typ, payload, want := "x-unknown@test", []byte(nil), ssh.UnknownChannelType
		if i%2 == 1 {
			typ, payload, want = "direct-tcpip", denied, ssh.Prohibited
		}
		_, _, err := c.OpenChannel(typ, payload)
		if oce := (*ssh.OpenChannelError)(nil); !errors.As(err, &oce) || oce.Reason != want {
			return fmt.Errorf("open %d (%s): got %v, want rejected with %v", i, typ, err, want)
		}
		return nil
	}
	if err := inParallel(100, 1, open); err != nil {
		t.Fatal(err)
	}
	connected := measure()
	if err := inParallel(10_000, 4, open); err != nil {
		t.Fatal(err)
	}
	settle(t, connected, 5, 8<<20) // nothing per refused channel, even with the connection open
	c.Close()
	err := inParallel(1000, 4, func(i int) error {
		if c, err := ssh.Dial("tcp", tg.addr, tg.clientConfig(mallory)); err == nil {
			c.Close()
			return fmt.Errorf("unknown key, login %d: got logged in, want refused", i)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	settle(t, base, 5, 8<<20)
	if got := tg.gw.gate.Stats(); got.Unauthenticated != 0 || got.Authenticated != 0 {
		t.Errorf("gate after everything ended: got %+v, want no connection counted", got)
	}
}

// floodServer accepts one connection and writes to it as fast as it can,
// up to limit bytes; it reports how much it wrote once a write fails or
// the limit is reached.
func floodServer(t testing.TB, limit int64) (addr string, wrote <-chan int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan int64, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 32<<10)
		var n int64
		for n < limit {
			m, err := c.Write(buf)
			n += int64(m)
			if err != nil {
				break
			}
		}
		ch <- n
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String(), ch
}

func TestSlowReaderIsBoundedByTheChannelWindow(t *testing.T) {
	const limit = 200 << 20
	up, wrote := floodServer(t, limit)
	alice := newSigner(t)
	tg := startGateway(t, map[string]string{"flood": up}, map[string][]string{"alice": {"flood"}},
		[]keys.AuthorizedKey{entry(alice, "alice", keys.Options{})})
	c := tg.mustDial(t, alice)
	_, port, _ := net.SplitHostPort(up)
	base := measure()
	conn, err := c.Dial("tcp", "flood:"+port)
	if err != nil {
		t.Fatal(err)
	}
	var peak uint64
	for range 20 { // about 2s; the client never reads
		time.Sleep(100 * time.Millisecond)
		peak = max(peak, measure().heap)
	}
	if peak > base.heap+16<<20 {
		t.Errorf("heap in use while the client does not read: got %.1f MiB at peak, want below %.1f MiB (baseline + 16 MiB)",
			float64(peak)/(1<<20), float64(base.heap+16<<20)/(1<<20))
	}
	conn.Close()
	select {
	case n := <-wrote:
		t.Logf("upstream wrote %.1f MiB before the tunnel closed; peak heap %.1f MiB over a baseline of %.1f MiB",
			float64(n)/(1<<20), float64(peak)/(1<<20), float64(base.heap)/(1<<20))
		if n >= limit {
			t.Errorf("upstream wrote %d bytes, want flow control to stall it well before %d", n, limit)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("upstream still writing 5s after the client closed the tunnel, want its connection closed")
	}
	tg.log.waitFor(t, "tunnel closed", "service=flood")
	settle(t, base, 5, 2<<20)
}

// panicOnce is a slog.Handler that panics the first time it handles a
// record whose message is msg. The gateway calls its logger from every
// goroutine it owns, so this stands for a bug anywhere in a handler,
// without a test hook in production code.
type panicOnce struct {
	slog.Handler
	msg   string
	armed *atomic.Bool
}

func (h panicOnce) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg && h.armed.CompareAndSwap(true, false) {
		panic("test: injected panic at " + h.msg)
	}
	return h.Handler.Handle(ctx, r)
}

func (h panicOnce) WithAttrs(as []slog.Attr) slog.Handler {
	return panicOnce{h.Handler.WithAttrs(as), h.msg, h.armed}
}

func (h panicOnce) WithGroup(name string) slog.Handler {
	return panicOnce{h.Handler.WithGroup(name), h.msg, h.armed}
}

// panicLogging makes the gateway's logger panic once, at msg.
func panicLogging(msg string) gatewayOption {
	return func(c *GatewayConfig) {
		armed := &atomic.Bool{}
		armed.Store(true)
		c.Logger = slog.New(panicOnce{c.Logger.Handler(), msg, armed})
	}
}

// holdServer accepts one connection and reads it until EOF; done closes
// then. Its cleanup does not wait for that connection, which a panicked
// tunnel may leave open.
func holdServer(t testing.TB) (addr string, done <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(io.Discard, c)
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), ch
}

// panicTargets are the services of panicGateway, as tunnel targets.
type panicTargets struct {
	echo, hold string
	holdDone   <-chan struct{} // the hold service saw its connection end
}

// panicGateway starts a gateway whose logger panics once, at msg, with
// an echo and a hold service granted to alice.
func panicGateway(t testing.TB, alice ssh.Signer, msg string) (*testGateway, panicTargets) {
	t.Helper()
	echo, _ := echoServer(t)
	hold, done := holdServer(t)
	tg := startGateway(t, map[string]string{"echo": echo, "hold": hold}, map[string][]string{"alice": {"echo", "hold"}},
		[]keys.AuthorizedKey{entry(alice, "alice", keys.Options{})}, panicLogging(msg))
	_, ep, _ := net.SplitHostPort(echo)
	_, hp, _ := net.SplitHostPort(hold)
	return tg, panicTargets{echo: "echo:" + ep, hold: "hold:" + hp, holdDone: done}
}

func TestPanicEndsOnlyItsConnection(t *testing.T) {
	tests := []struct {
		name       string
		at         string // the log message whose handling panics
		where      string
		trigger    func(testing.TB, *testGateway, ssh.Signer, panicTargets)
		penalized  bool   // a crash before login penalizes the source
		followFrom string // a source that logs in afterwards
	}{
		{"in a tunnel", "tunnel opened", "where=tunnel", openTunnelAndWait, false, "127.0.0.1"},
		{"during authentication", "auth rejected", "where=connection", failLoginOnce, true, "127.0.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alice := newSigner(t)
			tg, targets := panicGateway(t, alice, tt.at)
			tt.trigger(t, tg, alice, targets)
			tg.log.waitFor(t, "handler panicked", tt.where, "injected panic")
			if tt.penalized {
				// The penalty lands when the crashed handshake is counted out, after the log line.
				waitUntil(t, "the crashed handshake counted out", func() bool { return tg.gw.gate.Stats().Unauthenticated == 0 })
				wantDropped(t, tg.rawFrom(t, "127.0.0.1"))
				tg.log.waitFor(t, "connection dropped", "source penalized")
			}
			c := tg.mustDialFrom(t, tt.followFrom, alice)
			conn, err := c.Dial("tcp", targets.echo)
			if err != nil {
				t.Fatalf("tunnel after the panic: %v", err)
			}
			if got := roundTrip(t, conn, "alive"); got != "echo:alive" {
				t.Fatalf("tunnel after the panic: got %q, want %q", got, "echo:alive")
			}
		})
	}
}

func openTunnelAndWait(t testing.TB, tg *testGateway, user ssh.Signer, targets panicTargets) {
	t.Helper()
	c := tg.mustDial(t, user)
	c.Dial("tcp", targets.hold) // accepted, then the handler panics
	waitClosed(t, c, 2*time.Second)
}

func failLoginOnce(t testing.TB, tg *testGateway, _ ssh.Signer, _ panicTargets) {
	t.Helper()
	failLogin(t, tg)
}

// TestPanicInTunnelClosesUpstream checks that a tunnel whose handler
// panicked after dialling does not leave its service connection open.
func TestPanicInTunnelClosesUpstream(t *testing.T) {
	alice := newSigner(t)
	tg, targets := panicGateway(t, alice, "tunnel opened")
	openTunnelAndWait(t, tg, alice, targets)
	tg.log.waitFor(t, "handler panicked")
	select {
	case <-targets.holdDone:
	case <-time.After(2 * time.Second):
		t.Fatal("service connection of the panicked tunnel: still open 2s after the panic, want closed")
	}
}
