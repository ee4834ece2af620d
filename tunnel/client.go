package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// Defaults for zero ClientConfig fields.
const (
	DefaultKeepaliveInterval = 15 * time.Second
	DefaultKeepaliveCountMax = 3
	DefaultConnectTimeout    = 15 * time.Second
	DefaultMinBackoff        = 500 * time.Millisecond
	DefaultMaxBackoff        = 30 * time.Second
	DefaultWaitWhileDown     = 10 * time.Second
)

// ClientConfig configures a Client. The zero value of each field but SSH
// and Addr is safe.
type ClientConfig struct {
	// Addr is the gateway's host:port. Required.
	Addr string
	// SSH holds the user, auth methods, host key callback and host key
	// algorithms. Required, with a HostKeyCallback.
	SSH *ssh.ClientConfig
	// Dial opens the transport to Addr. Nil means a plain TCP dial; a
	// ProxyJump chain supplies its own.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// KeepaliveInterval is how often an idle connection is probed. Zero
	// means DefaultKeepaliveInterval; negative disables keepalives.
	KeepaliveInterval time.Duration
	// KeepaliveCountMax is how many probes may go unanswered before the
	// connection is declared dead. Zero means DefaultKeepaliveCountMax.
	KeepaliveCountMax int
	// ConnectTimeout bounds one connection attempt, handshake included.
	// Zero means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// MinBackoff and MaxBackoff bound the jittered exponential wait between
	// reconnection attempts. Zero means DefaultMinBackoff / DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// WaitWhileDown is how long DialService waits for a lost connection to
	// come back before it fails with ErrDown. Zero means DefaultWaitWhileDown.
	WaitWhileDown time.Duration
	// Logger receives one line per connection event. Nil discards.
	Logger *slog.Logger
	// Jitter returns a number in [0, 1). Nil means math/rand/v2.
	Jitter func() float64
}

// Client keeps one SSH connection to a gateway up and opens tunnels over
// it. Every forward and proxy request shares the connection.
type Client struct {
	cfg ClientConfig
	log *slog.Logger

	mu      sync.Mutex
	conn    *ssh.Client   // nil while down
	up      chan struct{} // closed when conn is set; replaced when it drops
	lastErr error         // why the connection is down
	closed  bool

	waitNoted atomic.Int64 // unix nanoseconds of the last "waiting" log line
}

// NewClient checks cfg and returns a Client; it does not connect.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Addr == "" || cfg.SSH == nil || cfg.SSH.HostKeyCallback == nil {
		return nil, errors.New("tunnel: client needs an address, an ssh config and a host key callback")
	}
	if cfg.KeepaliveInterval == 0 {
		cfg.KeepaliveInterval = DefaultKeepaliveInterval
	}
	cfg.KeepaliveCountMax = orDefault(cfg.KeepaliveCountMax, DefaultKeepaliveCountMax)
	cfg.ConnectTimeout = orDefault(cfg.ConnectTimeout, DefaultConnectTimeout)
	cfg.MinBackoff = orDefault(cfg.MinBackoff, DefaultMinBackoff)
	cfg.MaxBackoff = max(orDefault(cfg.MaxBackoff, DefaultMaxBackoff), cfg.MinBackoff)
	cfg.WaitWhileDown = orDefault(cfg.WaitWhileDown, DefaultWaitWhileDown)
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Float64
	}
	if cfg.Dial == nil {
		cfg.Dial = func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{cfg: cfg, log: log.With("gateway", cfg.Addr), up: make(chan struct{})}, nil
}

// orDefault returns v, or def when v is not positive.
func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// ErrFatal marks connection errors that retrying cannot fix: a host key
// that does not match, or a key the gateway does not accept. Test with
// errors.Is; the message is the underlying error's alone.
var ErrFatal = errors.New("fatal connection error")

type fatalError struct{ err error }

func (e *fatalError) Error() string   { return e.err.Error() }
func (e *fatalError) Unwrap() []error { return []error{ErrFatal, e.err} }
func fatal(err error) error           { return &fatalError{err} }

// Connect makes the first connection. It fails at once, so that a wrong
// host key or key is reported to the operator rather than retried.
func (c *Client) Connect(ctx context.Context) error {
	conn, err := c.dial(ctx)
	if err != nil {
		return err
	}
	c.setUp(conn)
	c.log.Info("connected")
	return nil
}

// Run keeps the connection up until ctx is done or Close is called: when
// it drops, it reconnects with jittered exponential backoff. It returns
// nil when stopped, or an error wrapping ErrFatal when the gateway's host
// key or the operator's key stops being accepted.
func (c *Client) Run(ctx context.Context) error {
	for {
		conn := c.current()
		if conn != nil {
			stop := context.AfterFunc(ctx, func() { conn.Close() })
			kctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); c.keepalive(kctx, conn) }()
			err := conn.Wait()
			cancel()
			<-done
			stop()
			c.setDown(err)
			if ctx.Err() != nil || c.isClosed() {
				return nil
			}
			c.log.Warn("connection lost; reconnecting", "error", describe(err))
		}
		if err := c.reconnect(ctx); err != nil || c.current() == nil {
			return err // fatal, or stopped while down
		}
	}
}

// reconnect dials until it succeeds, ctx ends (nil) or a fatal error.
func (c *Client) reconnect(ctx context.Context) error {
	backoff := c.cfg.MinBackoff
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil || c.isClosed() {
			return nil
		}
		conn, err := c.dial(ctx)
		if err == nil {
			c.setUp(conn)
			c.log.Info("reconnected", "attempt", attempt)
			return nil
		}
		c.setDown(err)
		if errors.Is(err, ErrFatal) {
			c.log.Error("giving up", "error", err.Error())
			return err
		}
		wait := time.Duration(float64(backoff) * (0.5 + c.cfg.Jitter()))
		c.log.Warn("reconnect failed", "attempt", attempt, "error", describe(err), "retry_in", wait.Round(time.Millisecond).String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

// dial makes one connection attempt under ConnectTimeout.
func (c *Client) dial(ctx context.Context) (*ssh.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	conn, err := c.cfg.Dial(ctx, c.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", c.cfg.Addr, err)
	}
	raw := newBatchConn(conn)
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	var hostKeyErr atomic.Pointer[error] // the callback runs on the handshake goroutine
	cfg := *c.cfg.SSH
	cfg.HostKeyCallback = func(host string, remote net.Addr, key ssh.PublicKey) error {
		err := c.cfg.SSH.HostKeyCallback(host, remote, key)
		if err != nil {
			hostKeyErr.Store(&err)
		}
		return err
	}
	sc, chans, reqs, err := ssh.NewClientConn(raw, c.cfg.Addr, &cfg)
	switch {
	case hostKeyErr.Load() != nil:
		raw.Close()
		return nil, fatal(*hostKeyErr.Load())
	case err != nil && strings.Contains(err.Error(), "unable to authenticate"):
		raw.Close()
		return nil, fatal(fmt.Errorf("%s@%s did not accept any offered key (check -i, IdentityFile or ssh-agent, and that the key is allowed on the gateway)", cfg.User, c.cfg.Addr))
	case err != nil:
		raw.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connect to %s: timed out after %s", c.cfg.Addr, c.cfg.ConnectTimeout)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return nil, fmt.Errorf("connect to %s: the gateway closed the connection during the handshake "+
				"(it limits connections per source address and penalizes failed logins; or no algorithm in common): %w", c.cfg.Addr, err)
		}
		return nil, fmt.Errorf("connect to %s: %w", c.cfg.Addr, err)
	}
	return ssh.NewClient(sc, chans, reqs), nil
}

// keepalive closes conn when KeepaliveCountMax probes in a row go
// unanswered, so Run notices a dead link instead of waiting for TCP to give
// up. A negative KeepaliveInterval turns probes off.
func (c *Client) keepalive(ctx context.Context, conn *ssh.Client) {
	if keepAlive(ctx, conn, c.cfg.KeepaliveInterval, c.cfg.KeepaliveCountMax) {
		c.log.Warn("gateway stopped answering keepalives; closing the connection", "missed", c.cfg.KeepaliveCountMax)
		conn.Close()
	}
}

func (c *Client) current() *ssh.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *Client) setUp(conn *ssh.Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		conn.Close()
		return
	}
	c.conn, c.lastErr = conn, nil
	close(c.up)
}

func (c *Client) setDown(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn = nil
		c.up = make(chan struct{})
	}
	c.lastErr = err
}

// Close closes the connection and stops Run from reconnecting.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.conn != nil {
		return c.conn.Close()
	}
	return nil
}

// SSH returns the current connection, waiting up to WaitWhileDown for one.
func (c *Client) SSH(ctx context.Context) (*ssh.Client, error) {
	deadline := time.NewTimer(c.cfg.WaitWhileDown)
	defer deadline.Stop()
	for first := true; ; first = false {
		c.mu.Lock()
		conn, up, closed, lastErr := c.conn, c.up, c.closed, c.lastErr
		c.mu.Unlock()
		switch {
		case conn != nil:
			return conn, nil
		case closed:
			return nil, fmt.Errorf("%w: client closed", ErrDown)
		}
		if first {
			c.noteWaiting()
		}
		select {
		case <-up:
		case <-deadline.C:
			return nil, fmt.Errorf("%w: no connection to %s for %s (%s)", ErrDown, c.cfg.Addr, c.cfg.WaitWhileDown, describe(lastErr))
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// noteWaiting logs that a caller waits for the connection to come back, at
// most once a second however many wait.
func (c *Client) noteWaiting() {
	now := time.Now().UnixNano()
	last := c.waitNoted.Load()
	if now-last < int64(time.Second) || !c.waitNoted.CompareAndSwap(last, now) {
		return
	}
	c.log.Info("waiting for the connection to come back", "gateway", c.cfg.Addr, "up_to", c.cfg.WaitWhileDown.String())
}

// DialService opens a direct-tcpip channel to host:port on the gateway,
// waiting up to WaitWhileDown for a connection. Errors wrap ErrRefused,
// ErrUnreachable or ErrDown.
func (c *Client) DialService(ctx context.Context, host string, port int) (net.Conn, error) {
	conn, err := c.SSH(ctx)
	if err != nil {
		return nil, err
	}
	target := net.JoinHostPort(host, strconv.Itoa(port))
	ch, err := openDirect(conn, host, port)
	if err == nil {
		return ch, nil
	}
	var oce *ssh.OpenChannelError
	switch {
	case errors.As(err, &oce) && oce.Reason == ssh.Prohibited:
		return nil, fmt.Errorf("%s: %w", target, ErrRefused)
	case errors.As(err, &oce):
		return nil, fmt.Errorf("%s: %w (%s)", target, ErrUnreachable, oce.Message)
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%s: %w", target, ctx.Err())
	default:
		return nil, fmt.Errorf("%s: %w: %w", target, ErrDown, err)
	}
}

// openDirect opens a direct-tcpip channel, like ssh.Client.Dial but with one
// goroutine per channel instead of two (no stderr copy, which direct-tcpip
// never carries, and no 32 KiB buffer for it), and none left behind.
func openDirect(conn ssh.Conn, host string, port int) (net.Conn, error) {
	payload := ssh.Marshal(directTCPIP{Host: host, Port: uint32(port), OrigHost: "127.0.0.1"})
	ch, reqs, err := conn.OpenChannel("direct-tcpip", payload)
	if err != nil {
		return nil, err
	}
	go ssh.DiscardRequests(reqs) // ends when the channel closes
	return channelConn{ch}, nil
}

// channelConn is an SSH channel as a net.Conn. Deadlines are not
// supported, as with ssh.Client.Dial's connections.
type channelConn struct{ ssh.Channel }

var errNoDeadline = errors.New("tunnel: deadlines are not supported on a channel")

func (channelConn) LocalAddr() net.Addr              { return tunnelAddr{} }
func (channelConn) RemoteAddr() net.Addr             { return tunnelAddr{} }
func (channelConn) SetDeadline(time.Time) error      { return errNoDeadline }
func (channelConn) SetReadDeadline(time.Time) error  { return errNoDeadline }
func (channelConn) SetWriteDeadline(time.Time) error { return errNoDeadline }

// tunnelAddr is the address of either end of a channel: the SSH
// connection, not a socket.
type tunnelAddr struct{}

func (tunnelAddr) Network() string { return "ssh" }
func (tunnelAddr) String() string  { return "ssh-channel" }

// describe renders a connection error for a log line.
func describe(err error) string {
	if err == nil {
		return "closed"
	}
	return err.Error()
}
