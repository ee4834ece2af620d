package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/loopgate/loopgate/config"
	"github.com/loopgate/loopgate/doctor"
	"github.com/loopgate/loopgate/keys"
)

func newDoctorCmd(a *app) *cobra.Command {
	var confPath string
	cmd := &cobra.Command{
		Use:   "doctor --config FILE",
		Short: "Inspect the device: listening addresses, credentials, file modes",
		Long: `doctor inspects the device the way an auditor would and prints a table of
checks, each pass, warn or FAIL, with a fix under every one that is not a pass.
It exits 1 when any check fails.

  config passes check        what gateway check says
  host key present           each HostKey loads; its fingerprint
  ... mode and owner         key files readable by their owner only, the config and
                             authorized_keys not writable by group or others, owned
                             by the user running doctor (run it as the gateway's user)
  gateway is listening       something listens on the config's Listen port
  listens on loopback only   per service, from the kernel's socket tables
                             (/proc/net/tcp, tcp6): a listener on 0.0.0.0, :: or
                             another non-loopback address fails
  answers                    per service: it accepts a connection and answers HTTP
  refuses no credentials     nanomq-profile services: GET /api/v4/brokers without
  refuses admin/public       credentials and with NanoMQ's default admin/public must
  accepts a minted token     be refused, and with a token the gateway mints now
                             accepted (so NanoMQ's key file and iss match)

It sends only GET requests, to the services' loopback addresses.`,
		Example: `  sudo -u loopgate gateway doctor --config /var/lib/loopgate/gateway/gateway.conf`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if confPath == "" {
				return fmt.Errorf("--config is required")
			}
			rs := runDoctor(cmd.Context(), a.log, confPath)
			if err := doctor.Write(cmd.OutOrStdout(), rs); err != nil {
				return err
			}
			if doctor.Failed(rs) {
				return fmt.Errorf("a check failed; see the fix under it")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&confPath, "config", "", "gateway config file (required)")
	return cmd
}

// runDoctor gathers what the checks need from the config and runs them.
func runDoctor(ctx context.Context, log *slog.Logger, confPath string) []doctor.Result {
	l, problems := loadAll(confPath)
	rs := []doctor.Result{doctor.Config(confPath, problems, l != nil)}
	if l == nil {
		return rs // the config itself did not parse: nothing else to go on
	}
	cfg := l.cfg
	rs = append(rs, doctor.HostKeys(cfg.HostKeys)...)
	rs = append(rs, doctor.Files(doctorFiles(cfg))...)
	ls, tableErr := doctor.ReadListeners()
	rs = append(rs, doctor.GatewayListening(cfg.Listen, ls, tableErr))
	for _, svc := range doctorServices(log, cfg) {
		log.Info("checking service", "service", svc.Name, "addr", svc.Addr.String())
		rs = append(rs, doctor.LoopbackOnly(svc, ls, tableErr))
		answers := doctor.Answers(ctx, svc)
		rs = append(rs, answers)
		if svc.NanoMQ && answers.Status == doctor.Pass {
			rs = append(rs, doctor.NanoMQ(ctx, svc)...)
		}
	}
	return rs
}

func doctorFiles(cfg *config.Config) []doctor.File {
	fs := []doctor.File{{Path: cfg.Path, What: "config"}}
	for _, p := range cfg.HostKeys {
		fs = append(fs, doctor.File{Path: p, Private: true, What: "host key"})
	}
	fs = append(fs, doctor.File{Path: cfg.AuthorizedKeysFile, What: "authorized_keys"})
	if cfg.TokenKeyFile != "" {
		fs = append(fs, doctor.File{Path: cfg.TokenKeyFile, Private: true, What: "token key"})
	}
	return fs
}

// doctorTokenTTL is the lifetime of the token doctor sends: long enough
// for one request, short if whatever listens on the port is not the API.
const doctorTokenTTL = 30 * time.Second

// doctorServices describes each configured service, with a way to mint a
// token when it has a token profile and the token key loads.
func doctorServices(log *slog.Logger, cfg *config.Config) []doctor.Service {
	var key *keys.TokenKey
	if cfg.TokenKeyFile != "" {
		key, _ = keys.LoadTokenKey(cfg.TokenKeyFile) // a bad key is the config check's fail
	}
	var out []doctor.Service
	for _, s := range cfg.Services {
		p := cfg.Tokens[s.Name]
		ds := doctor.Service{Name: s.Name, Addr: s.Addr, NanoMQ: p.Kind == "nanomq"}
		if key != nil && p.Kind != "" && p.Kind != "none" {
			if iss, err := key.Issuer(p); err == nil {
				ds.Issuer, ds.PublicKeyFile = iss, key.PublicPath
				short := p
				short.TTL = doctorTokenTTL
				ds.Mint = func() (string, error) {
					t, err := key.Mint(short, s.Name, "doctor", time.Now())
					if err == nil {
						log.Info("token minted for the check", "service", s.Name, "sub", t.Subject, "jti", t.ID,
							"expires", t.Expiry.UTC().Format(time.RFC3339))
					}
					return t.Value, err
				}
			}
		}
		out = append(out, ds)
	}
	return out
}
