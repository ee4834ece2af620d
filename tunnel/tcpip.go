package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loopgate/loopgate/internal/sockio"
	"github.com/loopgate/loopgate/policy"
)

// directTCPIP is the payload of a direct-tcpip channel open (RFC 4254 7.2).
type directTCPIP struct {
	Host     string
	Port     uint32
	OrigHost string
	OrigPort uint32
}

// parseDirectTCPIP decodes a direct-tcpip open payload from the peer.
func parseDirectTCPIP(payload []byte) (directTCPIP, error) {
	var req directTCPIP
	if err := ssh.Unmarshal(payload, &req); err != nil {
		return directTCPIP{}, fmt.Errorf("direct-tcpip payload: %w", err)
	}
	return req, nil
}

// forward handles one direct-tcpip channel in the order: parse, decide,
// dial, accept, copy. A request policy refuses never reaches a socket.
// release gives back the channel's MaxSessions slot; a refused open gives
// it back before the refusal reaches the client. ended (which releases
// too, and does its work once however often it is called) is called once
// the tunnel is over: here if it never starts, else by the splice, once
// both directions are done, so that this goroutine, whose stack the
// set-up grew, need not wait for it.
func (c *gwConn) forward(nc ssh.NewChannel, release, ended func()) {
	spliced := false
	defer func() {
		if !spliced {
			ended()
		}
	}()
	defer c.protect("tunnel")
	reject := func(why ssh.RejectionReason, msg string) {
		release()
		nc.Reject(why, msg)
	}
	req, err := parseDirectTCPIP(nc.ExtraData())
	if err != nil {
		c.log.Info("tunnel denied", "reason", "malformed direct-tcpip request")
		reject(ssh.ConnectionFailed, "malformed request")
		return
	}
	svc, err := c.decide(req.Host, req.Port)
	if err != nil {
		c.log.Info("tunnel denied", "host", clean(req.Host), "port", req.Port, "reason", clean(err.Error()))
		reject(ssh.Prohibited, "administratively prohibited")
		return
	}
	up, err := c.dial(svc)
	if err != nil {
		c.log.Warn("tunnel failed", "service", svc.Name, "addr", svc.Addr.String(), "reason", err.Error())
		reject(ssh.ConnectionFailed, "connect failed")
		return
	}
	defer func() {
		if !spliced { // whatever happened, panics included
			up.Close()
		}
	}()
	upc, ok := up.(halfCloser) // dial returns a TCP connection, which can half-close
	if !ok {
		c.log.Error("tunnel failed", "service", svc.Name, "reason", "service connection cannot half-close")
		reject(ssh.ConnectionFailed, "connect failed")
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		c.log.Info("tunnel failed", "service", svc.Name, "reason", err.Error())
		return
	}
	go ssh.DiscardRequests(reqs)
	start := c.g.now()
	c.log.Info("tunnel opened", "service", svc.Name, "addr", svc.Addr.String(),
		"origin", clean(net.JoinHostPort(req.OrigHost, fmt.Sprint(req.OrigPort))))
	end := func() { up.Close(); ch.Close() } // the socket first: closing ch writes to the peer and may wait
	stop := context.AfterFunc(c.ctx, end)
	idle := newIdleTimer(c.g.lim.ChannelTimeout, end)
	t := &openTunnel{host: req.Host, port: req.Port, svc: svc, close: end}
	c.open.add(t)
	teardown := func() { // when the splice is done, or if it never starts
		idle.stop()
		stop()
		end()
		c.open.remove(t)
	}
	defer func() {
		if !spliced {
			teardown()
		}
	}()
	c.recheckTunnel(c.g.rules.Load(), t)
	splice(touchReader{ch, idle}, touchReader{upc, idle}, c, func(in, out int64) {
		defer ended()
		teardown()
		// Mark the tunnel ended, so a reload from now on leaves it alone; if a
		// reload got there first, it ended the tunnel.
		mark := ""
		revoked := !t.revoked.CompareAndSwap(nil, &mark)
		reason := "closed"
		switch {
		case revoked:
			reason = "revoked: " + clean(*t.revoked.Load())
		case idle.fired.Load():
			reason = "idle timeout (ChannelTimeout)"
		case c.ctx.Err() != nil:
			reason = "connection closed"
		}
		c.log.Info("tunnel closed", "service", svc.Name, "bytes_in", in, "bytes_out", out,
			"duration", c.g.now().Sub(start).Round(time.Millisecond).String(), "reason", reason)
	})
	spliced = true
}

// decide asks the current rules, not the ones the connection started with,
// so a reload or an expiry applies to the next tunnel at once.
func (c *gwConn) decide(host string, port uint32) (policy.Service, error) {
	rules := c.g.rules.Load()
	if err := c.admitted(rules); err != nil {
		return policy.Service{}, err
	}
	k, _ := rules.lookup(c.who.Load().pub)
	return rules.Policy.Check(k, host, port)
}

var errNotLoopback = errors.New("refusing non-loopback address")

// dial connects to a service's configured address, never to anything the
// peer sent, and checks before connect and after that the address is loopback.
func (c *gwConn) dial(svc policy.Service) (net.Conn, error) {
	d := net.Dialer{Timeout: c.g.cfg.DialTimeout, Control: loopbackOnly}
	conn, err := d.DialContext(c.ctx, "tcp", svc.Addr.String())
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", svc.Addr, err)
	}
	if !addrOf(conn.RemoteAddr()).IsLoopback() {
		conn.Close()
		return nil, fmt.Errorf("dial %s: peer %s: %w", svc.Addr, conn.RemoteAddr(), errNotLoopback)
	}
	return sockio.Wrap(conn), nil // reads and writes without the scheduler's system-call bookkeeping
}

// loopbackOnly is a net.Dialer Control hook: it runs on the socket just
// before connect(2) with the numeric address being dialled.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !ap.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("%s: %w", address, errNotLoopback)
	}
	return nil
}

// halfCloser is a stream that can stop sending but still receive: an SSH
// channel, or a TCP connection.
type halfCloser interface {
	io.ReadWriter
	CloseWrite() error
}
