// Command gateway runs on a device: an SSH server that lets authorized
// operators reach the device's loopback admin services, and nothing else.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/loopgate/loopgate/internal/version"

	"github.com/loopgate/loopgate/internal/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// app holds what every subcommand shares.
type app struct {
	logFormat string
	logLevel  string
	log       *slog.Logger
}

func newRoot() *cobra.Command {
	a := &app{}
	root := &cobra.Command{
		Version: version.String(),
		Use:     "gateway",
		Short:   "SSH gateway to a device's loopback admin services",
		Long: `gateway runs on a device. It is an SSH server with public-key authentication
that opens only direct-tcpip channels (ssh -L) to the loopback services named in
its config, as granted per key, and writes an audit event for every decision.
Shells, exec, subsystems, remote forwarding and agent/X11 forwarding are refused.

Start with:
  gateway init --dir /etc/loopgate --service nanomq=127.0.0.1:8081
  gateway allow --config /etc/loopgate/gateway.conf --name alice --key alice.pub --service nanomq
  gateway serve --config /etc/loopgate/gateway.conf`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			l, err := logging.New(os.Stderr, a.logFormat, a.logLevel, time.RFC3339)
			a.log = l
			return err
		},
	}
	root.PersistentFlags().StringVar(&a.logFormat, "log-format", "text", "log format: text (for people) or json (one event per line)")
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.AddCommand(newInitCmd(a), newAllowCmd(a), newRevokeCmd(a), newServeCmd(a), newCheckCmd(a), newRotateTokenKeyCmd(a), newDoctorCmd(a))
	return root
}
