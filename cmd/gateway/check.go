package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/loopgate/loopgate/keys"
)

func newCheckCmd(a *app) *cobra.Command {
	var confPath string
	cmd := &cobra.Command{
		Use:   "check --config FILE",
		Short: "Validate the config, key files and their permissions",
		Long: `check loads the config, every host key and authorized_keys exactly as serve
would, and prints one line per problem. It exits 0 only when serve would start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if confPath == "" {
				return fmt.Errorf("--config is required")
			}
			l, errs := loadAll(confPath)
			if len(errs) > 0 {
				for _, err := range errs {
					fmt.Fprintln(cmd.ErrOrStderr(), "problem:", err)
				}
				return fmt.Errorf("%s: %d problem(s)", confPath, len(errs))
			}
			w := cmd.OutOrStdout()
			for _, k := range l.hostKeys {
				fmt.Fprintf(w, "host key %s %s\n", k.PublicKey().Type(), keys.Fingerprint(k.PublicKey()))
			}
			fmt.Fprintf(w, "%d service(s), %d key(s); listen %s\nok\n", len(l.cfg.Services), l.rules.Len(), l.cfg.Listen)
			return nil
		},
	}
	cmd.Flags().StringVar(&confPath, "config", "", "gateway config file (required)")
	return cmd
}
