package tunnel

import (
	"strings"
	"testing"
)

func TestParseForwardSpec(t *testing.T) {
	tests := []struct {
		name, in string
		want     ForwardSpec
		err      string
	}{
		{"service only", "18081:nanomq", ForwardSpec{"127.0.0.1", 18081, "nanomq", 0}, ""},
		{"service and port", "18081:nanomq:8081", ForwardSpec{"127.0.0.1", 18081, "nanomq", 8081}, ""},
		{"bind and service", "127.0.0.2:18081:nanomq", ForwardSpec{"127.0.0.2", 18081, "nanomq", 0}, ""},
		{"all four", "localhost:18081:127.0.0.1:8081", ForwardSpec{"localhost", 18081, "127.0.0.1", 8081}, ""},
		{"ipv6", "[::1]:0:[::1]:8081", ForwardSpec{"::1", 0, "::1", 8081}, ""},
		{"address without port", "18081:127.0.0.1", ForwardSpec{}, "needs a port"},
		{"localhost without port", "18081:localhost", ForwardSpec{}, "needs a port"},
		{"bad local port", "x:nanomq:1", ForwardSpec{}, "local port"},
		{"port zero", "1:nanomq:0", ForwardSpec{}, "not a port"},
		{"port too big", "1:nanomq:65536", ForwardSpec{}, "not a port"},
		{"signed port", "1:nanomq:+80", ForwardSpec{}, "not a port"},
		{"empty host", "1::80", ForwardSpec{}, "invalid host"},
		{"space", "1:nano mq:80", ForwardSpec{}, "invalid host"},
		{"too many", "a:1:b:2:c", ForwardSpec{}, "want [BIND:]"},
		{"one part", "18081", ForwardSpec{}, "want [BIND:]"},
		{"unclosed bracket", "[::1:1:a", ForwardSpec{}, "unclosed"},
		{"trailing colon", "1:nanomq:", ForwardSpec{}, "not a port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseForwardSpec(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %+v, %v; want error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func FuzzParseForwardSpec(f *testing.F) {
	for _, s := range []string{"18081:nanomq", "127.0.0.1:1:nanomq:80", "[::1]:1:[::1]:2", "1::", "[", "a:b:c:d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := ParseForwardSpec(s)
		if err != nil {
			return
		}
		if spec.Host == "" || spec.Bind == "" || spec.LPort < 0 || spec.LPort > 65535 || spec.Port < 0 || spec.Port > 65535 {
			t.Fatalf("ParseForwardSpec(%q) = %+v: out of range", s, spec)
		}
		if strings.ContainsAny(spec.Host, " \x00\n") {
			t.Fatalf("ParseForwardSpec(%q): host %q has a control character", s, spec.Host)
		}
	})
}
