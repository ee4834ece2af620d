package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// AnyPort is Target.Port for a permitopen entry whose port is "*".
const AnyPort = -1

// Target is one permitopen="host:port" entry from authorized_keys.
type Target struct {
	// Host is the literal host, without brackets. It is never resolved.
	Host string
	// Port is 1..65535, or AnyPort for "*".
	Port int
}

// ParseTarget parses "host:port" or "[host]:port", as permitopen= writes
// them. Port is 1..65535 or "*". Host must be non-empty printable ASCII
// without spaces or brackets; outside brackets it must not contain ':'.
func ParseTarget(s string) (Target, error) {
	host, port, bracketed, ok := splitHostPort(s)
	if !ok {
		return Target{}, fmt.Errorf("permitopen %q: want host:port, with IPv6 in brackets", s)
	}
	if err := checkTargetHost(host, bracketed); err != nil {
		return Target{}, fmt.Errorf("permitopen %q: %w", s, err)
	}
	if port == "*" {
		return Target{Host: host, Port: AnyPort}, nil
	}
	n, ok := parsePort(port)
	if !ok {
		return Target{}, fmt.Errorf("permitopen %q: port must be 1..65535 or *", s)
	}
	return Target{Host: host, Port: n}, nil
}

// String returns the target in permitopen syntax.
func (t Target) String() string {
	port := "*"
	if t.Port != AnyPort {
		port = strconv.Itoa(t.Port)
	}
	if strings.Contains(t.Host, ":") {
		return "[" + t.Host + "]:" + port
	}
	return t.Host + ":" + port
}

func checkTargetHost(host string, bracketed bool) error {
	if host == "" {
		return errors.New("missing host")
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case !isGraphic(c):
			return errors.New("host must be printable ASCII without spaces")
		case c == '[' || c == ']':
			return errors.New("host must not contain brackets")
		case c == ':' && !bracketed:
			return errors.New("IPv6 address must be in brackets")
		}
	}
	return nil
}

// Resolve is target canonicalisation alone: which configured service does a
// direct-tcpip request for (host, port) select?
//
// host selects a service if it is exactly the service's name; or exactly
// "localhost" and the service's IP is 127.0.0.1 or ::1; or an IP literal
// (netip.ParseAddr, no zone) identical to the service's IP, so that
// ::ffff:127.0.0.1, ::1 and 127.0.0.2 never select 127.0.0.1. port must equal
// the service's port. If more than one service is selected ("localhost" with
// both 127.0.0.1 and ::1 on that port), the request is refused as ambiguous.
//
// Errors: ErrBadPort for port 0 or above 65535, ErrUnknownService otherwise.
// The Service returned is always one of p.Services().
func (p *Policy) Resolve(host string, port uint32) (Service, error) {
	if port == 0 || port > 65535 {
		return Service{}, fmt.Errorf("%w: %d", ErrBadPort, port)
	}
	var found Service
	n := 0
	for _, s := range p.list() {
		if uint32(s.Addr.Port()) == port && selects(host, s) {
			found = s
			n++
		}
	}
	switch n {
	case 0:
		return Service{}, fmt.Errorf("%w: %q port %d", ErrUnknownService, host, port)
	case 1:
		return found, nil
	default:
		return Service{}, fmt.Errorf("%w: %q port %d is ambiguous; use the service name", ErrUnknownService, host, port)
	}
}

var (
	loopback4 = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	loopback6 = netip.IPv6Loopback()
)

// selects reports whether host names service s, ignoring the port.
func selects(host string, s Service) bool {
	ip := s.Addr.Addr()
	switch host {
	case s.Name:
		return true
	case "localhost":
		return ip == loopback4 || ip == loopback6
	}
	h, err := netip.ParseAddr(host)
	return err == nil && h.Zone() == "" && h == ip
}
