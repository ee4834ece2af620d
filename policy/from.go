package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// MatchFrom implements OpenSSH from= pattern-list semantics against an
// address. Names are never resolved.
//
// Each pattern may start with '!' to negate it; a negated pattern that
// matches denies outright. A pattern containing '/' is a CIDR prefix; a
// pattern that is an IP literal matches that address however it is spelled;
// any other pattern is a case-insensitive wildcard ('*' any run, '?' one
// character) matched against addr.Unmap().String(). IPv4-mapped addresses are
// unmapped and zones are ignored before matching.
//
// The address is allowed if some positive pattern matches and no negated one
// does. Like sshd, which refuses a from= list with an inconsistent CIDR, the
// whole list fails closed: if any pattern is rejected by ValidFromPattern, or
// addr is not valid, MatchFrom returns false.
func MatchFrom(patterns []string, addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	a := addr.WithZone("").Unmap()
	s := a.String()
	allowed := false
	for _, p := range patterns {
		if ValidFromPattern(p) != nil {
			return false
		}
		body, neg := strings.CutPrefix(p, "!")
		if !matchOne(body, a, s) {
			continue
		}
		if neg {
			return false
		}
		allowed = true
	}
	return allowed
}

// matchOne matches one valid, non-negated pattern against a and its string s.
func matchOne(pattern string, a netip.Addr, s string) bool {
	if strings.Contains(pattern, "/") {
		pfx, err := netip.ParsePrefix(pattern)
		return err == nil && pfx.Contains(a)
	}
	if ip, err := netip.ParseAddr(pattern); err == nil {
		return ip == a
	}
	return wildcard(strings.ToLower(pattern), s)
}

// ValidFromPattern checks one from= pattern's syntax, for use when
// authorized_keys is loaded. A pattern is non-empty printable ASCII without
// spaces, commas or quotes, optionally preceded by one '!'. A CIDR must parse
// and have no host bits set (as sshd requires); neither a CIDR nor an IP
// literal may have a zone or be IPv4-mapped.
func ValidFromPattern(p string) error {
	body, _ := strings.CutPrefix(p, "!")
	if body == "" {
		return fmt.Errorf("from pattern %q: empty", p)
	}
	for i := 0; i < len(body); i++ {
		if c := body[i]; !isGraphic(c) || strings.IndexByte(`,"'!`, c) >= 0 {
			return fmt.Errorf("from pattern %q: invalid character %q", p, c)
		}
	}
	if err := checkFromAddr(body); err != nil {
		return fmt.Errorf("from pattern %q: %w", p, err)
	}
	return nil
}

// checkFromAddr checks a pattern body that is a CIDR or an IP literal.
func checkFromAddr(body string) error {
	if strings.Contains(body, "/") {
		pfx, err := netip.ParsePrefix(body)
		switch {
		case err != nil:
			return fmt.Errorf("invalid CIDR: %w", err)
		case pfx != pfx.Masked():
			return fmt.Errorf("CIDR has host bits set; did you mean %s?", pfx.Masked())
		case pfx.Addr().Is4In6():
			return errors.New("IPv4-mapped CIDR; write the IPv4 prefix")
		}
		return nil
	}
	ip, err := netip.ParseAddr(body)
	switch {
	case err != nil:
		return nil // a wildcard or a name
	case ip.Zone() != "":
		return errors.New("address must not have a zone")
	case ip.Is4In6():
		return errors.New("IPv4-mapped address; write the IPv4 address")
	}
	return nil
}

// wildcard matches s against pattern, where '*' matches any run of bytes and
// '?' exactly one. It backtracks only to the last '*', so it runs in
// O(len(pattern)*len(s)) at worst.
func wildcard(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
