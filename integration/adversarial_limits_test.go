package integration

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestAdversarialLimits is the adversarial suite, part B: attacks on the
// gateway's connection limits (sshd's names: LoginGraceTime, MaxStartups,
// PerSourcePenalties, MaxAuthTries, MaxSessions, ChannelTimeout, ...),
// through the real binary. Each subtest runs its own gateway with the
// limits it needs set small, and asserts the outcome and its audit event
// and, where the attack is about availability, that a legitimate client
// from 127.0.0.1 is served while attackers use other 127.x addresses.
func TestAdversarialLimits(t *testing.T) {
	t.Parallel()
	cases := []advCase{
		{"silent-preauth-closed-at-deadline", testSilentPreauthClosed},
		{"unauth-flood-one-source-other-source-served", testUnauthFlood},
		{"connect-rate-limit", testConnectRate},
		{"maxstartups-early-drop", testMaxStartupsEarlyDrop},
		{"penalties-authfail-then-blocked", testPenaltiesAuthfail},
		{"penalty-table-bounded", testPenaltyTableBounded},
		{"ten-wrong-keys-then-the-right-one", testTenWrongKeys},
		{"channel-flood-one-connection", testChannelFlood},
		{"max-connections-per-key", testMaxConnectionsPerKey},
		{"idle-channel-timeout", testIdleChannelTimeout},
		{"unused-connection-timeout", testUnusedConnectionTimeout},
		{"client-alive-ends-dead-connection", testClientAlive},
		{"expiry-time-passes-with-live-tunnel", testExpiryWithLiveTunnel},
		{"authorized-keys-edit-without-sighup", testAuthorizedKeysEdit},
		{"authorized-keys-deleted", testAuthorizedKeysDeleted},
		{"weak-client-algorithms-refused", testWeakClientAlgorithms},
		{"version-string-reveals-nothing", testVersionString},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t)
		})
	}
}

// expectWithin checks a measured duration is in [lo, hi].
func expectWithin(t testing.TB, what string, got, lo, hi time.Duration) {
	t.Helper()
	t.Logf("%s: %v", what, got.Round(time.Millisecond))
	if got < lo || got > hi {
		t.Errorf("%s: got %v, want %v to %v", what, got.Round(time.Millisecond), lo, hi)
	}
}

// --- 1: LoginGraceTime ------------------------------------------------------

func testSilentPreauthClosed(t *testing.T) {
	lr := startLimits(t, "LoginGraceTime 2s") // 2s: a real login must fit even on a loaded machine
	tests := []struct{ name, src, send string }{
		{"never-sends-a-version", "127.0.1.1", ""},
		{"version-then-silence", "127.0.1.2", "SSH-2.0-OpenSSH_9.2\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			c := rawFrom(t, lr.g, tt.src)
			expectLine(t, c, bannerLine)
			if _, err := c.Write([]byte(tt.send)); err != nil {
				t.Fatalf("send %q: %v", tt.send, err)
			}
			if _, err := readToEOF(c, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			expectWithin(t, "closed after", time.Since(start), 1900*time.Millisecond, 3500*time.Millisecond)
			ev := lr.g.waitEvent(t, "handshake failed", attrIs("source", c.LocalAddr().String()), waitTimeout)
			if !strings.Contains(fmt.Sprint(ev["reason"]), "timeout") {
				t.Errorf("handshake failed reason: got %q, want a timeout", ev["reason"])
			}
		})
	}
	expectLegitServed(t, lr.g, lr.alice, "nanomq", lr.nanomq) // a real login fits in the 2s
}

// --- 2: one source floods, another is served ---------------------------------

func testUnauthFlood(t *testing.T) {
	lr := startLimits(t, "PerSourceMaxStartups 5", "MaxStartups 50:30:100")
	const src, flood = "127.0.0.9", 200
	var banners, drops int
	a := startAttack(t, func(pause func()) (err error) {
		banners, drops, err = silentFlood(lr.g, src, flood, pause)
		return err
	})
	a.during(t, func() { lr.expectSSHServed(t) })
	if err := a.wait(t); err != nil {
		t.Fatal(err)
	}
	if banners != 5 || drops != flood-5 {
		t.Errorf("flood of %d from %s: got %d banners and %d drops, want 5 (PerSourceMaxStartups) and %d", flood, src, banners, drops, flood-5)
	}
	dropped := lr.g.logs.find(0, "connection dropped", attrHas("source", src+":"))
	if len(dropped) == 0 || !strings.Contains(fmt.Sprint(dropped[0]["reason"]), "PerSourceMaxStartups") {
		t.Fatalf("connection dropped events from %s: got %v, want the first to name PerSourceMaxStartups", src, dropped)
	}
	t.Logf("%d drops, %d connection dropped events (the log is rate limited)", drops, len(dropped))
	lr.expectSSHServed(t)
}

// silentFlood opens n connections to g from src, one after another, and
// holds those that get the banner open, silent, until it returns; it pauses
// halfway. It counts banners and drops (the drop line, or a close).
func silentFlood(g *gateway, src string, n int, pause func()) (banners, drops int, err error) {
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := range n {
		if i == n/2 {
			pause()
		}
		c, err := dialFrom(src, g.addr)
		if err != nil {
			return banners, drops, err
		}
		switch line, err := readLine(c, 5*time.Second); {
		case line == bannerLine:
			held = append(held, c)
			banners++
			continue
		case line == dropLine || line == "" && err != nil:
			drops++
		default:
			c.Close()
			return banners, drops, fmt.Errorf("connection %d: got first line %q (%v), want a banner or a drop", i, line, err)
		}
		c.Close()
	}
	return banners, drops, nil
}

// --- 3: PerSourceConnectRate ------------------------------------------------

func testConnectRate(t *testing.T) {
	lr := startLimits(t, "PerSourceConnectRate 5/1m")
	const src = "127.0.3.1"
	for range 5 {
		c := rawFrom(t, lr.g, src)
		expectLine(t, c, bannerLine)
		c.Close()
	}
	mark := lr.g.mark()
	c := rawFrom(t, lr.g, src)
	expectLine(t, c, dropLine)
	if rest, err := readToEOF(c, 5*time.Second); err != nil || len(rest) != 0 {
		t.Fatalf("after the drop line: got %q (%v), want EOF and no SSH banner", rest, err)
	}
	ev := lr.g.waitEventAfter(t, mark, "connection dropped", attrIs("source", c.LocalAddr().String()))
	if !strings.Contains(fmt.Sprint(ev["reason"]), "PerSourceConnectRate") {
		t.Errorf("connection dropped reason: got %q, want PerSourceConnectRate", ev["reason"])
	}
	expectLegitServed(t, lr.g, lr.alice, "nanomq", lr.nanomq)
}

// --- 4: MaxStartups random early drop -----------------------------------------

// maxStartupsAttempts bounds the sources case 4 tries to fill MaxStartups
// 3:50:6 (about 14 are needed on average).
const maxStartupsAttempts = 200

func testMaxStartupsEarlyDrop(t *testing.T) {
	lr := startLimits(t, "MaxStartups 3:50:6", "PerSourceMaxStartups none")
	held, drops := holdStartups(t, lr.g, 6)
	t.Logf("held 6 unauthenticated connections; %d dropped on the way", drops)
	if drops > 15 { // let the drop log's 20-a-second budget refill
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	}
	mark := lr.g.mark()
	c := rawFrom(t, lr.g, "127.0.5.1")
	expectLine(t, c, dropLine)
	ev := lr.g.waitEventAfter(t, mark, "connection dropped", attrIs("source", c.LocalAddr().String()))
	if r := fmt.Sprint(ev["reason"]); !strings.Contains(r, "(MaxStartups)") {
		t.Errorf("connection dropped reason: got %q, want MaxStartups", r)
	}
	if _, err := loginFrom(t, lr.g, "127.0.0.1", lr.alice); err == nil {
		t.Errorf("login at MaxStartups full: got success, want a drop (the limit counts every source, as sshd's)")
	}
	addrs := make([]string, len(held))
	for i, h := range held {
		addrs[i] = h.LocalAddr().String()
		h.Close()
	}
	lr.g.logs.waitEvents(t, mark, "handshake failed", func(ev map[string]any) bool {
		return slices.Contains(addrs, fmt.Sprint(ev["source"]))
	}, len(held), waitTimeout)
	expectLegitServed(t, lr.g, lr.alice, "nanomq", lr.nanomq)
}

// holdStartups opens connections from fresh sources 127.0.4.N until n of
// them have the banner and are held open, and returns them and how many
// were dropped on the way.
func holdStartups(t testing.TB, g *gateway, n int) (held []net.Conn, drops int) {
	t.Helper()
	for i := 1; len(held) < n; i++ {
		if i > maxStartupsAttempts {
			t.Fatalf("held %d of %d connections after %d attempts", len(held), n, maxStartupsAttempts)
		}
		c := rawFrom(t, g, fmt.Sprintf("127.0.4.%d", i))
		switch line, err := readLine(c, 5*time.Second); line {
		case bannerLine:
			held = append(held, c)
		case dropLine:
			drops++
			c.Close()
		default:
			t.Fatalf("connection %d: got first line %q (%v), want a banner or a drop", i, line, err)
		}
	}
	return held, drops
}

// --- 5: PerSourcePenalties -----------------------------------------------------

func testPenaltiesAuthfail(t *testing.T) {
	t.Run("blocked-after-two-failures", testPenaltyBlocks)
	t.Run("penalty-expires-at-max", testPenaltyExpires)
}

// testPenaltyBlocks: two failed logins from 127.0.0.7 accrue min, the
// third is dropped before the banner, 127.0.0.1 is still served.
func testPenaltyBlocks(t *testing.T) {
	lr := startLimits(t, "PerSourcePenalties authfail:5s min:10s")
	const src = "127.0.0.7"
	mallory := newOperator(t, "mallory")
	expectAuthFails(t, lr.g, mallory, "unknown key", "-b", src)
	mark := lr.g.mark()
	expectAuthFails(t, lr.g, mallory, "unknown key", "-b", src)
	ev := lr.g.waitEventAfter(t, mark, "source penalized", attrIs("source", src))
	if ev["outcome"] != "authfail" {
		t.Errorf("source penalized outcome: got %v, want authfail", ev["outcome"])
	}
	if got := lr.g.logs.find(0, "source penalized", nil); len(got) != 1 {
		t.Errorf("source penalized events: got %d (%v), want 1 (after the second failure only)", len(got), got)
	}
	mark = lr.g.mark()
	res := lr.g.ssh(t, lr.alice, "", "-b", src, lr.g.dest(lr.alice), "true") // even the right key
	if res.code != 255 {
		t.Errorf("ssh from penalized %s: got %s, want exit 255", src, res)
	}
	lr.g.waitEventAfter(t, mark, "connection dropped", allOf(attrHas("source", src+":"), attrHas("reason", "PerSourcePenalties")))
	if got := lr.g.logs.find(mark, "", attrHas("source", src+":")); len(got) != 1 {
		t.Errorf("events from %s after the penalty: got %v, want only the drop", src, got)
	}
	lr.expectSSHServed(t)
}

// testPenaltyExpires: one failure earns authfail:30s, capped at max:2s,
// so the source is refused at once and served again after about 2s.
func testPenaltyExpires(t *testing.T) {
	lr := startLimits(t, "PerSourcePenalties authfail:30s min:1s max:2s")
	const src = "127.0.0.8"
	expectAuthFails(t, lr.g, newOperator(t, "mallory"), "unknown key", "-b", src)
	lr.g.waitEvent(t, "source penalized", attrIs("source", src), waitTimeout)
	penalized := time.Now()
	expectLine(t, rawFrom(t, lr.g, src), dropLine)
	var client *ssh.Client
	for deadline := penalized.Add(6 * time.Second); client == nil; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s still refused 6s after its penalty, want it served after about 2s (max)", src)
		}
		client, _ = loginFrom(t, lr.g, src, lr.alice)
	}
	expectWithin(t, "served again after", time.Since(penalized), 1500*time.Millisecond, 3*time.Second)
	expectGetVia(t, client, "nanomq", lr.nanomq)
}

// --- 6: the penalty table is bounded -------------------------------------------

// tableSources is how many sources case 6 penalizes; its table holds 16.
const tableSources = 64

// testPenaltyTableBounded: 64 sources each leave without authenticating,
// all at once, while max-sources4:16 bounds the table. Only the 16 that
// found room are penalized (sshd's permissive overflow), the gateway's RSS
// stays flat and a legitimate client is served. The table itself is not
// visible from outside; the 16 penalties are its trace (limits/ tests
// check the bound exactly).
func testPenaltyTableBounded(t *testing.T) {
	lr := startLimits(t, "PerSourcePenalties noauth:1s min:1s max-sources4:16", "MaxStartups 100:30:200")
	before := rssKiB(t, lr.g)
	mark := lr.g.mark()
	conns := make([]net.Conn, tableSources)
	addrs := make([]string, tableSources)
	for i := range conns {
		conns[i] = rawFrom(t, lr.g, fmt.Sprintf("127.0.6.%d", i+1))
		expectLine(t, conns[i], bannerLine)
		addrs[i] = conns[i].LocalAddr().String()
	}
	for _, c := range conns {
		c.Close()
	}
	lr.g.logs.waitEvents(t, mark, "handshake failed", func(ev map[string]any) bool {
		return slices.Contains(addrs, fmt.Sprint(ev["source"]))
	}, tableSources, waitTimeout)
	fromFlood := attrHas("source", "127.0.6.")
	lr.g.logs.waitEvents(t, mark, "source penalized", fromFlood, 16, waitTimeout)
	time.Sleep(200 * time.Millisecond) // room for a 17th, which must not come
	penalized := lr.g.logs.find(mark, "source penalized", fromFlood)
	if len(penalized) != 16 {
		t.Errorf("source penalized events for %d sources: got %d, want 16 (max-sources4)", tableSources, len(penalized))
	}
	lr.expectSSHServed(t)
	after := rssKiB(t, lr.g)
	t.Logf("gateway VmRSS: %d KiB before, %d KiB after %d sources", before, after, tableSources)
	if grown := after - before; grown > 4<<10 {
		t.Errorf("gateway VmRSS grew by %d KiB, want at most 4 MiB", grown)
	}
}

// --- 7: MaxAuthTries ----------------------------------------------------------

func testTenWrongKeys(t *testing.T) {
	lr := startLimits(t)
	t.Run("go-client-cut-off-at-max-auth-tries", func(t *testing.T) { testGoClientCutOff(t, lr) })
	t.Run("openssh-agent-with-ten-keys-offers-only-its-identity", func(t *testing.T) { testAgentOffersOnlyIdentity(t, lr) })
}

// testGoClientCutOff offers 10 unknown keys, then alice's: the gateway
// hangs up after MaxAuthTries (6) refused keys, before the right one.
func testGoClientCutOff(t *testing.T, lr *limitsRig) {
	signers := make([]ssh.Signer, 0, 11)
	for range 10 {
		signers = append(signers, newGoSigner(t))
	}
	signers = append(signers, lr.alice.signer(t))
	const user = "ten-wrong-keys"
	cfg := &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{ssh.PublicKeys(signers...)}}
	src, err := dialAttacker(lr.g, "127.0.7.1", cfg, nil)
	if err == nil {
		t.Fatalf("10 wrong keys then the right one: got logged in, want cut off after 6")
	}
	ev := lr.g.waitEvent(t, "too many authentication failures", attrIs("source", src), waitTimeout)
	if n, _ := number(ev, "tries"); n != 6 {
		t.Errorf("too many authentication failures tries: got %v, want 6", ev["tries"])
	}
	lr.g.waitEvent(t, "handshake failed", attrIs("source", src), waitTimeout)
	rejected := lr.g.logs.find(0, "auth rejected", attrIs("source", src))
	if len(rejected) != 6 || slices.ContainsFunc(rejected, attrIs("fingerprint", lr.alice.fingerprint)) {
		t.Errorf("auth rejected events: got %d (%v), want the 6 first wrong keys", len(rejected), rejected)
	}
	if got := lr.g.logs.find(0, "auth accepted", attrIs("user", user)); len(got) != 0 {
		t.Errorf("auth accepted: got %v, want none", got)
	}
}

// testAgentOffersOnlyIdentity: stock ssh with an agent holding 10 wrong
// keys and -o IdentitiesOnly=yes -i alice's key offers that key alone.
func testAgentOffersOnlyIdentity(t *testing.T, lr *limitsRig) {
	sock := agentWithWrongKeys(t, 10)
	lport := freePort(t)
	args := lr.g.sshArgsNoIdentity("-v", "-i", lr.alice.key, "-N", "-o", "ExitOnForwardFailure=yes",
		"-L", lr.toNanomq(lport), lr.g.dest(lr.alice))
	p := startProc(t, sshEnv(sock), nil, "ssh", args...)
	waitListening(t, p, lport)
	expectServes(t, lport, lr.nanomq)
	out := p.stderr.String()
	if !strings.Contains(out, "agent returned 10 keys") {
		t.Errorf("ssh -v: got no %q, want ssh to have seen the agent's keys:\n%s", "agent returned 10 keys", out)
	}
	var offered []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "Offering public key:") {
			offered = append(offered, line)
		}
	}
	if len(offered) != 1 || !strings.Contains(offered[0], lr.alice.key) {
		t.Errorf("ssh -v: got offered %q, want exactly one key, %s", offered, lr.alice.key)
	}
	if got := lr.g.logs.find(0, "auth rejected", attrHas("source", "127.0.0.1:")); len(got) != 0 {
		t.Errorf("auth rejected from 127.0.0.1: got %v, want none", got)
	}
}

// --- 8: MaxSessions -------------------------------------------------------------

// channelFlood is how many direct-tcpip channels case 8 opens on one
// connection.
const channelFlood = 500

func testChannelFlood(t *testing.T) {
	lr := startLimits(t, "MaxSessions 4")
	base := openFDs(t, lr.g)
	c := dialTagged(t, lr.g, lr.alice, "channel-flood")
	bound := time.AfterFunc(time.Minute, func() { c.Close() }) // OpenChannel has no deadline
	defer bound.Stop()
	var open []ssh.Channel
	defer func() {
		for _, ch := range open {
			ch.Close()
		}
	}()
	shortage := 0
	for i := range channelFlood {
		if i == channelFlood/2 { // a second connection, at MaxSessions on the first
			expectLegitServed(t, lr.g, lr.carol, "nanomq", lr.nanomq)
		}
		ch, reqs, err := c.OpenChannel("direct-tcpip", directTCPIP("nanomq", uint32(lr.nanomq.port)))
		var oce *ssh.OpenChannelError
		switch {
		case err == nil:
			go ssh.DiscardRequests(reqs)
			open = append(open, ch)
		case errors.As(err, &oce) && oce.Reason == ssh.ResourceShortage:
			shortage++
		default:
			t.Fatalf("channel %d: got %v, want success or resource-shortage", i, err)
		}
	}
	if len(open) != 4 || shortage != channelFlood-4 {
		t.Errorf("%d channel opens: got %d opened and %d resource-shortage, want 4 and %d", channelFlood, len(open), shortage, channelFlood-4)
	}
	lr.g.logs.waitEvents(t, 0, "channel refused", allOf(c.is(), attrHas("reason", "MaxSessions")), channelFlood-4, waitTimeout)
	if got := lr.g.logs.find(0, "tunnel opened", c.is()); len(got) != 4 {
		t.Errorf("tunnel opened events: got %d, want 4", len(got))
	}
	peak := openFDs(t, lr.g)
	c.Close()
	lr.g.waitEvent(t, "connection closed", c.is(), waitTimeout)
	got := waitFDs(t, lr.g, base, 5*time.Second)
	t.Logf("gateway fds: %d before, %d during the flood, %d after", base, peak, got)
	if got > base {
		t.Errorf("gateway fds after the flood connection closed: got %d, want %d (before it)", got, base)
	}
}

// --- 9: MaxConnectionsPerKey --------------------------------------------------

func testMaxConnectionsPerKey(t *testing.T) {
	lr := startLimits(t, "MaxConnectionsPerKey 2")
	p1, l1 := lr.tunnel(t, lr.alice)
	p2, l2 := lr.tunnel(t, lr.alice)
	lr.g.logs.waitEvents(t, 0, "auth accepted", attrIs("name", "alice"), 2, waitTimeout)
	mark := lr.g.mark()
	if res := lr.g.ssh(t, lr.alice, "", "-N", lr.g.dest(lr.alice)); res.code != 255 {
		t.Errorf("alice's third connection: got %s, want exit 255", res)
	}
	ev := lr.g.waitEventAfter(t, mark, "connection refused", attrIs("name", "alice"))
	if !strings.Contains(fmt.Sprint(ev["reason"]), "MaxConnectionsPerKey") {
		t.Errorf("connection refused reason: got %q, want MaxConnectionsPerKey", ev["reason"])
	}
	if got := lr.g.logs.find(mark, "auth accepted", attrIs("name", "alice")); len(got) != 0 {
		t.Errorf("auth accepted for alice's third connection: got %v, want none", got)
	}
	_, l3 := lr.tunnel(t, lr.carol)
	expectServes(t, l3, lr.nanomq)
	for i, p := range []*proc{p1, p2} {
		if p.exited() {
			t.Fatalf("alice's connection %d: ssh exited (%d), want it kept: %s", i+1, p.code, p.stderr.String())
		}
	}
	expectServes(t, l1, lr.nanomq)
	expectServes(t, l2, lr.nanomq)
}

// --- 10: ChannelTimeout ----------------------------------------------------------

func testIdleChannelTimeout(t *testing.T) {
	lr := startLimits(t, "ChannelTimeout direct-tcpip=1s")
	p, lport := lr.tunnel(t, lr.alice)
	idle := make(chan error, 1)
	go func() { idle <- expectIdleClosed(lport) }()
	body, err := trickleGet(lport, 300*time.Millisecond, 3*time.Second)
	if err != nil || len(body) != len(lr.nanomq.body) {
		t.Errorf("GET whose headers trickle in for 3s: got %d bytes (%v), want the %d bytes upstream sent", len(body), err, len(lr.nanomq.body))
	}
	select {
	case err := <-idle:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("idle tunnel check did not finish within %v", waitTimeout)
	}
	lr.g.waitEvent(t, "tunnel closed", allOf(attrIs("name", "alice"), attrIs("reason", "closed")), waitTimeout)
	idled := lr.g.logs.find(0, "tunnel closed", attrIs("reason", "idle timeout (ChannelTimeout)"))
	if len(idled) != 1 {
		t.Errorf("tunnel closed for idleness: got %d events (%v), want 1 (the idle tunnel only)", len(idled), idled)
	}
	if p.exited() {
		t.Errorf("ssh exited (%d), want only the idle tunnel closed: %s", p.code, p.stderr.String())
	}
}

// expectIdleClosed opens a connection through the tunnel at lport, sends
// nothing, and checks the gateway closes it after about 1s.
func expectIdleClosed(lport int) error {
	start := time.Now()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", lport), 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := readToEOF(c, 5*time.Second); err != nil {
		return fmt.Errorf("idle tunnel: %w", err)
	}
	if took := time.Since(start); took < 900*time.Millisecond || took > 2500*time.Millisecond {
		return fmt.Errorf("idle tunnel closed after %v, want about 1s (ChannelTimeout)", took.Round(time.Millisecond))
	}
	return nil
}

// --- 11: UnusedConnectionTimeout -------------------------------------------------

func testUnusedConnectionTimeout(t *testing.T) {
	// 2s, not 1s: under load ssh may take over a second from auth to its
	// first tunnel, and the clock runs from auth.
	lr := startLimits(t, "UnusedConnectionTimeout 2s")
	t.Run("no-forward-disconnected", func(t *testing.T) {
		mark := lr.g.mark()
		p := startProc(t, sshEnv(""), nil, "ssh", lr.g.sshArgs(lr.alice, "-N", lr.g.dest(lr.alice))...)
		ev := lr.g.waitEventAfter(t, mark, "auth accepted", attrIs("name", "alice"))
		authed := time.Now()
		if _, ok := p.wait(5 * time.Second); !ok {
			t.Fatalf("ssh -N with no forward: still connected after 5s, want disconnected after about 2s")
		}
		expectWithin(t, "disconnected after", time.Since(authed), 1800*time.Millisecond, 4*time.Second)
		lr.g.waitEventAfter(t, mark, "connection closed", allOf(attrIs("conn", ev["conn"]), attrIs("reason", "unused connection timeout")))
	})
	t.Run("open-tunnel-keeps-it-then-clock-restarts", func(t *testing.T) {
		// A Go client opens its tunnel right after auth, so the test does
		// not depend on how fast ssh sets up -L on a loaded machine.
		c, err := dialGo(t, lr.g, &ssh.ClientConfig{User: lr.carol.name, Auth: []ssh.AuthMethod{ssh.PublicKeys(lr.carol.signer(t))}})
		if err != nil {
			t.Fatalf("carol login: %v", err)
		}
		tun, err := c.Dial("tcp", lr.nanomq.addr)
		if err != nil {
			t.Fatalf("carol tunnel: %v", err)
		}
		ended := make(chan struct{})
		go func() { c.Wait(); close(ended) }()
		select {
		case <-ended:
			t.Fatal("connection with an open tunnel: closed within 3s, want kept")
		case <-time.After(3 * time.Second):
		}
		tun.Close()
		closed := time.Now()
		select {
		case <-ended:
		case <-time.After(5 * time.Second):
			t.Fatal("connection still open 5s after its last tunnel closed, want closed after about 2s")
		}
		expectWithin(t, "disconnected after the last tunnel", time.Since(closed), 1800*time.Millisecond, 4*time.Second)
	})
}

// --- 12: ClientAliveInterval -------------------------------------------------------

func testClientAlive(t *testing.T) {
	lr := startLimits(t, "ClientAliveInterval 300ms", "ClientAliveCountMax 2")
	rl := startRelay(t, lr.g.addr)
	mark := lr.g.mark()
	live := startProc(t, sshEnv(""), nil, "ssh", lr.g.sshArgs(lr.carol, "-N", lr.g.dest(lr.carol))...)
	liveStart := time.Now()
	args := lr.g.sshArgsVia(lr.alice, rl.port, knownHostsFor(t, lr.g, rl.port), "-N", lr.g.dest(lr.alice))
	startProc(t, sshEnv(""), nil, "ssh", args...)
	relayed := lr.g.waitEventAfter(t, mark, "auth accepted", attrIs("name", "alice"))
	direct := lr.g.waitEventAfter(t, mark, "auth accepted", attrIs("name", "carol"))

	time.Sleep(time.Second) // keepalives answered through the relay
	if got := lr.g.logs.find(mark, "connection closed", nil); len(got) != 0 {
		t.Fatalf("connection closed before the link froze: got %v, want none", got)
	}
	rl.freeze()
	frozen := time.Now()
	lr.g.logs.waitEvents(t, mark, "connection closed",
		allOf(attrIs("conn", relayed["conn"]), attrIs("reason", "client alive timeout")), 1, 5*time.Second)
	expectWithin(t, "closed after the freeze", time.Since(frozen), 0, 1500*time.Millisecond)

	time.Sleep(time.Until(liveStart.Add(3 * time.Second)))
	if live.exited() {
		t.Fatalf("live ssh: exited (%d), want connected after 3s: %s", live.code, live.stderr.String())
	}
	if got := lr.g.logs.find(mark, "connection closed", attrIs("conn", direct["conn"])); len(got) != 0 {
		t.Errorf("live connection closed: got %v, want it kept", got)
	}
}

// --- 13: expiry-time passes ------------------------------------------------------

// testExpiryWithLiveTunnel gives alice's key an expiry-time 3-4s ahead
// while both her and carol's tunnels are live (by a rewrite of
// authorized_keys, so the setup time does not eat into the window), and
// checks her connection ends within 2s of the instant.
func testExpiryWithLiveTunnel(t *testing.T) {
	lr := startLimits(t)
	ap, aport := lr.tunnel(t, lr.alice)
	cp, cport := lr.tunnel(t, lr.carol)
	aliceHTTP, carolHTTP := newKeptAlive(t, aport), newKeptAlive(t, cport)
	aliceHTTP.expectGet(t, lr.nanomq, false)
	carolHTTP.expectGet(t, lr.nanomq, false)

	// expiry-time is local time, YYYYMMDDHHMMSS (keys/options.go).
	expiry := time.Now().Add(4 * time.Second).Truncate(time.Second)
	mark := lr.g.mark()
	replaceFile(t, lr.d.authKeys, strings.Join(lr.authorizedLines(`expiry-time="`+expiry.Format("20060102150405")+`"`), "\n")+"\n")
	lr.g.waitEventAfter(t, mark, "reloaded", nil)
	if time.Now().After(expiry.Add(-500 * time.Millisecond)) {
		t.Fatalf("reload came %v before the expiry, want time to check the tunnel first", time.Until(expiry))
	}
	aliceHTTP.expectGet(t, lr.nanomq, true)

	ev := lr.g.logs.waitEvents(t, mark, "connection revoked", attrIs("name", "alice"), 1, time.Until(expiry)+waitTimeout)[0]
	revoked := time.Now()
	if !strings.Contains(fmt.Sprint(ev["reason"]), "key expired") {
		t.Errorf("connection revoked reason: got %q, want key expired", ev["reason"])
	}
	if _, ok := ap.wait(waitTimeout); !ok {
		t.Fatalf("alice's ssh still running %v after her key expired", waitTimeout)
	}
	expectWithin(t, "revoked after the expiry instant", revoked.Sub(expiry), 0, 2*time.Second)
	expectWithin(t, "alice's ssh exited after the expiry instant", time.Since(expiry), 0, 2*time.Second)
	lr.g.waitEventAfter(t, mark, "connection closed", allOf(attrIs("name", "alice"), attrHas("reason", "key expired")))
	if cp.exited() {
		t.Fatalf("carol's ssh exited (%d), want it connected: %s", cp.code, cp.stderr.String())
	}
	carolHTTP.expectGet(t, lr.nanomq, true)
	expectAuthFails(t, lr.g, lr.alice, "expired", "-b", "127.0.13.1")
}

// --- 14-15: authorized_keys changes without a signal --------------------------------

func testAuthorizedKeysEdit(t *testing.T) {
	lr := startLimits(t)
	ap, aport := lr.tunnel(t, lr.alice)
	cp, cport := lr.tunnel(t, lr.carol)
	carolHTTP := newKeptAlive(t, cport)
	carolHTTP.expectGet(t, lr.nanomq, false)
	expectServes(t, aport, lr.nanomq)

	mark := lr.g.mark()
	replaceFile(t, lr.d.authKeys, lr.authorizedLines("")[1]+"\n") // carol's line only
	start := time.Now()
	lr.g.logs.waitEvents(t, mark, "files changed", nil, 1, 2*time.Second)
	lr.g.logs.waitEvents(t, mark, "reloaded", attrIs("keys", 1), 1, 2*time.Second)
	ev := lr.g.logs.waitEvents(t, mark, "connection revoked", attrIs("name", "alice"), 1, 2*time.Second)[0]
	if ev["reason"] != "key revoked" {
		t.Errorf("connection revoked reason: got %v, want key revoked", ev["reason"])
	}
	if _, ok := ap.wait(2*time.Second - time.Since(start)); !ok {
		t.Errorf("alice's ssh: still running %v after the edit, want it closed within 2s", time.Since(start).Round(time.Millisecond))
	}
	if got := lr.g.logs.find(mark, "connection revoked", attrIs("name", "carol")); len(got) != 0 || cp.exited() {
		t.Fatalf("carol: got revoked %v, ssh exited %v, want her connection kept", got, cp.exited())
	}
	carolHTTP.expectGet(t, lr.nanomq, true)
}

func testAuthorizedKeysDeleted(t *testing.T) {
	lr := startLimits(t)
	original := readFile(t, lr.d.authKeys)
	ap, _ := lr.tunnel(t, lr.alice)
	cp, _ := lr.tunnel(t, lr.carol)
	lr.g.logs.waitEvents(t, 0, "auth accepted", nil, 2, waitTimeout)

	mark := lr.g.mark()
	if err := os.Remove(lr.d.authKeys); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	lr.g.logs.waitEvents(t, mark, "reloaded", attrIs("keys", 0), 1, 2*time.Second)
	lr.g.logs.waitEvents(t, mark, "connection revoked", nil, 2, 2*time.Second)
	for name, p := range map[string]*proc{"alice": ap, "carol": cp} {
		if _, ok := p.wait(2*time.Second - time.Since(start)); !ok {
			t.Errorf("%s's ssh: still running %v after the delete, want it closed within 2s", name, time.Since(start).Round(time.Millisecond))
		}
	}
	lr.g.expectAlive(t)
	expectAuthFails(t, lr.g, lr.alice, "unknown key", "-b", "127.0.15.1")

	mark = lr.g.mark()
	replaceFile(t, lr.d.authKeys, original)
	lr.g.logs.waitEvents(t, mark, "reloaded", attrIs("keys", 2), 1, 2*time.Second)
	lr.expectSSHServed(t)
}

// --- 16: weak algorithms -------------------------------------------------------------

// testWeakClientAlgorithms: a client that insists on a weak algorithm
// finds no match. The gateway offers aes128-ctr here (sound, allowed
// without AllowInsecureAlgorithms) so that the hmac-sha1 client gets as
// far as the MAC negotiation: with the default ciphers it would already
// fail on aes128-ctr.
func testWeakClientAlgorithms(t *testing.T) {
	lr := prepLimits(t, "Ciphers aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes128-ctr")
	rsaOp := newRSAOperator(t, "rsa", 2048)
	lr.d.allow(t, rsaOp, "nanomq")
	lr.serve(t)
	expectWeakRefused(t, lr, rsaOp)
	t.Run("rsa-key-with-rsa-sha2-logs-in", func(t *testing.T) {
		lport := freePort(t)
		lr.g.forward(t, rsaOp, []string{"-L", lr.toNanomq(lport)}, lport)
		expectServes(t, lport, lr.nanomq)
		lr.g.waitEvent(t, "auth accepted", attrIs("fingerprint", rsaOp.fingerprint), waitTimeout)
	})
	t.Run("default-client-negotiates-modern-kex", func(t *testing.T) {
		lport := freePort(t)
		p := lr.g.forward(t, lr.alice, []string{"-v", "-L", lr.toNanomq(lport)}, lport)
		expectServes(t, lport, lr.nanomq)
		out := p.stderr.String()
		if !strings.Contains(out, "kex: algorithm: curve25519-sha256") && !strings.Contains(out, "kex: algorithm: mlkem768x25519-sha256") {
			t.Errorf("ssh -v: got no curve25519-sha256 or mlkem768x25519-sha256 kex line in:\n%s", out)
		}
	})
	t.Run("1024-bit-rsa-key-refused-by-serve", func(t *testing.T) {
		d := initGateway(t, "nanomq=127.0.0.1:8081")
		d.writeAuthorizedKeys(t, lr.alice.line(""), weakRSALine(t, "weak"))
		expectServeRefuses(t, d, "authorized_keys:2", "1024")
	})
	t.Run("1024-bit-rsa-key-refused-by-reload", func(t *testing.T) { testWeakKeyReload(t, lr) })
}

// expectWeakRefused runs stock ssh insisting on one weak algorithm at a
// time, each from a source of its own, and checks none gets in.
func expectWeakRefused(t *testing.T, lr *limitsRig, rsaOp *operator) {
	tests := []struct {
		name, src string
		op        *operator
		opts      []string
		want      string
	}{
		{"kex-diffie-hellman-group14-sha1", "127.0.16.1", lr.alice, []string{"-o", "KexAlgorithms=diffie-hellman-group14-sha1"}, "no matching key exchange method found"},
		{"cipher-aes128-cbc", "127.0.16.2", lr.alice, []string{"-o", "Ciphers=aes128-cbc"}, "no matching cipher found"},
		{"mac-hmac-sha1", "127.0.16.3", lr.alice, []string{"-o", "MACs=hmac-sha1", "-o", "Ciphers=aes128-ctr"}, "no matching MAC found"},
		{"pubkey-ssh-rsa", "127.0.16.4", rsaOp, []string{"-o", "PubkeyAcceptedAlgorithms=ssh-rsa"}, "Permission denied (publickey)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-v", "-b", tt.src}, tt.opts...) // -v: LogLevel=ERROR hides the reason
			res := lr.g.ssh(t, tt.op, "", append(args, lr.g.dest(tt.op), "true")...)
			if res.code != 255 || !strings.Contains(res.stderr, tt.want) {
				t.Errorf("ssh %s: got exit %d, stderr:\n%s\nwant exit 255 and %q", strings.Join(tt.opts, " "), res.code, res.stderr, tt.want)
			}
			lr.g.waitEvent(t, "handshake failed", attrHas("source", tt.src+":"), waitTimeout)
			if got := lr.g.logs.find(0, "auth accepted", attrHas("source", tt.src+":")); len(got) != 0 {
				t.Errorf("auth accepted from %s: got %v, want none", tt.src, got)
			}
		})
	}
}

// testWeakKeyReload adds a 1024-bit RSA key to the running gateway's
// authorized_keys: the reload fails naming the line, the last good keys stay.
func testWeakKeyReload(t *testing.T, lr *limitsRig) {
	original := readFile(t, lr.d.authKeys)
	line := strings.Count(original, "\n") + 1
	mark := lr.g.mark()
	replaceFile(t, lr.d.authKeys, original+weakRSALine(t, "weak")+"\n")
	ev := lr.g.waitEventAfter(t, mark, "reload failed", nil)
	if e := fmt.Sprint(ev["error"]); !strings.Contains(e, fmt.Sprintf("authorized_keys:%d", line)) || !strings.Contains(e, "1024") {
		t.Errorf("reload failed error: got %q, want authorized_keys:%d and 1024", e, line)
	}
	expectLegitServed(t, lr.g, lr.alice, "nanomq", lr.nanomq)
}

// --- 17: the version string ------------------------------------------------------

func testVersionString(t *testing.T) {
	lr := startLimits(t)
	c := rawFrom(t, lr.g, "127.0.17.1")
	got, err := readLine(c, 5*time.Second)
	if got != bannerLine {
		t.Errorf("banner: got %q (%v), want exactly %q (no library, version or comment)", got, err, bannerLine)
	}
}
