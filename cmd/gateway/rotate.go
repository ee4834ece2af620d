package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/loopgate/loopgate/config"
	"github.com/loopgate/loopgate/keys"
)

func newRotateTokenKeyCmd(a *app) *cobra.Command {
	var confPath string
	cmd := &cobra.Command{
		Use:   "rotate-token-key --config FILE",
		Short: "Replace the token signing key pair",
		Long: `rotate-token-key writes a new token signing key pair over the config's TokenKey
(the previous pair is kept as .old files). The public key file keeps its name, so
NanoMQ's iss check still matches, but NanoMQ reads the key only at start: restart
NanoMQ, then reload the gateway (SIGHUP). Tokens signed with the old key stop
working when NanoMQ restarts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if confPath == "" {
				return errors.New("--config is required")
			}
			cfg, err := config.Load(confPath)
			if err != nil {
				return err
			}
			if cfg.TokenKeyFile == "" {
				return fmt.Errorf("%s has no TokenKey to rotate", confPath)
			}
			kid, err := keys.RotateTokenKey(cfg.TokenKeyFile)
			if err != nil {
				return err
			}
			pub, _ := filepath.Abs(cfg.TokenKeyFile + ".pub")
			fmt.Fprintf(cmd.OutOrStdout(), `rotated %s (new key id %s; the old pair is in .old files)
next:
  1. restart NanoMQ so it reads the new public key %s
  2. reload the gateway: kill -HUP <pid> (or systemctl reload)
`, cfg.TokenKeyFile, kid, pub)
			return nil
		},
	}
	cmd.Flags().StringVar(&confPath, "config", "", "gateway config file (required)")
	return cmd
}
