package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/user"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/loopgate/loopgate/keys"
	"github.com/loopgate/loopgate/proxy"
	"github.com/loopgate/loopgate/tunnel"
)

// credFlags choose the credential the proxy and request inject. Secrets
// come from the gateway, a key file, a file or an environment variable,
// never from the command line.
type credFlags struct {
	kind    string
	file    string
	env     string
	signKey string
	signIss string
}

func (f *credFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.kind, "auth", "gateway", "credential to inject: gateway (a token the gateway mints), sign (a token signed with --sign-key), bearer or basic")
	cmd.Flags().StringVar(&f.file, "auth-file", "", "bearer/basic: read the credential from this file (0600): a token, or user:password")
	cmd.Flags().StringVar(&f.env, "auth-env", "", "bearer/basic: read the credential from this environment variable")
	cmd.Flags().StringVar(&f.signKey, "sign-key", "", "sign: private key file to sign NanoMQ tokens with (0600)")
	cmd.Flags().StringVar(&f.signIss, "sign-issuer", "", "sign: the token's iss (default: the key file's name + .pub, as NanoMQ expects)")
}

// credential builds the chosen source. service is the gateway service
// name tokens are minted for.
func (f *credFlags) credential(c *tunnel.Client, service string, log *slog.Logger) (proxy.Credential, error) {
	switch f.kind {
	case "gateway":
		return proxy.NewTokenCache(func(ctx context.Context) (string, time.Duration, error) {
			tok, err := c.RequestToken(ctx, service)
			if err == nil {
				log.Debug("token minted by the gateway", "service", service, "jti", tok.ID, "lifetime", tok.Lifetime.String())
			}
			return tok.Value, tok.Lifetime, err
		}, nil), nil
	case "sign":
		return f.signer(service, log)
	case "bearer", "basic":
		return f.static()
	default:
		return nil, fmt.Errorf("--auth %q: want gateway, sign, bearer or basic", f.kind)
	}
}

// check validates the flags before connecting.
func (f *credFlags) check() error {
	switch f.kind {
	case "gateway":
		if f.file != "" || f.env != "" || f.signKey != "" {
			return errors.New("--auth gateway takes no --auth-file, --auth-env or --sign-key")
		}
	case "sign":
		if f.signKey == "" {
			return errors.New("--auth sign needs --sign-key FILE")
		}
	case "bearer", "basic":
		if (f.file == "") == (f.env == "") {
			return errors.New("give exactly one of --auth-file or --auth-env (secrets are never taken from the command line)")
		}
	default:
		return fmt.Errorf("--auth %q: want gateway, sign, bearer or basic", f.kind)
	}
	return nil
}

func (f *credFlags) static() (proxy.Credential, error) {
	switch {
	case f.kind == "bearer" && f.file != "":
		return proxy.BearerFromFile(f.file)
	case f.kind == "bearer":
		return proxy.BearerFromEnv(f.env)
	case f.file != "":
		return proxy.BasicFromFile(f.file)
	default:
		return proxy.BasicFromEnv(f.env)
	}
}

// signer signs NanoMQ-profile tokens locally. It is weaker than gateway
// tokens: the key lives on this machine, and every holder of it can mint
// tokens for every device that trusts it.
func (f *credFlags) signer(service string, log *slog.Logger) (proxy.Credential, error) {
	key, err := keys.LoadTokenKey(f.signKey)
	if err != nil {
		return nil, err
	}
	iss := f.signIss
	if iss == "" {
		iss = filepath.Base(f.signKey) + ".pub"
	}
	prof := keys.TokenProfile{Kind: "nanomq", Issuer: iss}
	if err := key.ValidateProfile(prof); err != nil {
		return nil, fmt.Errorf("--sign-key: %w", err)
	}
	sub := "operator"
	if u, err := user.Current(); err == nil {
		sub = u.Username
	}
	log.Warn("signing tokens with a local key: weaker than gateway-minted tokens (the key is on this machine and no device audits the minting)", "key", f.signKey)
	return proxy.NewTokenCache(func(context.Context) (string, time.Duration, error) {
		now := time.Now()
		tok, err := key.Mint(prof, service, sub, now)
		return tok.Value, tok.Expiry.Sub(tok.IssuedAt), err
	}, nil), nil
}
