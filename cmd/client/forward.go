package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/spf13/cobra"

	"github.com/loopgate/loopgate/internal/gctune"
	"github.com/loopgate/loopgate/tunnel"
)

func newForwardCmd(o *common) *cobra.Command {
	var specs []string
	var allowRemote bool
	cmd := &cobra.Command{
		Use:   "forward DEST -L [BIND:]LPORT:SERVICE[:PORT] [-L ...]",
		Short: "Open local port forwards to gateway services, like ssh -L",
		Long: `forward listens on each local port and carries every connection to the named
service over one SSH connection. SERVICE is a gateway service name (its port is
asked from the gateway when left out) or a loopback address with a port. BIND
defaults to 127.0.0.1; another address needs --allow-non-loopback.

The listeners stay open while the link is down: the client reconnects with
backoff, and a connection arriving meanwhile waits up to --wait.`,
		Example: `  client forward alice@device -L 18081:nanomq
  client forward device -L 18081:nanomq:8081 -L 127.0.0.1:18443:web:8443`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(specs) == 0 {
				return errors.New("at least one -L is required")
			}
			var parsed []tunnel.ForwardSpec
			for _, s := range specs {
				p, err := tunnel.ParseForwardSpec(s)
				if err != nil {
					return err
				}
				if !p.LoopbackBind() && !allowRemote {
					return fmt.Errorf("-L %s listens beyond loopback; anyone who can reach %s could use the tunnel (add --allow-non-loopback if that is meant)", s, p.Bind)
				}
				parsed = append(parsed, p)
			}
			return runForward(cmd.Context(), o, args[0], parsed)
		},
	}
	cmd.Flags().StringArrayVarP(&specs, "local", "L", nil, "[BIND:]LPORT:SERVICE[:PORT] (repeatable)")
	cmd.Flags().BoolVar(&allowRemote, "allow-non-loopback", false, "allow a BIND address other than loopback")
	return cmd
}

func runForward(ctx context.Context, o *common, destArg string, specs []tunnel.ForwardSpec) error {
	stopGC, _ := gctune.Start(gctune.Headroom)
	defer stopGC()
	c, closeClient, err := o.connect(ctx, destArg)
	if err != nil {
		return err
	}
	defer closeClient()
	var forwards []*tunnel.Forward
	defer func() {
		for _, f := range forwards {
			f.Listener.Close()
		}
	}()
	for _, s := range specs {
		if s.Port == 0 {
			if s.Port, err = c.ServicePort(ctx, s.Host); err != nil {
				return err
			}
		}
		ln, err := net.Listen("tcp", s.Local())
		if err != nil {
			return fmt.Errorf("listen %s: %w", s.Local(), err)
		}
		if !s.LoopbackBind() {
			o.log.Warn("forward listens beyond loopback", "listen", ln.Addr().String())
		}
		o.log.Info("forwarding", "listen", ln.Addr().String(), "to", net.JoinHostPort(s.Host, fmt.Sprint(s.Port)))
		forwards = append(forwards, &tunnel.Forward{Listener: ln, Host: s.Host, Port: s.Port, Client: c, Logger: o.log})
	}
	return serveWithClient(ctx, c, func(ctx context.Context) error {
		var wg sync.WaitGroup
		errs := make([]error, len(forwards))
		for i, f := range forwards {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = f.Serve(ctx) }()
		}
		wg.Wait()
		return errors.Join(errs...)
	})
}

// serveWithClient runs the client's reconnect loop beside serve until ctx
// ends or either stops; a fatal connection error ends both.
func serveWithClient(ctx context.Context, c *tunnel.Client, serve func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- c.Run(ctx); cancel() }()
	serveErr := serve(ctx)
	cancel()
	if err := <-runErr; err != nil {
		return err
	}
	return serveErr
}
