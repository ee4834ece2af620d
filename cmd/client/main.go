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

	// One P unless GOMAXPROCS is set: the client serves one SSH connection,
	// which x/crypto reads and decrypts on one goroutine and hands to the
	// tunnels' copies; with more than one P each hand-off wakes another
	// thread (docs/PERFORMANCE.md, changes 12 and 13).
	_ "github.com/loopgate/loopgate/internal/oneproc"
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
Keys come from -i / IdentityFile and ssh-agent (SSH_AUTH_SOCK).

The client runs its Go code on one thread at a time (it serves one SSH connection,
and hand-offs between threads cost more than they gain); set GOMAXPROCS to change
that, and GOGC or GOMEMLIMIT to replace its garbage collector tuning.`,
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
