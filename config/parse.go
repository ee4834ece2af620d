package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/loopgate/loopgate/keys"
	"github.com/loopgate/loopgate/policy"
)

type parser struct {
	name string
	dir  string
	cfg  *Config
	seen map[string]int // canonical keyword -> line it was first set on

	tokenLines map[string]int // service -> line of its Token
}

// keyword describes one config keyword: its canonical spelling, how many
// arguments it takes, whether it may repeat, and how to apply it.
type keyword struct {
	name    string
	args    int // required arguments
	options int // optional arguments after them
	repeat  bool
	apply   func(p *parser, args []string) error
}

var keywords = map[string]keyword{}

func init() {
	for _, k := range []keyword{
		{"Listen", 1, 0, false, (*parser).listen},
		{"HostKey", 1, 0, true, (*parser).hostKey},
		{"AuthorizedKeysFile", 1, 0, false, (*parser).authorizedKeys},
		{"Service", 2, 0, true, (*parser).service},
		{"Grant", 2, 0, true, (*parser).grant},
		{"TokenKey", 1, 0, false, (*parser).tokenKey},
		{"Token", 2, 2, true, (*parser).token},
		{"DialTimeout", 1, 0, false, durationField(func(c *Config) *time.Duration { return &c.DialTimeout })},
		{"DrainTimeout", 1, 0, false, durationField(func(c *Config) *time.Duration { return &c.DrainTimeout })},
	} {
		keywords[strings.ToLower(k.name)] = k
	}
	for _, k := range slices.Concat(limitKeywords, algorithmKeywords) {
		keywords[strings.ToLower(k.name)] = k
	}
}

func (p *parser) line(n int, line string) error {
	f := fields(line)
	if len(f) == 0 {
		return nil
	}
	k, ok := keywords[strings.ToLower(f[0])]
	if !ok {
		return fmt.Errorf("%s:%d: unknown keyword %q", p.name, n, f[0])
	}
	args := f[1:]
	if len(args) < k.args || len(args) > k.args+k.options {
		return fmt.Errorf("%s:%d: %s takes %s, got %d", p.name, n, k.name, argCount(k), len(args))
	}
	if first, dup := p.seen[k.name]; dup && !k.repeat {
		return fmt.Errorf("%s:%d: %s already set on line %d", p.name, n, k.name, first)
	}
	p.seen[k.name] = n
	if err := k.apply(p, args); err != nil {
		return fmt.Errorf("%s:%d: %s: %w", p.name, n, k.name, err)
	}
	return nil
}

func argCount(k keyword) string {
	if k.options == 0 {
		return fmt.Sprintf("%d argument(s)", k.args)
	}
	return fmt.Sprintf("%d to %d arguments", k.args, k.args+k.options)
}

func (p *parser) finish() (*Config, error) {
	c := p.cfg
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if len(c.HostKeys) == 0 {
		return nil, fmt.Errorf("%s: no HostKey", p.name)
	}
	if c.AuthorizedKeysFile == "" {
		return nil, fmt.Errorf("%s: no AuthorizedKeysFile", p.name)
	}
	if _, err := c.Policy(); err != nil {
		return nil, fmt.Errorf("%s: %w", p.name, err)
	}
	if err := p.checkAlgorithms(); err != nil {
		return nil, err
	}
	for svc, line := range p.tokenLines {
		if !slices.ContainsFunc(c.Services, func(s policy.Service) bool { return s.Name == svc }) {
			return nil, fmt.Errorf("%s:%d: Token: unknown service %q", p.name, line, svc)
		}
		if c.Tokens[svc].Kind != "none" && c.TokenKeyFile == "" {
			return nil, fmt.Errorf("%s:%d: Token: a token profile needs a TokenKey", p.name, line)
		}
	}
	return c, nil
}

func (p *parser) path(s string) string {
	if filepath.IsAbs(s) || p.dir == "" {
		return s
	}
	return filepath.Join(p.dir, s)
}

func (p *parser) listen(args []string) error {
	if err := ValidListen(args[0]); err != nil {
		return err
	}
	p.cfg.Listen = args[0]
	return nil
}

// ValidListen checks a listen address of the form [host]:port.
func ValidListen(addr string) error {
	host, port, err := splitHostPort(addr)
	if err != nil {
		return err
	}
	if strings.ContainsAny(host, "/%") {
		return fmt.Errorf("invalid listen host %q", host)
	}
	if port < 0 || port > 65535 {
		return fmt.Errorf("invalid listen port in %q", addr)
	}
	return nil
}

func (p *parser) hostKey(args []string) error {
	path := p.path(args[0])
	if slices.Contains(p.cfg.HostKeys, path) {
		return fmt.Errorf("%q listed twice", args[0])
	}
	p.cfg.HostKeys = append(p.cfg.HostKeys, path)
	return nil
}

func (p *parser) authorizedKeys(args []string) error {
	p.cfg.AuthorizedKeysFile = p.path(args[0])
	return nil
}

func (p *parser) service(args []string) error {
	s, err := policy.ParseService(args[0], args[1])
	if err != nil {
		return err
	}
	for _, o := range p.cfg.Services {
		if o.Name == s.Name {
			return fmt.Errorf("service %q defined twice", s.Name)
		}
		if o.Addr == s.Addr {
			return fmt.Errorf("services %q and %q share address %s", o.Name, s.Name, s.Addr)
		}
	}
	p.cfg.Services = append(p.cfg.Services, s)
	return nil
}

func (p *parser) grant(args []string) error {
	name := args[0]
	if !policy.ValidName(name) {
		return fmt.Errorf("invalid name %q", name)
	}
	if _, dup := p.cfg.Grants[name]; dup {
		return fmt.Errorf("%q granted twice; list all services on one line", name)
	}
	services, err := SplitServices(args[1])
	if err != nil {
		return err
	}
	p.cfg.Grants[name] = services
	return nil
}

// SplitServices parses a comma-separated list of service names.
func SplitServices(list string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(list, ",") {
		if s == "" {
			return nil, fmt.Errorf("empty service name in %q", list)
		}
		if slices.Contains(out, s) {
			return nil, fmt.Errorf("service %q listed twice", s)
		}
		out = append(out, s)
	}
	return out, nil
}

func durationField(field func(*Config) *time.Duration) func(*parser, []string) error {
	return func(p *parser, args []string) error {
		d, err := time.ParseDuration(args[0])
		if err != nil {
			return fmt.Errorf("invalid duration %q (use e.g. 5s, 2m)", args[0])
		}
		if d <= 0 || d > 24*time.Hour {
			return fmt.Errorf("duration %s out of range (0, 24h]", d)
		}
		*field(p.cfg) = d
		return nil
	}
}

func (p *parser) tokenKey(args []string) error {
	p.cfg.TokenKeyFile = p.path(args[0])
	return nil
}

// token parses `Token SERVICE nanomq|jwt|none [ttl=D] [iss=NAME]`.
func (p *parser) token(args []string) error {
	svc, kind := args[0], args[1]
	switch kind {
	case "nanomq", "jwt", "none":
	default:
		return fmt.Errorf("profile %q: want nanomq, jwt or none", kind)
	}
	if _, dup := p.tokenLines[svc]; dup {
		return fmt.Errorf("service %q already has a Token line", svc)
	}
	prof := keys.TokenProfile{Kind: kind}
	for _, opt := range args[2:] {
		k, v, ok := strings.Cut(opt, "=")
		switch {
		case ok && k == "ttl" && prof.TTL == 0:
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d > keys.MaxTokenTTL || d%time.Second != 0 {
				return fmt.Errorf("ttl=%s: want whole seconds up to %s", v, keys.MaxTokenTTL)
			}
			prof.TTL = d
		case ok && k == "iss" && prof.Issuer == "" && v != "":
			prof.Issuer = v
		default:
			return fmt.Errorf("option %q: want ttl=DURATION or iss=ISSUER, each at most once", opt)
		}
	}
	if p.tokenLines == nil {
		p.tokenLines = map[string]int{}
	}
	p.tokenLines[svc] = p.seen["Token"]
	p.cfg.Tokens[svc] = prof
	return nil
}
