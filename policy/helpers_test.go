package policy

import (
	"net/netip"
	"testing"
)

// testServices are the services of testPolicy. nanomq and nanomq6 share
// port 8081, so "localhost:8081" is ambiguous.
var testServices = map[string]string{
	"nanomq":  "127.0.0.1:8081",
	"nanomq6": "[::1]:8081",
	"api":     "127.0.0.1:9000",
	"alt":     "127.0.0.2:9000",
	"six":     "[::1]:7000",
	"web":     "127.0.0.1:8080",
}

var testGrants = map[string][]string{
	"alice":    {"nanomq", "api", "web", "nanomq6"},
	"bob":      {"web"},
	"ops@site": {"six", "alt"},
}

// testPolicy returns a Policy with testServices and testGrants.
func testPolicy(t testing.TB) *Policy {
	t.Helper()
	var services []Service
	for name, addr := range testServices {
		s, err := ParseService(name, addr)
		if err != nil {
			t.Fatalf("ParseService(%q, %q): %v", name, addr, err)
		}
		services = append(services, s)
	}
	p, err := New(services, testGrants)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// mustService builds a Service without validation, for tests of New.
func mustService(t testing.TB, name, addr string) Service {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatalf("ParseAddrPort(%q): %v", addr, err)
	}
	return Service{Name: name, Addr: ap}
}
