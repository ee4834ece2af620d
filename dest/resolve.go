package dest

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// maxJump bounds both the nesting of ProxyJump and the hops in one list.
const maxJump = 8

// hop is a parsed "[user@]host[:port]"; chained marks a ProxyJump hop after
// the first, whose own ProxyJump and ProxyCommand do not apply.
type hop struct {
	user, host string
	port       int
	chained    bool
}

type resolver struct {
	cfg   *sshConfig
	local *local
}

// resolve builds the Destination for h. flags is nil for ProxyJump hops;
// stack holds the aliases whose ProxyJump is being resolved, outermost first.
func (r *resolver) resolve(h hop, flags *Overrides, stack []string) (*Destination, error) {
	if flags == nil {
		flags = &Overrides{}
	}
	c := r.cfg.host(h.host)
	d := &Destination{Alias: h.host}
	if err := r.address(c, h, flags, d); err != nil {
		return nil, err
	}
	if err := r.identities(c, flags, d); err != nil {
		return nil, err
	}
	if err := r.knownHosts(c, flags, d); err != nil {
		return nil, err
	}
	if err := r.options(c, flags, d); err != nil {
		return nil, err
	}
	if !h.chained {
		if err := r.jumps(c, d, stack); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// address fills HostName, Port, User and HostKeyAlias.
func (r *resolver) address(c hostConfig, h hop, flags *Overrides, d *Destination) (err error) {
	if d.HostName, err = hostName(c, h); err != nil {
		return err
	}
	if d.Port, err = port(c, h, flags); err != nil {
		return err
	}
	if d.User, err = r.user(c, h); err != nil {
		return err
	}
	d.HostKeyAlias, err = hostKeyAlias(c)
	return err
}

// hostName takes HostName with %h expanded, else the alias, lowercased.
func hostName(c hostConfig, h hop) (string, error) {
	v, err := c.get("HostName")
	if err != nil {
		return "", err
	}
	name := h.host
	if v != "" {
		onlyH := func(x byte) (string, error) {
			if x == 'h' {
				return h.host, nil
			}
			return "", errUnknownToken
		}
		if name, err = expandTokens(v, onlyH); err != nil {
			return "", c.errorf("HostName %q: %w", v, err)
		}
	}
	name = lowerString(name)
	if err := validHost(name); err != nil {
		return "", c.errorf("HostName: %w", err)
	}
	return name, nil
}

// hostKeyAlias takes HostKeyAlias, lowercased; "" when unset.
func hostKeyAlias(c hostConfig) (string, error) {
	v, err := c.get("HostKeyAlias")
	if err != nil || v == "" {
		return "", err
	}
	alias := lowerString(v)
	if err := validHost(alias); err != nil {
		return "", c.errorf("HostKeyAlias: %w", err)
	}
	return alias, nil
}

// port takes -p, else the port in DEST, else Port, else 22.
func port(c hostConfig, h hop, flags *Overrides) (int, error) {
	switch {
	case flags.Port != 0:
		return flags.Port, nil
	case h.port != 0:
		return h.port, nil
	}
	v, err := c.get("Port")
	if err != nil || v == "" {
		return 22, err
	}
	p, err := parsePort(v)
	if err != nil {
		return 0, c.errorf("Port %q: want a number from 1 to 65535", v)
	}
	return p, nil
}

// user takes the user in DEST, else User, else the local user.
func (r *resolver) user(c hostConfig, h hop) (string, error) {
	if h.user != "" {
		return h.user, nil
	}
	v, err := c.get("User")
	if err != nil {
		return "", err
	}
	if v == "" {
		if u := r.local.user(); u != "" {
			return u, nil
		}
		return "", c.errorf("no user in the destination or User, and %w", errNoLocalUser)
	}
	if err := validUser(v); err != nil {
		return "", c.errorf("User: %w", err)
	}
	return v, nil
}

// identities collects -i and every IdentityFile, expanded, without
// duplicates.
func (r *resolver) identities(c hostConfig, flags *Overrides, d *Destination) error {
	files, err := c.getAll("IdentityFile")
	if err != nil {
		return err
	}
	if flags.IdentityFile != "" {
		files = append([]string{flags.IdentityFile}, files...)
	}
	tokens := r.local.pathTokens(d)
	for _, f := range files {
		p, err := r.local.expandPath(f, tokens)
		if err != nil {
			return c.errorf("IdentityFile %q: %w", f, err)
		}
		if !slices.Contains(d.IdentityFiles, p) {
			d.IdentityFiles = append(d.IdentityFiles, p)
		}
	}
	return nil
}

// knownHosts takes --known-hosts, else UserKnownHostsFile (a space-separated
// list), else ~/.ssh/known_hosts.
func (r *resolver) knownHosts(c hostConfig, flags *Overrides, d *Destination) error {
	files := []string{flags.KnownHosts}
	if flags.KnownHosts == "" {
		v, err := c.get("UserKnownHostsFile")
		if err != nil {
			return err
		}
		if files, err = knownHostsList(c, v); err != nil {
			return err
		}
	}
	if len(files) == 0 {
		d.KnownHostsFiles = []string{filepath.Join(r.local.home, ".ssh", "known_hosts")}
		return nil
	}
	tokens := r.local.pathTokens(d)
	for _, f := range files {
		p, err := r.local.expandPath(f, tokens)
		if err != nil {
			return c.errorf("UserKnownHostsFile %q: %w", f, err)
		}
		d.KnownHostsFiles = append(d.KnownHostsFiles, p)
	}
	return nil
}

// knownHostsList splits UserKnownHostsFile. "none" is refused: without a
// known_hosts file no host key could ever be checked.
func knownHostsList(c hostConfig, v string) ([]string, error) {
	if strings.EqualFold(v, "none") {
		return nil, c.errorf("UserKnownHostsFile none is not supported: loopgate always checks host keys")
	}
	return strings.Fields(v), nil
}

// options fills IdentitiesOnly, StrictHostKeyChecking and the timers.
func (r *resolver) options(c hostConfig, flags *Overrides, d *Destination) (err error) {
	if d.IdentitiesOnly, err = c.flag("IdentitiesOnly"); err != nil {
		return err
	}
	d.IdentitiesOnly = d.IdentitiesOnly || flags.IdentityFile != ""
	if d.StrictHostKeyChecking, err = strictness(c); err != nil {
		return err
	}
	if flags.AcceptNew {
		d.StrictHostKeyChecking = "accept-new"
	}
	if d.ServerAliveInterval, err = c.duration("ServerAliveInterval"); err != nil {
		return err
	}
	if d.ServerAliveCountMax, err = c.count("ServerAliveCountMax"); err != nil {
		return err
	}
	d.ConnectTimeout, err = c.duration("ConnectTimeout")
	return err
}

// strictness maps StrictHostKeyChecking onto the two modes loopgate has.
func strictness(c hostConfig) (string, error) {
	v, err := c.get("StrictHostKeyChecking")
	if err != nil {
		return "", err
	}
	switch strings.ToLower(v) {
	case "", "yes", "true", "ask":
		return "yes", nil
	case "accept-new", "no", "false", "off":
		return "accept-new", nil
	}
	return "", c.errorf("StrictHostKeyChecking %q: want yes, ask, accept-new, no or off", v)
}

// jumps resolves ProxyJump. The first hop is resolved like a destination of
// its own, ProxyJump included; later hops are reached through the earlier
// ones, so their ProxyJump and ProxyCommand do not apply (OpenSSH passes the
// earlier hops to them as -J, which beats their config).
func (r *resolver) jumps(c hostConfig, d *Destination, stack []string) error {
	if err := noProxyCommand(c); err != nil {
		return err
	}
	v, err := c.get("ProxyJump")
	if err != nil || v == "" || strings.EqualFold(v, "none") {
		return err
	}
	hops, err := parseJumps(v)
	if err != nil {
		return c.errorf("ProxyJump %q: %w", v, err)
	}
	stack = append(slices.Clip(stack), d.Alias)
	if len(stack) > maxJump {
		return c.errorf("ProxyJump: jump hosts nested more than %d deep: %s", maxJump, strings.Join(stack, " -> "))
	}
	if slices.Contains(stack, hops[0].host) {
		return c.errorf("ProxyJump loop: %s -> %s", strings.Join(stack, " -> "), hops[0].host)
	}
	for _, h := range hops {
		jd, err := r.resolve(h, nil, stack)
		if err != nil {
			return err
		}
		d.ProxyJump = append(d.ProxyJump, jd)
	}
	return nil
}

// noProxyCommand refuses a ProxyCommand other than "none".
func noProxyCommand(c hostConfig) error {
	v, err := c.get("ProxyCommand")
	if err != nil || v == "" || strings.EqualFold(v, "none") {
		return err
	}
	return c.errorf("ProxyCommand is not supported; use ProxyJump")
}

// parseJumps splits a ProxyJump list of "[user@]host[:port]" or ssh:// hops.
func parseJumps(v string) ([]hop, error) {
	parts := strings.Split(v, ",")
	if len(parts) > maxJump {
		return nil, fmt.Errorf("%d hops; at most %d are supported", len(parts), maxJump)
	}
	hops := make([]hop, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		user, host, port, err := parse(p)
		if err != nil {
			return nil, fmt.Errorf("hop %q: %w", p, err)
		}
		hops = append(hops, hop{user: user, host: host, port: port, chained: i > 0})
	}
	return hops, nil
}
