package tunnel

import (
	"sync"
	"sync/atomic"

	"github.com/loopgate/loopgate/policy"
)

// openTunnel is a tunnel in flight, kept so that a reload can take back a
// grant from the tunnels already using it, not only from the next ones.
type openTunnel struct {
	host  string         // what the client asked for
	port  uint32         //
	svc   policy.Service // what it was given
	close func()         // ends the tunnel (both sides)
	// revoked says why a reload ended it; nil while it stands, and "" once
	// it ended by itself (so a later reload leaves it alone).
	revoked atomic.Pointer[string]
}

// tunnelSet is a connection's open tunnels.
type tunnelSet struct {
	mu  sync.Mutex
	set map[*openTunnel]struct{}
}

func (s *tunnelSet) add(t *openTunnel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set == nil {
		s.set = make(map[*openTunnel]struct{})
	}
	s.set[t] = struct{}{}
}

func (s *tunnelSet) remove(t *openTunnel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.set, t)
}

func (s *tunnelSet) list() []*openTunnel {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*openTunnel, 0, len(s.set))
	for t := range s.set {
		out = append(out, t)
	}
	return out
}

// recheckTunnels asks rules again about each open tunnel of an admitted
// connection and ends those the rules no longer grant.
func (c *gwConn) recheckTunnels(rules *Rules) {
	for _, t := range c.open.list() {
		c.recheckTunnel(rules, t)
	}
}

// recheckTunnel ends t when rules no longer grant it, or its service now
// has another address. forward calls it once more after registering t, so
// a reload between the decision and the registration is not missed.
func (c *gwConn) recheckTunnel(rules *Rules, t *openTunnel) {
	k, ok := rules.lookup(c.who.Load().pub)
	if !ok {
		return // the key is gone: the whole connection is being closed
	}
	svc, err := rules.Policy.Check(k, t.host, t.port)
	why := ""
	switch {
	case err != nil:
		why = err.Error()
	case svc.Addr != t.svc.Addr:
		why = "service " + t.svc.Name + " moved to " + svc.Addr.String()
	default:
		return
	}
	if t.revoked.CompareAndSwap(nil, &why) {
		c.who.Load().log.Info("tunnel revoked", "service", t.svc.Name, "reason", clean(why))
		// Not on the caller's goroutine: SetRules runs in the reload loop,
		// and closing the channel writes to a peer that may not be reading.
		// The goroutine ends when the close returns, at the latest when the
		// connection closes.
		go t.close()
	}
}
