package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newServicesCmd(o *common) *cobra.Command {
	return &cobra.Command{
		Use:   "services DEST",
		Short: "List the services this key may reach on the gateway",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, closeClient, err := o.connect(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer closeClient()
			list, err := c.Services(cmd.Context())
			if err != nil {
				return err
			}
			for _, s := range list {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%d\n", s.Name, s.Port)
			}
			return nil
		},
	}
}
