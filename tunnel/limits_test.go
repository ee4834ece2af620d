package tunnel

import (
	"bufio"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loopgate/loopgate/keys"
	"github.com/loopgate/loopgate/limits"
)

// These tests run a real Gateway on 127.0.0.1 and talk to it with the
// x/crypto/ssh client or with raw TCP, one limit at a time. Other sources
// are other loopback addresses (127.0.0.2, ...), which Linux routes to lo.

// withLimits sets the gateway's limits; zero fields take the defaults
// (note: that includes LoginGraceTime, which the harness otherwise sets to 2s).
func withLimits(l limits.Limits) gatewayOption {
	return func(c *GatewayConfig) { c.Limits = l }
}

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

func mustPenalties(t testing.TB, args ...string) limits.Penalties {
	t.Helper()
	p, err := limits.ParsePenalties(args)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// echoGateway starts a gateway with one echo service granted to every
// key in entries, and returns it with the tunnel target "echo:PORT".
func echoGateway(t testing.TB, entries []keys.AuthorizedKey, opts ...gatewayOption) (*testGateway, string) {
	t.Helper()
	up, _ := echoServer(t)
	grants := map[string][]string{}
	for _, e := range entries {
		grants[e.Comment] = []string{"echo"}
	}
	tg := startGateway(t, map[string]string{"echo": up}, grants, entries, opts...)
	_, port, _ := net.SplitHostPort(up)
	return tg, "echo:" + port
}

func (tg *testGateway) clientConfig(user ssh.Signer) *ssh.ClientConfig {
	return &ssh.ClientConfig{
		User:            "op",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(user)},
		HostKeyCallback: ssh.FixedHostKey(tg.hostKey.PublicKey()),
		Timeout:         5 * time.Second,
	}
}

// rawFrom opens a plain TCP connection to the gateway from the loopback
// address src.
func (tg *testGateway) rawFrom(t testing.TB, src string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", tg.addr)
	if err != nil {
		t.Fatalf("dial gateway from %s: %v", src, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// dialFrom logs in as user over a connection from the loopback address src.
func (tg *testGateway) dialFrom(t testing.TB, src string, user ssh.Signer) (*ssh.Client, error) {
	t.Helper()
	raw := tg.rawFrom(t, src)
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	conn, chans, reqs, err := ssh.NewClientConn(raw, tg.addr, tg.clientConfig(user))
	if err != nil {
		return nil, err
	}
	raw.SetDeadline(time.Time{})
	c := ssh.NewClient(conn, chans, reqs)
	t.Cleanup(func() { c.Close() })
	return c, nil
}

func (tg *testGateway) mustDialFrom(t testing.TB, src string, user ssh.Signer) *ssh.Client {
	t.Helper()
	c, err := tg.dialFrom(t, src, user)
	if err != nil {
		t.Fatalf("log in from %s: %v", src, err)
	}
	return c
}

// count reports how many times s was logged so far.
func (l *logBuffer) count(s string) int { return strings.Count(l.String(), s) }

// line returns the first log line containing s, or "".
func (l *logBuffer) line(s string) string {
	for ln := range strings.Lines(l.String()) {
		if strings.Contains(ln, s) {
			return ln
		}
	}
	return ""
}

// wantBanner reads the gateway's version line: it admitted conn.
func wantBanner(t testing.TB, conn net.Conn) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer conn.SetReadDeadline(time.Time{})
	got := make([]byte, len(ServerVersion))
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != ServerVersion {
		t.Fatalf("admitted connection: got %q (%v), want the banner %q", got, err, ServerVersion)
	}
}

// dropLine is all the gateway may send to a connection it drops before
// the banner: sshd's line, which RFC 4253 4.2 allows before a version.
const dropLine = "Not allowed at this time\r\n"

// wantDropped checks that the gateway closed conn before its banner: it
// sends at most dropLine, never an SSH version, and hangs up at once.
func wantDropped(t testing.TB, conn net.Conn) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	got, err := io.ReadAll(conn)
	switch {
	case isTimeout(err):
		t.Fatalf("dropped connection: still open after 2s (read %q), want closed before the banner", got)
	case len(got) > 0 && string(got) != dropLine:
		t.Fatalf("dropped connection: got %q, want nothing or %q, and no SSH banner", got, dropLine)
	}
}

// waitClosed waits up to within for c to end and returns how long it took.
func waitClosed(t testing.TB, c ssh.Conn, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }() // ends when c does; cleanups close c
	select {
	case <-done:
		return time.Since(start)
	case <-time.After(within):
		t.Fatalf("connection still open after %s, want closed", within)
		return 0
	}
}

// isOpen reports whether c still carries a request and its reply.
func isOpen(c ssh.Conn) bool {
	_, _, err := c.SendRequest("ping@test", true, nil)
	return err == nil
}

// wantRejected checks that err is a channel open refused for reason want.
func wantRejected(t testing.TB, err error, want ssh.RejectionReason) {
	t.Helper()
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || oce.Reason != want {
		t.Fatalf("channel open: got %v, want rejected with %v", err, want)
	}
}

// waitUntil polls cond for up to 5s.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s: got false, want true", what)
		}
	}
}

// wantBetween fails unless lo <= d <= hi.
func wantBetween(t testing.TB, what string, d, lo, hi time.Duration) {
	t.Helper()
	if d < lo || d > hi {
		t.Errorf("%s: got %s, want %s to %s", what, d.Round(time.Millisecond), lo, hi)
	}
}

func TestMaxSessionsRefusesExtraTunnels(t *testing.T) {
	alice := newSigner(t)
	tg, target := echoGateway(t, []keys.AuthorizedKey{entry(alice, "alice", keys.Options{})},
		withLimits(limits.Limits{MaxSessions: 3}))
	c := tg.mustDial(t, alice)
	var open []net.Conn
	for i := range 3 {
		conn, err := c.Dial("tcp", target)
		if err != nil {
			t.Fatalf("tunnel %d of 3: %v", i+1, err)
		}
		open = append(open, conn)
	}
	_, err := c.Dial("tcp", target)
	wantRejected(t, err, ssh.ResourceShortage)
	tg.log.waitFor(t, "channel refused", "too many open channels (MaxSessions)")

	other := tg.mustDial(t, alice)
	conn, err := other.Dial("tcp", target)
	if err != nil {
		t.Fatalf("same key, second connection: %v", err)
	}
	if got := roundTrip(t, conn, "other"); got != "echo:other" {
		t.Fatalf("second connection: got %q, want %q", got, "echo:other")
	}

	if got := roundTrip(t, open[0], "first"); got != "echo:first" {
		t.Fatalf("first tunnel: got %q, want %q", got, "echo:first")
	}
	open[0].Close()
	// The slot frees once the gateway has counted the tunnel out.
	var again net.Conn
	waitUntil(t, "a tunnel opens after one closed", func() bool {
		again, err = c.Dial("tcp", target)
		return err == nil
	})
	if got := roundTrip(t, again, "again"); got != "echo:again" {
		t.Fatalf("tunnel after one closed: got %q, want %q", got, "echo:again")
	}
}

func TestMaxAuthTriesCountsRefusedKeys(t *testing.T) {
	tests := []struct {
		name         string
		maxAuthTries int
		wantLogin    bool
	}{
		{"six refused keys reach MaxAuthTries 6", 6, false},
		{"six refused keys stay under MaxAuthTries 10", 10, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alice := newSigner(t)
			tg := startGateway(t, nil, nil, []keys.AuthorizedKey{entry(alice, "alice", keys.Options{})},
				withLimits(limits.Limits{MaxAuthTries: tt.maxAuthTries}))
			var signers []ssh.Signer
			for range 6 {
				signers = append(signers, newSigner(t))
			}
			signers = append(signers, alice) // offered last, after six refusals
			cfg := tg.clientConfig(alice)
			cfg.Auth = []ssh.AuthMethod{ssh.PublicKeysCallback(func() ([]ssh.Signer, error) { return signers, nil })}
			c, err := ssh.Dial("tcp", tg.addr, cfg)
			if err == nil {
				t.Cleanup(func() { c.Close() })
			}
			if (err == nil) != tt.wantLogin {
				t.Fatalf("log in after six refused keys: got err %v, want logged in %v", err, tt.wantLogin)
			}
			if tt.wantLogin {
				tg.log.waitFor(t, "auth accepted", "name=alice")
				return
			}
			tg.log.waitFor(t, "too many authentication failures", "tries=6", "handshake failed")
			if got := tg.log.count("auth rejected"); got != 6 {
				t.Errorf("keys refused: got %d, want 6", got)
			}
			if strings.Contains(tg.log.String(), "auth accepted") {
				t.Errorf("log: got an accepted login, want none:\n%s", tg.log)
			}
		})
	}
}

func TestPreBannerGateDropsBeforeTheBanner(t *testing.T) {
	tests := []struct {
		name      string
		limits    limits.Limits
		held      []string // sources of silent connections admitted and held open
		dropped   string   // source of the next connection, dropped before the banner
		reason    string
		release   bool   // close the held connections before loginFrom logs in
		loginFrom string // a source that logs in and opens a tunnel
	}{
		{
			name:    "PerSourceMaxStartups",
			limits:  limits.Limits{PerSourceMaxStartups: 2},
			held:    []string{"127.0.0.1", "127.0.0.1"},
			dropped: "127.0.0.1", reason: "(PerSourceMaxStartups)", loginFrom: "127.0.0.2",
		},
		{
			name:    "PerSourceConnectRate",
			limits:  limits.Limits{PerSourceConnectRate: limits.Rate{Count: 3, Per: time.Minute}, PerSourceMaxStartups: limits.Off},
			held:    []string{"127.0.0.1", "127.0.0.1", "127.0.0.1"},
			dropped: "127.0.0.1", reason: "(PerSourceConnectRate)", loginFrom: "127.0.0.2",
		},
		{
			name:    "MaxStartups full",
			limits:  limits.Limits{MaxStartups: limits.Startups{Start: 2, Rate: 100, Full: 2}},
			held:    []string{"127.0.0.1", "127.0.0.2"},
			dropped: "127.0.0.3", reason: "(MaxStartups)", release: true, loginFrom: "127.0.0.3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alice := newSigner(t)
			tg, target := echoGateway(t, []keys.AuthorizedKey{entry(alice, "alice", keys.Options{})}, withLimits(tt.limits))
			var held []net.Conn
			for _, src := range tt.held {
				conn := tg.rawFrom(t, src)
				wantBanner(t, conn)
				held = append(held, conn)
			}
			wantDropped(t, tg.rawFrom(t, tt.dropped))
			tg.log.waitFor(t, "connection dropped", "source="+tt.dropped+":", tt.reason)
			if tt.release {
				for _, conn := range held {
					conn.Close()
				}
				waitUntil(t, "no unauthenticated connection left", func() bool {
					return tg.gw.gate.Stats().Unauthenticated == 0
				})
			}
			c := tg.mustDialFrom(t, tt.loginFrom, alice)
			conn, err := c.Dial("tcp", target)
			if err != nil {
				t.Fatalf("tunnel from %s: %v", tt.loginFrom, err)
			}
			if got := roundTrip(t, conn, "in"); got != "echo:in" {
				t.Fatalf("tunnel from %s: got %q, want %q", tt.loginFrom, got, "echo:in")
			}
		})
	}
}

// Ways to misbehave before authentication, from 127.0.0.1.
func failLogin(t testing.TB, tg *testGateway) {
	t.Helper()
	if _, err := tg.dial(t, newSigner(t)); err == nil {
		t.Fatal("unknown key: got logged in, want refused")
	}
}

func leaveEarly(t testing.TB, tg *testGateway) {
	t.Helper()
	conn := tg.rawFrom(t, "127.0.0.1")
	wantBanner(t, conn)
	conn.Close()
}

func staySilent(t testing.TB, tg *testGateway) {
	t.Helper()
	conn := tg.rawFrom(t, "127.0.0.1")
	wantBanner(t, conn)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, conn); err != nil {
		t.Fatalf("silent client: got %v, want the gateway to hang up after LoginGraceTime", err)
	}
}

func TestPerSourcePenalties(t *testing.T) {
	tests := []struct {
		name      string
		grace     time.Duration
		penalties []string
		misbehave func(testing.TB, *testGateway)
		times     int
		outcome   string
	}{
		{"authfail", 0, []string{"authfail:5s", "min:10s"}, failLogin, 2, "authfail"},
		{"noauth", 0, []string{"noauth:10s", "min:10s"}, leaveEarly, 1, "noauth"},
		{"grace-exceeded", 300 * time.Millisecond, []string{"grace-exceeded:10s", "min:10s"}, staySilent, 1, "grace-exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alice := newSigner(t)
			l := limits.Limits{LoginGraceTime: tt.grace, PerSourcePenalties: mustPenalties(t, tt.penalties...)}
			tg := startGateway(t, nil, nil, []keys.AuthorizedKey{entry(alice, "alice", keys.Options{})}, withLimits(l))
			for i := range tt.times {
				tt.misbehave(t, tg)
				waitUntil(t, fmt.Sprintf("handshake %d ended", i+1), func() bool { return tg.log.count("handshake failed") == i+1 })
				if i < tt.times-1 && strings.Contains(tg.log.String(), "source penalized") {
					t.Fatalf("after %d of %d: got penalized, want not yet:\n%s", i+1, tt.times, tg.log)
				}
			}
			tg.log.waitFor(t, "source penalized", "outcome="+tt.outcome)
			wantDropped(t, tg.rawFrom(t, "127.0.0.1"))
			tg.log.waitFor(t, "connection dropped", "source penalized (PerSourcePenalties)")
			if p, d := strings.Index(tg.log.String(), "source penalized"), strings.Index(tg.log.String(), "connection dropped"); p > d {
				t.Errorf("log order: got the drop before the penalty, want penalty first:\n%s", tg.log)
			}
			if _, err := tg.dialFrom(t, "127.0.0.2", alice); err != nil {
				t.Fatalf("another source: got %v, want logged in", err)
			}
		})
	}
}

// wantRefusedAfterAuth logs in as user and expects the gateway to end the
// connection right after authentication.
func wantRefusedAfterAuth(t testing.TB, tg *testGateway, user ssh.Signer) {
	t.Helper()
	c, err := tg.dial(t, user)
	if err != nil {
		return // the close raced the end of the handshake
	}
	waitClosed(t, c, 2*time.Second)
}

func TestLoginCapsRefuseAfterAuth(t *testing.T) {
	alice, bob, carol := newSigner(t), newSigner(t), newSigner(t)
	tg := startGateway(t, nil, nil, []keys.AuthorizedKey{
		entry(alice, "alice", keys.Options{}), entry(bob, "bob", keys.Options{}), entry(carol, "carol", keys.Options{}),
	}, withLimits(limits.Limits{MaxConnectionsPerKey: 2, MaxConnections: 3}))
	a1, a2 := tg.mustDial(t, alice), tg.mustDial(t, alice)

	wantRefusedAfterAuth(t, tg, alice)
	tg.log.waitFor(t, "connection refused", "too many connections for this key (MaxConnectionsPerKey): 2 open")
	b := tg.mustDial(t, bob)
	wantRefusedAfterAuth(t, tg, carol)
	tg.log.waitFor(t, "too many connections (MaxConnections)")
	waitUntil(t, "three logins accepted", func() bool { return tg.log.count("auth accepted") >= 3 })
	if got := tg.log.count("auth accepted"); got != 3 {
		t.Errorf("logins accepted: got %d, want 3 (the refused ones never log in)", got)
	}

	a1.Close()
	waitUntil(t, "the closed login is released", func() bool { return tg.gw.gate.Stats().Authenticated == 2 })
	tg.mustDial(t, alice)
	if !isOpen(a2) || !isOpen(b) {
		t.Error("earlier connections: got closed, want open")
	}
}

// relay is a TCP hop in front of the gateway that can freeze: from then on
// it drops every byte both ways, like a link gone dark that no FIN or RST
// will ever report.
type relay struct {
	addr   string
	frozen atomic.Bool
}

func startRelay(t testing.TB, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{addr: ln.Addr().String()}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); r.pump(out, in) }()
			go func() { defer wg.Done(); r.pump(in, out) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return r
}

// pump copies src to dst, dropping what it reads while frozen, until
// either side fails; then it closes both.
func (r *relay) pump(dst, src net.Conn) {
	defer src.Close()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !r.frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
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

var rsa2048 = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

func rsaSigner(t testing.TB, algos ...string) ssh.Signer {
	t.Helper()
	k, err := rsa2048()
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if len(algos) == 0 {
		return s
	}
	as, err := ssh.NewSignerWithAlgorithms(s.(ssh.AlgorithmSigner), algos)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

func TestNewGatewayRefusesWeakAlgorithms(t *testing.T) {
	ed := newSigner(t)
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ssh.NewSignerFromKey(ek)
	if err != nil {
		t.Fatal(err)
	}
	sha1Kex := []string{ssh.InsecureKeyExchangeDH14SHA1}
	tests := []struct {
		name    string
		cfg     GatewayConfig
		wantErr error
	}{
		{"sha1 kex", GatewayConfig{HostKeys: []ssh.Signer{ed}, Algorithms: Algorithms{KeyExchanges: sha1Kex}}, keys.ErrInsecureAlgorithm},
		{"sha1 kex allowed", GatewayConfig{HostKeys: []ssh.Signer{ed}, Algorithms: Algorithms{KeyExchanges: sha1Kex, AllowInsecure: true}}, nil},
		{"ecdsa host key", GatewayConfig{HostKeys: []ssh.Signer{ec}}, keys.ErrInsecureAlgorithm},
		{"ecdsa host key allowed", GatewayConfig{HostKeys: []ssh.Signer{ec}, Algorithms: Algorithms{AllowInsecure: true}}, nil},
		{"rsa-2048 host key", GatewayConfig{HostKeys: []ssh.Signer{rsaSigner(t)}}, keys.ErrInsecureAlgorithm},
		{"ssh-rsa user signatures", GatewayConfig{HostKeys: []ssh.Signer{ed}, Algorithms: Algorithms{PublicKeyAuth: []string{ssh.KeyAlgoRSA}}}, keys.ErrInsecureAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewGateway(tt.cfg)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("NewGateway: got %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestGatewayAlgorithmsAgainstClients(t *testing.T) {
	tg := startGateway(t, nil, nil, []keys.AuthorizedKey{entry(rsaSigner(t), "rsa", keys.Options{})})
	tests := []struct {
		name    string
		signer  ssh.Signer
		kex     []string
		wantErr string // "" means logged in
	}{
		{"rsa-sha2-256 signatures", rsaSigner(t, ssh.KeyAlgoRSASHA256), nil, ""},
		{"ssh-rsa (SHA-1) signatures only", rsaSigner(t, ssh.KeyAlgoRSA), nil, "unable to authenticate"},
		{"ecdh-sha2-nistp256 kex only", rsaSigner(t, ssh.KeyAlgoRSASHA256), []string{ssh.KeyExchangeECDHP256},
			"no common algorithm for key exchange"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tg.clientConfig(tt.signer)
			cfg.KeyExchanges = tt.kex
			c, err := ssh.Dial("tcp", tg.addr, cfg)
			if err != nil {
				if tt.wantErr == "" || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("log in: got %v, want %q", err, cmp.Or(tt.wantErr, "logged in"))
				}
				return
			}
			defer c.Close()
			if tt.wantErr != "" {
				t.Fatalf("log in: got logged in, want %q", tt.wantErr)
			}
			if got := string(c.ServerVersion()); got != "SSH-2.0-loopgate" {
				t.Errorf("server version: got %q, want %q", got, "SSH-2.0-loopgate")
			}
		})
	}
}

// readKexInit reads the server's first binary packet, which must be its
// KEXINIT, and returns its first six name-lists (RFC 4253 7.1): kex, host
// key, and the ciphers and MACs each way.
func readKexInit(t testing.TB, r io.Reader) [][]string {
	t.Helper()
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		t.Fatalf("read packet header: %v", err)
	}
	n, pad := binary.BigEndian.Uint32(hdr[:4]), int(hdr[4])
	if n > 35000 || pad+2 > int(n) {
		t.Fatalf("packet length %d, padding %d: want a plausible KEXINIT", n, pad)
	}
	body := make([]byte, n-1)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatalf("read packet: %v", err)
	}
	p := body[:len(body)-pad]
	if len(p) < 17 || p[0] != 20 { // SSH_MSG_KEXINIT, cookie
		t.Fatalf("first packet: got message %d, want KEXINIT (20)", p[0])
	}
	p = p[17:]
	var lists [][]string
	for range 6 {
		if len(p) < 4 || int(binary.BigEndian.Uint32(p)) > len(p)-4 {
			t.Fatalf("KEXINIT: truncated name-list %d", len(lists)+1)
		}
		l := int(binary.BigEndian.Uint32(p))
		lists = append(lists, strings.Split(string(p[4:4+l]), ","))
		p = p[4+l:]
	}
	return lists
}

func TestServerBannerAndKexInit(t *testing.T) {
	tg := startGateway(t, nil, nil, nil)
	conn := tg.rawFrom(t, "127.0.0.1")
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "SSH-2.0-probe\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	if line, err := br.ReadString('\n'); err != nil || line != "SSH-2.0-loopgate\r\n" {
		t.Fatalf("version line: got %q (%v), want %q", line, err, "SSH-2.0-loopgate\r\n")
	}
	lists := readKexInit(t, br)
	kex := lists[0]
	if kex[0] != ssh.KeyExchangeMLKEM768X25519 {
		t.Errorf("first kex: got %q, want %q (in %v)", kex[0], ssh.KeyExchangeMLKEM768X25519, kex)
	}
	if !slices.Contains(kex, "kex-strict-s-v00@openssh.com") {
		t.Errorf("kex list: got %v, want kex-strict-s-v00@openssh.com in it", kex)
	}
	for _, tt := range []struct {
		name string
		got  []string
		want []string
	}{
		{"host key algorithms", lists[1], []string{ssh.KeyAlgoED25519}},
		{"ciphers client to server", lists[2], keys.DefaultAlgorithms(keys.Ciphers)},
		{"ciphers server to client", lists[3], keys.DefaultAlgorithms(keys.Ciphers)},
		{"macs client to server", lists[4], keys.DefaultAlgorithms(keys.MACs)},
	} {
		if !slices.Equal(tt.got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}
