package tunnel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loopgate/loopgate/keys"
	"github.com/loopgate/loopgate/limits"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("tunnel: server closed")

// Defaults for zero GatewayConfig fields.
const (
	DefaultDialTimeout = 5 * time.Second
	// ServerVersion is what the gateway announces: no library, no version.
	ServerVersion = "SSH-2.0-loopgate"
)

// Algorithms are the algorithm lists the gateway offers. A nil list means
// the hardened default (keys.DefaultAlgorithms); weak entries are refused
// unless AllowInsecure.
type Algorithms struct {
	KeyExchanges  []string
	Ciphers       []string
	MACs          []string
	PublicKeyAuth []string
	AllowInsecure bool
}

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
	// Limits bound connections, authentication and channels; zero fields
	// take the defaults of limits.Defaults.
	Limits limits.Limits
	// Algorithms the gateway offers; the zero value is the hardened set.
	Algorithms Algorithms
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
	gate   *limits.Gate
	lim    limits.Limits // cfg.Limits with defaults
	drops  logLimiter    // "connection dropped" lines

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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{cfg: cfg, log: log, lns: map[net.Listener]struct{}{}, conns: map[*gwConn]struct{}{}}
	g.gate = limits.NewGate(cfg.Limits, cfg.Now, nil)
	g.lim = g.gate.Limits()
	var err error
	if g.ssh, err = serverConfig(cfg.Algorithms, g.lim.MaxAuthTries); err != nil {
		return nil, err
	}
	for _, k := range cfg.HostKeys {
		hk, err := keys.HardenHostKey(k, cfg.Algorithms.AllowInsecure)
		if err != nil {
			return nil, fmt.Errorf("tunnel: host key %s: %w", keys.Fingerprint(k.PublicKey()), err)
		}
		g.ssh.AddHostKey(hk)
	}
	g.rules.Store(cfg.Rules)
	return g, nil
}

// serverConfig is the ssh.ServerConfig shared by every connection: the
// checked algorithm lists and the server version.
func serverConfig(a Algorithms, maxAuthTries int) (ssh.ServerConfig, error) {
	lists := []struct {
		kind keys.AlgorithmKind
		list *[]string
	}{
		{keys.KexAlgorithms, &a.KeyExchanges},
		{keys.Ciphers, &a.Ciphers},
		{keys.MACs, &a.MACs},
		{keys.PubkeyAcceptedAlgorithms, &a.PublicKeyAuth},
	}
	for _, l := range lists {
		if *l.list == nil {
			*l.list = keys.DefaultAlgorithms(l.kind)
		}
		if err := keys.CheckAlgorithms(l.kind, *l.list, a.AllowInsecure); err != nil {
			return ssh.ServerConfig{}, fmt.Errorf("tunnel: %s: %w", l.kind, err)
		}
	}
	return ssh.ServerConfig{
		Config: ssh.Config{
			KeyExchanges: a.KeyExchanges,
			Ciphers:      a.Ciphers,
			MACs:         a.MACs,
		},
		PublicKeyAuthAlgorithms: a.PublicKeyAuth,
		MaxAuthTries:            maxAuthTries,
		ServerVersion:           ServerVersion,
	}, nil
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
		tk, err := g.gate.Admit(addrOf(raw.RemoteAddr()))
		if err != nil {
			g.dropped(raw, err)
			continue
		}
		c := g.newConn(raw, tk)
		if c == nil {
			tk.Done(limits.Authenticated) // not the peer's fault: no penalty
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
func (g *Gateway) newConn(raw net.Conn, tk *limits.Ticket) *gwConn {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing.Load() {
		return nil
	}
	c := newGwConn(g, raw, tk)
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
