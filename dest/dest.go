package dest

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"
)

// Destination is where and how to connect, after ssh_config and flags.
type Destination struct {
	// Alias is the host part of DEST (or of a ProxyJump hop) as the user typed
	// it; ssh_config Host patterns are matched against it.
	Alias string
	// User is the remote user: from DEST, else User, else the local user.
	User string
	// HostName is what to dial: HostName with %h expanded, else Alias;
	// lowercased, as OpenSSH does.
	HostName string
	// Port is the TCP port: -p, else DEST, else Port, else 22.
	Port int
	// HostKeyAlias, when not empty, is the name known_hosts uses for this host
	// instead of HostName (lowercased, as OpenSSH does).
	HostKeyAlias string
	// IdentityFiles are the keys to offer, in order, -i first, with ~ and %
	// tokens expanded and duplicates dropped. Empty means none were named:
	// the caller falls back to its defaults (agent, default key files).
	IdentityFiles []string
	// IdentitiesOnly means offer only IdentityFiles, not every agent key.
	IdentitiesOnly bool
	// KnownHostsFiles are the known_hosts files to check, in order; new keys
	// go to the first. Never empty: the default is [~/.ssh/known_hosts].
	KnownHostsFiles []string
	// StrictHostKeyChecking is "yes" (the default; also for "ask") or
	// "accept-new". "no" and "off" also become "accept-new": loopgate never
	// connects to a host whose key differs from a recorded one.
	StrictHostKeyChecking string
	// ProxyJump are the hosts to connect through, in order: the connection to
	// ProxyJump[i] is made through ProxyJump[i-1], and the connection to this
	// Destination through the last. As in OpenSSH, only ProxyJump[0] may
	// have a ProxyJump of its own; later hops are reached through the list.
	// Nil means connect directly.
	ProxyJump []*Destination
	// ServerAliveInterval is how often to probe an idle server; 0 = unset.
	ServerAliveInterval time.Duration
	// ServerAliveCountMax is how many probes may go unanswered; 0 = unset.
	ServerAliveCountMax int
	// ConnectTimeout bounds the TCP connect; 0 = unset.
	ConnectTimeout time.Duration
}

// HostPort is net.JoinHostPort(HostName, Port): what the TCP dial and
// known_hosts use.
func (d *Destination) HostPort() string {
	return net.JoinHostPort(d.HostName, strconv.Itoa(d.Port))
}

// KnownHostsName is the address to look this host up by in known_hosts, in the
// "host:port" form that golang.org/x/crypto/ssh/knownhosts takes: HostPort,
// or, when HostKeyAlias is set, the alias with port 22. OpenSSH records a host
// key alias as it is, without a port, which is how knownhosts normalises port
// 22.
func (d *Destination) KnownHostsName() string {
	if d.HostKeyAlias != "" {
		return net.JoinHostPort(d.HostKeyAlias, "22")
	}
	return d.HostPort()
}

// Hops returns every host to connect through before d, in dial order: the
// first is dialled directly, each later one through the one before it, and d
// through the last. It follows the first hop's own ProxyJump, and its first
// hop's, which d.ProxyJump alone does not show. Nil means dial d directly.
func (d *Destination) Hops() []*Destination {
	var hops []*Destination
	for cur, n := d, 0; len(cur.ProxyJump) > 0 && n <= maxJump; cur, n = cur.ProxyJump[0], n+1 {
		hops = append(slices.Clone(cur.ProxyJump), hops...)
	}
	return hops
}

// Overrides are command-line flags; they win over ssh_config, as in OpenSSH.
// Port, IdentityFile, KnownHosts and AcceptNew apply to the destination only,
// not to ProxyJump hops, as OpenSSH passes neither -p nor -i to jump hosts.
type Overrides struct {
	// ConfigFile is -F: "" = ~/.ssh/config if it exists, "none" = no file.
	ConfigFile string
	// Port is -p; 0 = unset.
	Port int
	// IdentityFile is -i; "" = unset. Setting it implies IdentitiesOnly.
	IdentityFile string
	// KnownHosts is --known-hosts, one file; "" = unset.
	KnownHosts string
	// AcceptNew is --accept-new: StrictHostKeyChecking accept-new.
	AcceptNew bool
	// Home is the home directory for ~ and %d; "" = os.UserHomeDir().
	Home string
	// LocalUser is %u and the default remote user; "" = the current user.
	LocalUser string
}

// Resolve parses dest and applies ssh_config and o, the way OpenSSH's ssh
// does; see the package documentation for what is honoured and where loopgate
// differs.
func Resolve(dest string, o Overrides) (*Destination, error) {
	user, host, port, err := Parse(dest)
	if err != nil {
		return nil, err
	}
	if o.Port < 0 || o.Port > 65535 {
		return nil, fmt.Errorf("port override %d is not a number from 1 to 65535", o.Port)
	}
	loc, err := newLocal(o)
	if err != nil {
		return nil, err
	}
	cfg, err := loadConfig(o.ConfigFile, loc.home)
	if err != nil {
		return nil, err
	}
	r := &resolver{cfg: cfg, local: loc}
	return r.resolve(hop{user: user, host: host, port: port}, &o, nil)
}
