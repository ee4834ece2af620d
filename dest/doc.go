// Package dest resolves the DEST argument of the loopgate client the way
// OpenSSH's ssh does, so that operators can use the Host aliases in their
// ~/.ssh/config: [Parse] splits "[user@]host[:port]" (and the bracketed-IPv6
// and ssh:// forms), and [Resolve] applies ssh_config and command-line flags
// to give a [Destination]: what to dial, as whom, with which keys, checked
// against which known_hosts files, through which jump hosts.
//
// The config file is parsed by github.com/kevinburke/ssh_config: Host
// patterns, first match wins, Include. The keywords honoured are HostName,
// Port, User, IdentityFile (repeatable), IdentitiesOnly, UserKnownHostsFile,
// StrictHostKeyChecking, ProxyJump, HostKeyAlias, ServerAliveInterval,
// ServerAliveCountMax and ConnectTimeout; other keywords are ignored, as the
// client has no use for them. Precedence is OpenSSH's: a flag beats the user
// or port in DEST, which beats the config file. IdentityFile and
// UserKnownHostsFile expand a leading ~ and the tokens %d (home), %h
// (HostName), %i (uid), %k (HostKeyAlias, else the alias), %l and %L (local
// host name, long and short), %n (the alias), %p (port), %r (remote user),
// %u (local user) and %%; HostName expands %h (the alias) and %%. HostName
// and HostKeyAlias are lowercased, as ssh does.
//
// Like ssh, Resolve refuses ~/.ssh/config when it is writable by group or
// others, or owned by someone other than the user or root ("bad owner or
// permissions on FILE"); a regular file named with -F is held to the same
// rule, which OpenSSH does not check.
//
// Where loopgate differs from OpenSSH, it does so on purpose or because of
// the parser:
//
//   - ProxyCommand is refused ("use ProxyJump"): loopgate runs no commands.
//   - StrictHostKeyChecking no/off becomes accept-new, and UserKnownHostsFile
//     none is an error: a key that differs from the recorded one always stops
//     the connection.
//   - -p, -i, --known-hosts and --accept-new apply to the destination only;
//     ssh likewise passes neither -p nor -i to jump hosts.
//   - Match supports only "all" and "host", and "host" matches the alias, not
//     the final HostName; other Match criteria are a parse error. Include
//     paths that are relative are taken from the real user's ~/.ssh, not from
//     Overrides.Home, and included files are not permission-checked.
//   - Paths in UserKnownHostsFile cannot contain spaces, ${VAR} is not
//     expanded, and "~user/" paths are refused.
//   - When a config has both ProxyCommand and ProxyJump for a host, ssh uses
//     whichever comes first; Resolve refuses the ProxyCommand regardless.
package dest
