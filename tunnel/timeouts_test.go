package tunnel

import (
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loopgate/loopgate/keys"
	"github.com/loopgate/loopgate/limits"
)

// wantBetween fails unless lo <= d <= hi.
func wantBetween(t testing.TB, what string, d, lo, hi time.Duration) {
	t.Helper()
	if d < lo || d > hi {
		t.Errorf("%s: got %s, want %s to %s", what, d.Round(time.Millisecond), lo, hi)
	}
}

func TestClientAliveClosesFrozenLinks(t *testing.T) {
	alice := newSigner(t)
	tg := startGateway(t, nil, nil, []keys.AuthorizedKey{entry(alice, "alice", keys.Options{})},
		withLimits(limits.Limits{ClientAliveInterval: 200 * time.Millisecond, ClientAliveCountMax: 2}))
	r := startRelay(t, tg.addr)
	frozen, err := ssh.Dial("tcp", r.addr, tg.clientConfig(alice))
	if err != nil {
		t.Fatalf("log in through the relay: %v", err)
	}
	t.Cleanup(func() { frozen.Close() })
	normal := tg.mustDial(t, alice)

	start := time.Now()
	r.frozen.Store(true)
	// Probes at 0.2s steps; the second missed one ends it: about 0.6s.
	wantBetween(t, "frozen link closed after", waitClosed(t, frozen, 3*time.Second), 0, 1500*time.Millisecond)
	tg.log.waitFor(t, "connection closed", `reason="client alive timeout"`)

	time.Sleep(2*time.Second - time.Since(start))
	if !isOpen(normal) {
		t.Fatal("client answering keepalives: got closed after 2s, want open")
	}
	if got := tg.log.count("client alive timeout"); got != 1 {
		t.Errorf("alive timeouts: got %d, want 1 (the frozen link only)", got)
	}
}

func TestUnusedConnectionTimeout(t *testing.T) {
	alice := newSigner(t)
	tg, target := echoGateway(t, []keys.AuthorizedKey{entry(alice, "alice", keys.Options{})},
		withLimits(limits.Limits{UnusedConnectionTimeout: 500 * time.Millisecond}))
	idle := tg.mustDial(t, alice)
	start := time.Now()
	busy := tg.mustDial(t, alice)
	conn, err := busy.Dial("tcp", target)
	if err != nil {
		t.Fatal(err)
	}
	waitClosed(t, idle, 3*time.Second)
	wantBetween(t, "connection without a channel closed after", time.Since(start), 400*time.Millisecond, 1500*time.Millisecond)

	time.Sleep(time.Second - time.Since(start))
	if !isOpen(busy) {
		t.Fatal("connection with an open tunnel: got closed, want open")
	}
	if got := roundTrip(t, conn, "x"); got != "echo:x" {
		t.Fatalf("got %q, want %q", got, "echo:x")
	}
	conn.Close()
	// The gateway counts the tunnel out after the client saw it end, so
	// the clock starts no earlier than now.
	wantBetween(t, "connection closed after its last tunnel by", waitClosed(t, busy, 3*time.Second),
		450*time.Millisecond, 1500*time.Millisecond)
	waitUntil(t, "both closes logged as unused", func() bool { return tg.log.count(`reason="unused connection timeout"`) == 2 })
}

func TestChannelTimeoutClosesIdleTunnels(t *testing.T) {
	alice := newSigner(t)
	tg, target := echoGateway(t, []keys.AuthorizedKey{entry(alice, "alice", keys.Options{})},
		withLimits(limits.Limits{ChannelTimeout: 300 * time.Millisecond}))
	c := tg.mustDial(t, alice)
	quiet, err := c.Dial("tcp", target)
	if err != nil {
		t.Fatal(err)
	}
	busy, err := c.Dial("tcp", target)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	quietEnded := make(chan time.Duration, 1)
	go func() { // ends when the gateway closes the tunnel, or at cleanup
		io.Copy(io.Discard, quiet)
		quietEnded <- time.Since(start)
	}()
	for range 10 {
		if _, err := io.WriteString(busy, "."); err != nil {
			t.Fatalf("busy tunnel: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case d := <-quietEnded:
		wantBetween(t, "quiet tunnel closed after", d, 250*time.Millisecond, 1500*time.Millisecond)
	case <-time.After(time.Second):
		t.Fatal("quiet tunnel: still open after 2s, want closed after 300ms")
	}
	if got, want := roundTrip(t, busy, "!"), "echo:..........!"; got != want {
		t.Fatalf("busy tunnel after 1s: got %q, want %q", got, want)
	}
	tg.log.waitFor(t, "tunnel closed", `reason="idle timeout (ChannelTimeout)"`)
	if got := tg.log.count("idle timeout"); got != 1 {
		t.Errorf("idle timeouts: got %d, want 1", got)
	}
}

func TestExpiryClosesLiveConnections(t *testing.T) {
	alice, bob := newSigner(t), newSigner(t)
	expiry := time.Now().Add(time.Second)
	tg, target := echoGateway(t, []keys.AuthorizedKey{
		entry(alice, "alice", keys.Options{ExpiryTime: expiry}), entry(bob, "bob", keys.Options{}),
	})
	ca, cb := tg.mustDial(t, alice), tg.mustDial(t, bob)
	ta, err := ca.Dial("tcp", target)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := cb.Dial("tcp", target)
	if err != nil {
		t.Fatal(err)
	}
	waitClosed(t, ca, time.Until(expiry)+3*time.Second)
	wantBetween(t, "expired connection closed after the expiry by", time.Since(expiry), 0, 2*time.Second)
	if _, err := io.ReadAll(ta); err != nil {
		t.Errorf("expired key's tunnel: got %v, want it ended", err)
	}
	if got := roundTrip(t, tb, "bob"); got != "echo:bob" {
		t.Fatalf("other key's tunnel: got %q, want %q", got, "echo:bob")
	}
	tg.log.waitFor(t, "connection revoked", "key expired")
	if l := tg.log.line("connection revoked"); !strings.Contains(l, "name=alice") {
		t.Errorf("revocation: got %q, want it for alice", l)
	}
}

// The idle timer's check, run by hand as the timer's goroutine would:
// with recent activity it re-arms, once idle it calls onIdle once, and
// a check already on its way when stop ran (the timer fired, its
// goroutine not yet scheduled) does neither, so an ended tunnel is not
// ended again up to ChannelTimeout later.
func TestIdleTimerCheck(t *testing.T) {
	var calls atomic.Int32
	it := newIdleTimer(time.Hour, func() { calls.Add(1) })
	it.check()
	if !it.timer.Stop() || calls.Load() != 0 {
		t.Fatalf("active tunnel: onIdle called %d times or the timer not re-armed; want re-armed, no call", calls.Load())
	}
	it.last.Store(time.Now().Add(-2 * time.Hour).UnixNano())
	it.check()
	it.check()
	if calls.Load() != 1 {
		t.Fatalf("idle tunnel: onIdle called %d times, want once", calls.Load())
	}

	for _, idle := range []bool{false, true} {
		calls.Store(0)
		it := newIdleTimer(time.Hour, func() { calls.Add(1) })
		if idle {
			it.last.Store(time.Now().Add(-2 * time.Hour).UnixNano())
		}
		it.stop()
		it.check()
		if it.timer.Stop() {
			t.Errorf("stopped, idle %t: check re-armed the timer", idle)
		}
		if n := calls.Load(); n != 0 {
			t.Errorf("stopped, idle %t: onIdle called %d times", idle, n)
		}
	}
}
