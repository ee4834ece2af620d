package tunnel

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loopgate/loopgate/keys"
)

func TestForwardGrantedServiceWithHalfClose(t *testing.T) {
	up, accepted := echoServer(t)
	alice := newSigner(t)
	tg := startGateway(t, map[string]string{"echo": up}, map[string][]string{"alice": {"echo"}},
		[]keys.AuthorizedKey{entry(alice, "alice", keys.Options{})})
	c := tg.mustDial(t, alice)
	_, port, _ := net.SplitHostPort(up)

	for _, host := range []string{"echo", "127.0.0.1"} {
		conn, err := c.Dial("tcp", net.JoinHostPort(host, port))
		if err != nil {
			t.Fatalf("dial %s through gateway: %v", host, err)
		}
		msg := strings.Repeat("x", 100_000)
		if got, want := roundTrip(t, conn, msg), "echo:"+msg; got != want {
			t.Fatalf("via %s: got %d bytes, want %d", host, len(got), len(want))
		}
		conn.Close()
	}
	if got := accepted(); got != 2 {
		t.Errorf("upstream accepted %d connections, want 2", got)
	}
	tg.log.waitFor(t, "auth accepted", "name=alice", "tunnel opened", "service=echo", "tunnel closed", "bytes_in=100000", "bytes_out=100005")
}

func TestDeniedTunnelsNeverDialAndLeaveConnectionUsable(t *testing.T) {
	up, accepted := echoServer(t)
	other, _ := echoServer(t)
	alice := newSigner(t)
	tg := startGateway(t, map[string]string{"echo": up, "other": other}, map[string][]string{"alice": {"echo"}},
		[]keys.AuthorizedKey{entry(alice, "alice", keys.Options{})})
	c := tg.mustDial(t, alice)
	_, port, _ := net.SplitHostPort(up)
	_, otherPort, _ := net.SplitHostPort(other)
	tests := []struct {
		name, addr, reason string
	}{
		{"not granted", "other:" + otherPort, "service not granted"},
		{"not granted by address", "127.0.0.1:" + otherPort, "service not granted"},
		{"unknown name", "nanomq:" + port, "no such service"},
		{"trailing dot", "localhost.:" + port, "no such service"},
		{"short form", "127.1:" + port, "no such service"},
		{"other loopback", "127.0.0.2:" + port, "no such service"},
		{"foreign", "10.0.0.1:" + port, "no such service"},
		{"wrong port", "echo:1", "no such service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Dial("tcp", tt.addr)
			var oce *ssh.OpenChannelError
			if !errors.As(err, &oce) || oce.Reason != ssh.Prohibited {
				t.Fatalf("dial %s: got %v, want a Prohibited refusal", tt.addr, err)
			}
			tg.log.waitFor(t, "tunnel denied", tt.reason)
		})
	}
	if got := accepted(); got != 0 {
		t.Fatalf("upstream accepted %d connections for denied tunnels, want 0", got)
	}
	conn, err := c.Dial("tcp", "echo:"+port)
	if err != nil {
		t.Fatalf("granted dial after refusals: %v", err)
	}
	if got := roundTrip(t, conn, "hi"); got != "echo:hi" {
		t.Fatalf("got %q, want %q", got, "echo:hi")
	}
}

func TestEveryOtherChannelAndRequestIsRefused(t *testing.T) {
	up, _ := echoServer(t)
	alice := newSigner(t)
	tg := startGateway(t, map[string]string{"echo": up}, map[string][]string{"alice": {"echo"}},
		[]keys.AuthorizedKey{entry(alice, "alice", keys.Options{})})
	c := tg.mustDial(t, alice)
	for _, tt := range []struct {
		typ  string
		want ssh.RejectionReason
	}{
		{"session", ssh.Prohibited},
		{"x11", ssh.Prohibited},
		{"auth-agent@openssh.com", ssh.Prohibited},
		{"forwarded-tcpip", ssh.Prohibited},
		{"direct-streamlocal@openssh.com", ssh.Prohibited},
		{"forwarded-streamlocal@openssh.com", ssh.Prohibited},
		{"foo", ssh.UnknownChannelType},
	} {
		_, _, err := c.OpenChannel(tt.typ, nil)
		var oce *ssh.OpenChannelError
		if !errors.As(err, &oce) || oce.Reason != tt.want {
			t.Errorf("open %s: got %v, want reason %v", tt.typ, err, tt.want)
		}
	}
	for _, typ := range []string{"tcpip-forward", "streamlocal-forward@openssh.com", "cancel-tcpip-forward", "foo"} {
		ok, _, err := c.SendRequest(typ, true, nil)
		if err != nil || ok {
			t.Errorf("request %s: got ok=%v err=%v, want refused", typ, ok, err)
		}
	}
	if _, err := c.Listen("tcp", "127.0.0.1:0"); err == nil {
		t.Error("remote forward: got a listener, want refusal")
	}
	_, port, _ := net.SplitHostPort(up)
	conn, err := c.Dial("tcp", "echo:"+port)
	if err != nil {
		t.Fatalf("direct-tcpip after refusals: %v", err)
	}
	if got := roundTrip(t, conn, "still"); got != "echo:still" {
		t.Fatalf("got %q, want %q", got, "echo:still")
	}
	tg.log.waitFor(t, "channel refused", "type=session", "type=foo", "request refused", "type=tcpip-forward")
}

func TestUnknownKeyRejected(t *testing.T) {
	alice, mallory := newSigner(t), newSigner(t)
	tg := startGateway(t, nil, nil, []keys.AuthorizedKey{entry(alice, "alice", keys.Options{})})
	if _, err := tg.dial(t, mallory); err == nil {
		t.Fatal("unknown key: got a connection, want rejection")
	}
	tg.log.waitFor(t, "auth rejected", "reason=\"unknown key\"", keys.Fingerprint(mallory.PublicKey()))
}

func TestExpiredAndFromRestrictedKeys(t *testing.T) {
	up, _ := echoServer(t)
	expired, elsewhere, here := newSigner(t), newSigner(t), newSigner(t)
	tg := startGateway(t, map[string]string{"echo": up}, map[string][]string{"old": {"echo"}, "far": {"echo"}, "near": {"echo"}},
		[]keys.AuthorizedKey{
			entry(expired, "old", keys.Options{ExpiryTime: time.Now().Add(-time.Minute)}),
			entry(elsewhere, "far", keys.Options{From: []string{"10.0.0.0/8"}}),
			entry(here, "near", keys.Options{From: []string{"127.0.0.*", "!127.0.0.9"}}),
		})
	if _, err := tg.dial(t, expired); err == nil {
		t.Error("expired key: got a connection, want rejection")
	}
	if _, err := tg.dial(t, elsewhere); err == nil {
		t.Error("from=10.0.0.0/8 key from 127.0.0.1: got a connection, want rejection")
	}
	if _, err := tg.dial(t, here); err != nil {
		t.Errorf("from=127.0.0.* key from 127.0.0.1: %v", err)
	}
	tg.log.waitFor(t, "key expired", "source address not allowed by from=")
}

func TestPermitOpenAndRestrict(t *testing.T) {
	a, b := echoServer(t)
	_ = b
	other, _ := echoServer(t)
	_, aPort, _ := net.SplitHostPort(a)
	_, oPort, _ := net.SplitHostPort(other)
	po, restricted := newSigner(t), newSigner(t)
	tg := startGateway(t, map[string]string{"a": a, "other": other},
		map[string][]string{"po": {"a", "other"}, "r": {"a"}},
		[]keys.AuthorizedKey{
			entry(po, "po", keys.Options{PermitOpen: []keys.HostPort{{Host: "a", Port: mustAtoi(t, aPort)}}}),
			entry(restricted, "r", keys.Options{Restrict: true}),
		})
	c := tg.mustDial(t, po)
	if _, err := c.Dial("tcp", "a:"+aPort); err != nil {
		t.Errorf("permitopen service: %v", err)
	}
	if _, err := c.Dial("tcp", "other:"+oPort); err == nil {
		t.Error("service outside permitopen: got a channel, want refusal")
	}
	r := tg.mustDial(t, restricted)
	if _, err := r.Dial("tcp", "a:"+aPort); err == nil {
		t.Error("restrict without port-forwarding: got a channel, want refusal")
	}
	tg.log.waitFor(t, "service not in permitopen", "port forwarding disabled")
}

func mustAtoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSetRulesClosesRevokedConnections(t *testing.T) {
	up, _ := echoServer(t)
	alice, bob := newSigner(t), newSigner(t)
	grants := map[string][]string{"alice": {"echo"}, "bob": {"echo"}}
	tg := startGateway(t, map[string]string{"echo": up}, grants,
		[]keys.AuthorizedKey{entry(alice, "alice", keys.Options{}), entry(bob, "bob", keys.Options{})})
	ca, cb := tg.mustDial(t, alice), tg.mustDial(t, bob)

	rules, err := NewRules(tg.gw.rules.Load().Policy, []keys.AuthorizedKey{entry(bob, "bob", keys.Options{})}, "test")
	if err != nil {
		t.Fatal(err)
	}
	tg.gw.SetRules(rules)
	done := make(chan error, 1)
	go func() { done <- ca.Wait() }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("revoked connection still open after 2s")
	}
	_, port, _ := net.SplitHostPort(up)
	conn, err := cb.Dial("tcp", "echo:"+port)
	if err != nil {
		t.Fatalf("other key after revocation: %v", err)
	}
	if got := roundTrip(t, conn, "b"); got != "echo:b" {
		t.Fatalf("got %q, want %q", got, "echo:b")
	}
	if _, err := tg.dial(t, alice); err == nil {
		t.Fatal("revoked key: got a new connection, want rejection")
	}
	tg.log.waitFor(t, "connection revoked", "key revoked")
}

func TestShutdownDrainsOpenTunnels(t *testing.T) {
	up, _ := echoServer(t)
	alice := newSigner(t)
	tg := startGateway(t, map[string]string{"echo": up}, map[string][]string{"alice": {"echo"}},
		[]keys.AuthorizedKey{entry(alice, "alice", keys.Options{})})
	busy, idle := tg.mustDial(t, alice), tg.mustDial(t, alice)
	_, port, _ := net.SplitHostPort(up)
	conn, err := busy.Dial("tcp", "echo:"+port)
	if err != nil {
		t.Fatal(err)
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- tg.gw.Shutdown(ctx)
	}()
	if err := idle.Wait(); err == nil {
		t.Log("idle connection closed")
	}
	if _, err := busy.Dial("tcp", "echo:"+port); err == nil {
		t.Error("new tunnel during shutdown: got a channel, want refusal")
	}
	if got := roundTrip(t, conn, "drain"); got != "echo:drain" {
		t.Fatalf("open tunnel during shutdown: got %q, want %q", got, "echo:drain")
	}
	conn.Close()
	select {
	case err := <-shut:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return after the last tunnel closed")
	}
	if _, err := tg.dial(t, alice); err == nil {
		t.Fatal("dial after shutdown: got a connection")
	}
}

func TestShutdownDeadlineClosesTunnels(t *testing.T) {
	up, _ := echoServer(t)
	alice := newSigner(t)
	tg := startGateway(t, map[string]string{"echo": up}, map[string][]string{"alice": {"echo"}},
		[]keys.AuthorizedKey{entry(alice, "alice", keys.Options{})})
	c := tg.mustDial(t, alice)
	_, port, _ := net.SplitHostPort(up)
	if _, err := c.Dial("tcp", "echo:"+port); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := tg.gw.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a stuck tunnel: got %v, want DeadlineExceeded", err)
	}
	tg.log.waitFor(t, "reason=\"drain deadline\"")
}

func TestLoginGraceTimeClosesSilentClients(t *testing.T) {
	tg := startGateway(t, nil, nil, nil)
	conn, err := net.Dial("tcp", tg.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 256)
	// The server sends its version, then must hang up on a client that says nothing.
	var total []byte
	for {
		n, err := conn.Read(buf)
		total = append(total, buf[:n]...)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("silent client still connected after 10s, want closed after LoginGraceTime")
			}
			break
		}
	}
	if !strings.HasPrefix(string(total), ServerVersion+"\r\n") {
		t.Errorf("server version: got %q, want prefix %q", total, ServerVersion)
	}
}

func TestLoopbackOnlyControl(t *testing.T) {
	for _, tt := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:80", true}, {"[::1]:80", true}, {"127.9.9.9:1", true},
		{"10.0.0.1:80", false}, {"[::ffff:10.0.0.1]:80", false}, {"0.0.0.0:80", false}, {"example.com:80", false},
	} {
		if err := loopbackOnly("tcp", tt.addr, nil); (err == nil) != tt.ok {
			t.Errorf("loopbackOnly(%q): got %v, want ok=%v", tt.addr, err, tt.ok)
		}
	}
}

func TestClean(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"plain", "alice", "alice"},
		{"escape", "a\x1b[31mb", `a\x1b[31mb`},
		{"newline", "a\nb", `a\nb`},
		{"nul", "a\x00", `a\x00`},
		{"invalid utf8", "a\xff", `a\xff`},
		{"long", strings.Repeat("a", 300), strings.Repeat("a", 256) + "..."},
		{"long escapes", strings.Repeat("\x1b", 10240), strings.Repeat(`\x1b`, 64) + "..."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := clean(tt.in); got != tt.want {
				t.Errorf("clean(%q): got %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestSetRulesEndsTunnelsOfATakenGrant: narrowing a grant ends the open
// tunnels that used it, not only the next ones; the connection and its
// other tunnels go on.
func TestSetRulesEndsTunnelsOfATakenGrant(t *testing.T) {
	upA, _ := echoServer(t)
	upB, _ := echoServer(t)
	alice := newSigner(t)
	services := map[string]string{"a": upA, "b": upB}
	tg := startGateway(t, services, map[string][]string{"alice": {"a", "b"}},
		[]keys.AuthorizedKey{entry(alice, "alice", keys.Options{})})
	c := tg.mustDial(t, alice)
	_, portA, _ := net.SplitHostPort(upA)
	_, portB, _ := net.SplitHostPort(upB)
	ta, err := c.Dial("tcp", "a:"+portA)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := c.Dial("tcp", "b:"+portB)
	if err != nil {
		t.Fatal(err)
	}

	// The same services, alice now granted only b.
	p := testPolicy(t, services, map[string][]string{"alice": {"b"}})
	rules, err := NewRules(p, []keys.AuthorizedKey{entry(alice, "alice", keys.Options{})}, "test")
	if err != nil {
		t.Fatal(err)
	}
	tg.gw.SetRules(rules)

	closed := make(chan error, 1)
	go func() { // channels take no deadlines: the read is bounded by the select
		_, err := ta.Read(make([]byte, 1))
		closed <- err
	}()
	select {
	case err := <-closed:
		if err == nil {
			t.Fatal("tunnel to a after its grant was taken: read data, want it closed")
		}
	case <-time.After(2 * time.Second):
		ta.Close() // ends the read
		t.Fatal("tunnel to a still open 2s after its grant was taken")
	}
	if got := roundTrip(t, tb, "2"); got != "echo:2" {
		t.Fatalf("tunnel to b after the reload: got %q, want %q", got, "echo:2")
	}
	if _, err := c.Dial("tcp", "a:"+portA); err == nil {
		t.Error("a new tunnel to a after its grant was taken: got one, want refusal")
	}
	tg.log.waitFor(t, "tunnel revoked", "service not granted", "revoked: ")
}

// TestSetRulesDoesNotWaitForAStalledPeer: ending a tunnel whose grant was
// taken writes a channel close to the client; a client that stopped
// reading must not hold up the reload (and with it SIGTERM and SIGHUP).
func TestSetRulesDoesNotWaitForAStalledPeer(t *testing.T) {
	flood, _ := tcpServer(t, func(c net.Conn) {
		buf := make([]byte, 64<<10)
		for {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	})
	upB, _ := echoServer(t)
	alice := newSigner(t)
	services := map[string]string{"a": flood, "b": upB}
	tg := startGateway(t, services, map[string][]string{"alice": {"a", "b"}},
		[]keys.AuthorizedKey{entry(alice, "alice", keys.Options{})})
	relay := startRelay(t, tg.addr)
	tg.addr = relay.addr
	c := tg.mustDial(t, alice)
	_, port, _ := net.SplitHostPort(flood)
	for range 16 {
		tc, err := c.Dial("tcp", "a:"+port)
		if err != nil {
			t.Fatal(err)
		}
		go io.Copy(io.Discard, tc)
	}
	time.Sleep(200 * time.Millisecond)
	relay.stalled.Store(true)
	time.Sleep(1500 * time.Millisecond) // the gateway's writes back up

	rules, err := NewRules(testPolicy(t, services, map[string][]string{"alice": {"b"}}),
		[]keys.AuthorizedKey{entry(alice, "alice", keys.Options{})}, "test")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { tg.gw.SetRules(rules); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		tg.gw.Close() // lets SetRules return, so the test ends
		<-done
		t.Fatal("SetRules still blocked 3s after it was called, behind a client that stopped reading")
	}
}
