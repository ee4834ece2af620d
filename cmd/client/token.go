package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

func newTokenCmd(o *common) *cobra.Command {
	var service string
	cmd := &cobra.Command{
		Use:   "token DEST --service NAME",
		Short: "Print a fresh gateway-minted token for a service",
		Long: `token asks the gateway for a short-lived token for the service and prints it on
stdout, for scripts: curl -H "Authorization: Bearer $(client token dev --service nanomq)".
The token is a credential: do not log it or leave it in shell history files.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if service == "" {
				return errors.New("--service is required")
			}
			c, closeClient, err := o.connect(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer closeClient()
			tok, err := c.RequestToken(cmd.Context(), service)
			if err != nil {
				return err
			}
			o.log.Info("token issued", "service", service, "jti", tok.ID, "lifetime", tok.Lifetime.String())
			fmt.Fprintln(cmd.OutOrStdout(), tok.Value)
			return nil
		},
	}
	cmd.Flags().StringVar(&service, "service", "", "gateway service name (required)")
	return cmd
}
