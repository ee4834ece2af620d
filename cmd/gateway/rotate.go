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
(the previous pair is kept as .old files). The new key is RSA 3072 (RS256), whatever
the old one was. The public key file keeps its name, so NanoMQ's iss check still
matches. A running gateway signs with the new key within a second (at once on SIGHUP);
NanoMQ reads its key only at start, so until NanoMQ is restarted with the new public
key it refuses new tokens, and after that it refuses tokens signed with the old key:
a client proxy holding one gets 401 until it refreshes its token (when a third of
its ttl is left; restart the proxy to refresh at once). Do both in one go.`,
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
the running gateway signs with the new key within a second; now
  restart NanoMQ so it reads the new public key %s
  (copy it first if NanoMQ reads a copy; keep the file name)
`, cfg.TokenKeyFile, kid, pub)
			return nil
		},
	}
	cmd.Flags().StringVar(&confPath, "config", "", "gateway config file (required)")
	return cmd
}
