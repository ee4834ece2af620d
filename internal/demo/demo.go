// Package demo runs loopgate end to end in one process on throwaway keys:
// a stand-in NanoMQ admin API on loopback that checks JWTs as NanoMQ does,
// a gateway in front of it that mints them, and an operator whose client
// asks for a token and sends a request through the tunnel.
package demo

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loopgate/loopgate/internal/standin"
	"github.com/loopgate/loopgate/keys"
	"github.com/loopgate/loopgate/policy"
	"github.com/loopgate/loopgate/proxy"
	"github.com/loopgate/loopgate/tunnel"
)

// Run performs the demo, writing the story to out and the gateway's audit
// events to log. Everything it starts listens on 127.0.0.1 and is stopped
// before it returns.
func Run(ctx context.Context, out io.Writer, log *slog.Logger) error {
	dir, err := os.MkdirTemp("", "loopgate-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(dir)

	hostKey, tokenKey, err := deviceKeys(dir)
	if err != nil {
		return err
	}
	api, stopAPI, err := startAPI(tokenKey.PublicPath)
	if err != nil {
		return err
	}
	defer stopAPI()
	fmt.Fprintf(out, "1. stand-in NanoMQ admin API on %s (loopback only), auth_type jwt, trusting %s\n",
		api, filepath.Base(tokenKey.PublicPath))

	operator, err := newOperatorKey()
	if err != nil {
		return err
	}
	addr, stopGW, err := startGateway(api, hostKey, tokenKey, operator, log)
	if err != nil {
		return err
	}
	defer stopGW()
	fmt.Fprintf(out, "2. gateway on %s, host key %s\n   service nanomq -> %s, granted to \"alice\" (%s), token profile nanomq\n",
		addr, keys.Fingerprint(hostKey.PublicKey()), api, keys.Fingerprint(operator.PublicKey()))

	if err := request(ctx, out, addr, hostKey.PublicKey(), operator); err != nil {
		return err
	}
	stopGW() // waits for the last audit events
	fmt.Fprint(out, explanation)
	return nil
}

// deviceKeys makes the device's host key and token signing key.
func deviceKeys(dir string) (ssh.Signer, *keys.TokenKey, error) {
	hostKey, err := keys.GenerateHostKey(filepath.Join(dir, "host_ed25519_key"), "demo-host")
	if err != nil {
		return nil, nil, err
	}
	path := filepath.Join(dir, keys.DefaultTokenKeyName)
	if err := keys.GenerateTokenKey(path); err != nil {
		return nil, nil, err
	}
	tokenKey, err := keys.LoadTokenKey(path)
	return hostKey, tokenKey, err
}

func startAPI(pubPath string) (addr string, stop func(), err error) {
	pub, iss, err := standin.LoadPublicKey(pubPath)
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("demo: listen for api: %w", err)
	}
	api := &standin.API{Mode: standin.JWTMode, PublicKey: pub, Issuer: iss}
	done := make(chan struct{})
	go func() { defer close(done); api.Serve(ln) }()
	return ln.Addr().String(), func() { api.Close(); <-done }, nil
}

func newOperatorKey() (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("demo: operator key: %w", err)
	}
	return ssh.NewSignerFromKey(priv)
}

func startGateway(api string, hostKey ssh.Signer, tokenKey *keys.TokenKey, operator ssh.Signer, log *slog.Logger) (string, func(), error) {
	svc, err := policy.ParseService("nanomq", api)
	if err != nil {
		return "", nil, err
	}
	p, err := policy.New([]policy.Service{svc}, map[string][]string{"alice": {"nanomq"}})
	if err != nil {
		return "", nil, err
	}
	entry := keys.AuthorizedKey{Line: 1, Key: operator.PublicKey(), Comment: "alice",
		Options: keys.Options{Restrict: true, PortForwarding: true}}
	rules, err := tunnel.NewRules(p, []keys.AuthorizedKey{entry}, "demo authorized_keys")
	if err == nil {
		rules, err = rules.WithTokens(tokenKey, map[string]keys.TokenProfile{"nanomq": {Kind: "nanomq"}})
	}
	if err != nil {
		return "", nil, err
	}
	gw, err := tunnel.NewGateway(tunnel.GatewayConfig{HostKeys: []ssh.Signer{hostKey}, Rules: rules, Logger: log})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("demo: listen for gateway: %w", err)
	}
	done := make(chan struct{})
	go func() { defer close(done); gw.Serve(ln) }()
	stop := sync.OnceFunc(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gw.Shutdown(ctx)
		<-done
	})
	return ln.Addr().String(), stop, nil
}

// request is what `client request` does: connect pinning the host key,
// get a token from the gateway, and send one request through a
// direct-tcpip channel to the service by name with the token injected.
func request(ctx context.Context, out io.Writer, gwAddr string, hostKey ssh.PublicKey, operator ssh.Signer) error {
	c, err := tunnel.NewClient(tunnel.ClientConfig{Addr: gwAddr, SSH: &ssh.ClientConfig{
		User:            "alice",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(operator)},
		HostKeyCallback: ssh.FixedHostKey(hostKey),
	}})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		return fmt.Errorf("demo: connect to gateway: %w", err)
	}
	port, err := c.ServicePort(ctx, "nanomq")
	if err != nil {
		return err
	}
	var jti string
	cred := proxy.NewTokenCache(func(ctx context.Context) (string, time.Duration, error) {
		tok, err := c.RequestToken(ctx, "nanomq")
		jti = tok.ID
		return tok.Value, tok.Lifetime, err
	}, nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://nanomq/api/v4/brokers", nil)
	if err != nil {
		return err
	}
	resp, err := proxy.Do(ctx, proxy.Config{
		Dial:       func(ctx context.Context) (net.Conn, error) { return c.DialService(ctx, "nanomq", port) },
		Credential: cred,
		Service:    "nanomq",
	}, req)
	if err != nil {
		return fmt.Errorf("demo: request through tunnel: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("demo: read response: %w", err)
	}
	fmt.Fprintf(out, "3. alice: token %s minted by the gateway; GET /api/v4/brokers through the tunnel\n   -> %s\n   %s\n",
		jti, resp.Status, bytes.TrimSpace(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("demo: api answered %s", resp.Status)
	}
	return nil
}

const explanation = `
What happened: the admin API listened on 127.0.0.1 only and accepted nothing
but JWTs signed with the device's key. alice's SSH key was checked against the
gateway's authorized keys; she asked the gateway for a token over her SSH
connection and got a 5-minute RS256 JWT whose iss is the public key file's
name, as NanoMQ checks; her channel named the service "nanomq", policy granted
it, and the gateway dialled the address from its own config. The signing key
never left the device. Each decision above is an audit event (auth accepted,
token issued with its jti but never the token, tunnel opened, tunnel closed).

Next: set up a real device (README, "Set up a device"):
  gateway init --dir /etc/loopgate --service nanomq=127.0.0.1:8081
  gateway allow --config /etc/loopgate/gateway.conf --name alice --key alice.pub --service nanomq
  gateway serve --config /etc/loopgate/gateway.conf
and from a laptop:
  client proxy alice@DEVICE:2222 --service nanomq --listen 127.0.0.1:18081
  curl http://127.0.0.1:18081/api/v4/brokers
`
