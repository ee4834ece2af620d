package main

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/loopgate/loopgate/keys"
	"github.com/loopgate/loopgate/limits"
	"github.com/loopgate/loopgate/tunnel"
)

// gatewayConfig maps a loaded config onto the tunnel's.
func gatewayConfig(l *loaded, log *slog.Logger) tunnel.GatewayConfig {
	a := l.cfg.Algorithms
	return tunnel.GatewayConfig{
		HostKeys:    l.hostKeys,
		Rules:       l.rules,
		Logger:      log,
		DialTimeout: l.cfg.DialTimeout,
		Limits:      l.cfg.Limits,
		Algorithms: tunnel.Algorithms{
			KeyExchanges:  a[keys.KexAlgorithms],
			Ciphers:       a[keys.Ciphers],
			MACs:          a[keys.MACs],
			PublicKeyAuth: a[keys.PubkeyAcceptedAlgorithms],
			AllowInsecure: l.cfg.AllowInsecureAlgorithms,
		},
	}
}

var def = limits.Defaults()

var limitsHelp = fmt.Sprintf(`Limits (sshd_config names and meanings; "none" turns an optional one off):
  LoginGraceTime DURATION     deadline for version exchange, key exchange and authentication,
                              counted on the raw connection (default %s)
  MaxStartups START:RATE:FULL unauthenticated connections: from START on, drop new ones with
                              probability RATE%%, rising to 100%% at FULL (default %d:%d:%d)
  PerSourceMaxStartups N      unauthenticated connections per source net block, checked
                              before the SSH banner (default %d)
  PerSourceConnectRate N/DUR  new connections per source net block, burst N, checked before
                              the SSH banner (default %d/%s)
  PerSourceNetBlockSize V4:V6 prefix lengths that group sources (default %d:%d)
  PerSourcePenalties K:V...   refuse a source for a while after authfail:D noauth:D
                              grace-exceeded:D crash:D, adding up to max:D, enforced from
                              min:D; table size max-sources4:N max-sources6:N; or "no"
                              (default authfail:%s noauth:%s grace-exceeded:%s crash:%s
                              max:%s min:%s max-sources4:%d max-sources6:%d)
  MaxAuthTries N              refused keys per connection before it is closed, counting keys
                              only offered (default %d)
  MaxSessions N               concurrent tunnels per connection; more are refused with
                              resource-shortage (default %d)
  MaxConnections N            authenticated connections in all (default %d)
  MaxConnectionsPerKey N      authenticated connections per key (default %d)
  ChannelTimeout [direct-tcpip=]DURATION
                              close a tunnel idle in both directions this long (default %s)
  UnusedConnectionTimeout DURATION
                              close a connection that has had no tunnel this long (default %s)
  ClientAliveInterval DURATION, ClientAliveCountMax N
                              probe the client every interval; close after N unanswered
                              probes (default %s, %d)`,
	fmtDur(def.LoginGraceTime), def.MaxStartups.Start, def.MaxStartups.Rate, def.MaxStartups.Full,
	def.PerSourceMaxStartups, def.PerSourceConnectRate.Count, fmtDur(def.PerSourceConnectRate.Per),
	def.PerSourceNetBlockSize.V4, def.PerSourceNetBlockSize.V6,
	fmtDur(def.PerSourcePenalties.AuthFail), fmtDur(def.PerSourcePenalties.NoAuth), fmtDur(def.PerSourcePenalties.GraceExceeded),
	fmtDur(def.PerSourcePenalties.Crash), fmtDur(def.PerSourcePenalties.Max), fmtDur(def.PerSourcePenalties.Min),
	def.PerSourcePenalties.MaxSources4, def.PerSourcePenalties.MaxSources6,
	def.MaxAuthTries, def.MaxSessions, def.MaxConnections, def.MaxConnectionsPerKey,
	fmtDur(def.ChannelTimeout), fmtDur(def.UnusedConnectionTimeout), fmtDur(def.ClientAliveInterval), def.ClientAliveCountMax)

var algorithmsHelp = fmt.Sprintf(`Algorithms (comma-separated; weaker ones are refused unless AllowInsecureAlgorithms yes):
  KexAlgorithms LIST            default %s
  Ciphers LIST                  default %s
  MACs LIST                     default %s (used with -ctr ciphers only)
  PubkeyAcceptedAlgorithms LIST default %s
  AllowInsecureAlgorithms yes   accept weak algorithms and ECDSA or small RSA host keys`,
	list(keys.KexAlgorithms), list(keys.Ciphers), list(keys.MACs), list(keys.PubkeyAcceptedAlgorithms))

// fmtDur writes a duration as an operator would: 1m, 10m, 1h, 90s.
func fmtDur(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

func list(k keys.AlgorithmKind) string { return strings.Join(keys.DefaultAlgorithms(k), ",") }
