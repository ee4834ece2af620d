// Package policy holds the gateway's pure access decisions: which loopback
// services exist, which identities are granted which services, whether a key
// may authenticate (expiry-time=, from=), and which configured service, if
// any, a direct-tcpip request selects (Resolve, Check).
//
// Nothing here does I/O, logs, resolves names or reads the clock: time is
// passed in, and every function is safe on any input.
//
// The package is built so that the only address it ever hands out is the
// address of a configured service, validated as a loopback IP literal when the
// Policy was made. The host string a client sends is never parsed into a
// dialable address; it only selects a service, by its name, by "localhost"
// (for 127.0.0.1 and ::1), or by an IP literal identical to the service's IP.
package policy
