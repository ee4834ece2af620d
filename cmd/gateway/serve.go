package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/loopgate/loopgate/config"
	"github.com/loopgate/loopgate/internal/gctune"
	"github.com/loopgate/loopgate/internal/proctune"
	"github.com/loopgate/loopgate/keys"
	"github.com/loopgate/loopgate/tunnel"
)

func newServeCmd(a *app) *cobra.Command {
	var confPath, listen string
	cmd := &cobra.Command{
		Use:   "serve --config FILE [--listen ADDR]",
		Short: "Run the gateway in the foreground",
		Long: `serve runs the SSH gateway in the foreground and logs audit events to stderr.

Signals:
  SIGHUP           reload the config's services and grants and authorized_keys; a bad
                   file keeps the last good set and logs "reload failed". Connections
                   whose key is no longer admitted are closed. Listen, HostKey,
                   limit and algorithm changes need a restart. Without a signal, the
                   same reload happens within a second when the config, authorized_keys
                   or the token key file changes; a deleted authorized_keys refuses
                   every key (and closes their connections).
  SIGTERM, SIGINT  stop accepting, let open tunnels finish for DrainTimeout, then exit 0.

Memory: while tunnels move bulk data (from when allocation reaches ` + strconv.Itoa(gctune.MinRate>>20) + ` MiB/s until
it stays under ` + strconv.Itoa(gctune.QuietRate>>20) + ` MiB/s for ` + gctune.QuietAfter.String() + `, when the memory is handed back) and the live
heap is under ` + strconv.Itoa(gctune.Headroom>>20) + ` MiB, the Go heap may gather up to ` + strconv.Itoa(gctune.Headroom>>20) + ` MiB of garbage between
collections (x/crypto allocates a buffer per SSH packet); bulk throughput rises
by about a third in bench/run (docs/PERFORMANCE.md). With GOGC or GOMEMLIMIT in
the environment Go's own settings apply instead (GOGC=100 is Go's default;
GOMEMLIMIT=40MiB caps the heap).

Processors: the gateway runs its Go code on one thread at a time while that
keeps up (each hand-off between tunnel goroutines otherwise wakes an idle
thread too), and on the runtime's default (the CPUs it may use) from when it
uses ` + strconv.Itoa(int(proctune.UpShare*100)) + `% or more of a core over ` + proctune.Interval.String() + ` on one thread until it uses under
` + strconv.Itoa(int(proctune.DownShare*100)) + `% of a core over ` + proctune.DownAfter.String() + `. GOMAXPROCS in the environment fixes the number
instead; the "listening" line says which ("procs": "auto" or the number).

Config keywords (gateway.conf, one per line, '#' comments, relative paths are
relative to the config file):
  Listen ADDR                 SSH listen address (default ` + config.DefaultListen + `)
  HostKey FILE                host private key, 0600 (repeatable)
  AuthorizedKeysFile FILE     OpenSSH authorized_keys; the comment is the identity name;
                              options: restrict, port-forwarding, no-port-forwarding,
                              from=, expiry-time=, permitopen=
  Service NAME IP:PORT        a loopback service the gateway may dial (repeatable)
  Grant NAME SVC[,SVC...]     services an identity may reach (one line per name)
  TokenKey FILE               private key the gateway signs service tokens with (0600)
  Token SVC PROFILE [ttl=D] [iss=ISSUER]
                              token profile of a service: nanomq (RS256; iss = the
                              public key file's name), jwt (generic, with aud and kid;
                              RS256, ES256 or EdDSA by key type) or none; ttl defaults
                              to 5m and is at most 1h
  DialTimeout DURATION        bound on connecting to a service (default ` + config.DefaultDialTimeout.String() + `)
  DrainTimeout DURATION       how long shutdown waits for open tunnels (default ` + config.DefaultDrainTimeout.String() + `)

` + limitsHelp + `

` + algorithmsHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if confPath == "" {
				return errors.New("--config is required")
			}
			return runServe(cmd.Context(), a.log, confPath, listen)
		},
	}
	cmd.Flags().StringVar(&confPath, "config", "", "gateway config file (required)")
	cmd.Flags().StringVar(&listen, "listen", "", "listen address, overriding the config's Listen")
	return cmd
}

func runServe(ctx context.Context, log *slog.Logger, confPath, listen string) error {
	l, err := loadForServe(confPath)
	if err != nil {
		return err
	}
	if listen == "" {
		listen = l.cfg.Listen
	} else if err := config.ValidListen(listen); err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	gw, err := tunnel.NewGateway(gatewayConfig(l, log))
	if err != nil {
		return err
	}
	stopGC, _ := gctune.Start(gctune.Headroom)
	defer stopGC()
	stopProcs, tunedProcs := proctune.Start(log)
	defer stopProcs()
	procs := strconv.Itoa(runtime.GOMAXPROCS(0))
	if tunedProcs {
		procs = "auto"
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("listening", "addr", ln.Addr().String(), "host_key", keys.Fingerprint(l.hostKeys[0].PublicKey()),
		"services", len(l.cfg.Services), "keys", l.rules.Len(), "procs", procs)
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ln) }()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	changed, stopWatch := watchFiles(l.cfg)
	defer stopWatch()
	for {
		select {
		case <-hup:
			reload(log, gw, confPath, changed)
		case <-changed.c:
			log.Info("files changed", "reloading", true)
			reload(log, gw, confPath, changed)
		case err := <-served:
			return fmt.Errorf("serve: %w", err)
		case <-ctx.Done():
			return drain(log, gw, l.cfg, served)
		}
	}
}

// reload applies a new config and authorized_keys, or keeps the old ones.
// A missing authorized_keys file is not an error: it revokes every key.
func reload(log *slog.Logger, gw *tunnel.Gateway, confPath string, w *watched) {
	cfg, err := config.Load(confPath)
	if err == nil {
		w.set(cfg)
		var rules *tunnel.Rules
		if rules, err = loadRulesOrNone(log, cfg); err == nil {
			gw.SetRules(rules)
			log.Info("reloaded", "services", len(cfg.Services), "keys", rules.Len())
			return
		}
	}
	log.Error("reload failed", "error", err, "kept", "previous configuration")
}

// loadRulesOrNone is loadRules, except that a deleted authorized_keys
// file means no key is admitted.
func loadRulesOrNone(log *slog.Logger, cfg *config.Config) (*tunnel.Rules, error) {
	rules, err := loadRules(cfg)
	if errors.Is(err, fs.ErrNotExist) {
		log.Warn("authorized_keys missing; refusing every key", "file", cfg.AuthorizedKeysFile)
		return loadRulesFrom(cfg, nil)
	}
	return rules, err
}

func drain(log *slog.Logger, gw *tunnel.Gateway, cfg *config.Config, served <-chan error) error {
	log.Info("shutting down", "drain_timeout", cfg.DrainTimeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	defer cancel()
	if err := gw.Shutdown(ctx); err != nil {
		log.Warn("drain deadline reached; open tunnels were closed", "error", err)
	}
	<-served
	log.Info("stopped")
	return nil
}
