package tunnel

import (
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

// watchdogTick bounds how late the watchdog notices an unused connection
// or an expiry.
const watchdogTick = time.Second

// watchdog runs for an authenticated connection until it ends: it closes
// it when the key stops being admitted (an expiry-time passing) and when it
// has carried no channel for UnusedConnectionTimeout.
func (c *gwConn) watchdog() {
	defer c.protect("watchdog")
	unused := c.g.lim.UnusedConnectionTimeout
	tick := watchdogTick
	if unused > 0 {
		tick = min(tick, max(unused/4, 50*time.Millisecond))
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		if err := c.admitted(c.g.rules.Load()); err != nil {
			c.who.Load().log.Info("connection revoked", "reason", err.Error())
			c.close(err.Error())
			return
		}
		if unused > 0 && c.active.Load() == 0 && time.Since(c.idleSince()) >= unused {
			c.close("unused connection timeout")
			return
		}
	}
}

// clientAlive is ClientAliveInterval / ClientAliveCountMax: it closes a
// connection whose client stopped answering keepalives.
func (c *gwConn) clientAlive(conn ssh.Conn) {
	defer c.protect("keepalive")
	if keepAlive(c.ctx, conn, c.g.lim.ClientAliveInterval, c.g.lim.ClientAliveCountMax) {
		c.close("client alive timeout")
	}
}

// idleSince is when the connection last had no open tunnel.
func (c *gwConn) idleSince() time.Time {
	return time.Unix(0, c.idle.Load())
}

// idleTimer closes a tunnel when no byte has moved either way for d.
type idleTimer struct {
	d      time.Duration
	last   atomic.Int64 // unix nanos of the last byte
	onIdle func()
	fired  atomic.Bool

	mu      sync.Mutex // orders check against stop
	timer   *time.Timer
	stopped bool // by stop, or by firing: check neither re-arms nor fires
}

// newIdleTimer calls onIdle once the tunnel has been idle for d; d <= 0
// never fires. stop must be called when the tunnel ends.
func newIdleTimer(d time.Duration, onIdle func()) *idleTimer {
	t := &idleTimer{d: d, onIdle: onIdle}
	if d <= 0 {
		return t
	}
	t.touch()
	t.mu.Lock()
	t.timer = time.AfterFunc(d, t.check)
	t.mu.Unlock()
	return t
}

// check runs when the timer fires: onIdle if nothing moved for d, else
// the timer again for the rest of d. A check that was already on its way
// when stop ran does neither, so a stopped timer stays stopped and never
// calls onIdle late.
func (t *idleTimer) check() {
	t.mu.Lock()
	if t.stopped {
		t.mu.Unlock()
		return
	}
	idle := time.Since(time.Unix(0, t.last.Load()))
	if idle < t.d {
		t.timer.Reset(t.d - idle)
		t.mu.Unlock()
		return
	}
	t.stopped = true
	t.mu.Unlock()
	t.fired.Store(true)
	t.onIdle()
}

func (t *idleTimer) touch() {
	if t.d > 0 {
		t.last.Store(time.Now().UnixNano())
	}
}

func (t *idleTimer) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
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
