package policy

import (
	"net/netip"
	"testing"
	"time"
)

// BenchmarkCheck is the policy half of every channel open: admit the key,
// then resolve the requested target to a granted service.
func BenchmarkCheck(b *testing.B) {
	nanomq, err := ParseService("nanomq", "127.0.0.1:8081")
	if err != nil {
		b.Fatal(err)
	}
	web, err := ParseService("web", "127.0.0.1:8080")
	if err != nil {
		b.Fatal(err)
	}
	p, err := New([]Service{nanomq, web}, map[string][]string{"alice": {"nanomq", "web"}})
	if err != nil {
		b.Fatal(err)
	}
	k := Key{Name: "alice", From: []string{"127.0.0.0/8", "10.*"}}
	src := netip.MustParseAddr("127.0.0.1")
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Admit(k, src, now); err != nil {
			b.Fatal(err)
		}
		if _, err := p.Check(k, "nanomq", 8081); err != nil {
			b.Fatal(err)
		}
	}
}
