package policy

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseService(t *testing.T) {
	tests := []struct {
		name    string
		svc     string
		addr    string
		want    string // Addr on success
		wantErr string // substring of the error; "" means success
	}{
		{name: "ipv4", svc: "nanomq", addr: "127.0.0.1:8081", want: "127.0.0.1:8081"},
		{name: "ipv6", svc: "web", addr: "[::1]:80", want: "[::1]:80"},
		{name: "ipv6 long form", svc: "web", addr: "[0:0:0:0:0:0:0:1]:80", want: "[::1]:80"},
		{name: "other loopback", svc: "x_y-1", addr: "127.0.0.2:1", want: "127.0.0.2:1"},
		{name: "top of range", svc: "a", addr: "127.255.255.254:65535", want: "127.255.255.254:65535"},
		{name: "32 char name", svc: strings.Repeat("a", 32), addr: "127.0.0.1:1", want: "127.0.0.1:1"},

		{name: "empty name", svc: "", addr: "127.0.0.1:80", wantErr: "name must be"},
		{name: "upper case name", svc: "Nanomq", addr: "127.0.0.1:80", wantErr: "name must be"},
		{name: "digit first", svc: "1abc", addr: "127.0.0.1:80", wantErr: "name must be"},
		{name: "dash first", svc: "-a", addr: "127.0.0.1:80", wantErr: "name must be"},
		{name: "33 char name", svc: strings.Repeat("a", 33), addr: "127.0.0.1:80", wantErr: "name must be"},
		{name: "dot in name", svc: "a.b", addr: "127.0.0.1:80", wantErr: "name may contain"},
		{name: "space in name", svc: "a b", addr: "127.0.0.1:80", wantErr: "name may contain"},
		{name: "localhost name", svc: "localhost", addr: "127.0.0.1:80", wantErr: "reserved"},

		{name: "not loopback", svc: "web", addr: "10.0.0.1:80", wantErr: `service "web": address "10.0.0.1:80" is not loopback`},
		{name: "unspecified v4", svc: "web", addr: "0.0.0.0:80", wantErr: "is not loopback"},
		{name: "unspecified v6", svc: "web", addr: "[::]:80", wantErr: "is not loopback"},
		{name: "localhost host", svc: "web", addr: "localhost:80", wantErr: `service "web": address "localhost:80": host must be a loopback IP address, not a name`},
		{name: "other name", svc: "web", addr: "example.com:80", wantErr: "not a name"},
		{name: "short v4", svc: "web", addr: "127.1:80", wantErr: "standard form"},
		{name: "decimal v4", svc: "web", addr: "2130706433:80", wantErr: "standard form"},
		{name: "hex v4", svc: "web", addr: "0x7f000001:80", wantErr: "standard form"},
		{name: "octal v4", svc: "web", addr: "0177.0.0.1:80", wantErr: "standard form"},
		{name: "port zero", svc: "web", addr: "127.0.0.1:0", wantErr: "port must be"},
		{name: "port too big", svc: "web", addr: "127.0.0.1:65536", wantErr: "port must be"},
		{name: "port sign", svc: "web", addr: "127.0.0.1:+80", wantErr: "port must be"},
		{name: "port space", svc: "web", addr: "127.0.0.1: 80", wantErr: "port must be"},
		{name: "no port", svc: "web", addr: "127.0.0.1", wantErr: "want IP:port"},
		{name: "empty", svc: "web", addr: "", wantErr: "want IP:port"},
		{name: "missing host", svc: "web", addr: ":80", wantErr: "missing host"},
		{name: "v6 without brackets", svc: "web", addr: "::1:80", wantErr: "brackets"},
		{name: "v6 zone", svc: "web", addr: "[::1%lo]:80", wantErr: "zone"},
		{name: "v4 mapped", svc: "web", addr: "[::ffff:127.0.0.1]:80", wantErr: "IPv4-mapped"},
		{name: "v4 in brackets", svc: "web", addr: "[127.0.0.1]:80", wantErr: "address"},
		{name: "leading space", svc: "web", addr: " 127.0.0.1:80", wantErr: "address"},
		{name: "trailing space", svc: "web", addr: "127.0.0.1:80 ", wantErr: "port must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseService(tt.svc, tt.addr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseService(%q, %q) error = %v, want containing %q", tt.svc, tt.addr, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseService(%q, %q): %v", tt.svc, tt.addr, err)
			}
			want := Service{Name: tt.svc, Addr: netip.MustParseAddrPort(tt.want)}
			if got != want {
				t.Errorf("ParseService(%q, %q) = %v, want %v", tt.svc, tt.addr, got, want)
			}
		})
	}
}

func TestParseServiceExactErrors(t *testing.T) {
	tests := []struct {
		name string
		addr string
		want string
	}{
		{name: "not loopback", addr: "10.0.0.1:80", want: `service "web": address "10.0.0.1:80" is not loopback`},
		{name: "name", addr: "localhost:80", want: `service "web": address "localhost:80": host must be a loopback IP address, not a name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseService("web", tt.addr)
			if err == nil || err.Error() != tt.want {
				t.Errorf("got %v, want %s", err, tt.want)
			}
		})
	}
}
