package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/loopgate/loopgate/internal/gctune"
	"github.com/loopgate/loopgate/proxy"
	"github.com/loopgate/loopgate/tunnel"
)

func newProxyCmd(o *common) *cobra.Command {
	var service, listen string
	var allowRemote bool
	var cred credFlags
	cmd := &cobra.Command{
		Use:   "proxy DEST --service NAME [--listen 127.0.0.1:PORT] [--auth gateway|sign|bearer|basic ...]",
		Short: "Serve a local HTTP endpoint that injects the API credential",
		Long: `proxy serves HTTP on a loopback address and sends every request through the
tunnel to the service, replacing any Authorization the caller sent with the
configured credential. By default (--auth gateway) that is a short-lived JWT the
gateway mints for this key, cached and refreshed when a third of its lifetime is
left; an idempotent request the API refuses as expired (NanoMQ code 116) is
retried once with a new token. It rejects requests whose Host is not its own address
(DNS rebinding), cross-site browser requests, CONNECT and TRACE, sends bodies with
Content-Length, and answers tunnel failures honestly: 403 refused by policy,
502 the API refused the connection, 503 tunnel down, 504 timeout.`,
		Example: `  client proxy alice@device --service nanomq --listen 127.0.0.1:18081
  client proxy alice@device --service web:8080 --auth basic --auth-file ~/.config/web.cred
  curl http://127.0.0.1:18081/api/v4/brokers`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if service == "" {
				return errors.New("--service is required")
			}
			ap, err := netip.ParseAddrPort(listen)
			if err != nil {
				return fmt.Errorf("--listen %q: want IP:PORT, e.g. 127.0.0.1:18081", listen)
			}
			if !ap.Addr().IsLoopback() && !allowRemote {
				return fmt.Errorf("--listen %s is not loopback: anyone who can reach it would use your credential (add --allow-non-loopback if that is meant)", listen)
			}
			if err := cred.check(); err != nil {
				return err
			}
			return runProxy(cmd.Context(), o, args[0], service, listen, &cred)
		},
	}
	cmd.Flags().StringVar(&service, "service", "", "gateway service to proxy to, NAME or NAME:PORT (required)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:18081", "local address to serve HTTP on")
	cmd.Flags().BoolVar(&allowRemote, "allow-non-loopback", false, "allow a --listen address other than loopback")
	cred.add(cmd)
	return cmd
}

// serviceTarget resolves --service NAME[:PORT] to the host and port to ask
// the gateway for, asking it for the port when none is given.
func serviceTarget(ctx context.Context, c *tunnel.Client, service string) (string, int, error) {
	name, portStr, err := net.SplitHostPort(service)
	if err != nil {
		port, err := c.ServicePort(ctx, service)
		return service, port, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("--service %q: bad port", service)
	}
	return name, port, nil
}

// serviceProxy connects to DEST and returns the proxy configuration for
// one service (its tunnel and the chosen credential), the service's port,
// and the function that closes the connection.
func serviceProxy(ctx context.Context, o *common, destArg, service string, flags *credFlags) (*tunnel.Client, proxy.Config, int, func(), error) {
	c, closeClient, err := o.connect(ctx, destArg)
	if err != nil {
		return nil, proxy.Config{}, 0, nil, err
	}
	host, port, err := serviceTarget(ctx, c, service)
	var cred proxy.Credential
	if err == nil {
		cred, err = flags.credential(c, host, o.log)
	}
	if err != nil {
		closeClient()
		return nil, proxy.Config{}, 0, nil, err
	}
	return c, proxy.Config{
		Dial:       func(ctx context.Context) (net.Conn, error) { return c.DialService(ctx, host, port) },
		Credential: cred,
		Service:    host,
		Logger:     o.log,
	}, port, closeClient, nil
}

func runProxy(ctx context.Context, o *common, destArg, service, listen string, flags *credFlags) error {
	stopGC, _ := gctune.Start(gctune.Headroom)
	defer stopGC()
	c, cfg, port, closeClient, err := serviceProxy(ctx, o, destArg, service, flags)
	if err != nil {
		return err
	}
	defer closeClient()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", listen, err)
	}
	h, err := proxy.New(cfg, ln.Addr().String())
	if err != nil {
		ln.Close()
		return err
	}
	if !netip.MustParseAddrPort(ln.Addr().String()).Addr().IsLoopback() {
		o.log.Warn("proxy listens beyond loopback: anyone who can reach it uses your credential", "listen", ln.Addr().String())
	}
	o.log.Info("proxy ready", "url", "http://"+ln.Addr().String(), "service", cfg.Service, "port", port)
	return serveWithClient(ctx, c, func(ctx context.Context) error {
		stop := context.AfterFunc(ctx, func() { h.Close() })
		defer stop()
		if err := h.Serve(ln); err != nil && ctx.Err() == nil {
			return err
		}
		return nil
	})
}
