package keys

import (
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// ErrNoAgent is returned by [DialAgent] when no agent socket is given.
var ErrNoAgent = errors.New("no ssh-agent (SSH_AUTH_SOCK is not set)")

// agentDialTimeout bounds connecting to the agent's socket.
const agentDialTimeout = 5 * time.Second

// Agent is a connection to ssh-agent. Its signers ask the agent to sign, so
// they work only until Close.
type Agent struct {
	conn   net.Conn
	client agent.ExtendedAgent
}

// DialAgent connects to the agent listening on the unix socket sock (the
// value of SSH_AUTH_SOCK). An empty sock gives [ErrNoAgent].
func DialAgent(sock string) (*Agent, error) {
	if sock == "" {
		return nil, ErrNoAgent
	}
	conn, err := net.DialTimeout("unix", sock, agentDialTimeout)
	if err != nil {
		return nil, fmt.Errorf("connect to ssh-agent: %w", err)
	}
	return &Agent{conn: conn, client: agent.NewClient(conn)}, nil
}

// Signers returns a signer for every key the agent holds, in the agent's
// order.
func (a *Agent) Signers() ([]ssh.Signer, error) {
	signers, err := a.client.Signers()
	if err != nil {
		return nil, fmt.Errorf("list ssh-agent keys: %w", err)
	}
	return signers, nil
}

// SignerFor returns the agent's signer for pub, or false if the agent does
// not hold it. With it a client offers only the configured identity
// (IdentitiesOnly), however many keys the agent holds.
func (a *Agent) SignerFor(pub ssh.PublicKey) (ssh.Signer, bool, error) {
	if pub == nil {
		return nil, false, errors.New("find ssh-agent key: no public key given")
	}
	signers, err := a.Signers()
	if err != nil {
		return nil, false, err
	}
	for _, s := range signers {
		if keysEqual(s.PublicKey(), pub) {
			return s, true, nil
		}
	}
	return nil, false, nil
}

// Close closes the connection to the agent.
func (a *Agent) Close() error {
	return a.conn.Close()
}
