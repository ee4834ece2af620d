package tunnel

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loopgate/loopgate/keys"
	"github.com/loopgate/loopgate/limits"
	"github.com/loopgate/loopgate/policy"
)

// gwConn is one SSH connection: its id, its verified identity once
// authenticated, and the tunnels it carries.
type gwConn struct {
	g     *Gateway
	id    uint64
	raw   net.Conn
	src   netip.Addr
	start time.Time
	log   *slog.Logger

	ctx    context.Context // cancelled when the connection ends
	cancel context.CancelFunc

	// who is set once, after authentication, and only read afterwards.
	who atomic.Pointer[identity]

	ticket    *limits.Ticket // its pre-auth admission; Done once the handshake ends
	authFails atomic.Int32   // keys refused during authentication
	crashed   atomic.Bool    // a goroutine of this connection panicked

	tokens  bucket       // token request rate limit
	active  atomic.Int32 // open tunnels
	idle    atomic.Int64 // unix nanos when active last dropped to 0
	tunnels sync.WaitGroup
	open    tunnelSet              // the tunnels in flight, for recheckTunnels
	reason  atomic.Pointer[string] // why we closed it; nil if the peer did
}

// identityKey is the Permissions.ExtraData key for the verified identity.
type identityKey struct{}

type identity struct {
	pub ssh.PublicKey
	key policy.Key
	log *slog.Logger // the connection's logger with the name attached
}

func newGwConn(g *Gateway, raw net.Conn, tk *limits.Ticket) *gwConn {
	c := &gwConn{g: g, id: g.nextID.Add(1), raw: newBatchConn(raw), start: g.now(), ticket: tk}
	c.src = addrOf(raw.RemoteAddr())
	c.log = g.log.With("conn", c.id)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

func addrOf(a net.Addr) netip.Addr {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// close ends the connection, remembering why for the audit event.
func (c *gwConn) close(reason string) {
	c.reason.CompareAndSwap(nil, &reason)
	c.raw.Close()
}

func (c *gwConn) serve() {
	defer c.g.forget(c)
	defer c.cancel()
	defer c.raw.Close()
	defer c.penalize(limits.Crashed) // only counts if the handshake never ended
	defer c.protect("connection")
	sconn, chans, reqs, err := c.handshake()
	if err != nil {
		c.log.Info("handshake failed", "source", c.raw.RemoteAddr().String(), "reason", clean(err.Error()))
		c.penalize(c.outcome(err))
		return
	}
	c.ticket.Done(limits.Authenticated)
	who := c.who.Load()
	c.log = who.log // only this goroutine and those it starts use c.log from here on
	release, err := c.g.gate.Login(who.key.Fingerprint)
	if err != nil {
		c.log.Warn("connection refused", "source", c.raw.RemoteAddr().String(), "reason", err.Error())
		sconn.Close()
		return
	}
	defer release()
	c.log.Info("auth accepted", "user", clean(sconn.User()), "fingerprint", keys.Fingerprint(who.pub),
		"source", c.raw.RemoteAddr().String(), "client", clean(string(sconn.ClientVersion())))
	c.idle.Store(time.Now().UnixNano())
	go c.handleRequests(reqs)
	go c.watchdog()
	go c.clientAlive(sconn)
	for nc := range chans {
		c.handleChannel(nc)
	}
	c.cancel()
	c.tunnels.Wait()
	reason := "client disconnected"
	if r := c.reason.Load(); r != nil {
		reason = *r
	}
	c.log.Info("connection closed", "duration", c.g.now().Sub(c.start).Round(time.Millisecond).String(), "reason", reason)
}

// penalize ends the pre-auth phase with outcome and logs the penalty the
// source earned, if it now stands refused.
func (c *gwConn) penalize(o limits.Outcome) {
	added, refused := c.ticket.Done(o)
	if refused {
		c.log.Warn("source penalized", "source", c.src.String(), "outcome", o.String(), "added", added.String())
	}
}

// handshake runs the SSH handshake under LoginGraceTime and takes the
// identity from the key that signed, never from one merely offered.
func (c *gwConn) handshake() (*ssh.ServerConn, <-chan ssh.NewChannel, <-chan *ssh.Request, error) {
	cfg := c.g.ssh // a copy per connection, so callbacks know c
	cfg.PublicKeyCallback = c.checkKey
	if d := c.g.lim.LoginGraceTime; d > 0 {
		c.raw.SetDeadline(time.Now().Add(d))
	}
	if r := c.reasonIfClosing(); r != "" {
		return nil, nil, nil, errors.New(r)
	}
	sconn, chans, reqs, err := ssh.NewServerConn(c.raw, &cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	c.raw.SetDeadline(time.Time{})
	id, ok := sconn.Permissions.ExtraData[identityKey{}].(*identity)
	if !ok {
		sconn.Close()
		return nil, nil, nil, errors.New("authenticated without an identity")
	}
	id.log = c.log.With("name", id.key.Name)
	c.who.Store(id)
	return sconn, chans, reqs, nil
}

func (c *gwConn) reasonIfClosing() string {
	if r := c.reason.Load(); r != nil {
		return *r
	}
	return ""
}

// checkKey is the PublicKeyCallback: it may run for keys the client only
// offers, so it decides but does not log acceptance.
func (c *gwConn) checkKey(meta ssh.ConnMetadata, pub ssh.PublicKey) (*ssh.Permissions, error) {
	rules := c.g.rules.Load()
	err := keys.CheckUserKey(pub)
	var k policy.Key
	if err == nil {
		var ok bool
		if k, ok = rules.lookup(pub); !ok {
			err = errUnknownKey
		} else {
			err = rules.Policy.Admit(k, c.src, c.g.now())
		}
	}
	if err != nil {
		c.log.Info("auth rejected", "user", clean(meta.User()), "source", c.raw.RemoteAddr().String(),
			"fingerprint", keys.Fingerprint(pub), "reason", err.Error())
		// x/crypto does not count refused key queries; OpenSSH does, and
		// so do we: MaxAuthTries refused keys end the connection.
		if n := c.authFails.Add(1); atLimit(int(n), c.g.lim.MaxAuthTries) {
			c.log.Info("too many authentication failures", "source", c.raw.RemoteAddr().String(), "tries", n)
			c.close("too many authentication failures")
		}
		return nil, err
	}
	return &ssh.Permissions{ExtraData: map[any]any{identityKey{}: &identity{pub: pub, key: k}}}, nil
}

// recheck ends the connection if rules no longer admit its key.
func (c *gwConn) recheck(rules *Rules) {
	who := c.who.Load()
	if who == nil {
		return
	}
	if err := c.admitted(rules); err != nil {
		who.log.Info("connection revoked", "reason", err.Error())
		c.close(err.Error())
		return
	}
	c.recheckTunnels(rules)
}

// admitted asks the given rules whether this connection's key may still act.
func (c *gwConn) admitted(rules *Rules) error {
	k, ok := rules.lookup(c.who.Load().pub)
	if !ok {
		return errKeyRevoked
	}
	return rules.Policy.Admit(k, c.src, c.g.now())
}

// harmlessRequests are global requests OpenSSH clients send on their own;
// refusing them is normal, so they are logged at debug level only.
var harmlessRequests = map[string]bool{
	"keepalive@openssh.com":         true,
	"no-more-sessions@openssh.com":  true,
	"hostkeys-prove-00@openssh.com": true,
}

// handleRequests answers the service list request and refuses every other
// global request: the gateway offers no remote forwarding or anything else.
func (c *gwConn) handleRequests(reqs <-chan *ssh.Request) {
	defer c.protect("requests")
	for r := range reqs {
		switch r.Type {
		case ServicesRequest:
			c.answerServices(r)
			continue
		case TokenRequest:
			c.answerToken(r)
			continue
		}
		level := slog.LevelInfo
		if harmlessRequests[r.Type] {
			level = slog.LevelDebug
		}
		c.log.Log(context.Background(), level, "request refused", "type", clean(r.Type))
		if r.WantReply {
			r.Reply(false, nil)
		}
	}
}

// Channel types that exist but that the gateway never opens.
var prohibitedChannels = map[string]bool{
	"session":                           true,
	"x11":                               true,
	"auth-agent@openssh.com":            true,
	"forwarded-tcpip":                   true,
	"direct-streamlocal@openssh.com":    true,
	"forwarded-streamlocal@openssh.com": true,
	"tun@openssh.com":                   true,
}

func (c *gwConn) handleChannel(nc ssh.NewChannel) {
	t := nc.ChannelType()
	switch {
	case t == "direct-tcpip" && c.g.closing.Load():
		c.refuse(nc, ssh.ResourceShortage, "server shutting down")
	case t == "direct-tcpip" && atLimit(int(c.active.Load()), c.g.lim.MaxSessions):
		c.refuse(nc, ssh.ResourceShortage, "too many open channels (MaxSessions)")
	case t == "direct-tcpip":
		c.active.Add(1)
		c.tunnels.Add(1)
		release := sync.OnceFunc(c.endTunnel)
		go c.forward(nc, release, sync.OnceFunc(func() {
			release()
			c.tunnels.Done()
		}))
	case prohibitedChannels[t]:
		c.refuse(nc, ssh.Prohibited, "channel type not allowed")
	default:
		c.refuse(nc, ssh.UnknownChannelType, "unknown channel type")
	}
}

// atLimit reports whether n has reached limit; a limit <= 0 is off.
func atLimit(n, limit int) bool { return limit > 0 && n >= limit }

// endTunnel counts a tunnel out; the last one out starts the unused clock.
func (c *gwConn) endTunnel() {
	if c.active.Add(-1) == 0 {
		c.idle.Store(time.Now().UnixNano())
	}
}

func (c *gwConn) refuse(nc ssh.NewChannel, why ssh.RejectionReason, msg string) {
	c.log.Info("channel refused", "type", clean(nc.ChannelType()), "reason", msg)
	nc.Reject(why, msg)
}
