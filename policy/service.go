package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Service is a named loopback address the gateway may dial.
type Service struct {
	// Name is what clients send as the direct-tcpip host, such as "nanomq".
	Name string
	// Addr is the loopback address the gateway dials for this service.
	Addr netip.AddrPort
}

// ParseService validates a service definition from the config file.
//
// name must match ^[a-z][a-z0-9_-]{0,31}$ and must not be "localhost".
// addr must be "IP:port" (IPv6 in brackets, "[::1]:8081") where IP is a
// loopback IP literal in standard form (127.0.0.0/8 or ::1) without a zone
// and not IPv4-mapped, and port is 1..65535. Host names, including
// "localhost", and shorthand such as "127.1:80" are refused.
func ParseService(name, addr string) (Service, error) {
	if err := checkServiceName(name); err != nil {
		return Service{}, fmt.Errorf("service %q: %w", name, err)
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return Service{}, fmt.Errorf("service %q: %w", name, explainAddr(addr, err))
	}
	if err := checkLoopback(addr, ap); err != nil {
		return Service{}, fmt.Errorf("service %q: %w", name, err)
	}
	return Service{Name: name, Addr: ap}, nil
}

// validate repeats ParseService's checks, for a Service built directly.
func (s Service) validate() error {
	if err := checkServiceName(s.Name); err != nil {
		return fmt.Errorf("service %q: %w", s.Name, err)
	}
	if err := checkLoopback(s.Addr.String(), s.Addr); err != nil {
		return fmt.Errorf("service %q: %w", s.Name, err)
	}
	return nil
}

// ValidServiceName reports whether name can name a service.
func ValidServiceName(name string) bool { return checkServiceName(name) == nil }

// checkServiceName enforces ^[a-z][a-z0-9_-]{0,31}$ and refuses "localhost".
func checkServiceName(name string) error {
	if name == "localhost" {
		return errors.New(`name "localhost" is reserved`)
	}
	if len(name) == 0 || len(name) > 32 || !isLower(name[0]) {
		return errors.New("name must be 1 to 32 characters and start with a-z")
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if !isLower(c) && !isDigit(c) && c != '_' && c != '-' {
			return errors.New("name may contain only a-z, 0-9, '_' and '-'")
		}
	}
	return nil
}

// checkLoopback refuses any address the gateway must not dial.
func checkLoopback(addr string, ap netip.AddrPort) error {
	ip := ap.Addr()
	switch {
	case !ip.IsValid():
		return fmt.Errorf("address %q is not a valid IP address", addr)
	case ip.Zone() != "":
		return fmt.Errorf("address %q must not have a zone", addr)
	case ip.Is4In6():
		return fmt.Errorf("address %q is IPv4-mapped; write the IPv4 address", addr)
	case !ip.IsLoopback():
		return fmt.Errorf("address %q is not loopback", addr)
	case ap.Port() == 0:
		return fmt.Errorf("address %q: port must be 1..65535", addr)
	}
	return nil
}

// explainAddr turns a netip.ParseAddrPort failure into an error that says
// what the operator should write instead.
func explainAddr(addr string, err error) error {
	host, port, bracketed, ok := splitHostPort(addr)
	if !ok {
		return fmt.Errorf("address %q: want IP:port, with IPv6 in brackets like [::1]:8081", addr)
	}
	ip, ipErr := netip.ParseAddr(host)
	switch {
	case host == "":
		return fmt.Errorf("address %q: missing host", addr)
	case ipErr == nil && !bracketed && ip.Is6():
		return fmt.Errorf("address %q: IPv6 address must be in brackets, like [::1]:8081", addr)
	case ipErr != nil && isNameLike(host):
		return fmt.Errorf("address %q: host must be a loopback IP address, not a name", addr)
	case ipErr != nil:
		return fmt.Errorf("address %q: host %q is not an IP address in standard form", addr, host)
	}
	if _, ok := parsePort(port); !ok {
		return fmt.Errorf("address %q: port must be 1..65535", addr)
	}
	return fmt.Errorf("address %q: %w", addr, err)
}

// splitHostPort splits "host:port" or "[host]:port" without judging either
// part. It reports whether the host was in brackets.
func splitHostPort(s string) (host, port string, bracketed, ok bool) {
	if rest, found := strings.CutPrefix(s, "["); found {
		end := strings.IndexByte(rest, ']')
		if end < 0 || !strings.HasPrefix(rest[end+1:], ":") {
			return "", "", true, false
		}
		return rest[:end], rest[end+2:], true, true
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", false, false
	}
	return s[:i], s[i+1:], false, true
}

// parsePort accepts decimal digits only, with a value of 1..65535.
func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, false
	}
	return n, true
}

// isNameLike reports whether s looks like a DNS name rather than a mangled
// IP literal: it starts with a letter and holds only letters, digits, '-'
// and '.'.
func isNameLike(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !isDigit(c) && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isLower(c byte) bool  { return 'a' <= c && c <= 'z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isLetter(c byte) bool { return isLower(c) || ('A' <= c && c <= 'Z') }

// isGraphic reports whether c is printable ASCII other than space.
func isGraphic(c byte) bool { return '!' <= c && c <= '~' }
