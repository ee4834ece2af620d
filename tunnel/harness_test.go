package tunnel

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loopgate/loopgate/keys"
	"github.com/loopgate/loopgate/limits"
	"github.com/loopgate/loopgate/policy"
)

// newSigner returns a fresh ed25519 signer.
func newSigner(t testing.TB) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// logBuffer collects log output so tests can assert on audit events.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitFor polls the log until it contains all of want, or fails.
func (l *logBuffer) waitFor(t testing.TB, want ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := l.String()
		missing := ""
		for _, w := range want {
			if !strings.Contains(s, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log lacks %q; got:\n%s", missing, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// echoServer starts a TCP server on loopback that reads until EOF, then
// writes back what it read prefixed with "echo:", then closes. It only
// answers after the client half-closes, so it proves half-close works.
func echoServer(t testing.TB) (addr string, accepted func() int) {
	t.Helper()
	return tcpServer(t, func(c net.Conn) {
		data, _ := io.ReadAll(c)
		c.Write(append([]byte("echo:"), data...))
	})
}

// tcpServer serves handle on a loopback listener, one goroutine per
// connection (closed when handle returns), until the test ends; accepted
// counts the connections so far.
func tcpServer(t testing.TB, handle func(net.Conn)) (addr string, accepted func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n := 0
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			n++
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return n }
}

type testGateway struct {
	gw      *Gateway
	addr    string
	hostKey ssh.Signer
	log     *logBuffer
	served  chan error
}

// gatewayOption changes the GatewayConfig startGateway built, just before
// NewGateway sees it.
type gatewayOption func(*GatewayConfig)

// startGateway runs a Gateway on loopback with the given services, grants
// and keys (name -> public key and options).
// testPolicy builds a policy from service addresses and grants by name.
func testPolicy(t testing.TB, services map[string]string, grants map[string][]string) *policy.Policy {
	t.Helper()
	var svcs []policy.Service
	for name, addr := range services {
		s, err := policy.ParseService(name, addr)
		if err != nil {
			t.Fatal(err)
		}
		svcs = append(svcs, s)
	}
	p, err := policy.New(svcs, grants)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func startGateway(t testing.TB, services map[string]string, grants map[string][]string, entries []keys.AuthorizedKey, opts ...gatewayOption) *testGateway {
	t.Helper()
	rules, err := NewRules(testPolicy(t, services, grants), entries, "test")
	if err != nil {
		t.Fatal(err)
	}
	tg := &testGateway{hostKey: newSigner(t), log: &logBuffer{}, served: make(chan error, 1)}
	logger := slog.New(slog.NewTextHandler(tg.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := GatewayConfig{HostKeys: []ssh.Signer{tg.hostKey}, Rules: rules, Logger: logger,
		DialTimeout: time.Second, Limits: limits.Limits{LoginGraceTime: 2 * time.Second}}
	for _, o := range opts {
		o(&cfg)
	}
	tg.gw, err = NewGateway(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg.addr = ln.Addr().String()
	go func() { tg.served <- tg.gw.Serve(ln) }()
	t.Cleanup(func() {
		tg.gw.Close()
		if err := <-tg.served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return tg
}

func entry(s ssh.Signer, name string, opts keys.Options) keys.AuthorizedKey {
	return keys.AuthorizedKey{Line: 1, Key: s.PublicKey(), Comment: name, Options: opts}
}

// dial connects as the given key, pinning the gateway's host key.
func (tg *testGateway) dial(t testing.TB, user ssh.Signer) (*ssh.Client, error) {
	t.Helper()
	c, err := ssh.Dial("tcp", tg.addr, &ssh.ClientConfig{
		User:            "op",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(user)},
		HostKeyCallback: ssh.FixedHostKey(tg.hostKey.PublicKey()),
		Timeout:         5 * time.Second,
	})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func (tg *testGateway) mustDial(t testing.TB, user ssh.Signer) *ssh.Client {
	t.Helper()
	c, err := tg.dial(t, user)
	if err != nil {
		t.Fatalf("dial gateway: %v", err)
	}
	return c
}

// roundTrip sends msg through conn, half-closes, and reads the answer.
func roundTrip(t testing.TB, conn net.Conn, msg string) string {
	t.Helper()
	if _, err := io.WriteString(conn, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatalf("close write: %v", err)
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(got)
}

// relay is a TCP hop in front of the gateway that can freeze: from then on
// it drops every byte both ways, like a link gone dark that no FIN or RST
// will ever report.
type relay struct {
	addr    string
	frozen  atomic.Bool
	stalled atomic.Bool   // stop reading from the target: its writes back up
	done    chan struct{} // closed when cleanup begins
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
	closed  bool // cleanup has begun
}

// startRelay listens on 127.0.0.1:0 and relays every connection to target
// until the test ends, when it closes them all.
func startRelay(t testing.TB, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{addr: ln.Addr().String(), done: make(chan struct{})}
	r.wg.Add(1)
	go r.accept(ln, target)
	t.Cleanup(func() {
		ln.Close()
		r.closeAll()
		r.wg.Wait()
	})
	return r
}

// accept relays each connection ln accepts until ln closes.
func (r *relay) accept(ln net.Listener, target string) {
	defer r.wg.Done()
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
		if !r.track(in, out) {
			return
		}
		r.wg.Add(2)
		go func() { defer r.wg.Done(); r.pump(out, in, false) }()
		go func() { defer r.wg.Done(); r.pump(in, out, true) }()
	}
}

// track records in and out for cleanup to close; once cleanup has begun it
// closes them itself and reports false.
func (r *relay) track(in, out net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		in.Close()
		out.Close()
		return false
	}
	r.conns = append(r.conns, in, out)
	return true
}

// closeAll closes every connection track recorded, and makes it close the
// ones it is given from now on.
func (r *relay) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		close(r.done)
	}
	r.closed = true
	for _, c := range r.conns {
		c.Close()
	}
}

// pump copies src to dst, dropping what it reads while frozen, until
// either side fails; then it closes both. From the target, once stalled,
// it stops reading (keeping both open) until cleanup, like a client that
// no longer reads.
func (r *relay) pump(dst, src net.Conn, fromTarget bool) {
	defer src.Close()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		if fromTarget && r.stalled.Load() {
			<-r.done
			return
		}
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
