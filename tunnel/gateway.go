package tunnel

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("tunnel: server closed")

// Defaults for zero GatewayConfig fields.
const (
	DefaultDialTimeout    = 5 * time.Second
	DefaultLoginGraceTime = 30 * time.Second
	DefaultMaxAuthTries   = 6
	// ServerVersion is what the gateway announces: no library, no version.
	ServerVersion = "SSH-2.0-loopgate"
)

// GatewayConfig configures a Gateway. The zero value of each field is safe.
type GatewayConfig struct {
	// HostKeys sign the server side of the handshake. At least one is required.
	HostKeys []ssh.Signer
	// Rules decide who may log in and what they may reach. Nil denies
	// everyone until SetRules is called.
	Rules *Rules
	// Logger receives audit events. Nil discards them.
	Logger *slog.Logger
	// DialTimeout bounds each connection to a service. Zero means DefaultDialTimeout.
	DialTimeout time.Duration
	// LoginGraceTime bounds the version exchange, key exchange and
	// authentication of a new connection. Zero means DefaultLoginGraceTime.
	LoginGraceTime time.Duration
	// MaxAuthTries bounds authentication attempts per connection. Zero means DefaultMaxAuthTries.
	MaxAuthTries int
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// Gateway is the device-side SSH server.
type Gateway struct {
	cfg    GatewayConfig
	ssh    ssh.ServerConfig
	log    *slog.Logger
	rules  atomic.Pointer[Rules]
	nextID atomic.Uint64

	closing atomic.Bool
	mu      sync.Mutex
	lns     map[net.Listener]struct{}
	conns   map[*gwConn]struct{}
	wg      sync.WaitGroup // one per connection goroutine
}

// NewGateway checks cfg and returns a Gateway ready to Serve.
func NewGateway(cfg GatewayConfig) (*Gateway, error) {
	if len(cfg.HostKeys) == 0 {
		return nil, errors.New("tunnel: no host key")
	}
	cfg.DialTimeout = orDefault(cfg.DialTimeout, DefaultDialTimeout)
	cfg.LoginGraceTime = orDefault(cfg.LoginGraceTime, DefaultLoginGraceTime)
	cfg.MaxAuthTries = orDefault(cfg.MaxAuthTries, DefaultMaxAuthTries)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{cfg: cfg, log: log, lns: map[net.Listener]struct{}{}, conns: map[*gwConn]struct{}{}}
	g.ssh = ssh.ServerConfig{
		MaxAuthTries:  cfg.MaxAuthTries,
		ServerVersion: ServerVersion,
	}
	for _, k := range cfg.HostKeys {
		g.ssh.AddHostKey(k)
	}
	g.rules.Store(cfg.Rules)
	return g, nil
}

// SetRules replaces the rules for every decision from now on, and ends the
// connections whose key the new rules no longer admit.
func (g *Gateway) SetRules(r *Rules) {
	g.rules.Store(r)
	g.mu.Lock()
	conns := make([]*gwConn, 0, len(g.conns))
	for c := range g.conns {
		conns = append(conns, c)
	}
	g.mu.Unlock()
	for _, c := range conns {
		c.recheck(r)
	}
}

// Serve accepts connections on ln until Shutdown or Close. It always
// returns a non-nil error; after Shutdown or Close, ErrServerClosed.
func (g *Gateway) Serve(ln net.Listener) error {
	if !g.trackListener(ln, true) {
		return ErrServerClosed
	}
	defer g.trackListener(ln, false)
	var backoff time.Duration
	for {
		raw, err := ln.Accept()
		if g.closing.Load() {
			if raw != nil {
				raw.Close()
			}
			return ErrServerClosed
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: wait, do not spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			g.log.Error("accept failed", "error", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		c := g.newConn(raw)
		if c == nil {
			raw.Close()
			return ErrServerClosed
		}
		go c.serve()
	}
}

func (g *Gateway) trackListener(ln net.Listener, add bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if add {
		if g.closing.Load() {
			return false
		}
		g.lns[ln] = struct{}{}
	} else {
		delete(g.lns, ln)
	}
	return true
}

// newConn registers a connection, or returns nil once shutdown has begun.
func (g *Gateway) newConn(raw net.Conn) *gwConn {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing.Load() {
		return nil
	}
	c := newGwConn(g, raw)
	g.conns[c] = struct{}{}
	g.wg.Add(1)
	return c
}

func (g *Gateway) forget(c *gwConn) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
	g.wg.Done()
}

// Shutdown stops accepting, refuses new tunnels, closes connections as soon
// as they carry no open tunnel, and waits for that until ctx is done; then
// it closes whatever is left. It returns ctx.Err() if the deadline cut
// tunnels short.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.beginClose()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for !g.closeIdle() {
		select {
		case <-ctx.Done():
			g.closeAll("drain deadline")
			g.wg.Wait()
			return ctx.Err()
		case <-tick.C:
		}
	}
	g.wg.Wait()
	return nil
}

// Close stops the gateway now: listeners, connections and tunnels.
func (g *Gateway) Close() error {
	g.beginClose()
	g.closeAll("server closed")
	g.wg.Wait()
	return nil
}

func (g *Gateway) beginClose() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closing.Store(true)
	for ln := range g.lns {
		ln.Close()
	}
}

// closeIdle closes every connection without an open tunnel and reports
// whether none remain.
func (g *Gateway) closeIdle() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for c := range g.conns {
		if c.active.Load() == 0 {
			c.close("shutdown")
		}
	}
	return len(g.conns) == 0
}

func (g *Gateway) closeAll(reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for c := range g.conns {
		c.close(reason)
	}
}

func (g *Gateway) now() time.Time { return g.cfg.Now() }

var errUnknownKey = errors.New("unknown key")

// errKeyRevoked: the key authenticated, but the current rules no longer know it.
var errKeyRevoked = errors.New("key revoked")
