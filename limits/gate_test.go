package limits

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestGate(t testing.TB, l Limits, roll func() int) (*Gate, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)}
	if roll == nil {
		roll = func() int { return 99 }
	}
	return NewGate(l, c.now, roll), c
}

var (
	srcA = netip.MustParseAddr("127.0.0.1")
	srcB = netip.MustParseAddr("127.0.0.2")
)

func mustAdmit(t testing.TB, g *Gate, a netip.Addr) *Ticket {
	t.Helper()
	tk, err := g.Admit(a)
	if err != nil {
		t.Fatalf("Admit(%s): got %v, want admitted", a, err)
	}
	return tk
}

func TestPerSourceStartupsLeavesOtherSources(t *testing.T) {
	g, _ := newTestGate(t, Limits{PerSourceMaxStartups: 3}, nil)
	for range 3 {
		mustAdmit(t, g, srcA)
	}
	if _, err := g.Admit(srcA); !errors.Is(err, ErrPerSourceStartups) {
		t.Fatalf("4th from A: got %v, want ErrPerSourceStartups", err)
	}
	tk := mustAdmit(t, g, srcB)
	tk.Done(Authenticated)
	if got := g.Stats().Unauthenticated; got != 3 {
		t.Fatalf("unauthenticated: got %d, want 3", got)
	}
}

func TestRateRefillsOverTime(t *testing.T) {
	g, c := newTestGate(t, Limits{PerSourceConnectRate: Rate{Count: 2, Per: time.Second}, PerSourceMaxStartups: Off}, nil)
	for range 2 {
		mustAdmit(t, g, srcA).Done(Authenticated)
	}
	if _, err := g.Admit(srcA); !errors.Is(err, ErrRate) {
		t.Fatalf("3rd in a burst: got %v, want ErrRate", err)
	}
	mustAdmit(t, g, srcB).Done(Authenticated)
	c.advance(500 * time.Millisecond)
	mustAdmit(t, g, srcA).Done(Authenticated)
}

func TestMaxStartupsRandomEarlyDrop(t *testing.T) {
	tests := []struct {
		name   string
		open   int
		roll   int
		wantOK bool
	}{
		{"below start", 9, 0, true},
		{"at start, roll above rate", 10, 30, true},
		{"at start, roll below rate", 10, 29, false},
		{"half way, p=65", 55, 64, false},
		{"half way, roll 65", 55, 65, true},
		{"full", 100, 99, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			roll := 99
			g, _ := newTestGate(t, Limits{MaxStartups: Startups{10, 30, 100}, PerSourceMaxStartups: Off,
				PerSourceConnectRate: Rate{Off, Off}}, func() int { return roll })
			for i := range tt.open {
				mustAdmit(t, g, netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
			}
			roll = tt.roll
			_, err := g.Admit(srcB)
			if (err == nil) != tt.wantOK {
				t.Fatalf("Admit with %d open, roll %d: got %v, want ok=%v", tt.open, tt.roll, err, tt.wantOK)
			}
			if err != nil && !errors.Is(err, ErrStartups) {
				t.Fatalf("got %v, want ErrStartups", err)
			}
		})
	}
}

func TestPenaltiesAccumulateAndExpire(t *testing.T) {
	g, c := newTestGate(t, Limits{PerSourceConnectRate: Rate{Off, Off}}, nil)
	// authfail 5s each, min 15s: the third failure starts refusing, even
	// with time passing between failures.
	for i := range 3 {
		c.advance(time.Second)
		_, refused := mustAdmit(t, g, srcA).Done(AuthFailed)
		if want := i == 2; refused != want {
			t.Fatalf("failure %d: refused %v, want %v", i+1, refused, want)
		}
	}
	if _, err := g.Admit(srcA); !errors.Is(err, ErrPenalized) {
		t.Fatalf("after 3 failures: got %v, want ErrPenalized", err)
	}
	mustAdmit(t, g, srcB).Done(Authenticated) // another source is unaffected
	c.advance(11 * time.Second)
	if _, err := g.Admit(srcA); !errors.Is(err, ErrPenalized) {
		t.Fatalf("11s later: got %v, want ErrPenalized", err)
	}
	c.advance(2 * time.Second)
	mustAdmit(t, g, srcA).Done(Authenticated)
}

func TestPenaltyCappedAtMax(t *testing.T) {
	p := Defaults().PerSourcePenalties
	p.Max = 30 * time.Second
	g, c := newTestGate(t, Limits{PerSourcePenalties: p, PerSourceConnectRate: Rate{Off, Off}}, nil)
	if _, refused := mustAdmit(t, g, srcA).Done(Crashed); !refused { // 90s, capped at 30s
		t.Fatal("after a crash: got not refused, want refused")
	}
	c.advance(29 * time.Second)
	if _, err := g.Admit(srcA); !errors.Is(err, ErrPenalized) {
		t.Fatalf("29s later: got %v, want ErrPenalized", err)
	}
	c.advance(time.Second)
	mustAdmit(t, g, srcA).Done(Authenticated)
}

func TestPenaltiesOff(t *testing.T) {
	g, _ := newTestGate(t, Limits{PerSourcePenalties: Penalties{Off: true}, PerSourceConnectRate: Rate{Off, Off}}, nil)
	for range 20 {
		if _, refused := mustAdmit(t, g, srcA).Done(GraceExceeded); refused {
			t.Fatal("penalties off: got refused, want never")
		}
	}
}

// TestTableBounded floods the gate from many sources: the table never
// holds more entries than the configured maximum, and sweeps empty it.
func TestTableBounded(t *testing.T) {
	p := Defaults().PerSourcePenalties
	p.MaxSources4, p.MaxSources6 = 100, 50
	g, c := newTestGate(t, Limits{PerSourcePenalties: p, MaxStartups: Startups{1 << 20, 100, 1 << 20}}, nil)
	for i := range 5000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		mustAdmit(t, g, a).Done(AuthFailed)
		a6 := netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", i))
		mustAdmit(t, g, a6).Done(NoAuth)
	}
	if got := g.Stats().Sources; got > 150 {
		t.Fatalf("sources after 10000 distinct: got %d, want <= 150", got)
	}
	c.advance(11 * time.Minute)
	mustAdmit(t, g, srcA).Done(Authenticated)
	if got := g.Stats().Sources; got > 1 {
		t.Fatalf("sources after expiry: got %d, want <= 1", got)
	}
}

func TestNetBlockGroupsSources(t *testing.T) {
	g, _ := newTestGate(t, Limits{PerSourceMaxStartups: 1, PerSourceNetBlockSize: NetBlock{V4: 24, V6: 64}}, nil)
	mustAdmit(t, g, netip.MustParseAddr("192.0.2.1"))
	if _, err := g.Admit(netip.MustParseAddr("192.0.2.200")); !errors.Is(err, ErrPerSourceStartups) {
		t.Fatalf("same /24: got %v, want ErrPerSourceStartups", err)
	}
	mustAdmit(t, g, netip.MustParseAddr("192.0.3.1"))
	mustAdmit(t, g, netip.MustParseAddr("2001:db8::1"))
	if _, err := g.Admit(netip.MustParseAddr("2001:db8::ffff")); !errors.Is(err, ErrPerSourceStartups) {
		t.Fatalf("same /64: got %v, want ErrPerSourceStartups", err)
	}
}

func TestDoneTwiceCountsOnce(t *testing.T) {
	g, _ := newTestGate(t, Limits{}, nil)
	tk := mustAdmit(t, g, srcA)
	tk.Done(Authenticated)
	tk.Done(Authenticated)
	if got := g.Stats().Unauthenticated; got != 0 {
		t.Fatalf("unauthenticated: got %d, want 0", got)
	}
}

func TestLoginCaps(t *testing.T) {
	g, _ := newTestGate(t, Limits{MaxConnections: 3, MaxConnectionsPerKey: 2}, nil)
	r1, err := g.Login("SHA256:a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Login("SHA256:a"); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Login("SHA256:a"); !errors.Is(err, ErrMaxConnectionsKey) {
		t.Fatalf("3rd for a key: got %v, want ErrMaxConnectionsKey", err)
	}
	if _, err := g.Login("SHA256:b"); err != nil {
		t.Fatalf("other key: got %v, want admitted", err)
	}
	if _, err := g.Login("SHA256:c"); !errors.Is(err, ErrMaxConnections) {
		t.Fatalf("4th overall: got %v, want ErrMaxConnections", err)
	}
	r1()
	r1() // a second release changes nothing
	if _, err := g.Login("SHA256:c"); err != nil {
		t.Fatalf("after release: got %v, want admitted", err)
	}
	if got := g.Stats().Authenticated; got != 3 {
		t.Fatalf("authenticated: got %d, want 3", got)
	}
}
