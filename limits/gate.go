package limits

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"
)

// Why a connection is refused before its SSH banner, or after login.
var (
	ErrPenalized         = errors.New("source penalized (PerSourcePenalties)")
	ErrPerSourceStartups = errors.New("too many unauthenticated connections from source (PerSourceMaxStartups)")
	ErrRate              = errors.New("source connecting too fast (PerSourceConnectRate)")
	ErrStartups          = errors.New("too many unauthenticated connections (MaxStartups)")
	ErrMaxConnections    = errors.New("too many connections (MaxConnections)")
	ErrMaxConnectionsKey = errors.New("too many connections for this key (MaxConnectionsPerKey)")
)

// Outcome is how an unauthenticated connection ended its pre-auth phase.
type Outcome int

// Outcomes; every one but Authenticated may earn the source a penalty.
const (
	Authenticated Outcome = iota
	AuthFailed            // tried keys, none was accepted
	NoAuth                // left without trying to authenticate
	GraceExceeded         // LoginGraceTime ran out
	Crashed               // its handler panicked
)

func (o Outcome) String() string {
	switch o {
	case Authenticated:
		return "authenticated"
	case AuthFailed:
		return "authfail"
	case NoAuth:
		return "noauth"
	case GraceExceeded:
		return "grace-exceeded"
	case Crashed:
		return "crash"
	}
	return "unknown"
}

// sweepEvery bounds how often Admit walks the source table to drop
// entries that no longer hold state.
const sweepEvery = time.Second

// Gate decides which new connections may start, and which authenticated
// connections may stay, under Limits. It keeps per-source state in a table
// bounded by the penalty table sizes. It is safe for concurrent use and
// does no I/O.
type Gate struct {
	l    Limits
	now  func() time.Time
	roll func() int // uniform in [0, 100)

	mu        sync.Mutex
	unauth    int
	sources   map[netip.Prefix]*source
	count4    int // IPv4 entries in sources
	lastSweep time.Time
	authed    int
	perKey    map[string]int
}

// source is what the gate remembers about one source net block.
type source struct {
	unauth  int
	tokens  float64 // rate bucket: connections left
	last    time.Time
	until   time.Time     // penalty end
	accrued time.Duration // penalty added since the source was last clean
	active  bool          // accrued reached Min; refuse until `until`
}

// NewGate returns a gate for l (zero fields take their defaults). now nil
// means time.Now; roll nil means a random number in [0, 100).
func NewGate(l Limits, now func() time.Time, roll func() int) *Gate {
	if now == nil {
		now = time.Now
	}
	if roll == nil {
		roll = func() int { return rand.IntN(100) }
	}
	return &Gate{l: l.WithDefaults(), now: now, roll: roll,
		sources: map[netip.Prefix]*source{}, perKey: map[string]int{}}
}

// Limits returns the limits in force, defaults applied.
func (g *Gate) Limits() Limits { return g.l }

// Ticket is an admitted unauthenticated connection. Its Done must be
// called exactly once (later calls do nothing).
type Ticket struct {
	g    *Gate
	key  netip.Prefix
	src  *source // nil if the table was full
	done bool
}

// Admit decides whether a new connection from addr may start: penalty,
// per-source rate and cap, then MaxStartups with random early drop.
func (g *Gate) Admit(addr netip.Addr) (*Ticket, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	g.maybeSweep(now)
	key := g.block(addr)
	s := g.lookup(key, now, true)
	if s != nil {
		if s.active && now.Before(s.until) {
			return nil, ErrPenalized
		}
		if !g.take(s, now) {
			return nil, ErrRate
		}
		if n := g.l.PerSourceMaxStartups; n > 0 && s.unauth >= n {
			return nil, ErrPerSourceStartups
		}
	}
	if g.earlyDrop() {
		return nil, ErrStartups
	}
	g.unauth++
	if s != nil {
		s.unauth++
	}
	return &Ticket{g: g, key: key, src: s}, nil
}

// earlyDrop is MaxStartups start:rate:full.
func (g *Gate) earlyDrop() bool {
	m := g.l.MaxStartups
	switch {
	case m.Start <= 0 || g.unauth < m.Start:
		return false
	case g.unauth >= m.Full:
		return true
	}
	p := m.Rate + (100-m.Rate)*(g.unauth-m.Start)/(m.Full-m.Start)
	return g.roll() < p
}

// take spends one connection from the source's rate bucket.
func (g *Gate) take(s *source, now time.Time) bool {
	r := g.l.PerSourceConnectRate
	if r.Count <= 0 || r.Per <= 0 {
		return true
	}
	s.tokens = refill(s.tokens, s.last, now, r)
	s.last = now
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

func refill(tokens float64, last, now time.Time, r Rate) float64 {
	gained := float64(now.Sub(last)) / float64(r.Per) * float64(r.Count)
	return min(float64(r.Count), tokens+max(0, gained))
}

// block is the source net block addr belongs to.
func (g *Gate) block(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap()
	bits := g.l.PerSourceNetBlockSize.V6
	if addr.Is4() {
		bits = g.l.PerSourceNetBlockSize.V4
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return netip.PrefixFrom(addr, addr.BitLen())
	}
	return p
}

// lookup finds or, if create and the table has room, adds a source.
func (g *Gate) lookup(key netip.Prefix, now time.Time, create bool) *source {
	if s, ok := g.sources[key]; ok {
		return s
	}
	if !create || !key.IsValid() {
		return nil
	}
	if g.full(key.Addr().Is4()) {
		g.sweep(now)
		if g.full(key.Addr().Is4()) {
			return nil // permissive on overflow: no per-source state
		}
	}
	s := &source{tokens: float64(g.l.PerSourceConnectRate.Count), last: now}
	g.sources[key] = s
	if key.Addr().Is4() {
		g.count4++
	}
	return s
}

func (g *Gate) full(v4 bool) bool {
	p := g.l.PerSourcePenalties
	if v4 {
		return g.count4 >= max(p.MaxSources4, 1)
	}
	return len(g.sources)-g.count4 >= max(p.MaxSources6, 1)
}

func (g *Gate) maybeSweep(now time.Time) {
	if now.Sub(g.lastSweep) >= sweepEvery {
		g.sweep(now)
	}
}

// sweep drops sources with no open connection, a full rate bucket and no
// penalty left, so the table only holds state that matters.
func (g *Gate) sweep(now time.Time) {
	g.lastSweep = now
	r := g.l.PerSourceConnectRate
	for k, s := range g.sources {
		full := r.Count <= 0 || r.Per <= 0 || refill(s.tokens, s.last, now, r) >= float64(r.Count)
		if s.unauth == 0 && full && !now.Before(s.until) {
			g.drop(k)
		}
	}
}

func (g *Gate) drop(k netip.Prefix) {
	delete(g.sources, k)
	if k.Addr().Is4() {
		g.count4--
	}
}

// Done ends the ticket's unauthenticated phase with outcome, penalizing
// the source for anything but Authenticated. It returns the penalty added
// (zero if none) and whether the source is now refused.
func (t *Ticket) Done(o Outcome) (added time.Duration, refused bool) {
	g := t.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.done {
		return 0, false
	}
	t.done = true
	g.unauth--
	s := t.src // still in the table: a source with open connections is never swept
	if s == nil {
		return 0, false
	}
	s.unauth--
	p := g.penaltyFor(o)
	if p <= 0 {
		return 0, false
	}
	return g.penalize(s, p, g.now())
}

func (g *Gate) penaltyFor(o Outcome) time.Duration {
	p := g.l.PerSourcePenalties
	if p.Off {
		return 0
	}
	switch o {
	case AuthFailed:
		return p.AuthFail
	case NoAuth:
		return p.NoAuth
	case GraceExceeded:
		return p.GraceExceeded
	case Crashed:
		return p.Crash
	}
	return 0
}

// penalize adds d to the source's penalty, capped at Max from now, and
// returns what was added after the cap and whether the source is refused
// from now on.
func (g *Gate) penalize(s *source, d time.Duration, now time.Time) (time.Duration, bool) {
	p := g.l.PerSourcePenalties
	if now.After(s.until) {
		s.until, s.accrued, s.active = now, 0, false
	}
	before := s.until
	s.until = s.until.Add(d)
	s.accrued += d
	if p.Max > 0 && s.until.Sub(now) > p.Max {
		s.until = now.Add(p.Max)
	}
	// Compare what was added, not what is left: the time between two
	// failures must not keep a source below Min.
	if s.accrued >= p.Min {
		s.active = true
	}
	return s.until.Sub(before), s.active
}

// Login admits an authenticated connection for the key with fingerprint
// fp under MaxConnections and MaxConnectionsPerKey. The returned release
// must be called when the connection ends.
func (g *Gate) Login(fp string) (release func(), err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := g.l.MaxConnections; n > 0 && g.authed >= n {
		return nil, ErrMaxConnections
	}
	if n := g.l.MaxConnectionsPerKey; n > 0 && g.perKey[fp] >= n {
		return nil, fmt.Errorf("%w: %d open", ErrMaxConnectionsKey, g.perKey[fp])
	}
	g.authed++
	g.perKey[fp]++
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.authed--
			if g.perKey[fp]--; g.perKey[fp] <= 0 {
				delete(g.perKey, fp)
			}
		})
	}, nil
}

// Stats is a snapshot of the gate's counters, for tests and metrics.
type Stats struct {
	Unauthenticated int
	Authenticated   int
	Sources         int
}

// Stats returns the current counters.
func (g *Gate) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return Stats{Unauthenticated: g.unauth, Authenticated: g.authed, Sources: len(g.sources)}
}
