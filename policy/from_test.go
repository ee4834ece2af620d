package policy

import (
	"net/netip"
	"testing"
)

func TestMatchFrom(t *testing.T) {
	tests := []struct {
		name     string
		patterns []string
		addr     string // "" means the zero Addr
		want     bool
	}{
		{name: "wildcard star", patterns: []string{"127.0.0.*"}, addr: "127.0.0.5", want: true},
		{name: "wildcard star miss", patterns: []string{"127.0.0.*"}, addr: "127.0.1.5"},
		{name: "wildcard question", patterns: []string{"192.168.1.?"}, addr: "192.168.1.7", want: true},
		{name: "wildcard question one char", patterns: []string{"192.168.1.?"}, addr: "192.168.1.17"},
		{name: "negation denies", patterns: []string{"127.0.0.*", "!127.0.0.3"}, addr: "127.0.0.3"},
		{name: "negation order irrelevant", patterns: []string{"!127.0.0.3", "127.0.0.*"}, addr: "127.0.0.3"},
		{name: "negation other addr", patterns: []string{"127.0.0.*", "!127.0.0.3"}, addr: "127.0.0.4", want: true},
		{name: "negation alone allows nothing", patterns: []string{"!127.0.0.3"}, addr: "127.0.0.4"},
		{name: "negated cidr", patterns: []string{"*", "!10.0.0.0/8"}, addr: "10.9.9.9"},
		{name: "negated cidr other", patterns: []string{"*", "!10.0.0.0/8"}, addr: "192.0.2.1", want: true},
		{name: "exact beats negated cidr", patterns: []string{"1.2.3.4", "!1.2.3.0/24"}, addr: "1.2.3.4"},
		{name: "star", patterns: []string{"*"}, addr: "192.0.2.1", want: true},
		{name: "star not star", patterns: []string{"*", "!*"}, addr: "192.0.2.1"},
		{name: "cidr v4", patterns: []string{"10.0.0.0/8"}, addr: "10.1.2.3", want: true},
		{name: "cidr v4 miss", patterns: []string{"10.0.0.0/8"}, addr: "11.0.0.1"},
		{name: "cidr v4 host", patterns: []string{"10.0.0.1/32"}, addr: "10.0.0.1", want: true},
		{name: "cidr v4 mapped addr", patterns: []string{"10.0.0.0/8"}, addr: "::ffff:10.1.2.3", want: true},
		{name: "cidr v4 vs v6 addr", patterns: []string{"10.0.0.0/8"}, addr: "2001:db8::1"},
		{name: "cidr v6", patterns: []string{"2001:db8::/32"}, addr: "2001:db8::1", want: true},
		{name: "cidr v6 miss", patterns: []string{"2001:db8::/32"}, addr: "2001:db9::1"},
		{name: "cidr v6 zoned addr", patterns: []string{"fe80::/10"}, addr: "fe80::1%eth0", want: true},
		{name: "literal v6 long form", patterns: []string{"0:0:0:0:0:0:0:1"}, addr: "::1", want: true},
		{name: "negated literal long form", patterns: []string{"*", "!0:0:0:0:0:0:0:1"}, addr: "::1"},
		{name: "literal zoned addr", patterns: []string{"fe80::1"}, addr: "fe80::1%eth0", want: true},
		{name: "wildcard v6 upper case", patterns: []string{"2001:DB8::*"}, addr: "2001:db8::1", want: true},
		{name: "wildcard mapped addr", patterns: []string{"192.0.2.*"}, addr: "::ffff:192.0.2.1", want: true},
		{name: "name never matches", patterns: []string{"host.example.com"}, addr: "192.0.2.1"},
		{name: "empty list", patterns: nil, addr: "192.0.2.1"},
		{name: "invalid addr", patterns: []string{"*"}, addr: ""},

		{name: "empty pattern fails closed", patterns: []string{"*", ""}, addr: "192.0.2.1"},
		{name: "bare bang fails closed", patterns: []string{"*", "!"}, addr: "192.0.2.1"},
		{name: "host bits fail closed", patterns: []string{"10.0.0.1/8"}, addr: "10.0.0.1"},
		{name: "negated host bits fail closed", patterns: []string{"*", "!10.0.0.1/8"}, addr: "192.0.2.1"},
		{name: "bad mask fails closed", patterns: []string{"*", "10.0.0.0/33"}, addr: "192.0.2.1"},
		{name: "mapped literal fails closed", patterns: []string{"::ffff:10.0.0.1"}, addr: "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var addr netip.Addr
			if tt.addr != "" {
				addr = netip.MustParseAddr(tt.addr)
			}
			if got := MatchFrom(tt.patterns, addr); got != tt.want {
				t.Errorf("MatchFrom(%q, %v) = %v, want %v", tt.patterns, addr, got, tt.want)
			}
		})
	}
}

func TestValidFromPattern(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		wantErr bool
	}{
		{name: "cidr v4", pattern: "10.0.0.0/8"},
		{name: "negated cidr", pattern: "!10.0.0.0/8"},
		{name: "cidr v6", pattern: "2001:db8::/32"},
		{name: "wildcard", pattern: "127.0.0.*"},
		{name: "negated wildcard", pattern: "!192.168.1.?"},
		{name: "star", pattern: "*"},
		{name: "literal v6", pattern: "::1"},
		{name: "name", pattern: "host.example.com"},

		{name: "empty", pattern: "", wantErr: true},
		{name: "bare bang", pattern: "!", wantErr: true},
		{name: "double bang", pattern: "!!x", wantErr: true},
		{name: "host bits", pattern: "10.0.0.1/8", wantErr: true},
		{name: "host bits v6", pattern: "2001:db8::1/32", wantErr: true},
		{name: "bad mask", pattern: "10.0.0.0/33", wantErr: true},
		{name: "wildcard cidr", pattern: "10.0.0.*/8", wantErr: true},
		{name: "space", pattern: "a b", wantErr: true},
		{name: "comma", pattern: "a,b", wantErr: true},
		{name: "double quote", pattern: `"x"`, wantErr: true},
		{name: "single quote", pattern: "'x'", wantErr: true},
		{name: "nul", pattern: "x\x00", wantErr: true},
		{name: "non-ascii", pattern: "h\u00e9", wantErr: true},
		{name: "zone", pattern: "fe80::1%eth0", wantErr: true},
		{name: "mapped literal", pattern: "::ffff:10.0.0.1", wantErr: true},
		{name: "mapped cidr", pattern: "::ffff:10.0.0.0/104", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidFromPattern(tt.pattern)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Errorf("ValidFromPattern(%q) = %v, want error %v", tt.pattern, err, tt.wantErr)
			}
		})
	}
}

func TestWildcard(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		s       string
		want    bool
	}{
		{name: "empty both", pattern: "", s: "", want: true},
		{name: "star empty", pattern: "*", s: "", want: true},
		{name: "empty pattern", pattern: "", s: "a"},
		{name: "question empty", pattern: "?", s: ""},
		{name: "backtrack", pattern: "*a*b", s: "xaxxab", want: true},
		{name: "backtrack miss", pattern: "*a*b", s: "xaxxa"},
		{name: "trailing stars", pattern: "a**", s: "a", want: true},
		{name: "exact", pattern: "1.2.3.4", s: "1.2.3.4", want: true},
		{name: "prefix only", pattern: "1.2.3.4", s: "1.2.3.45"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := wildcard(tt.pattern, tt.s); got != tt.want {
				t.Errorf("wildcard(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
			}
		})
	}
}
