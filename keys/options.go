package keys

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// HostPort is one permitopen destination. Port -1 stands for "*" (any port).
type HostPort struct {
	Host string
	Port int
}

// String returns h as written in a permitopen option: "host:port", with an
// IPv6 host in brackets and "*" for port -1.
func (h HostPort) String() string {
	host := h.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	port := "*"
	if h.Port != -1 {
		port = strconv.Itoa(h.Port)
	}
	return host + ":" + port
}

// Options are the authorized_keys options of one line that matter to the
// gateway. Option names are matched without regard to case, as OpenSSH does.
//
// Accepted besides the fields below, with no effect because the gateway
// refuses the feature anyway: no-pty, pty, no-agent-forwarding,
// agent-forwarding, no-x11-forwarding, x11-forwarding, no-user-rc, user-rc.
// Any other option, and a second from= or expiry-time=, is an error.
//
// Restrict, PortForwarding and NoPortForwarding are recorded with OpenSSH's
// "last one wins" order already applied: restrict clears PortForwarding,
// port-forwarding clears NoPortForwarding and no-port-forwarding clears
// PortForwarding. So "port-forwarding,restrict" leaves forwarding disabled,
// as it is in sshd.
type Options struct {
	Restrict         bool       // "restrict" given
	PortForwarding   bool       // "port-forwarding" given after any restrict (re-enables forwarding)
	NoPortForwarding bool       // "no-port-forwarding" given after any port-forwarding
	From             []string   // from="a,b,!c" split on commas; nil if absent
	ExpiryTime       time.Time  // expiry-time=; zero if absent
	PermitOpen       []HostPort // permitopen= destinations in order; nil if absent
	NoTouchRequired  bool       // "no-touch-required" given
	VerifyRequired   bool       // "verify-required" given
}

// ForwardingDisabled reports whether sshd would refuse port forwarding for
// the key: no-port-forwarding, or restrict without port-forwarding.
func (o Options) ForwardingDisabled() bool {
	return o.NoPortForwarding || (o.Restrict && !o.PortForwarding)
}

// String returns the options field of an authorized_keys line in a fixed
// order, values quoted; "" when no option is set. An expiry time is written
// in UTC with second precision.
func (o Options) String() string {
	var opts []string
	flags := []struct {
		set  bool
		name string
	}{
		{o.Restrict, "restrict"},
		{o.PortForwarding, "port-forwarding"},
		{o.NoPortForwarding, "no-port-forwarding"},
		{o.NoTouchRequired, "no-touch-required"},
		{o.VerifyRequired, "verify-required"},
	}
	for _, f := range flags {
		if f.set {
			opts = append(opts, f.name)
		}
	}
	if len(o.From) > 0 {
		opts = append(opts, "from="+quote(strings.Join(o.From, ",")))
	}
	if !o.ExpiryTime.IsZero() {
		opts = append(opts, "expiry-time="+quote(o.ExpiryTime.UTC().Format(expiryLayout14)+"Z"))
	}
	for _, hp := range o.PermitOpen {
		opts = append(opts, "permitopen="+quote(hp.String()))
	}
	return strings.Join(opts, ",")
}

func quote(v string) string {
	return `"` + strings.ReplaceAll(v, `"`, `\"`) + `"`
}

// flagOptions are the options without a value, by lower-case name.
var flagOptions = map[string]func(*Options){
	"restrict":            func(o *Options) { o.Restrict, o.PortForwarding = true, false },
	"port-forwarding":     func(o *Options) { o.PortForwarding, o.NoPortForwarding = true, false },
	"no-port-forwarding":  func(o *Options) { o.NoPortForwarding, o.PortForwarding = true, false },
	"no-touch-required":   func(o *Options) { o.NoTouchRequired = true },
	"verify-required":     func(o *Options) { o.VerifyRequired = true },
	"no-pty":              func(*Options) {},
	"pty":                 func(*Options) {},
	"no-agent-forwarding": func(*Options) {},
	"agent-forwarding":    func(*Options) {},
	"no-x11-forwarding":   func(*Options) {},
	"x11-forwarding":      func(*Options) {},
	"no-user-rc":          func(*Options) {},
	"user-rc":             func(*Options) {},
}

// valueOptions are the options with a quoted value, by lower-case name.
var valueOptions = map[string]func(*Options, string) error{
	"from":        setFrom,
	"expiry-time": setExpiry,
	"permitopen":  addPermitOpen,
}

// unsupportedOptions are OpenSSH options the gateway refuses, with the reason.
var unsupportedOptions = map[string]string{
	"command":        "the gateway runs no commands",
	"environment":    "the gateway runs no sessions",
	"principals":     "certificates are not supported",
	"cert-authority": "certificates are not supported",
	"tunnel":         "tun forwarding is not supported",
	"permitlisten":   "remote forwarding is not supported",
}

// ParseOptions parses an authorized_keys options field, such as
// `restrict,port-forwarding,from="10.0.0.0/8"`, exactly as a line's options
// are parsed.
func ParseOptions(field string) (Options, error) {
	return parseOptions(field)
}

// parseOptions parses an options field the way sshd does: comma-separated
// names, values in double quotes (\" inside is a quote), no empty entries.
func parseOptions(field string) (Options, error) {
	var o Options
	for rest := field; rest != ""; {
		name, value, hasValue, next, err := nextOption(rest)
		if err != nil {
			return Options{}, err
		}
		if err := o.apply(name, value, hasValue); err != nil {
			return Options{}, err
		}
		rest = next
	}
	return o, nil
}

// nextOption splits the first option off s and returns the rest after its
// comma.
func nextOption(s string) (name, value string, hasValue bool, rest string, err error) {
	i := strings.IndexAny(s, "=,")
	if i < 0 {
		i = len(s)
	}
	name, rest = s[:i], s[i:]
	if name == "" {
		return "", "", false, "", errors.New("empty option")
	}
	if strings.HasPrefix(rest, "=") {
		hasValue = true
		if value, rest, err = dequote(rest[1:]); err != nil {
			return "", "", false, "", fmt.Errorf("option %q: %w", name, err)
		}
	}
	if rest == "" {
		return name, value, hasValue, "", nil
	}
	if rest[0] != ',' {
		return "", "", false, "", fmt.Errorf("option %q: unexpected text after the value", name)
	}
	if rest = rest[1:]; rest == "" {
		return "", "", false, "", errors.New("options end with a comma")
	}
	return name, value, hasValue, rest, nil
}

// dequote reads a double-quoted value at the start of s, where \" stands for a
// quote, and returns it and what follows the closing quote.
func dequote(s string) (value, rest string, err error) {
	if !strings.HasPrefix(s, `"`) {
		return "", "", errors.New("value must be in double quotes")
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch {
		case s[i] == '"':
			return b.String(), s[i+1:], nil
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '"':
			i++
		}
		b.WriteByte(s[i])
	}
	return "", "", errors.New("missing closing quote")
}

func (o *Options) apply(name, value string, hasValue bool) error {
	lower := strings.ToLower(name)
	if set, ok := flagOptions[lower]; ok {
		if hasValue {
			return fmt.Errorf("option %q takes no value", name)
		}
		set(o)
		return nil
	}
	if set, ok := valueOptions[lower]; ok {
		if !hasValue {
			return fmt.Errorf("option %q needs a value", name)
		}
		return set(o, value)
	}
	if why, ok := unsupportedOptions[lower]; ok {
		return fmt.Errorf("unsupported option %q: %s", name, why)
	}
	return fmt.Errorf("unknown option %q", name)
}

func setFrom(o *Options, value string) error {
	if o.From != nil {
		return errors.New(`option "from" given twice`)
	}
	patterns := strings.Split(value, ",")
	for _, p := range patterns {
		if err := checkFromPattern(p); err != nil {
			return fmt.Errorf("invalid from pattern %q: %w", p, err)
		}
	}
	o.From = patterns
	return nil
}

// checkFromPattern accepts an OpenSSH host or address pattern, optionally
// negated with a leading '!'; one with a '/' must be a CIDR prefix.
func checkFromPattern(p string) error {
	body := strings.TrimPrefix(p, "!")
	if body == "" {
		return errors.New("empty pattern")
	}
	if err := checkPatternChars(body, `"\!`); err != nil {
		return err
	}
	if strings.Contains(body, "/") {
		if _, err := netip.ParsePrefix(body); err != nil {
			return errors.New("not a valid CIDR prefix")
		}
	}
	return nil
}

// checkPatternChars accepts printable ASCII without blanks or the bytes in
// extra.
func checkPatternChars(s, extra string) error {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b <= ' ' || b >= 0x7f || strings.IndexByte(extra, b) >= 0 {
			return fmt.Errorf("character %q is not allowed", b)
		}
	}
	return nil
}

// Layouts of expiry-time values, by digit count.
const (
	expiryLayout8  = "20060102"
	expiryLayout12 = "200601021504"
	expiryLayout14 = "20060102150405"
)

func setExpiry(o *Options, value string) error {
	if !o.ExpiryTime.IsZero() {
		return errors.New(`option "expiry-time" given twice`)
	}
	t, err := parseExpiry(value)
	if err != nil {
		return fmt.Errorf("invalid expiry-time %q", value)
	}
	o.ExpiryTime = t
	return nil
}

// parseExpiry reads YYYYMMDD[HHMM[SS]] in local time, or in UTC with a
// trailing "Z" or "UTC" (either case), as sshd does. Times not after the Unix
// epoch are refused, as sshd refuses them.
func parseExpiry(v string) (time.Time, error) {
	digits, loc := v, time.Local
	switch {
	case len(v) > 1 && strings.EqualFold(v[len(v)-1:], "z"):
		digits, loc = v[:len(v)-1], time.UTC
	case len(v) > 3 && strings.EqualFold(v[len(v)-3:], "utc"):
		digits, loc = v[:len(v)-3], time.UTC
	}
	layouts := map[int]string{8: expiryLayout8, 12: expiryLayout12, 14: expiryLayout14}
	layout, ok := layouts[len(digits)]
	if !ok || strings.Trim(digits, "0123456789") != "" {
		return time.Time{}, errors.New("want YYYYMMDD[HHMM[SS]][Z]")
	}
	t, err := time.ParseInLocation(layout, digits, loc)
	if err != nil {
		return time.Time{}, err
	}
	if t.Unix() <= 0 || t.UTC().Year() > 9999 {
		return time.Time{}, errors.New("not between 1970 and 9999")
	}
	return t, nil
}

func addPermitOpen(o *Options, value string) error {
	hp, err := parseHostPort(value)
	if err != nil {
		return fmt.Errorf("invalid permitopen %q: %w", value, err)
	}
	o.PermitOpen = append(o.PermitOpen, hp)
	return nil
}

// parseHostPort reads "host:port" or "[host]:port", where port is 1-65535 or
// "*".
func parseHostPort(v string) (HostPort, error) {
	host, port, ok := strings.Cut(v, ":")
	if strings.HasPrefix(v, "[") {
		end := strings.IndexByte(v, ']')
		if end < 0 || !strings.HasPrefix(v[end+1:], ":") {
			return HostPort{}, errors.New("want [host]:port")
		}
		host, port, ok = v[1:end], v[end+2:], true
	}
	if !ok {
		return HostPort{}, errors.New("want host:port")
	}
	if host == "" {
		return HostPort{}, errors.New("empty host")
	}
	if err := checkPatternChars(host, `"\,[]/`); err != nil {
		return HostPort{}, err
	}
	n, err := parsePort(port)
	return HostPort{Host: host, Port: n}, err
}

func parsePort(s string) (int, error) {
	if s == "*" {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || strings.Trim(s, "0123456789") != "" || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q is not 1-65535 or *", s)
	}
	return n, nil
}
