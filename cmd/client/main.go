// Command client runs on an operator's machine: it connects to a device's
// gateway with a pinned host key and opens local forwards, an injecting
// HTTP proxy, or single requests through the tunnel.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/loopgate/loopgate/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(exitCode(err))
	}
}

func newRoot() *cobra.Command {
	o := &common{}
	root := &cobra.Command{
		Version: version.String(),
		Use:     "client",
		Short:   "Reach a device's admin API through its loopgate gateway",
		Long: `client runs on an operator's machine. It connects to a device's gateway over SSH,
pinning the device's host key in known_hosts (strict by default), and then:

  forward   opens local port forwards, like ssh -L, over one connection
  proxy     serves a local HTTP endpoint that injects the API credential
  request   sends one HTTP request and prints the response

DEST is [user@]host[:port] or a Host alias from ~/.ssh/config (or -F FILE); HostName,
Port, User, IdentityFile, IdentitiesOnly, UserKnownHostsFile, StrictHostKeyChecking,
ProxyJump, HostKeyAlias, ServerAliveInterval/CountMax and ConnectTimeout are honoured.
Keys come from -i / IdentityFile and ssh-agent (SSH_AUTH_SOCK).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return o.setupLogging()
		},
	}
	o.addFlags(root)
	root.AddCommand(newForwardCmd(o), newProxyCmd(o), newRequestCmd(o), newServicesCmd(o), newTokenCmd(o))
	return root
}
