package tunnel

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loopgate/loopgate/keys"
)

func newTestClient(t testing.TB, addr string, hostKey ssh.PublicKey, user ssh.Signer, mod func(*ClientConfig)) (*Client, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	cfg := ClientConfig{
		Addr: addr,
		SSH: &ssh.ClientConfig{User: "op", Auth: []ssh.AuthMethod{ssh.PublicKeys(user)},
			HostKeyCallback: ssh.FixedHostKey(hostKey)},
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		WaitWhileDown: 300 * time.Millisecond,
		Logger:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, logs
}

// runClient runs c.Run until the test ends.
func runClient(t testing.TB, c *Client) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return done
}

func TestClientDialServiceErrors(t *testing.T) {
	up, _ := echoServer(t)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close() // configured, but nothing listens: the gateway's dial fails
	alice := newSigner(t)
	tg := startGateway(t, map[string]string{"echo": up, "gone": deadAddr}, map[string][]string{"alice": {"echo", "gone"}},
		[]keys.AuthorizedKey{entry(alice, "alice", keys.Options{})})
	c, _ := newTestClient(t, tg.addr, tg.hostKey.PublicKey(), alice, nil)
	if err := c.Connect(context.Background()); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	_, port, _ := net.SplitHostPort(up)
	_, deadPort, _ := net.SplitHostPort(deadAddr)
	ctx := context.Background()

	conn, err := c.DialService(ctx, "echo", mustAtoi(t, port))
	if err != nil {
		t.Fatalf("DialService(echo): %v", err)
	}
	if got := roundTrip(t, conn, "x"); got != "echo:x" {
		t.Fatalf("got %q, want %q", got, "echo:x")
	}
	if _, err := c.DialService(ctx, "nope", 1); !errors.Is(err, ErrRefused) {
		t.Errorf("DialService(nope): got %v, want ErrRefused", err)
	}
	if _, err := c.DialService(ctx, "gone", mustAtoi(t, deadPort)); !errors.Is(err, ErrUnreachable) {
		t.Errorf("DialService(gone): got %v, want ErrUnreachable", err)
	}
	c.Close()
	if _, err := c.DialService(ctx, "echo", mustAtoi(t, port)); !errors.Is(err, ErrDown) {
		t.Errorf("DialService after Close: got %v, want ErrDown", err)
	}
}

func TestClientFatalErrors(t *testing.T) {
	alice, mallory := newSigner(t), newSigner(t)
	tg := startGateway(t, nil, nil, []keys.AuthorizedKey{entry(alice, "alice", keys.Options{})})
	wrongHost := newSigner(t).PublicKey()
	for _, tt := range []struct {
		name string
		host ssh.PublicKey
		user ssh.Signer
	}{
		{"host key mismatch", wrongHost, alice},
		{"key not accepted", tg.hostKey.PublicKey(), mallory},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestClient(t, tg.addr, tt.host, tt.user, nil)
			if err := c.Connect(context.Background()); !errors.Is(err, ErrFatal) {
				t.Fatalf("Connect: got %v, want ErrFatal", err)
			}
		})
	}
}

// restartableGateway runs gateways one after another on the same address
// with the same host key, like a device that reboots.
type restartableGateway struct {
	t       testing.TB
	addr    string
	hostKey ssh.Signer
	rules   *Rules
	cur     *Gateway
	logs    *logBuffer
	served  chan error
}

func (r *restartableGateway) start() {
	r.t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the old socket may linger for a moment
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatalf("listen %s: %v", r.addr, err)
	}
	r.addr = ln.Addr().String()
	r.cur, err = NewGateway(GatewayConfig{HostKeys: []ssh.Signer{r.hostKey}, Rules: r.rules,
		Logger: slog.New(slog.NewTextHandler(r.logs, nil))})
	if err != nil {
		r.t.Fatal(err)
	}
	r.served = make(chan error, 1)
	go func(g *Gateway, done chan error) { done <- g.Serve(ln) }(r.cur, r.served)
}

func (r *restartableGateway) stop() {
	r.cur.Close()
	<-r.served
}

func TestClientReconnectsAfterGatewayRestart(t *testing.T) {
	up, _ := echoServer(t)
	_, port, _ := net.SplitHostPort(up)
	alice := newSigner(t)
	tg := startGateway(t, map[string]string{"echo": up}, map[string][]string{"alice": {"echo"}},
		[]keys.AuthorizedKey{entry(alice, "alice", keys.Options{})})
	r := &restartableGateway{t: t, addr: "127.0.0.1:0", hostKey: tg.hostKey, rules: tg.gw.rules.Load(), logs: &logBuffer{}}
	defer func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", r.logs)
		}
	}()
	r.start()
	t.Cleanup(r.stop)
	c, logs := newTestClient(t, r.addr, r.hostKey.PublicKey(), alice, nil)
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	dial := func() (net.Conn, error) { return c.DialService(context.Background(), "echo", mustAtoi(t, port)) }
	if _, err := dial(); err != nil {
		t.Fatalf("before restart: %v", err)
	}

	r.stop()
	logs.waitFor(t, "connection lost", "reconnect failed")
	if _, err := dial(); !errors.Is(err, ErrDown) {
		t.Fatalf("while the gateway is down: got %v, want ErrDown", err)
	}
	logs.waitFor(t, "waiting for the connection to come back") // the wait was not silent
	r.start()
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := dial()
		if err == nil {
			if got := roundTrip(t, conn, "back"); got != "echo:back" {
				t.Fatalf("after restart: got %q, want %q", got, "echo:back")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no tunnel 5s after the gateway came back: %v", err)
		}
	}
	logs.waitFor(t, "reconnected")
}

func TestClientKeepaliveDetectsDeadLink(t *testing.T) {
	alice := newSigner(t)
	tg := startGateway(t, nil, nil, []keys.AuthorizedKey{entry(alice, "alice", keys.Options{})})
	r := startRelay(t, tg.addr)
	c, logs := newTestClient(t, r.addr, tg.hostKey.PublicKey(), alice, func(cfg *ClientConfig) {
		cfg.KeepaliveInterval = 50 * time.Millisecond
		cfg.KeepaliveCountMax = 2
		cfg.ConnectTimeout = 300 * time.Millisecond
	})
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	time.Sleep(200 * time.Millisecond) // keepalives answered: still up
	if c.current() == nil {
		t.Fatal("connection dropped while the link was healthy")
	}
	r.frozen.Store(true)
	logs.waitFor(t, "stopped answering keepalives", "connection lost")
}

func TestForwardCarriesConnections(t *testing.T) {
	up, _ := echoServer(t)
	_, port, _ := net.SplitHostPort(up)
	alice := newSigner(t)
	tg := startGateway(t, map[string]string{"echo": up}, map[string][]string{"alice": {"echo"}},
		[]keys.AuthorizedKey{entry(alice, "alice", keys.Options{})})
	c, _ := newTestClient(t, tg.addr, tg.hostKey.PublicKey(), alice, nil)
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	fw := &Forward{Listener: ln, Host: "echo", Port: mustAtoi(t, port), Client: c}
	served := make(chan error, 1)
	go func() { served <- fw.Serve(ctx) }()
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			msg := "m" + strconv.Itoa(i)
			io.WriteString(conn, msg)
			conn.(*net.TCPConn).CloseWrite()
			got, _ := io.ReadAll(conn)
			if string(got) != "echo:"+msg {
				t.Errorf("got %q, want %q", got, "echo:"+msg)
			}
		}()
	}
	wg.Wait()
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestClientServices(t *testing.T) {
	a, _ := echoServer(t)
	b, _ := echoServer(t)
	c2, _ := echoServer(t)
	alice := newSigner(t)
	_, aPort, _ := net.SplitHostPort(a)
	tg := startGateway(t, map[string]string{"a": a, "b": b, "c": c2}, map[string][]string{"alice": {"a", "b"}},
		[]keys.AuthorizedKey{entry(alice, "alice", keys.Options{PermitOpen: []keys.HostPort{{Host: "a", Port: -1}}})})
	c, _ := newTestClient(t, tg.addr, tg.hostKey.PublicKey(), alice, nil)
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	list, err := c.Services(context.Background())
	if err != nil {
		t.Fatalf("Services: %v", err)
	}
	// b is granted but outside permitopen; c is not granted.
	if len(list) != 1 || list[0].Name != "a" || strconv.Itoa(list[0].Port) != aPort {
		t.Fatalf("Services: got %+v, want only a:%s", list, aPort)
	}
	if p, err := c.ServicePort(context.Background(), "a"); err != nil || strconv.Itoa(p) != aPort {
		t.Errorf("ServicePort(a): got %d, %v; want %s", p, err, aPort)
	}
	if _, err := c.ServicePort(context.Background(), "c"); !errors.Is(err, ErrRefused) {
		t.Errorf("ServicePort(c): got %v, want ErrRefused", err)
	}
}

func TestParseServicesRejectsMalformed(t *testing.T) {
	for _, list := range []string{"a", "a 0", "a 70000", "A 1", "a x", "a 1 2"} {
		if _, err := parseServices(ssh.Marshal(servicesReply{List: list})); err == nil {
			t.Errorf("parseServices(%q): got nil error", list)
		}
	}
	if _, err := parseServices([]byte{1}); err == nil {
		t.Error("parseServices(garbage): got nil error")
	}
}
