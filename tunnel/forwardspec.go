package tunnel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// ForwardSpec is one -L argument: [BIND:]LPORT:HOST[:PORT].
type ForwardSpec struct {
	Bind  string // local address; default 127.0.0.1
	LPort int    // local port; 0 picks a free one
	Host  string // service name or loopback address on the gateway
	Port  int    // 0: a service name whose port the gateway lists
}

// Local is the address to listen on.
func (s ForwardSpec) Local() string { return net.JoinHostPort(s.Bind, strconv.Itoa(s.LPort)) }

// LoopbackBind reports whether the spec listens on loopback only.
func (s ForwardSpec) LoopbackBind() bool {
	ip, err := netip.ParseAddr(s.Bind)
	return s.Bind == "localhost" || (err == nil && ip.IsLoopback())
}

// ParseForwardSpec parses [BIND:]LPORT:HOST[:PORT] as ssh -L does, with
// IPv6 addresses in brackets; a missing PORT needs HOST to be a name.
func ParseForwardSpec(s string) (ForwardSpec, error) {
	parts, err := splitBracketed(s)
	if err != nil {
		return ForwardSpec{}, fmt.Errorf("-L %q: %w", s, err)
	}
	var bind, lport, host, port string
	hasPort := true
	switch {
	case len(parts) == 2:
		lport, host, hasPort = parts[0], parts[1], false
	case len(parts) == 3 && isDigits(parts[0]):
		lport, host, port = parts[0], parts[1], parts[2]
	case len(parts) == 3:
		bind, lport, host, hasPort = parts[0], parts[1], parts[2], false
	case len(parts) == 4:
		bind, lport, host, port = parts[0], parts[1], parts[2], parts[3]
	default:
		return ForwardSpec{}, fmt.Errorf("-L %q: want [BIND:]LPORT:SERVICE[:PORT]", s)
	}
	spec := ForwardSpec{Bind: bind, Host: host}
	if spec.Bind == "" {
		spec.Bind = "127.0.0.1"
	}
	if spec.LPort, err = parsePort(lport, true); err != nil {
		return ForwardSpec{}, fmt.Errorf("-L %q: local port: %w", s, err)
	}
	if hasPort {
		if spec.Port, err = parsePort(port, false); err != nil {
			return ForwardSpec{}, fmt.Errorf("-L %q: port: %w", s, err)
		}
	}
	if err := checkForwardHosts(spec); err != nil {
		return ForwardSpec{}, fmt.Errorf("-L %q: %w", s, err)
	}
	return spec, nil
}

func checkForwardHosts(spec ForwardSpec) error {
	for _, h := range []string{spec.Bind, spec.Host} {
		if h == "" || strings.ContainsFunc(h, func(r rune) bool { return r <= ' ' || r == 0x7f || r > '~' }) {
			return fmt.Errorf("invalid host %q", h)
		}
	}
	if spec.Port == 0 {
		if _, err := netip.ParseAddr(spec.Host); err == nil || spec.Host == "localhost" {
			return errors.New("an address needs a port; only a service name may leave it out")
		}
	}
	return nil
}

// splitBracketed splits on ':' outside [brackets], dropping the brackets.
func splitBracketed(s string) ([]string, error) {
	var parts []string
	for s != "" {
		if s[0] == '[' {
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return nil, errors.New("unclosed '['")
			}
			parts = append(parts, s[1:end])
			s = s[end+1:]
			if s != "" && s[0] != ':' {
				return nil, errors.New("want ':' after ']'")
			}
		} else {
			i := strings.IndexByte(s, ':')
			if i < 0 {
				i = len(s)
			}
			parts = append(parts, s[:i])
			s = s[i:]
		}
		if s != "" {
			s = s[1:] // the ':'
			if s == "" {
				parts = append(parts, "")
			}
		}
	}
	return parts, nil
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func parsePort(s string, zeroOK bool) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || !isDigits(s) || n > 65535 || (n == 0 && !zeroOK) {
		return 0, fmt.Errorf("%q is not a port", s)
	}
	return n, nil
}
