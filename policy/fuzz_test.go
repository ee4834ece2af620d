package policy

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// nastyHosts are direct-tcpip host spellings that must select nothing, or
// only what they literally say. They seed the fuzz corpora.
var nastyHosts = []string{
	"", "nanomq", "NanoMQ", "nanomq.", "nanomq\x00", "nanomq ", " nanomq", "web\x00evil",
	"localhost", "localhost.", "LOCALHOST", "Localhost", "localhost.localdomain",
	"127.0.0.1", "127.0.0.2", "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "127.000.000.001",
	"::1", "[::1]", "::1%lo", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "::ffff:7f00:1", "::127.0.0.1",
	"127.0.0.1:8080", "*", "0.0.0.0", "::", "10.0.0.1",
}

func FuzzResolve(f *testing.F) {
	for _, h := range nastyHosts {
		for _, port := range []uint32{0, 7000, 8080, 8081, 9000, 65535, 65536, 4294967295} {
			f.Add(h, port)
		}
	}
	p := testPolicy(f)
	services := p.Services()
	f.Fuzz(func(t *testing.T, host string, port uint32) {
		s, err := p.Resolve(host, port)
		if err != nil {
			if !errors.Is(err, ErrUnknownService) && !errors.Is(err, ErrBadPort) {
				t.Fatalf("Resolve(%q, %d): unexpected error %v", host, port, err)
			}
			return
		}
		if !slices.Contains(services, s) {
			t.Fatalf("Resolve(%q, %d) = %v, not a configured service", host, port, s)
		}
		if !s.Addr.Addr().IsLoopback() || uint32(s.Addr.Port()) != port {
			t.Fatalf("Resolve(%q, %d) = %v, want loopback on port %d", host, port, s, port)
		}
		ip, ipErr := netip.ParseAddr(host)
		if host != s.Name && host != "localhost" && (ipErr != nil || ip != s.Addr.Addr()) {
			t.Fatalf("Resolve(%q, %d) = %v, but host is not its name, localhost or its IP", host, port, s)
		}
	})
}

func FuzzCheck(f *testing.F) {
	for _, h := range nastyHosts {
		f.Add("alice", h, uint32(8081), false, "")
		f.Add("bob", h, uint32(8080), false, "localhost:*")
	}
	f.Add("alice", "nanomq", uint32(8081), true, "")
	f.Add("alice", "api", uint32(9000), false, "nanomq:*,127.0.0.1:9000")
	f.Add("ops@site", "::1", uint32(7000), false, "[::1]:*")
	p := testPolicy(f)
	f.Fuzz(func(t *testing.T, name, host string, port uint32, noPF bool, permit string) {
		k := Key{Name: name, NoPortForwarding: noPF}
		for _, e := range strings.Split(permit, ",") {
			if tg, err := ParseTarget(e); err == nil {
				k.PermitOpen = append(k.PermitOpen, tg)
			}
		}
		s, err := p.Check(k, host, port)
		if err != nil {
			return
		}
		if noPF {
			t.Fatalf("Check allowed %q with no-port-forwarding", s.Name)
		}
		if !slices.Contains(p.Granted(name), s.Name) {
			t.Fatalf("Check(%q, %q, %d) = %v, not granted to %q", name, host, port, s, name)
		}
		if r, err := p.Resolve(host, port); err != nil || r != s {
			t.Fatalf("Check(%q, %d) = %v, but Resolve = %v, %v", host, port, s, r, err)
		}
		if len(k.PermitOpen) > 0 && !p.permitted(k.PermitOpen, s) {
			t.Fatalf("Check(%q, %d) = %v, not in permitopen %v", host, port, s, k.PermitOpen)
		}
	})
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{
		"nanomq:8081", "localhost:*", "[::1]:8081", "[::1]:*", "*:80", "::1:80", "[::1]", "[]:80",
		"host:0", "host:65536", "host:4294967295", "host:+80", "[[::1]:80", "a]b:80", "ho st:80", "h\u00e9:80",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseTarget(s)
		if err != nil {
			return
		}
		if tg.Host == "" || strings.ContainsAny(tg.Host, "[] ") {
			t.Fatalf("ParseTarget(%q) host = %q", s, tg.Host)
		}
		for i := 0; i < len(tg.Host); i++ {
			if !isGraphic(tg.Host[i]) {
				t.Fatalf("ParseTarget(%q) host %q has byte %#x", s, tg.Host, tg.Host[i])
			}
		}
		if tg.Port != AnyPort && (tg.Port < 1 || tg.Port > 65535) {
			t.Fatalf("ParseTarget(%q) port = %d", s, tg.Port)
		}
		again, err := ParseTarget(tg.String())
		if err != nil || again != tg {
			t.Fatalf("ParseTarget(%q) = %+v; round trip via %q = %+v, %v", s, tg, tg.String(), again, err)
		}
	})
}

func FuzzMatchFrom(f *testing.F) {
	for _, s := range []struct{ patterns, addr string }{
		{"127.0.0.*,!127.0.0.3", "127.0.0.3"},
		{"10.0.0.0/8", "::ffff:10.1.2.3"},
		{"*,!10.0.0.1/8", "192.0.2.1"},
		{"2001:DB8::*", "2001:db8::1"},
		{"fe80::/10", "fe80::1%eth0"},
		{"!,*", "::1"},
		{"*a*b*c*d*e*f*", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff"},
	} {
		f.Add(s.patterns, s.addr)
	}
	f.Fuzz(func(t *testing.T, list, addrStr string) {
		patterns := strings.Split(list, ",")
		addr, _ := netip.ParseAddr(addrStr) // the zero Addr on error
		got := MatchFrom(patterns, addr)
		if got && !addr.IsValid() {
			t.Fatalf("MatchFrom(%q, invalid) = true", patterns)
		}
		if got {
			for _, p := range patterns {
				if err := ValidFromPattern(p); err != nil {
					t.Fatalf("MatchFrom(%q, %v) = true with invalid pattern: %v", patterns, addr, err)
				}
			}
		}
		if !addr.IsValid() {
			return
		}
		own := "!" + addr.WithZone("").Unmap().String()
		if MatchFrom(append(slices.Clone(patterns), own), addr) {
			t.Fatalf("MatchFrom(%q + %q, %v) = true, want false", patterns, own, addr)
		}
		if !MatchFrom([]string{"*"}, addr) {
			t.Fatalf("MatchFrom([*], %v) = false, want true", addr)
		}
	})
}
