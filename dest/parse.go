package dest

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// shellMeta are the characters OpenSSH refuses in a user or host name given on
// the command line: none of them occurs in a real one, and each is a hazard
// wherever a name reaches a shell or a file name.
const shellMeta = "'`\"$\\;&<>|(){}"

// Parse splits DEST: "[user@]host[:port]", "[user@][v6addr]:port", a bare
// bracketed IPv6 address "[::1]", an unbracketed IPv6 address "fe80::1" (no
// port), or "ssh://[user@]host[:port]" (a trailing "/" is allowed; the user
// may be percent-encoded). The user is everything before the last '@', as in
// OpenSSH. port is 0 when DEST names none.
//
// Parse refuses, with a one-line error: an empty host or user, a port that is
// not a number from 1 to 65535, spaces and control characters, invalid UTF-8,
// a host or user starting with '-' (option injection when the name reaches
// another program), and shell metacharacters.
func Parse(dest string) (user, host string, port int, err error) {
	user, host, port, err = parse(dest)
	if err != nil {
		return "", "", 0, fmt.Errorf("destination %q: %w", dest, err)
	}
	return user, host, port, nil
}

func parse(dest string) (user, host string, port int, err error) {
	if err := checkText(dest); err != nil {
		return "", "", 0, err
	}
	rest, isURI := cutScheme(dest)
	if isURI {
		rest = strings.TrimSuffix(rest, "/")
		if strings.Contains(rest, "/") {
			return "", "", 0, fmt.Errorf("ssh:// destination must not have a path")
		}
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		if user, err = parseUser(rest[:i], isURI); err != nil {
			return "", "", 0, err
		}
		rest = rest[i+1:]
	}
	if host, port, err = splitHostPort(rest); err != nil {
		return "", "", 0, err
	}
	return user, host, port, nil
}

// cutScheme removes a case-insensitive "ssh://" prefix.
func cutScheme(s string) (string, bool) {
	const scheme = "ssh://"
	if len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
		return s[len(scheme):], true
	}
	return s, false
}

func parseUser(u string, isURI bool) (string, error) {
	if isURI {
		dec, err := url.PathUnescape(u)
		if err != nil {
			return "", fmt.Errorf("bad percent-encoding in user %q", u)
		}
		if err := checkText(dec); err != nil {
			return "", fmt.Errorf("user: %w", err)
		}
		u = dec
	}
	return u, validUser(u)
}

// splitHostPort splits "host", "host:port", "[host]" and "[host]:port". An
// unbracketed name with more than one colon must be an IPv6 address and has
// no port.
func splitHostPort(s string) (host string, port int, err error) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", 0, fmt.Errorf("missing ']' after IPv6 address")
		}
		host, after := s[1:end], s[end+1:]
		if after != "" {
			if after[0] != ':' {
				return "", 0, fmt.Errorf("unexpected %q after ']'", after)
			}
			if port, err = parsePort(after[1:]); err != nil {
				return "", 0, err
			}
		}
		return host, port, validHost(host)
	}
	switch strings.Count(s, ":") {
	case 0:
		return s, 0, validHost(s)
	case 1:
		host, p, _ := strings.Cut(s, ":")
		if port, err = parsePort(p); err != nil {
			return "", 0, err
		}
		return host, port, validHost(host)
	}
	if _, err := netip.ParseAddr(s); err != nil {
		return "", 0, fmt.Errorf("%q has several colons but is not an IPv6 address (write [addr]:port)", s)
	}
	return s, 0, validHost(s)
}

// parsePort accepts decimal digits naming a port from 1 to 65535.
func parsePort(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("empty port")
	}
	if len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("port %q is not a number from 1 to 65535", s)
	}
	n, _ := strconv.Atoi(s)
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q is not a number from 1 to 65535", s)
	}
	return n, nil
}

// checkText refuses invalid UTF-8, whitespace and control characters.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("not valid UTF-8")
	}
	if i := strings.IndexFunc(s, badRune); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return fmt.Errorf("space or control character %q not allowed", r)
	}
	return nil
}

func badRune(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r)
}

// validHost accepts a host name or address as it may appear in DEST, a
// ProxyJump hop or a HostName.
func validHost(h string) error {
	if h == "" {
		return fmt.Errorf("empty host")
	}
	return validName("host", h, shellMeta+"[],@")
}

// validUser accepts a user name as it may appear in DEST or in User.
func validUser(u string) error {
	if u == "" {
		return fmt.Errorf("empty user before '@'")
	}
	return validName("user", u, shellMeta)
}

func validName(what, s, forbidden string) error {
	if err := checkText(s); err != nil {
		return fmt.Errorf("%s %q: %w", what, s, err)
	}
	if s[0] == '-' {
		return fmt.Errorf("%s %q must not start with '-'", what, s)
	}
	if i := strings.IndexAny(s, forbidden); i >= 0 {
		return fmt.Errorf("%s %q must not contain %q", what, s, s[i])
	}
	return nil
}
