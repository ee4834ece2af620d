package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loopgate/loopgate/limits"
)

// dropped closes a connection the gate refused before the SSH banner and
// logs it, at most dropLogBurst lines a second, so a flood cannot flood
// the audit log; suppressed lines are counted in the next one.
func (g *Gateway) dropped(raw net.Conn, why error) {
	// What sshd says; a line before the version is allowed (RFC 4253 4.2).
	raw.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	raw.Write([]byte("Not allowed at this time\r\n"))
	raw.Close()
	if n, ok := g.drops.allow(g.now()); ok {
		g.log.Warn("connection dropped", "source", raw.RemoteAddr().String(), "reason", why.Error(), "suppressed", n)
	}
}

const dropLogBurst = 20

// logLimiter allows dropLogBurst lines per second and counts the rest.
type logLimiter struct {
	mu         sync.Mutex
	second     time.Time
	n          int
	suppressed int
}

// allow reports whether to log now, and how many lines were suppressed
// since the last one logged.
func (l *logLimiter) allow(now time.Time) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := now.Truncate(time.Second); !s.Equal(l.second) {
		l.second, l.n = s, 0
	}
	if l.n >= dropLogBurst {
		l.suppressed++
		return 0, false
	}
	l.n++
	n := l.suppressed
	l.suppressed = 0
	return n, true
}

// protect is deferred first in every goroutine a connection owns: a panic
// is logged with its stack and ends that connection only.
func (c *gwConn) protect(where string) {
	r := recover()
	if r == nil {
		return
	}
	c.crashed.Store(true)
	c.g.log.Error("handler panicked", "conn", c.id, "where", where, "panic", clean(fmt.Sprint(r)),
		"stack", string(debug.Stack()))
	c.close("internal error")
}

// watchdogTick bounds how late the watchdog notices a timeout or an expiry.
const watchdogTick = time.Second

// watchdog runs for an authenticated connection until it ends: it closes
// it when the key stops being admitted (an expiry-time passing), when it
// has carried no channel for UnusedConnectionTimeout, and when the client
// misses ClientAliveCountMax keepalives in a row.
func (c *gwConn) watchdog(conn ssh.Conn) {
	defer c.protect("watchdog")
	lim := c.g.lim
	tick := watchdogTick
	for _, d := range []time.Duration{lim.ClientAliveInterval, lim.UnusedConnectionTimeout} {
		if d > 0 {
			tick = min(tick, max(d/4, 50*time.Millisecond))
		}
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	alive := newAliveProbe(conn, lim.ClientAliveInterval, lim.ClientAliveCountMax)
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		if err := c.admitted(c.g.rules.Load()); err != nil {
			c.who.Load().log.Info("connection revoked", "reason", err.Error())
			c.close(err.Error())
			return
		}
		if d := lim.UnusedConnectionTimeout; d > 0 && c.active.Load() == 0 && now.Sub(c.idleSince()) >= d {
			c.close("unused connection timeout")
			return
		}
		if !alive.check(c.ctx, now) {
			c.close("client alive timeout")
			return
		}
	}
}

// idleSince is when the connection last had no open tunnel.
func (c *gwConn) idleSince() time.Time {
	return time.Unix(0, c.idle.Load())
}

// aliveProbe sends keepalive@openssh.com every interval and counts the
// probes left unanswered; any reply (OpenSSH answers "failure") is life.
type aliveProbe struct {
	conn     ssh.Conn
	interval time.Duration
	countMax int
	last     time.Time // last probe sent
	missed   int
	pending  atomic.Bool
	answered atomic.Bool
}

func newAliveProbe(conn ssh.Conn, interval time.Duration, countMax int) *aliveProbe {
	return &aliveProbe{conn: conn, interval: interval, countMax: countMax}
}

// check sends a probe when one is due and reports whether the client is
// still considered alive.
func (p *aliveProbe) check(ctx context.Context, now time.Time) bool {
	if p.interval <= 0 || now.Sub(p.last) < p.interval {
		return true
	}
	if p.answered.Swap(false) {
		p.missed = 0
	}
	if p.pending.Load() {
		p.missed++
		p.last = now
		return p.countMax <= 0 || p.missed < p.countMax
	}
	p.last = now
	p.pending.Store(true)
	go func() { // ends when the reply arrives or the connection closes
		_, _, err := p.conn.SendRequest("keepalive@openssh.com", true, nil)
		if err == nil && ctx.Err() == nil {
			p.answered.Store(true)
		}
		p.pending.Store(false)
	}()
	return true
}

// idleTimer closes a tunnel when no byte has moved either way for d.
type idleTimer struct {
	d     time.Duration
	last  atomic.Int64 // unix nanos of the last byte
	timer *time.Timer
	fired atomic.Bool
}

// newIdleTimer calls onIdle once the tunnel has been idle for d; d <= 0
// never fires. stop must be called when the tunnel ends.
func newIdleTimer(d time.Duration, onIdle func()) *idleTimer {
	t := &idleTimer{d: d}
	if d <= 0 {
		return t
	}
	t.touch()
	var check func()
	check = func() {
		idle := time.Since(time.Unix(0, t.last.Load()))
		if idle >= d {
			t.fired.Store(true)
			onIdle()
			return
		}
		t.timer.Reset(d - idle)
	}
	t.timer = time.AfterFunc(d, check)
	return t
}

func (t *idleTimer) touch() {
	if t.d > 0 {
		t.last.Store(time.Now().UnixNano())
	}
}

func (t *idleTimer) stop() {
	if t.timer != nil {
		t.timer.Stop()
	}
}

// touchReader records activity on every read.
type touchReader struct {
	halfCloser
	t *idleTimer
}

func (r touchReader) Read(p []byte) (int, error) {
	n, err := r.halfCloser.Read(p)
	if n > 0 {
		r.t.touch()
	}
	return n, err
}

// outcome classifies a failed handshake for PerSourcePenalties.
func (c *gwConn) outcome(err error) limits.Outcome {
	switch {
	case c.crashed.Load():
		return limits.Crashed
	case c.authFails.Load() > 0:
		return limits.AuthFailed
	case isTimeout(err):
		return limits.GraceExceeded
	case c.reasonIfClosing() != "":
		return limits.Authenticated // we cut it short (shutdown): not the peer's doing
	}
	return limits.NoAuth
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
