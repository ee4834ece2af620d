package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loopgate/loopgate/config"
	"github.com/loopgate/loopgate/keys"
	"github.com/loopgate/loopgate/policy"
)

func newAllowCmd(a *app) *cobra.Command {
	var confPath, name, keyPath, serviceList, from, expiry string
	cmd := &cobra.Command{
		Use:   "allow --config FILE --name NAME --key FILE.pub --service NAME[,NAME...]",
		Short: "Grant a public key access to services",
		Long: `allow adds the key to authorized_keys as
  restrict,port-forwarding[,from="..."][,expiry-time="..."] KEY NAME
(replacing the line if the key is already there) and sets the config's
"Grant NAME services" line. NAME is the identity recorded in every audit event.
Both files are written atomically. A running gateway picks the change up within a
second (at once on SIGHUP or systemctl reload).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for flag, v := range map[string]string{"--config": confPath, "--name": name, "--key": keyPath, "--service": serviceList} {
				if v == "" {
					return fmt.Errorf("%s is required", flag)
				}
			}
			opts, err := allowOptions(from, expiry)
			if err != nil {
				return err
			}
			return runAllow(cmd, confPath, name, keyPath, serviceList, opts)
		},
	}
	cmd.Flags().StringVar(&confPath, "config", "", "gateway config file (required)")
	cmd.Flags().StringVar(&name, "name", "", "identity name for this key, e.g. alice (required)")
	cmd.Flags().StringVar(&keyPath, "key", "", "the operator's public key file, e.g. alice.pub (required)")
	cmd.Flags().StringVar(&serviceList, "service", "", "comma-separated services to grant (required)")
	cmd.Flags().StringVar(&from, "from", "", `limit source addresses, OpenSSH from= patterns, e.g. "10.0.0.0/8,!10.0.0.1"`)
	cmd.Flags().StringVar(&expiry, "expiry-time", "", "key stops working at YYYYMMDD[HHMM[SS]] local time (Z suffix: UTC)")
	return cmd
}

// allowOptions builds the authorized_keys options for a new grant by
// parsing them the way the gateway will, so a bad value fails here.
func allowOptions(from, expiry string) (keys.Options, error) {
	field := "restrict,port-forwarding"
	if from != "" {
		field += fmt.Sprintf(`,from="%s"`, from)
	}
	if expiry != "" {
		field += fmt.Sprintf(`,expiry-time="%s"`, expiry)
	}
	opts, err := keys.ParseOptions(field)
	if err != nil {
		return keys.Options{}, fmt.Errorf("--from/--expiry-time: %w", err)
	}
	for _, f := range opts.From {
		if err := policy.ValidFromPattern(f); err != nil {
			return keys.Options{}, fmt.Errorf("--from: %w", err)
		}
	}
	if !opts.ExpiryTime.IsZero() && !opts.ExpiryTime.After(time.Now()) {
		return keys.Options{}, fmt.Errorf("--expiry-time %s is in the past", expiry)
	}
	return opts, nil
}

func runAllow(cmd *cobra.Command, confPath, name, keyPath, serviceList string, opts keys.Options) error {
	if !policy.ValidName(name) {
		return fmt.Errorf("--name %q: use letters, digits and ._@+- (up to 64)", name)
	}
	services, err := config.SplitServices(serviceList)
	if err != nil {
		return fmt.Errorf("--service: %w", err)
	}
	pub, _, err := keys.ReadPublicKeyFile(keyPath)
	if err != nil {
		return err
	}
	f, err := openGatewayFiles(confPath)
	if err != nil {
		return err
	}
	if err := knownServices(f.cfg, services); err != nil {
		return err
	}
	newConf, err := config.SetGrant(f.confData, name, services, f.cfg.Dir())
	if err != nil {
		return err
	}
	newKeys, err := keys.UpsertAuthorizedKey(f.keysData, keys.AuthorizedKey{Key: pub, Comment: name, Options: opts})
	if err != nil {
		return fmt.Errorf("%s: %w", f.cfg.AuthorizedKeysFile, err)
	}
	if err := f.write(newKeys, newConf); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "granted %s (%s) access to %s\na running gateway applies it within a second (at once with systemctl reload or kill -HUP)\n",
		name, keys.Fingerprint(pub), strings.Join(services, ", "))
	return nil
}

// knownServices checks that every named service is configured.
func knownServices(cfg *config.Config, names []string) error {
	var have []string
	for _, s := range cfg.Services {
		have = append(have, s.Name)
	}
	for _, n := range names {
		if !slices.Contains(have, n) {
			return fmt.Errorf("--service %s: no such service in %s (configured: %s)", n, cfg.Path, strings.Join(have, ", "))
		}
	}
	return nil
}

func newRevokeCmd(a *app) *cobra.Command {
	var confPath, name string
	cmd := &cobra.Command{
		Use:   "revoke --config FILE --name NAME",
		Short: "Remove a name's keys and grant",
		Long: `revoke removes every authorized_keys line whose comment is NAME and the config's
Grant line for NAME, writing both files atomically. A running gateway applies it
within a second (at once on SIGHUP or systemctl reload) and closes that name's open
connections.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if confPath == "" || name == "" {
				return errors.New("--config and --name are required")
			}
			return runRevoke(cmd, confPath, name)
		},
	}
	cmd.Flags().StringVar(&confPath, "config", "", "gateway config file (required)")
	cmd.Flags().StringVar(&name, "name", "", "identity name to revoke (required)")
	return cmd
}

func runRevoke(cmd *cobra.Command, confPath, name string) error {
	f, err := openGatewayFiles(confPath)
	if err != nil {
		return err
	}
	newConf, hadGrant := config.RemoveGrant(f.confData, name)
	newKeys, n, err := keys.RemoveAuthorizedKeys(f.keysData, name)
	if err != nil {
		return fmt.Errorf("%s: %w", f.cfg.AuthorizedKeysFile, err)
	}
	if !hadGrant && n == 0 {
		return fmt.Errorf("no key or grant named %q in %s", name, confPath)
	}
	// The grant goes first: if the second write failed, the key would
	// remain but reach nothing.
	if err := f.write(newKeys, newConf); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "revoked %s: %d key(s) removed, grant removed: %t\na running gateway applies it within a second (at once with systemctl reload or kill -HUP) and closes %[1]s's connections\n", name, n, hadGrant)
	return nil
}

// gatewayFiles is the config and authorized_keys as read for an edit.
type gatewayFiles struct {
	confPath string
	cfg      *config.Config
	confData []byte
	keysData []byte
}

func openGatewayFiles(confPath string) (*gatewayFiles, error) {
	cfg, err := config.Load(confPath)
	if err != nil {
		return nil, err
	}
	confData, err := os.ReadFile(confPath)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if _, err := keys.LoadAuthorizedKeys(cfg.AuthorizedKeysFile); err != nil {
		return nil, err
	}
	keysData, err := os.ReadFile(cfg.AuthorizedKeysFile)
	if err != nil {
		return nil, fmt.Errorf("read authorized keys: %w", err)
	}
	return &gatewayFiles{confPath: confPath, cfg: cfg, confData: confData, keysData: keysData}, nil
}

// write checks that the edited files load together, then writes them:
// the config (grants) first, so a failure between the two writes can only
// leave a key that reaches less, never more.
func (f *gatewayFiles) write(newKeys, newConf []byte) error {
	cfg, err := config.Parse(newConf, f.confPath, f.cfg.Dir())
	if err != nil {
		return err
	}
	if _, err := loadRulesFrom(cfg, newKeys); err != nil {
		return err
	}
	if err := keys.WriteFileAtomic(f.confPath, newConf, fileMode(f.confPath)); err != nil {
		return err
	}
	return keys.WriteFileAtomic(f.cfg.AuthorizedKeysFile, newKeys, fileMode(f.cfg.AuthorizedKeysFile))
}

func fileMode(path string) os.FileMode {
	if fi, err := os.Stat(path); err == nil {
		return fi.Mode().Perm()
	}
	return 0o600
}
