// Package limits holds the gateway's connection limits, named after
// sshd_config (MaxStartups, PerSourcePenalties, MaxSessions, ...), their
// defaults and parsers, and Gate: the pure bookkeeping that decides which
// new connections may start and which authenticated ones may stay. It does
// no I/O; package tunnel enforces its decisions on sockets.
package limits
