package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/loopgate/loopgate/keys"
	"github.com/loopgate/loopgate/limits"
)

// limitKeywords are the sshd_config-named limits. Each sets one field of
// Config.Limits; a field a file leaves out stays zero, which the gateway
// reads as its default (limits.Defaults).
var limitKeywords = []keyword{
	{"LoginGraceTime", 1, 0, false, limitDuration(func(l *limits.Limits) *time.Duration { return &l.LoginGraceTime }, false)},
	{"MaxStartups", 1, 0, false, func(p *parser, a []string) (err error) {
		p.cfg.Limits.MaxStartups, err = limits.ParseStartups(a[0])
		return err
	}},
	{"PerSourceMaxStartups", 1, 0, false, limitCount(func(l *limits.Limits) *int { return &l.PerSourceMaxStartups }, 100000, true)},
	{"PerSourceConnectRate", 1, 0, false, func(p *parser, a []string) (err error) {
		p.cfg.Limits.PerSourceConnectRate, err = limits.ParseRate(a[0])
		return err
	}},
	{"PerSourceNetBlockSize", 1, 0, false, func(p *parser, a []string) (err error) {
		p.cfg.Limits.PerSourceNetBlockSize, err = limits.ParseNetBlock(a[0])
		return err
	}},
	{"PerSourcePenalties", 1, 7, false, func(p *parser, a []string) (err error) {
		p.cfg.Limits.PerSourcePenalties, err = limits.ParsePenalties(a)
		return err
	}},
	{"MaxAuthTries", 1, 0, false, limitCount(func(l *limits.Limits) *int { return &l.MaxAuthTries }, 100, false)},
	{"MaxSessions", 1, 0, false, limitCount(func(l *limits.Limits) *int { return &l.MaxSessions }, 10000, false)},
	{"MaxConnections", 1, 0, false, limitCount(func(l *limits.Limits) *int { return &l.MaxConnections }, 100000, false)},
	{"MaxConnectionsPerKey", 1, 0, false, limitCount(func(l *limits.Limits) *int { return &l.MaxConnectionsPerKey }, 100000, false)},
	{"ChannelTimeout", 1, 0, false, channelTimeout},
	{"UnusedConnectionTimeout", 1, 0, false, limitDuration(func(l *limits.Limits) *time.Duration { return &l.UnusedConnectionTimeout }, true)},
	{"ClientAliveInterval", 1, 0, false, limitDuration(func(l *limits.Limits) *time.Duration { return &l.ClientAliveInterval }, true)},
	{"ClientAliveCountMax", 1, 0, false, limitCount(func(l *limits.Limits) *int { return &l.ClientAliveCountMax }, 100, false)},
}

// algorithmKeywords set the algorithm lists; AllowInsecureAlgorithms opts
// in to the weak ones.
var algorithmKeywords = []keyword{
	{string(keys.KexAlgorithms), 1, 0, false, algorithmList(keys.KexAlgorithms)},
	{string(keys.Ciphers), 1, 0, false, algorithmList(keys.Ciphers)},
	{string(keys.MACs), 1, 0, false, algorithmList(keys.MACs)},
	{string(keys.PubkeyAcceptedAlgorithms), 1, 0, false, algorithmList(keys.PubkeyAcceptedAlgorithms)},
	{"AllowInsecureAlgorithms", 1, 0, false, func(p *parser, a []string) error {
		switch a[0] {
		case "yes":
			p.cfg.AllowInsecureAlgorithms = true
		case "no":
		default:
			return fmt.Errorf("want yes or no, got %q", a[0])
		}
		return nil
	}},
}

func limitDuration(field func(*limits.Limits) *time.Duration, canBeOff bool) func(*parser, []string) error {
	return func(p *parser, a []string) error {
		d, err := limits.ParseDuration(a[0])
		if err != nil {
			return err
		}
		if d == limits.Off && !canBeOff {
			return errors.New("cannot be turned off")
		}
		*field(&p.cfg.Limits) = d
		return nil
	}
}

func limitCount(field func(*limits.Limits) *int, maxN int, canBeOff bool) func(*parser, []string) error {
	return func(p *parser, a []string) error {
		if a[0] == "none" && !canBeOff {
			return errors.New("cannot be turned off")
		}
		n, err := limits.ParseCount(a[0], maxN)
		if err != nil {
			return err
		}
		*field(&p.cfg.Limits) = n
		return nil
	}
}

// channelTimeout takes sshd's "direct-tcpip=DURATION" (or "*=DURATION"),
// or a bare duration; direct-tcpip is the only channel type the gateway opens.
func channelTimeout(p *parser, a []string) error {
	v := a[0]
	if typ, d, ok := strings.Cut(v, "="); ok {
		if typ != "direct-tcpip" && typ != "*" {
			return fmt.Errorf("channel type %q: the gateway opens only direct-tcpip", typ)
		}
		v = d
	}
	d, err := limits.ParseDuration(v)
	if err != nil {
		return err
	}
	p.cfg.Limits.ChannelTimeout = d
	return nil
}

func algorithmList(kind keys.AlgorithmKind) func(*parser, []string) error {
	return func(p *parser, a []string) error {
		list := strings.Split(a[0], ",")
		if err := keys.CheckAlgorithms(kind, list, true); err != nil { // weak ones are checked in finish
			return err
		}
		if p.cfg.Algorithms == nil {
			p.cfg.Algorithms = map[keys.AlgorithmKind][]string{}
		}
		p.cfg.Algorithms[kind] = list
		return nil
	}
}

// checkAlgorithms refuses weak algorithms unless AllowInsecureAlgorithms
// is set, wherever in the file that is.
func (p *parser) checkAlgorithms() error {
	for _, kind := range keys.AlgorithmKinds {
		list, ok := p.cfg.Algorithms[kind]
		if !ok {
			continue
		}
		if err := keys.CheckAlgorithms(kind, list, p.cfg.AllowInsecureAlgorithms); err != nil {
			return fmt.Errorf("%s:%d: %s: %w", p.name, p.seen[string(kind)], kind, err)
		}
	}
	return nil
}
