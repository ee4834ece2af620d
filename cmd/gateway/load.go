package main

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/loopgate/loopgate/config"
	"github.com/loopgate/loopgate/keys"
	"github.com/loopgate/loopgate/tunnel"
)

// loaded is everything the daemon reads from disk.
type loaded struct {
	cfg      *config.Config
	hostKeys []ssh.Signer
	rules    *tunnel.Rules
}

// loadRules reads authorized_keys and joins it with the config's policy.
func loadRules(cfg *config.Config) (*tunnel.Rules, error) {
	entries, err := keys.LoadAuthorizedKeys(cfg.AuthorizedKeysFile)
	if err != nil {
		return nil, err
	}
	return rulesFor(cfg, entries, cfg.AuthorizedKeysFile)
}

// loadRulesFrom is loadRules for authorized_keys text not yet on disk.
func loadRulesFrom(cfg *config.Config, data []byte) (*tunnel.Rules, error) {
	entries, err := keys.ParseAuthorizedKeys(data, cfg.AuthorizedKeysFile)
	if err != nil {
		return nil, err
	}
	return rulesFor(cfg, entries, cfg.AuthorizedKeysFile)
}

func rulesFor(cfg *config.Config, entries []keys.AuthorizedKey, source string) (*tunnel.Rules, error) {
	p, err := cfg.Policy()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Path, err)
	}
	r, err := tunnel.NewRules(p, entries, source)
	if err != nil {
		return nil, err
	}
	var key *keys.TokenKey
	if cfg.TokenKeyFile != "" {
		if key, err = keys.LoadTokenKey(cfg.TokenKeyFile); err != nil {
			return nil, err
		}
	}
	if r, err = r.WithTokens(key, cfg.Tokens); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Path, err)
	}
	return r, nil
}

// loadAll reads the config and every file it names, and returns all the
// problems found, one per file, so `check` can list them together.
func loadAll(path string) (*loaded, []error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, []error{err}
	}
	l := &loaded{cfg: cfg}
	var errs []error
	byType := map[string]string{}
	for _, p := range cfg.HostKeys {
		s, err := keys.LoadHostKey(p)
		if err == nil {
			_, err = keys.HardenHostKey(s, cfg.AllowInsecureAlgorithms)
			if err != nil {
				err = fmt.Errorf("host key %s: %w", p, err)
			}
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, ok := byType[s.PublicKey().Type()]; ok {
			errs = append(errs, fmt.Errorf("host keys %s and %s are both %s: SSH serves one host key per type, so list one (to rotate, see docs/OPERATIONS.md)",
				prev, p, s.PublicKey().Type()))
			continue
		}
		byType[s.PublicKey().Type()] = p
		l.hostKeys = append(l.hostKeys, s)
	}
	if l.rules, err = loadRules(cfg); err != nil {
		errs = append(errs, err)
	}
	return l, errs
}

// loadForServe is loadAll for the daemon: any problem stops it.
func loadForServe(path string) (*loaded, error) {
	l, errs := loadAll(path)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return l, nil
}
