package tunnel

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loopgate/loopgate/keys"
	"github.com/loopgate/loopgate/limits"
)

func TestMaxSessionsRefusesExtraTunnels(t *testing.T) {
	alice := newSigner(t)
	tg, target := echoGateway(t, []keys.AuthorizedKey{entry(alice, "alice", keys.Options{})},
		withLimits(limits.Limits{MaxSessions: 3}))
	c := tg.mustDial(t, alice)
	var open []net.Conn
	for i := range 3 {
		conn, err := c.Dial("tcp", target)
		if err != nil {
			t.Fatalf("tunnel %d of 3: %v", i+1, err)
		}
		open = append(open, conn)
	}
	_, err := c.Dial("tcp", target)
	wantRejected(t, err, ssh.ResourceShortage)
	tg.log.waitFor(t, "channel refused", "too many open channels (MaxSessions)")

	other := tg.mustDial(t, alice)
	conn, err := other.Dial("tcp", target)
	if err != nil {
		t.Fatalf("same key, second connection: %v", err)
	}
	if got := roundTrip(t, conn, "other"); got != "echo:other" {
		t.Fatalf("second connection: got %q, want %q", got, "echo:other")
	}

	if got := roundTrip(t, open[0], "first"); got != "echo:first" {
		t.Fatalf("first tunnel: got %q, want %q", got, "echo:first")
	}
	open[0].Close()
	// The slot frees once the gateway has counted the tunnel out.
	var again net.Conn
	waitUntil(t, "a tunnel opens after one closed", func() bool {
		again, err = c.Dial("tcp", target)
		return err == nil
	})
	if got := roundTrip(t, again, "again"); got != "echo:again" {
		t.Fatalf("tunnel after one closed: got %q, want %q", got, "echo:again")
	}
}

func TestMaxAuthTriesCountsRefusedKeys(t *testing.T) {
	tests := []struct {
		name         string
		maxAuthTries int
		wantLogin    bool
	}{
		{"six refused keys reach MaxAuthTries 6", 6, false},
		{"six refused keys stay under MaxAuthTries 10", 10, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alice := newSigner(t)
			tg := startGateway(t, nil, nil, []keys.AuthorizedKey{entry(alice, "alice", keys.Options{})},
				withLimits(limits.Limits{MaxAuthTries: tt.maxAuthTries}))
			var signers []ssh.Signer
			for range 6 {
				signers = append(signers, newSigner(t))
			}
			signers = append(signers, alice) // offered last, after six refusals
			cfg := tg.clientConfig(alice)
			cfg.Auth = []ssh.AuthMethod{ssh.PublicKeysCallback(func() ([]ssh.Signer, error) { return signers, nil })}
			c, err := ssh.Dial("tcp", tg.addr, cfg)
			if err == nil {
				t.Cleanup(func() { c.Close() })
			}
			if (err == nil) != tt.wantLogin {
				t.Fatalf("log in after six refused keys: got err %v, want logged in %v", err, tt.wantLogin)
			}
			if tt.wantLogin {
				tg.log.waitFor(t, "auth accepted", "name=alice")
				return
			}
			tg.log.waitFor(t, "too many authentication failures", "tries=6", "handshake failed")
			if got := tg.log.count("auth rejected"); got != 6 {
				t.Errorf("keys refused: got %d, want 6", got)
			}
			if strings.Contains(tg.log.String(), "auth accepted") {
				t.Errorf("log: got an accepted login, want none:\n%s", tg.log)
			}
		})
	}
}

func TestPreBannerGateDropsBeforeTheBanner(t *testing.T) {
	tests := []struct {
		name      string
		limits    limits.Limits
		held      []string // sources of silent connections admitted and held open
		dropped   string   // source of the next connection, dropped before the banner
		reason    string
		release   bool   // close the held connections before loginFrom logs in
		loginFrom string // a source that logs in and opens a tunnel
	}{
		{
			name:    "PerSourceMaxStartups",
			limits:  limits.Limits{PerSourceMaxStartups: 2},
			held:    []string{"127.0.0.1", "127.0.0.1"},
			dropped: "127.0.0.1", reason: "(PerSourceMaxStartups)", loginFrom: "127.0.0.2",
		},
		{
			name:    "PerSourceConnectRate",
			limits:  limits.Limits{PerSourceConnectRate: limits.Rate{Count: 3, Per: time.Minute}, PerSourceMaxStartups: limits.Off},
			held:    []string{"127.0.0.1", "127.0.0.1", "127.0.0.1"},
			dropped: "127.0.0.1", reason: "(PerSourceConnectRate)", loginFrom: "127.0.0.2",
		},
		{
			name:    "MaxStartups full",
			limits:  limits.Limits{MaxStartups: limits.Startups{Start: 2, Rate: 100, Full: 2}},
			held:    []string{"127.0.0.1", "127.0.0.2"},
			dropped: "127.0.0.3", reason: "(MaxStartups)", release: true, loginFrom: "127.0.0.3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alice := newSigner(t)
			tg, target := echoGateway(t, []keys.AuthorizedKey{entry(alice, "alice", keys.Options{})}, withLimits(tt.limits))
			var held []net.Conn
			for _, src := range tt.held {
				conn := tg.rawFrom(t, src)
				wantBanner(t, conn)
				held = append(held, conn)
			}
			wantDropped(t, tg.rawFrom(t, tt.dropped))
			tg.log.waitFor(t, "connection dropped", "source="+tt.dropped+":", tt.reason)
			if tt.release {
				for _, conn := range held {
					conn.Close()
				}
				waitUntil(t, "no unauthenticated connection left", func() bool {
					return tg.gw.gate.Stats().Unauthenticated == 0
				})
			}
			c := tg.mustDialFrom(t, tt.loginFrom, alice)
			conn, err := c.Dial("tcp", target)
			if err != nil {
				t.Fatalf("tunnel from %s: %v", tt.loginFrom, err)
			}
			if got := roundTrip(t, conn, "in"); got != "echo:in" {
				t.Fatalf("tunnel from %s: got %q, want %q", tt.loginFrom, got, "echo:in")
			}
		})
	}
}

// Ways to misbehave before authentication, from 127.0.0.1.
func failLogin(t testing.TB, tg *testGateway) {
	t.Helper()
	if _, err := tg.dial(t, newSigner(t)); err == nil {
		t.Fatal("unknown key: got logged in, want refused")
	}
}

func leaveEarly(t testing.TB, tg *testGateway) {
	t.Helper()
	conn := tg.rawFrom(t, "127.0.0.1")
	wantBanner(t, conn)
	conn.Close()
}

func staySilent(t testing.TB, tg *testGateway) {
	t.Helper()
	conn := tg.rawFrom(t, "127.0.0.1")
	wantBanner(t, conn)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, conn); err != nil {
		t.Fatalf("silent client: got %v, want the gateway to hang up after LoginGraceTime", err)
	}
}

func mustPenalties(t testing.TB, args ...string) limits.Penalties {
	t.Helper()
	p, err := limits.ParsePenalties(args)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPerSourcePenalties(t *testing.T) {
	tests := []struct {
		name      string
		grace     time.Duration
		penalties []string
		misbehave func(testing.TB, *testGateway)
		times     int
		outcome   string
	}{
		{"authfail", 0, []string{"authfail:5s", "min:10s"}, failLogin, 2, "authfail"},
		{"noauth", 0, []string{"noauth:10s", "min:10s"}, leaveEarly, 1, "noauth"},
		{"grace-exceeded", 300 * time.Millisecond, []string{"grace-exceeded:10s", "min:10s"}, staySilent, 1, "grace-exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alice := newSigner(t)
			l := limits.Limits{LoginGraceTime: tt.grace, PerSourcePenalties: mustPenalties(t, tt.penalties...)}
			tg := startGateway(t, nil, nil, []keys.AuthorizedKey{entry(alice, "alice", keys.Options{})}, withLimits(l))
			for i := range tt.times {
				tt.misbehave(t, tg)
				waitUntil(t, fmt.Sprintf("handshake %d ended", i+1), func() bool { return tg.log.count("handshake failed") == i+1 })
				if i < tt.times-1 && strings.Contains(tg.log.String(), "source penalized") {
					t.Fatalf("after %d of %d: got penalized, want not yet:\n%s", i+1, tt.times, tg.log)
				}
			}
			tg.log.waitFor(t, "source penalized", "outcome="+tt.outcome)
			wantDropped(t, tg.rawFrom(t, "127.0.0.1"))
			tg.log.waitFor(t, "connection dropped", "source penalized (PerSourcePenalties)")
			if p, d := strings.Index(tg.log.String(), "source penalized"), strings.Index(tg.log.String(), "connection dropped"); p > d {
				t.Errorf("log order: got the drop before the penalty, want penalty first:\n%s", tg.log)
			}
			if _, err := tg.dialFrom(t, "127.0.0.2", alice); err != nil {
				t.Fatalf("another source: got %v, want logged in", err)
			}
		})
	}
}

// wantRefusedAfterAuth logs in as user and expects the gateway to end the
// connection right after authentication.
func wantRefusedAfterAuth(t testing.TB, tg *testGateway, user ssh.Signer) {
	t.Helper()
	c, err := tg.dial(t, user)
	if err != nil {
		return // the close raced the end of the handshake
	}
	waitClosed(t, c, 2*time.Second)
}

func TestLoginCapsRefuseAfterAuth(t *testing.T) {
	alice, bob, carol := newSigner(t), newSigner(t), newSigner(t)
	tg := startGateway(t, nil, nil, []keys.AuthorizedKey{
		entry(alice, "alice", keys.Options{}), entry(bob, "bob", keys.Options{}), entry(carol, "carol", keys.Options{}),
	}, withLimits(limits.Limits{MaxConnectionsPerKey: 2, MaxConnections: 3}))
	a1, a2 := tg.mustDial(t, alice), tg.mustDial(t, alice)
	// The client's handshake can end before the gateway counts the login;
	// without waiting, the third login could be counted before the second
	// and the second refused instead.
	waitUntil(t, "two logins accepted", func() bool { return tg.log.count("auth accepted") >= 2 })

	wantRefusedAfterAuth(t, tg, alice)
	tg.log.waitFor(t, "connection refused", "too many connections for this key (MaxConnectionsPerKey): 2 open")
	b := tg.mustDial(t, bob)
	waitUntil(t, "bob's login accepted", func() bool { return tg.log.count("auth accepted") >= 3 })
	wantRefusedAfterAuth(t, tg, carol)
	tg.log.waitFor(t, "too many connections (MaxConnections)")
	waitUntil(t, "three logins accepted", func() bool { return tg.log.count("auth accepted") >= 3 })
	if got := tg.log.count("auth accepted"); got != 3 {
		t.Errorf("logins accepted: got %d, want 3 (the refused ones never log in)", got)
	}

	a1.Close()
	waitUntil(t, "the closed login is released", func() bool { return tg.gw.gate.Stats().Authenticated == 2 })
	tg.mustDial(t, alice)
	if !isOpen(a2) || !isOpen(b) {
		t.Error("earlier connections: got closed, want open")
	}
}
