// Package tunnel holds the SSH ends of loopgate.
//
// Gateway is the device side: an SSH server that authenticates public keys
// against Rules, opens nothing but direct-tcpip channels to the loopback
// services that policy grants, and writes one audit event per decision.
// It follows net/http.Server's lifecycle: Serve blocks, Shutdown drains,
// Close stops now, and both make Serve return ErrServerClosed.
package tunnel
