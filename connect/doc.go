// Package connect turns a resolved destination into a tunnel.ClientConfig
// the way OpenSSH's ssh would: the host key pinned in known_hosts, the
// operator's identities from key files and ssh-agent, and the transport
// through any ProxyJump hops.
package connect
