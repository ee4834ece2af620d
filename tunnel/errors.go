package tunnel

import "errors"

// Errors a Client's DialService wraps, so callers (the HTTP proxy) can
// answer honestly without parsing messages.
var (
	ErrRefused     = errors.New("refused by the server's policy")          // channel open rejected: Prohibited
	ErrUnreachable = errors.New("the gateway could not reach the service") // channel open rejected: ConnectionFailed
	ErrDown        = errors.New("tunnel down")                             // no SSH connection (reconnecting)
)
