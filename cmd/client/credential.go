package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/loopgate/loopgate/proxy"
)

// credFlags choose the credential the proxy and request inject. Secrets
// come from a file or an environment variable, never from the command line.
type credFlags struct {
	kind string
	file string
	env  string
}

func (f *credFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.kind, "auth", "", "credential to inject: bearer or basic (required)")
	cmd.Flags().StringVar(&f.file, "auth-file", "", "read the credential from this file (0600): a token, or user:password for basic")
	cmd.Flags().StringVar(&f.env, "auth-env", "", "read the credential from this environment variable")
}

func (f *credFlags) credential() (proxy.Credential, error) {
	if (f.file == "") == (f.env == "") {
		return nil, errors.New("give exactly one of --auth-file or --auth-env (secrets are never taken from the command line)")
	}
	switch {
	case f.kind == "bearer" && f.file != "":
		return proxy.BearerFromFile(f.file)
	case f.kind == "bearer":
		return proxy.BearerFromEnv(f.env)
	case f.kind == "basic" && f.file != "":
		return proxy.BasicFromFile(f.file)
	case f.kind == "basic":
		return proxy.BasicFromEnv(f.env)
	case f.kind == "":
		return nil, errors.New("--auth is required: bearer or basic")
	default:
		return nil, fmt.Errorf("--auth %q: want bearer or basic", f.kind)
	}
}
