package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Refusal reasons. Errors returned by Admit, Resolve and Check are one of
// these, possibly wrapped with detail; test them with errors.Is. The detail
// is for logs: it may echo what the client sent.
var (
	ErrExpired            = errors.New("key expired")
	ErrSourceDenied       = errors.New("source address not allowed by from=")
	ErrForwardingDisabled = errors.New("port forwarding disabled for this key")
	ErrUnknownService     = errors.New("no such service")
	ErrBadPort            = errors.New("invalid port")
	ErrNotGranted         = errors.New("service not granted")
	ErrNotPermitted       = errors.New("service not in permitopen")
)

// Key is what authorized_keys says about one public key, as policy needs it.
type Key struct {
	// Name is the identity name (the authorized_keys comment); grants are
	// looked up by it.
	Name string
	// Fingerprint is the key's SHA256:... fingerprint, for information only.
	Fingerprint string
	// From holds the from= patterns, already split on commas. Nil or empty
	// allows any source.
	From []string
	// Expiry is expiry-time=. The zero value means the key never expires.
	Expiry time.Time
	// PermitOpen holds the permitopen= entries. Empty means no restriction
	// beyond the grants.
	PermitOpen []Target
	// NoPortForwarding is set by no-port-forwarding, or by restrict without
	// port-forwarding. When set, Check refuses every request.
	NoPortForwarding bool
}

// Policy holds the configured services and the grants of services to
// identity names. It is immutable after New and safe for concurrent use. A
// nil *Policy has no services and grants nothing.
type Policy struct {
	services []Service           // sorted by name
	byName   map[string]Service  // name -> service
	grants   map[string][]string // identity name -> sorted service names
}

// ValidName reports whether s is a valid identity (grant) name:
// ^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 64 || (!isLetter(s[0]) && !isDigit(s[0])) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !isDigit(c) && strings.IndexByte("._@+-", c) < 0 {
			return false
		}
	}
	return true
}

// New validates services and grants and returns the Policy they make.
// Every service must pass ParseService's checks; names and addresses must be
// unique; every grant key must be a ValidName and every granted service must
// exist. Duplicate service names within one grant are merged. New copies its
// arguments.
func New(services []Service, grants map[string][]string) (*Policy, error) {
	p := &Policy{
		services: slices.Clone(services),
		byName:   make(map[string]Service, len(services)),
		grants:   make(map[string][]string, len(grants)),
	}
	if err := p.addServices(); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(grants))
	for name := range grants {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := p.addGrant(name, grants[name]); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *Policy) addServices() error {
	byAddr := make(map[netip.AddrPort]string, len(p.services))
	for _, s := range p.services {
		if err := s.validate(); err != nil {
			return err
		}
		if _, dup := p.byName[s.Name]; dup {
			return fmt.Errorf("service %q: defined more than once", s.Name)
		}
		if other, dup := byAddr[s.Addr]; dup {
			return fmt.Errorf("service %q: address %s already used by service %q", s.Name, s.Addr, other)
		}
		p.byName[s.Name] = s
		byAddr[s.Addr] = s.Name
	}
	slices.SortFunc(p.services, func(a, b Service) int { return strings.Compare(a.Name, b.Name) })
	return nil
}

func (p *Policy) addGrant(name string, services []string) error {
	if !ValidName(name) {
		return fmt.Errorf("grant %q: invalid identity name", name)
	}
	for _, s := range services {
		if _, ok := p.byName[s]; !ok {
			return fmt.Errorf("grant %q: unknown service %q", name, s)
		}
	}
	list := slices.Clone(services)
	slices.Sort(list)
	p.grants[name] = slices.Compact(list)
	return nil
}

// Services returns a copy of the configured services, sorted by name.
func (p *Policy) Services() []Service {
	return slices.Clone(p.list())
}

// Service returns the service called name.
func (p *Policy) Service(name string) (Service, bool) {
	if p == nil {
		return Service{}, false
	}
	s, ok := p.byName[name]
	return s, ok
}

// Granted returns a sorted copy of the service names granted to the
// identity name.
func (p *Policy) Granted(name string) []string {
	if p == nil {
		return nil
	}
	return slices.Clone(p.grants[name])
}

// Admit decides whether key k may authenticate from src at now. It returns
// ErrExpired if k has an expiry and now is not before it, ErrSourceDenied if
// k has from= patterns and MatchFrom refuses src, and nil otherwise.
func (p *Policy) Admit(k Key, src netip.Addr, now time.Time) error {
	if !k.Expiry.IsZero() && !now.Before(k.Expiry) {
		return fmt.Errorf("%w: expiry-time %s", ErrExpired, k.Expiry.UTC().Format(time.RFC3339))
	}
	if len(k.From) > 0 && !MatchFrom(k.From, src) {
		return fmt.Errorf("%w: %s", ErrSourceDenied, src)
	}
	return nil
}

// Check decides one direct-tcpip request for (host, port) by key k and
// returns the service to dial. In order: ErrForwardingDisabled if
// k.NoPortForwarding; any error from Resolve; ErrNotGranted unless the
// grants for k.Name include the service; and, if k.PermitOpen is not empty,
// ErrNotPermitted unless some entry selects the service. An entry selects a
// service when its port is AnyPort or the service's port, and its host
// resolves to that service under the same rules as Resolve.
//
// Check does not repeat Admit: expiry and source are decided at
// authentication.
func (p *Policy) Check(k Key, host string, port uint32) (Service, error) {
	if k.NoPortForwarding {
		return Service{}, ErrForwardingDisabled
	}
	s, err := p.Resolve(host, port)
	if err != nil {
		return Service{}, err
	}
	if !slices.Contains(p.Granted(k.Name), s.Name) {
		return Service{}, fmt.Errorf("%w: %q to %q", ErrNotGranted, s.Name, k.Name)
	}
	if len(k.PermitOpen) > 0 && !p.permitted(k.PermitOpen, s) {
		return Service{}, fmt.Errorf("%w: %q", ErrNotPermitted, s.Name)
	}
	return s, nil
}

// permitted reports whether some permitopen entry selects service s.
func (p *Policy) permitted(entries []Target, s Service) bool {
	port := s.Addr.Port()
	for _, t := range entries {
		if t.Port != AnyPort && t.Port != int(port) {
			continue
		}
		if got, err := p.Resolve(t.Host, uint32(port)); err == nil && got == s {
			return true
		}
	}
	return false
}

func (p *Policy) list() []Service {
	if p == nil {
		return nil
	}
	return p.services
}
