package config

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/loopgate/loopgate/limits"
	"github.com/loopgate/loopgate/policy"
)

// Template describes a new config file, as `gateway init` writes it.
type Template struct {
	Listen             string
	HostKey            string
	AuthorizedKeysFile string
	Services           []policy.Service
	// TokenKey is the token signing key file; "" writes no token lines.
	TokenKey string
	// Tokens maps a service name to its token profile kind (nanomq, jwt).
	Tokens map[string]string
}

// Render returns the text of a new config file.
func Render(t Template) []byte {
	var b bytes.Buffer
	b.WriteString("# loopgate gateway configuration. One keyword per line; see `gateway serve --help`.\n")
	b.WriteString("# Relative paths are relative to this file's directory.\n\n")
	fmt.Fprintf(&b, "Listen %s\n", t.Listen)
	fmt.Fprintf(&b, "HostKey %s\n", t.HostKey)
	fmt.Fprintf(&b, "AuthorizedKeysFile %s\n", t.AuthorizedKeysFile)
	fmt.Fprintf(&b, "DialTimeout %s\n", DefaultDialTimeout)
	fmt.Fprintf(&b, "LoginGraceTime %s\n", limits.Defaults().LoginGraceTime)
	fmt.Fprintf(&b, "DrainTimeout %s\n", DefaultDrainTimeout)
	b.WriteString("\n# Limits and algorithms take hardened defaults; `gateway serve --help` lists them.\n")
	b.WriteString("# For example: MaxStartups 10:30:100, PerSourcePenalties authfail:5s min:15s,\n")
	b.WriteString("# MaxSessions 64, ClientAliveInterval 15s, ChannelTimeout direct-tcpip=30m.\n")
	b.WriteString("\n# Services: a name and the loopback address the gateway dials for it.\n")
	for _, s := range t.Services {
		fmt.Fprintf(&b, "Service %s %s\n", s.Name, s.Addr)
	}
	if t.TokenKey != "" {
		b.WriteString("\n# Tokens: the gateway mints short-lived JWTs for a service with its own key:\n")
		b.WriteString("# Token SERVICE nanomq|jwt|none [ttl=DURATION (default 5m, at most 1h)] [iss=ISSUER]\n")
		fmt.Fprintf(&b, "TokenKey %s\n", t.TokenKey)
		for _, s := range t.Services {
			if kind, ok := t.Tokens[s.Name]; ok {
				fmt.Fprintf(&b, "Token %s %s ttl=5m\n", s.Name, kind)
			}
		}
	}
	b.WriteString("\n# Grants: which identity (the authorized_keys comment) may reach which services.\n")
	b.WriteString("# Add them with `gateway allow`, remove them with `gateway revoke`.\n")
	return b.Bytes()
}

// SetGrant returns data with the Grant line for name set to services:
// an existing Grant line for name is replaced in place, otherwise one is
// appended. Every other line is kept byte for byte. The result is parsed
// again, so a grant naming an unknown service is an error.
func SetGrant(data []byte, name string, services []string, dir string) ([]byte, error) {
	line := fmt.Sprintf("Grant %s %s", name, strings.Join(services, ","))
	lines := bytes.SplitAfter(data, []byte("\n"))
	replaced := false
	for i, l := range lines {
		if isGrantFor(l, name) {
			lines[i] = []byte(line + "\n")
			replaced = true
		}
	}
	out := bytes.Join(lines, nil)
	if !replaced {
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		out = append(out, line+"\n"...)
	}
	if _, err := Parse(out, "new config", dir); err != nil {
		return nil, err
	}
	return out, nil
}

// RemoveGrant returns data without the Grant line for name and whether
// there was one.
func RemoveGrant(data []byte, name string) ([]byte, bool) {
	var out []byte
	found := false
	for _, l := range bytes.SplitAfter(data, []byte("\n")) {
		if isGrantFor(l, name) {
			found = true
			continue
		}
		out = append(out, l...)
	}
	return out, found
}

func isGrantFor(line []byte, name string) bool {
	f := fields(string(line))
	return len(f) >= 2 && strings.EqualFold(f[0], "Grant") && f[1] == name
}

func splitHostPort(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("invalid address %q: want host:port", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return "", 0, fmt.Errorf("invalid port in %q", addr)
	}
	return host, n, nil
}
