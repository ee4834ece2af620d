package policy

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{name: "simple", in: "alice", want: true},
		{name: "email like", in: "ops@site.example", want: true},
		{name: "all punctuation", in: "A1._@+-z", want: true},
		{name: "digit first", in: "1alice", want: true},
		{name: "64 chars", in: strings.Repeat("a", 64), want: true},
		{name: "empty", in: ""},
		{name: "65 chars", in: strings.Repeat("a", 65)},
		{name: "dot first", in: ".alice"},
		{name: "dash first", in: "-alice"},
		{name: "space", in: "al ice"},
		{name: "slash", in: "al/ice"},
		{name: "colon", in: "al:ice"},
		{name: "nul", in: "alice\x00"},
		{name: "non-ascii", in: "al\u00efce"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidName(tt.in); got != tt.want {
				t.Errorf("ValidName(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name     string
		services []Service
		grants   map[string][]string
		wantErr  string // "" means success
	}{
		{
			name:     "valid",
			services: []Service{mustService(t, "web", "127.0.0.1:80"), mustService(t, "web6", "[::1]:80")},
			grants:   map[string][]string{"alice": {"web", "web6"}, "bob": nil},
		},
		{name: "empty", services: nil, grants: nil},
		{
			name:     "duplicate name",
			services: []Service{mustService(t, "web", "127.0.0.1:80"), mustService(t, "web", "127.0.0.1:81")},
			wantErr:  `service "web": defined more than once`,
		},
		{
			name:     "duplicate address",
			services: []Service{mustService(t, "web", "127.0.0.1:80"), mustService(t, "www", "127.0.0.1:80")},
			wantErr:  `service "www": address 127.0.0.1:80 already used by service "web"`,
		},
		{
			name:     "unknown service",
			services: []Service{mustService(t, "web", "127.0.0.1:80")},
			grants:   map[string][]string{"alice": {"web", "foo"}},
			wantErr:  `grant "alice": unknown service "foo"`,
		},
		{
			name:     "invalid grant name",
			services: []Service{mustService(t, "web", "127.0.0.1:80")},
			grants:   map[string][]string{"al ice": {"web"}},
			wantErr:  `grant "al ice": invalid identity name`,
		},
		{
			name:     "not loopback",
			services: []Service{mustService(t, "web", "10.0.0.1:80")},
			wantErr:  `service "web": address "10.0.0.1:80" is not loopback`,
		},
		{
			name:     "mapped",
			services: []Service{mustService(t, "web", "[::ffff:127.0.0.1]:80")},
			wantErr:  "IPv4-mapped",
		},
		{
			name:     "zone",
			services: []Service{mustService(t, "web", "[::1%lo]:80")},
			wantErr:  "zone",
		},
		{
			name:     "port zero",
			services: []Service{mustService(t, "web", "127.0.0.1:0")},
			wantErr:  "port must be",
		},
		{name: "zero service", services: []Service{{}}, wantErr: "name must be"},
		{
			name:     "bad service name",
			services: []Service{mustService(t, "localhost", "127.0.0.1:80")},
			wantErr:  "reserved",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.services, tt.grants)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New error = %v, want containing %q", err, tt.wantErr)
				}
				if p != nil {
					t.Errorf("New returned a Policy with its error")
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
		})
	}
}

func TestPolicyAccessors(t *testing.T) {
	in := []Service{mustService(t, "web", "127.0.0.1:80"), mustService(t, "api", "127.0.0.1:81")}
	grants := map[string][]string{"alice": {"web", "api", "web"}}
	p, err := New(in, grants)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	in[0].Addr = netip.MustParseAddrPort("10.0.0.1:80") // New must have copied
	grants["alice"][0] = "nope"

	got := p.Services()
	names := []string{got[0].Name, got[1].Name}
	if want := []string{"api", "web"}; !slices.Equal(names, want) {
		t.Errorf("Services() names = %v, want %v", names, want)
	}
	got[0].Name = "changed"
	if s, ok := p.Service("web"); !ok || s.Addr.String() != "127.0.0.1:80" {
		t.Errorf("Service(web) = %v, %v, want 127.0.0.1:80, true", s, ok)
	}
	if _, ok := p.Service("changed"); ok {
		t.Errorf("Services() returned shared memory")
	}
	g := p.Granted("alice")
	if want := []string{"api", "web"}; !slices.Equal(g, want) {
		t.Errorf("Granted(alice) = %v, want %v", g, want)
	}
	g[0] = "changed"
	if g := p.Granted("alice"); g[0] != "api" {
		t.Errorf("Granted returned shared memory: %v", g)
	}
	if g := p.Granted("bob"); len(g) != 0 {
		t.Errorf("Granted(bob) = %v, want empty", g)
	}
}

func TestNilPolicy(t *testing.T) {
	var p *Policy
	if s := p.Services(); len(s) != 0 {
		t.Errorf("Services() = %v, want empty", s)
	}
	if _, ok := p.Service("web"); ok {
		t.Errorf("Service(web) found on nil Policy")
	}
	if g := p.Granted("alice"); len(g) != 0 {
		t.Errorf("Granted(alice) = %v, want empty", g)
	}
	if _, err := p.Check(Key{Name: "alice"}, "web", 80); !errors.Is(err, ErrUnknownService) {
		t.Errorf("Check on nil Policy: got %v, want %v", err, ErrUnknownService)
	}
}

func TestAdmit(t *testing.T) {
	p := testPolicy(t)
	expiry := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	src := netip.MustParseAddr("192.0.2.10")
	tests := []struct {
		name    string
		key     Key
		src     netip.Addr
		now     time.Time
		wantErr error
	}{
		{name: "no limits", key: Key{Name: "alice"}, src: src, now: expiry},
		{name: "no limits zero src", key: Key{Name: "alice"}, now: expiry},
		{name: "before expiry", key: Key{Expiry: expiry}, src: src, now: expiry.Add(-time.Nanosecond)},
		{name: "at expiry", key: Key{Expiry: expiry}, src: src, now: expiry, wantErr: ErrExpired},
		{name: "after expiry", key: Key{Expiry: expiry}, src: src, now: expiry.Add(time.Hour), wantErr: ErrExpired},
		{name: "at expiry other zone", key: Key{Expiry: expiry}, src: src, now: expiry.In(time.FixedZone("x", 3600)), wantErr: ErrExpired},
		{name: "from allows", key: Key{From: []string{"192.0.2.0/24"}}, src: src, now: expiry},
		{name: "from denies", key: Key{From: []string{"198.51.100.0/24"}}, src: src, now: expiry, wantErr: ErrSourceDenied},
		{name: "from negated", key: Key{From: []string{"192.0.2.*", "!192.0.2.10"}}, src: src, now: expiry, wantErr: ErrSourceDenied},
		{name: "from zero src", key: Key{From: []string{"*"}}, now: expiry, wantErr: ErrSourceDenied},
		{name: "from empty pattern", key: Key{From: []string{""}}, src: src, now: expiry, wantErr: ErrSourceDenied},
		{name: "empty from slice", key: Key{From: []string{}}, src: src, now: expiry},
		{
			name:    "expired beats source",
			key:     Key{Expiry: expiry, From: []string{"10.0.0.0/8"}},
			src:     src,
			now:     expiry,
			wantErr: ErrExpired,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Admit(tt.key, tt.src, tt.now)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Admit: got %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	p := testPolicy(t)
	target := func(s string) Target {
		tg, err := ParseTarget(s)
		if err != nil {
			t.Fatalf("ParseTarget(%q): %v", s, err)
		}
		return tg
	}
	alice := func(permit ...string) Key {
		k := Key{Name: "alice"}
		for _, s := range permit {
			k.PermitOpen = append(k.PermitOpen, target(s))
		}
		return k
	}
	tests := []struct {
		name    string
		key     Key
		host    string
		port    uint32
		want    string // service name on success
		wantErr error
	}{
		{name: "granted", key: alice(), host: "nanomq", port: 8081, want: "nanomq"},
		{name: "granted by literal", key: alice(), host: "127.0.0.1", port: 9000, want: "api"},
		{name: "not granted", key: Key{Name: "bob"}, host: "nanomq", port: 8081, wantErr: ErrNotGranted},
		{name: "unknown identity", key: Key{Name: "mallory"}, host: "web", port: 8080, wantErr: ErrNotGranted},
		{name: "empty identity", key: Key{}, host: "web", port: 8080, wantErr: ErrNotGranted},
		{name: "grant is case sensitive", key: Key{Name: "Alice"}, host: "web", port: 8080, wantErr: ErrNotGranted},
		{name: "forwarding disabled", key: Key{Name: "alice", NoPortForwarding: true}, host: "web", port: 8080, wantErr: ErrForwardingDisabled},
		{name: "forwarding disabled first", key: Key{Name: "alice", NoPortForwarding: true}, host: "nope", port: 0, wantErr: ErrForwardingDisabled},
		{name: "unknown service", key: alice(), host: "nope", port: 8080, wantErr: ErrUnknownService},
		{name: "bad port", key: alice(), host: "web", port: 65536, wantErr: ErrBadPort},
		{name: "resolve before grant", key: Key{Name: "bob"}, host: "127.1", port: 8080, wantErr: ErrUnknownService},

		{name: "permitopen name", key: alice("web:8080"), host: "127.0.0.1", port: 8080, want: "web"},
		{name: "permitopen name wrong port", key: alice("web:8081"), host: "web", port: 8080, wantErr: ErrNotPermitted},
		{name: "permitopen localhost", key: alice("localhost:8080"), host: "web", port: 8080, want: "web"},
		{name: "permitopen localhost ambiguous", key: alice("localhost:8081"), host: "nanomq", port: 8081, wantErr: ErrNotPermitted},
		{name: "permitopen localhost any ambiguous", key: alice("localhost:*"), host: "nanomq", port: 8081, wantErr: ErrNotPermitted},
		{name: "permitopen localhost any", key: alice("localhost:*"), host: "api", port: 9000, want: "api"},
		{name: "permitopen name any port", key: alice("nanomq:*"), host: "nanomq", port: 8081, want: "nanomq"},
		{name: "permitopen name any other service", key: alice("nanomq:*"), host: "api", port: 9000, wantErr: ErrNotPermitted},
		{name: "permitopen literal any", key: alice("127.0.0.1:*"), host: "nanomq", port: 8081, want: "nanomq"},
		{name: "permitopen literal v4 not v6", key: alice("127.0.0.1:*"), host: "nanomq6", port: 8081, wantErr: ErrNotPermitted},
		{name: "permitopen v6 literal", key: alice("[::1]:8081"), host: "localhost", port: 8081, wantErr: ErrUnknownService},
		{name: "permitopen v6 literal by name", key: alice("[::1]:8081"), host: "nanomq6", port: 8081, want: "nanomq6"},
		{name: "permitopen literal wrong port", key: alice("127.0.0.1:9001"), host: "api", port: 9000, wantErr: ErrNotPermitted},
		{name: "permitopen mapped literal", key: alice("[::ffff:127.0.0.1]:*"), host: "api", port: 9000, wantErr: ErrNotPermitted},
		{name: "permitopen short literal", key: alice("127.1:9000"), host: "api", port: 9000, wantErr: ErrNotPermitted},
		{name: "permitopen star host", key: alice("*:*"), host: "api", port: 9000, wantErr: ErrNotPermitted},
		{name: "permitopen second entry", key: alice("web:8080", "api:9000"), host: "api", port: 9000, want: "api"},
		{name: "permitopen does not add grants", key: Key{Name: "bob", PermitOpen: []Target{target("nanomq:8081")}}, host: "nanomq", port: 8081, wantErr: ErrNotGranted},
		{name: "permitopen odd port", key: Key{Name: "alice", PermitOpen: []Target{{Host: "api", Port: 0}}}, host: "api", port: 9000, wantErr: ErrNotPermitted},
		{name: "permitopen upper name", key: alice("API:9000"), host: "api", port: 9000, wantErr: ErrNotPermitted},
		{name: "v6 identity grant", key: Key{Name: "ops@site"}, host: "::1", port: 7000, want: "six"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Check(tt.key, tt.host, tt.port)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Check(%q, %d) = %v, %v; want error %v", tt.host, tt.port, got, err, tt.wantErr)
				}
				if got != (Service{}) {
					t.Errorf("Check returned %v with its error, want zero Service", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Check(%q, %d): %v", tt.host, tt.port, err)
			}
			want, _ := p.Service(tt.want)
			if got != want {
				t.Errorf("Check(%q, %d) = %v, want %v", tt.host, tt.port, got, want)
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	p := testPolicy(t)
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 100 {
				_, _ = p.Check(Key{Name: "alice"}, "localhost", 8080)
				_ = p.Services()
				_ = p.Granted("alice")
			}
		}()
	}
	for range 4 {
		<-done
	}
}
