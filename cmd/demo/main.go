// Command demo runs loopgate end to end on throwaway keys, all on loopback:
// a stand-in admin API, a gateway in front of it, and an operator request
// through the tunnel, with the gateway's audit events.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/charmbracelet/log"

	"github.com/loopgate/loopgate/internal/demo"
	"github.com/loopgate/loopgate/internal/logging"
)

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: demo (no arguments; runs everything on 127.0.0.1 and cleans up)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	audit := slog.New(logging.Charm(os.Stdout, log.Options{Prefix: "audit", ReportTimestamp: true, TimeFormat: time.TimeOnly}))
	if err := demo.Run(ctx, os.Stdout, audit); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
