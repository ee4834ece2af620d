package policy

import (
	"errors"
	"testing"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Target
		wantErr bool
	}{
		{name: "name", in: "nanomq:8081", want: Target{Host: "nanomq", Port: 8081}},
		{name: "any port", in: "localhost:*", want: Target{Host: "localhost", Port: AnyPort}},
		{name: "ipv4", in: "127.0.0.1:1", want: Target{Host: "127.0.0.1", Port: 1}},
		{name: "ipv6", in: "[::1]:8081", want: Target{Host: "::1", Port: 8081}},
		{name: "ipv6 any port", in: "[::1]:*", want: Target{Host: "::1", Port: AnyPort}},
		{name: "bracketed name", in: "[host]:80", want: Target{Host: "host", Port: 80}},
		{name: "max port", in: "host:65535", want: Target{Host: "host", Port: 65535}},
		{name: "star host is literal", in: "*:80", want: Target{Host: "*", Port: 80}},

		{name: "empty", in: "", wantErr: true},
		{name: "no port", in: "host", wantErr: true},
		{name: "empty port", in: "host:", wantErr: true},
		{name: "empty host", in: ":80", wantErr: true},
		{name: "port 0", in: "host:0", wantErr: true},
		{name: "port 65536", in: "host:65536", wantErr: true},
		{name: "port 4294967295", in: "host:4294967295", wantErr: true},
		{name: "negative port", in: "host:-1", wantErr: true},
		{name: "plus port", in: "host:+80", wantErr: true},
		{name: "space in port", in: "host:8 0", wantErr: true},
		{name: "double star", in: "host:**", wantErr: true},
		{name: "v6 without brackets", in: "::1:80", wantErr: true},
		{name: "brackets without port", in: "[::1]", wantErr: true},
		{name: "brackets without colon", in: "[::1]80", wantErr: true},
		{name: "brackets empty port", in: "[::1]:", wantErr: true},
		{name: "empty brackets", in: "[]:80", wantErr: true},
		{name: "nested bracket", in: "[[::1]:80", wantErr: true},
		{name: "stray bracket", in: "a]b:80", wantErr: true},
		{name: "space in host", in: "ho st:80", wantErr: true},
		{name: "nul in host", in: "host\x00:80", wantErr: true},
		{name: "non-ascii host", in: "h\u00e9:80", wantErr: true},
		{name: "tab in host", in: "\thost:80", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTarget(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseTarget(%q) = %+v, want error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTarget(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseTarget(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestTargetString(t *testing.T) {
	tests := []struct {
		name string
		in   Target
		want string
	}{
		{name: "name", in: Target{Host: "nanomq", Port: 8081}, want: "nanomq:8081"},
		{name: "any port", in: Target{Host: "localhost", Port: AnyPort}, want: "localhost:*"},
		{name: "ipv6", in: Target{Host: "::1", Port: 80}, want: "[::1]:80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	p := testPolicy(t)
	tests := []struct {
		name    string
		host    string
		port    uint32
		want    string // service name on success
		wantErr error
	}{
		{name: "by name", host: "nanomq", port: 8081, want: "nanomq"},
		{name: "by name v6 service", host: "nanomq6", port: 8081, want: "nanomq6"},
		{name: "name wrong port", host: "nanomq", port: 8080, wantErr: ErrUnknownService},
		{name: "localhost v4", host: "localhost", port: 8080, want: "web"},
		{name: "localhost v6", host: "localhost", port: 7000, want: "six"},
		{name: "localhost ignores 127.0.0.2", host: "localhost", port: 9000, want: "api"},
		{name: "localhost ambiguous", host: "localhost", port: 8081, wantErr: ErrUnknownService},
		{name: "localhost no service", host: "localhost", port: 22, wantErr: ErrUnknownService},
		{name: "v4 literal", host: "127.0.0.1", port: 8080, want: "web"},
		{name: "v4 literal with v6 sibling", host: "127.0.0.1", port: 8081, want: "nanomq"},
		{name: "v6 literal with v4 sibling", host: "::1", port: 8081, want: "nanomq6"},
		{name: "other loopback literal", host: "127.0.0.2", port: 9000, want: "alt"},
		{name: "v6 literal", host: "::1", port: 7000, want: "six"},
		{name: "v6 literal long form", host: "0:0:0:0:0:0:0:1", port: 7000, want: "six"},

		{name: "port 0", host: "web", port: 0, wantErr: ErrBadPort},
		{name: "port 65536", host: "web", port: 65536, wantErr: ErrBadPort},
		{name: "port max uint32", host: "web", port: 4294967295, wantErr: ErrBadPort},
		{name: "literal port 65536", host: "127.0.0.1", port: 65536 + 8080, wantErr: ErrBadPort},

		{name: "short v4", host: "127.1", port: 8080, wantErr: ErrUnknownService},
		{name: "decimal v4", host: "2130706433", port: 8080, wantErr: ErrUnknownService},
		{name: "hex v4", host: "0x7f000001", port: 8080, wantErr: ErrUnknownService},
		{name: "octal v4", host: "0177.0.0.1", port: 8080, wantErr: ErrUnknownService},
		{name: "zero padded v4", host: "127.000.000.001", port: 8080, wantErr: ErrUnknownService},
		{name: "wrong loopback", host: "127.0.0.2", port: 8080, wantErr: ErrUnknownService},
		{name: "v6 when only v4", host: "::1", port: 8080, wantErr: ErrUnknownService},
		{name: "v4 when only v6", host: "127.0.0.1", port: 7000, wantErr: ErrUnknownService},
		{name: "v4 mapped", host: "::ffff:127.0.0.1", port: 8080, wantErr: ErrUnknownService},
		{name: "v4 mapped hex", host: "::ffff:7f00:1", port: 8080, wantErr: ErrUnknownService},
		{name: "v4 compatible", host: "::127.0.0.1", port: 8080, wantErr: ErrUnknownService},
		{name: "localhost trailing dot", host: "localhost.", port: 8080, wantErr: ErrUnknownService},
		{name: "localhost upper", host: "LOCALHOST", port: 8080, wantErr: ErrUnknownService},
		{name: "localhost mixed", host: "Localhost", port: 8080, wantErr: ErrUnknownService},
		{name: "localhost subdomain", host: "localhost.localdomain", port: 8080, wantErr: ErrUnknownService},
		{name: "name mixed case", host: "NanoMQ", port: 8081, wantErr: ErrUnknownService},
		{name: "name trailing dot", host: "nanomq.", port: 8081, wantErr: ErrUnknownService},
		{name: "name with nul", host: "nanomq\x00", port: 8081, wantErr: ErrUnknownService},
		{name: "name nul inside", host: "web\x00evil", port: 8080, wantErr: ErrUnknownService},
		{name: "name trailing space", host: "nanomq ", port: 8081, wantErr: ErrUnknownService},
		{name: "name leading space", host: " nanomq", port: 8081, wantErr: ErrUnknownService},
		{name: "name newline", host: "web\n", port: 8080, wantErr: ErrUnknownService},
		{name: "bracketed v6", host: "[::1]", port: 7000, wantErr: ErrUnknownService},
		{name: "v6 with zone", host: "::1%lo", port: 7000, wantErr: ErrUnknownService},
		{name: "host with port", host: "127.0.0.1:8080", port: 8080, wantErr: ErrUnknownService},
		{name: "empty", host: "", port: 8080, wantErr: ErrUnknownService},
		{name: "star", host: "*", port: 8080, wantErr: ErrUnknownService},
		{name: "unspecified", host: "0.0.0.0", port: 8080, wantErr: ErrUnknownService},
		{name: "remote", host: "10.0.0.1", port: 8080, wantErr: ErrUnknownService},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Resolve(tt.host, tt.port)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Resolve(%q, %d) = %v, %v; want error %v", tt.host, tt.port, got, err, tt.wantErr)
				}
				if got != (Service{}) {
					t.Errorf("Resolve(%q, %d) returned %v with its error, want zero Service", tt.host, tt.port, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve(%q, %d): %v", tt.host, tt.port, err)
			}
			want, _ := p.Service(tt.want)
			if got != want {
				t.Errorf("Resolve(%q, %d) = %v, want %v", tt.host, tt.port, got, want)
			}
		})
	}
}

func TestResolveNilPolicy(t *testing.T) {
	var p *Policy
	if _, err := p.Resolve("localhost", 80); !errors.Is(err, ErrUnknownService) {
		t.Errorf("got %v, want %v", err, ErrUnknownService)
	}
}
