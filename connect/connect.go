package connect

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loopgate/loopgate/dest"
	"github.com/loopgate/loopgate/keys"
	"github.com/loopgate/loopgate/tunnel"
)

// Options are what the command line adds to a destination.
type Options struct {
	// Prompt asks for a key's passphrase; nil means no terminal.
	Prompt func(question string) ([]byte, error)
	// AgentSock is ssh-agent's socket (SSH_AUTH_SOCK); "" means no agent.
	AgentSock string
	// KeepaliveInterval and KeepaliveCountMax override the destination's
	// ServerAliveInterval / ServerAliveCountMax when set.
	KeepaliveInterval time.Duration
	KeepaliveCountMax int
	// Logger receives connection events. Nil discards.
	Logger *slog.Logger
}

// Setup builds the client configuration for d. The returned close
// function releases the agent connection.
func Setup(d *dest.Destination, o Options) (tunnel.ClientConfig, func(), error) {
	var agent *keys.Agent
	if o.AgentSock != "" {
		a, err := keys.DialAgent(o.AgentSock)
		if err != nil {
			logger(o).Warn("ssh-agent unavailable; using key files only", "error", err.Error())
		} else {
			agent = a
		}
	}
	release := func() {
		if agent != nil {
			agent.Close()
		}
	}
	final, err := hopConfig(d, agent, o)
	if err != nil {
		release()
		return tunnel.ClientConfig{}, nil, err
	}
	cfg := tunnel.ClientConfig{
		Addr:              d.HostPort(),
		SSH:               final,
		KeepaliveInterval: first(o.KeepaliveInterval, d.ServerAliveInterval),
		KeepaliveCountMax: first(o.KeepaliveCountMax, d.ServerAliveCountMax),
		ConnectTimeout:    d.ConnectTimeout,
		Logger:            o.Logger,
	}
	if jumps := d.Hops(); len(jumps) > 0 {
		hops := make([]*ssh.ClientConfig, len(jumps))
		for i, h := range jumps {
			if hops[i], err = hopConfig(h, agent, o); err != nil {
				release()
				return tunnel.ClientConfig{}, nil, fmt.Errorf("ProxyJump %s: %w", h.Alias, err)
			}
		}
		cfg.Dial = jumpDialer(jumps, hops)
	}
	return cfg, release, nil
}

func first[T int | time.Duration](a, b T) T {
	if a != 0 {
		return a
	}
	return b
}

func logger(o Options) *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// hopConfig is the ssh.ClientConfig for one host: its user, its pinned
// host key and algorithms, and the identities to offer it.
func hopConfig(d *dest.Destination, agent *keys.Agent, o Options) (*ssh.ClientConfig, error) {
	policy := keys.Strict
	if d.StrictHostKeyChecking == "accept-new" {
		policy = keys.AcceptNew
	}
	kh, err := keys.OpenKnownHosts(d.KnownHostsFiles, policy)
	if err != nil {
		return nil, err
	}
	name := d.KnownHostsName()
	check := kh.HostKeyCallback()
	signers, err := identities(d, agent, o)
	if err != nil {
		return nil, err
	}
	return &ssh.ClientConfig{
		User: d.User,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signers...)},
		// Check against the name known_hosts uses (HostName or
		// HostKeyAlias, with the port), whatever address was dialled.
		HostKeyCallback: func(_ string, remote net.Addr, key ssh.PublicKey) error {
			return check(name, remote, key)
		},
		HostKeyAlgorithms: kh.HostKeyAlgorithms(name),
		ClientVersion:     "SSH-2.0-loopgate",
	}, nil
}

// defaultIdentities are tried, like OpenSSH's, when no IdentityFile is set.
var defaultIdentities = []string{"id_ed25519", "id_ecdsa", "id_ed25519_sk", "id_ecdsa_sk", "id_rsa"}

// identities returns the signers to offer. With IdentitiesOnly only the
// configured files are offered (through the agent when it holds them, so
// no passphrase is asked); otherwise the agent's keys come first.
func identities(d *dest.Destination, agent *keys.Agent, o Options) ([]ssh.Signer, error) {
	files, explicit := d.IdentityFiles, true
	if len(files) == 0 {
		explicit = false
		if home, err := os.UserHomeDir(); err == nil {
			for _, f := range defaultIdentities {
				files = append(files, filepath.Join(home, ".ssh", f))
			}
		}
	}
	var signers []ssh.Signer
	if agent != nil && !d.IdentitiesOnly {
		all, err := agent.Signers()
		if err != nil {
			logger(o).Warn("ssh-agent: cannot list keys", "error", err.Error())
		}
		signers = append(signers, all...)
	}
	for _, f := range files {
		s, err := identity(f, agent, o)
		switch {
		case err == nil:
			signers = appendUnique(signers, s)
		case errors.Is(err, fs.ErrNotExist) && !explicit:
		case errors.Is(err, fs.ErrNotExist):
			logger(o).Warn("identity file not found", "file", f)
		case !explicit:
			logger(o).Warn("skipping default identity", "file", f, "error", err.Error())
		default:
			return nil, err
		}
	}
	if len(signers) == 0 {
		return nil, errors.New("no identity to offer: give one with -i FILE, an IdentityFile in ssh_config, or load a key into ssh-agent")
	}
	return signers, nil
}

// identity loads one key file, preferring the agent's copy of it.
func identity(path string, agent *keys.Agent, o Options) (ssh.Signer, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	if agent != nil {
		if pub, err := keys.ReadIdentityPublicKey(path); err == nil {
			if s, ok, _ := agent.SignerFor(pub); ok {
				return s, nil
			}
		}
	}
	return keys.LoadIdentity(path, o.Prompt)
}

func appendUnique(list []ssh.Signer, s ssh.Signer) []ssh.Signer {
	m := string(s.PublicKey().Marshal())
	for _, x := range list {
		if string(x.PublicKey().Marshal()) == m {
			return list
		}
	}
	return append(list, s)
}

// jumpDialer reaches the gateway through SSH hops, like ProxyJump: each
// hop is an SSH connection opened through the previous one, and closing
// the returned connection closes the hops too.
func jumpDialer(hops []*dest.Destination, cfgs []*ssh.ClientConfig) func(context.Context, string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		var clients []*ssh.Client
		closeAll := func() {
			for i := len(clients) - 1; i >= 0; i-- {
				clients[i].Close()
			}
		}
		for i, h := range hops {
			raw, err := dialVia(ctx, clients, h.HostPort())
			if err != nil {
				closeAll()
				return nil, fmt.Errorf("jump host %s: %w", h.Alias, err)
			}
			sc, chans, reqs, err := ssh.NewClientConn(raw, h.HostPort(), cfgs[i])
			if err != nil {
				raw.Close()
				closeAll()
				return nil, fmt.Errorf("jump host %s: %w", h.Alias, err)
			}
			clients = append(clients, ssh.NewClient(sc, chans, reqs))
		}
		conn, err := dialVia(ctx, clients, addr)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("through jump host %s: %w", hops[len(hops)-1].Alias, err)
		}
		return &hopConn{Conn: conn, closeHops: closeAll}, nil
	}
}

func dialVia(ctx context.Context, clients []*ssh.Client, addr string) (net.Conn, error) {
	if len(clients) == 0 {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	return clients[len(clients)-1].DialContext(ctx, "tcp", addr)
}

type hopConn struct {
	net.Conn
	closeHops func()
}

func (c *hopConn) Close() error {
	err := c.Conn.Close()
	c.closeHops()
	return err
}
