// Package demo runs loopgate end to end in one process on throwaway keys:
// a stand-in admin API on loopback, a gateway in front of it, and an
// operator connecting through an SSH tunnel.
package demo

import (
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

	api, stopAPI, err := startAPI()
	if err != nil {
		return err
	}
	defer stopAPI()
	fmt.Fprintf(out, "1. stand-in admin API (NanoMQ-style, Basic admin/public) on %s, loopback only\n", api)

	hostKey, err := keys.GenerateHostKey(filepath.Join(dir, "host_ed25519_key"), "demo-host")
	if err != nil {
		return err
	}
	operator, err := newOperatorKey()
	if err != nil {
		return err
	}
	addr, stopGW, err := startGateway(api, hostKey, operator, log)
	if err != nil {
		return err
	}
	defer stopGW()
	fmt.Fprintf(out, "2. gateway on %s, host key %s\n   service nanomq -> %s, granted to \"alice\" (%s)\n",
		addr, keys.Fingerprint(hostKey.PublicKey()), api, keys.Fingerprint(operator.PublicKey()))

	if err := request(ctx, out, addr, hostKey.PublicKey(), operator, api); err != nil {
		return err
	}
	stopGW() // waits for the last audit events
	fmt.Fprint(out, explanation)
	return nil
}

func startAPI() (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("demo: listen for api: %w", err)
	}
	srv := &http.Server{Handler: (&standin.API{User: "admin", Password: "public"}).Handler(), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	return ln.Addr().String(), func() { srv.Close(); <-done }, nil
}

func newOperatorKey() (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("demo: operator key: %w", err)
	}
	return ssh.NewSignerFromKey(priv)
}

func startGateway(api string, hostKey, operator ssh.Signer, log *slog.Logger) (string, func(), error) {
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

// request connects as the operator, pinning the host key, and sends one
// HTTP request through a direct-tcpip channel to the service by name.
func request(ctx context.Context, out io.Writer, gwAddr string, hostKey ssh.PublicKey, operator ssh.Signer, api string) error {
	client, err := ssh.Dial("tcp", gwAddr, &ssh.ClientConfig{
		User:            "alice",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(operator)},
		HostKeyCallback: ssh.FixedHostKey(hostKey),
		Timeout:         10 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("demo: connect to gateway: %w", err)
	}
	defer client.Close()
	_, port, _ := net.SplitHostPort(api)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return client.DialContext(ctx, "tcp", net.JoinHostPort("nanomq", port))
		},
	}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://nanomq/api/v4/brokers", nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth("admin", "public")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("demo: request through tunnel: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("demo: read response: %w", err)
	}
	fmt.Fprintf(out, "3. alice: GET /api/v4/brokers through the tunnel (direct-tcpip to \"nanomq\")\n   -> %s\n   %s", resp.Status, body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("demo: api answered %s", resp.Status)
	}
	return nil
}

const explanation = `
What happened: the admin API listened on 127.0.0.1 only, so nothing off the
device could reach it. alice's SSH key was checked against the gateway's
authorized keys, her channel named the service "nanomq", policy granted it,
and the gateway dialled the address from its own config. Each decision above
is an audit event (auth accepted, tunnel opened, tunnel closed).

Next: set up a real device (README, "Set up a device"):
  gateway init --dir /etc/loopgate --service nanomq=127.0.0.1:8081
  gateway allow --config /etc/loopgate/gateway.conf --name alice --key alice.pub --service nanomq
  gateway serve --config /etc/loopgate/gateway.conf
and from a laptop: ssh -N -L 18081:nanomq:8081 -p 2222 alice@DEVICE
`
