package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/loopgate/loopgate/connect"
	"github.com/loopgate/loopgate/dest"
	"github.com/loopgate/loopgate/internal/logging"
	"github.com/loopgate/loopgate/tunnel"
)

// common holds the flags every subcommand shares.
type common struct {
	identity    string
	port        int
	configFile  string
	knownHosts  string
	acceptNew   bool
	logFormat   string
	logLevel    string
	verbose     bool
	keepalive   time.Duration
	keepaliveN  int
	waitForLink time.Duration

	log *slog.Logger
}

func (o *common) addFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVarP(&o.identity, "identity", "i", "", "private key file to offer (only this key is offered, like IdentitiesOnly)")
	f.IntVarP(&o.port, "port", "p", 0, "gateway port (default from DEST, ssh_config, or 22)")
	f.StringVarP(&o.configFile, "config", "F", "", `ssh_config file (default ~/.ssh/config; "none" for none)`)
	f.StringVar(&o.knownHosts, "known-hosts", "", "known_hosts file (default from ssh_config, or ~/.ssh/known_hosts)")
	f.BoolVar(&o.acceptNew, "accept-new", false, "record an unknown host key (a changed key is always refused)")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "verbose: debug logs; request also prints status and headers")
	f.DurationVar(&o.keepalive, "keepalive-interval", 0, "probe the connection this often (default ServerAliveInterval or 15s)")
	f.IntVar(&o.keepaliveN, "keepalive-count", 0, "unanswered probes before reconnecting (default ServerAliveCountMax or 3)")
	f.DurationVar(&o.waitForLink, "wait", tunnel.DefaultWaitWhileDown, "how long a request waits for a lost connection before failing")
}

func (o *common) setupLogging() error {
	level := o.logLevel
	if o.verbose {
		level = "debug"
	}
	l, err := logging.New(os.Stderr, o.logFormat, level, time.TimeOnly)
	o.log = l
	return err
}

// connect resolves DEST, makes the first connection and returns the
// client; the caller runs it and closes it.
func (o *common) connect(ctx context.Context, destArg string) (*tunnel.Client, func(), error) {
	d, err := dest.Resolve(destArg, dest.Overrides{
		ConfigFile: o.configFile, Port: o.port, IdentityFile: o.identity,
		KnownHosts: o.knownHosts, AcceptNew: o.acceptNew,
	})
	if err != nil {
		return nil, nil, err
	}
	cfg, release, err := connect.Setup(d, connect.Options{
		Prompt: prompt(), AgentSock: os.Getenv("SSH_AUTH_SOCK"),
		KeepaliveInterval: o.keepalive, KeepaliveCountMax: o.keepaliveN, Logger: o.log,
	})
	if err != nil {
		return nil, nil, err
	}
	cfg.WaitWhileDown = o.waitForLink
	c, err := tunnel.NewClient(cfg)
	if err != nil {
		release()
		return nil, nil, err
	}
	o.log.Info("connecting", "gateway", cfg.Addr, "user", d.User)
	if err := c.Connect(ctx); err != nil {
		release()
		return nil, nil, err
	}
	return c, func() { c.Close(); release() }, nil
}

// prompt asks for a passphrase on the terminal, or is nil without one.
func prompt() func(string) ([]byte, error) {
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil
	}
	return func(q string) ([]byte, error) {
		fmt.Fprint(os.Stderr, q)
		defer fmt.Fprintln(os.Stderr)
		return term.ReadPassword(fd)
	}
}

// exitError carries a specific exit code (an HTTP error from request).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}
