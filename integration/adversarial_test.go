package integration

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// advCase is one named case of the adversarial suite.
type advCase struct {
	name string
	run  func(t *testing.T)
}

// TestAdversarial is the adversarial suite: each subtest is one attack on
// the running gateway, asserting the refusal, its audit event and, where
// the attack is about availability, that a legitimate client is served.
// Most cases share one gateway; those that signal, revoke or count
// upstream connections run their own. Attackers connect from loopback
// addresses of their own (127.0.0.0/8): the gateway's per-source penalties
// would otherwise fall on the legitimate clients' 127.0.0.1.
func TestAdversarial(t *testing.T) {
	t.Parallel()
	s := newShared(t)
	cases := []advCase{{"cve-2024-45337-offered-key-grants-nothing", testOfferedKeyGrantsNothing}}
	cases = append(cases, s.channelCases()...)
	cases = append(cases, s.requestCases()...)
	cases = append(cases,
		advCase{"malformed-direct-tcpip-payloads", testMalformedDirectTCPIP},
		advCase{"control-characters-in-user-name", testControlCharsInUserName},
		advCase{"control-characters-in-target", s.testControlCharsInTarget},
		advCase{"sighup-with-broken-config", func(t *testing.T) { testSIGHUPWithBrokenFile(t, breakConfig) }},
		advCase{"sighup-with-broken-authorized-keys", func(t *testing.T) { testSIGHUPWithBrokenFile(t, breakAuthorizedKeys) }},
		advCase{"sigterm-while-slow-request-in-flight", testSIGTERMWithSlowRequest},
		advCase{"corrupt-host-key", testCorruptHostKey},
	)
	cases = append(cases, wrongModeCases()...)
	cases = append(cases, advCase{"revoke-one-of-two-live-tunnels", testRevokeOneOfTwo})
	cases = append(cases, s.rejectedKeyCases()...)
	cases = append(cases,
		advCase{"huge-user-name-and-many-auth-requests", testManyAuthRequests},
		advCase{"pre-auth-garbage", s.testPreAuthGarbage},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t)
		})
	}
}

// shared is the gateway most cases use: alice is granted nanomq; dave's key
// has expired, erin's is limited to 127.0.0.2 and mallory's is unknown.
type shared struct {
	*rig
	g                   *gateway
	dave, erin, mallory *operator
}

func newShared(t testing.TB) *shared {
	t.Helper()
	s := &shared{rig: newRig(t)}
	s.dave, s.erin, s.mallory = newOperator(t, "dave"), newOperator(t, "erin"), newOperator(t, "mallory")
	for _, op := range []*operator{s.alice, s.dave, s.erin} {
		s.d.allow(t, op, "nanomq")
	}
	s.d.writeAuthorizedKeys(t,
		s.alice.line("restrict,port-forwarding"),
		s.dave.line(`restrict,port-forwarding,expiry-time="20200101"`),
		s.erin.line(`restrict,port-forwarding,from="127.0.0.2"`))
	s.g = s.d.serve(t)
	return s
}

// --- 1: identity from the signing key ------------------------------------

// testOfferedKeyGrantsNothing is CVE-2024-45337's shape with stock OpenSSH:
// `-i alice.pub -i bob_key` offers alice's public key (the gateway would
// accept it, but her private key is not on disk), then signs with bob's.
// The connection must be bob's, and nanomq, granted only to alice, denied.
func testOfferedKeyGrantsNothing(t *testing.T) {
	r := newRig(t)
	bob := newOperator(t, "bob")
	r.d.allow(t, r.alice, "nanomq")
	r.d.allow(t, bob, "other")
	g := r.d.serve(t)
	if err := os.Remove(r.alice.key); err != nil {
		t.Fatal(err)
	}
	lport := freePort(t)
	args := g.sshArgsNoIdentity("-v", "-i", r.alice.pub, "-i", bob.key,
		"-N", "-o", "ExitOnForwardFailure=yes", "-L", r.toNanomq(lport), g.dest(bob))
	p := startProc(t, sshEnv(""), nil, "ssh", args...)
	waitListening(t, p, lport)

	ev := g.waitEvent(t, "auth accepted", nil, waitTimeout)
	if ev["name"] != "bob" || ev["fingerprint"] != bob.fingerprint {
		t.Fatalf("auth accepted: got name %v fingerprint %v, want bob %s", ev["name"], ev["fingerprint"], bob.fingerprint)
	}
	expectDenied(t, g, lport, "nanomq", "not granted")
	if got := g.logs.find(0, "auth accepted", attrIs("fingerprint", r.alice.fingerprint)); len(got) != 0 {
		t.Errorf("auth accepted for alice's offered key: got %v, want none", got)
	}
	r.expectUntouched(t)
	if want := "Server accepts key: " + r.alice.pub; !strings.Contains(p.stderr.String(), want) {
		t.Errorf("ssh -v output: got no %q, want it (alice's key must be offered and accepted for the case to mean anything):\n%s", want, p.stderr.String())
	}
}

// --- 2-9: refused channel types -------------------------------------------

type hostPort struct {
	Host string
	Port uint32
}

// channelCases open every channel type the gateway refuses as alice, who
// is granted nanomq, and then a granted tunnel on the same connection.
func (s *shared) channelCases() []advCase {
	const notAllowed, unknown = "channel type not allowed", "unknown channel type"
	tests := []struct {
		name, typ string
		payload   []byte
		want      ssh.RejectionReason
		reason    string
	}{
		{"channel-session-refused", "session", nil, ssh.Prohibited, notAllowed},
		{"channel-x11-refused", "x11", ssh.Marshal(hostPort{"127.0.0.1", 6010}), ssh.Prohibited, notAllowed},
		{"channel-auth-agent-refused", "auth-agent@openssh.com", nil, ssh.Prohibited, notAllowed},
		{"channel-forwarded-tcpip-refused", "forwarded-tcpip",
			ssh.Marshal(directTCPIPMsg{"127.0.0.1", uint32(s.nanomq.port), "127.0.0.1", 4242}), ssh.Prohibited, notAllowed},
		{"channel-direct-streamlocal-refused", "direct-streamlocal@openssh.com", ssh.Marshal(struct {
			Path, Reserved string
			Reserved2      uint32
		}{"/run/nanomq.sock", "", 0}), ssh.Prohibited, notAllowed},
		{"channel-forwarded-streamlocal-refused", "forwarded-streamlocal@openssh.com",
			ssh.Marshal(struct{ Path, Reserved string }{"/run/nanomq.sock", ""}), ssh.Prohibited, notAllowed},
		{"channel-tun-refused", "tun@openssh.com", ssh.Marshal(struct{ Mode, Unit uint32 }{1, 0x7fffffff}), ssh.Prohibited, notAllowed},
		{"channel-unknown-type-refused", "evil@example.com", []byte("\x00\x00\x00\x04evil\xff"), ssh.UnknownChannelType, unknown},
	}
	out := make([]advCase, 0, len(tests))
	for _, tt := range tests {
		out = append(out, advCase{tt.name, func(t *testing.T) {
			c := dialTagged(t, s.g, s.alice, tt.name)
			mark := s.g.mark()
			expectOpenRefused(t, c.Client, tt.typ, tt.payload, tt.want)
			s.g.waitEventAfter(t, mark, "channel refused",
				allOf(c.is(), attrIs("type", tt.typ), attrIs("name", "alice"), attrIs("reason", tt.reason)))
			expectGetVia(t, c.Client, "nanomq", s.nanomq)
		}})
	}
	return out
}

// --- 10-14: refused global requests ---------------------------------------

// requestCases send global requests the gateway refuses, each wanting a
// reply, and then use the same connection for a granted tunnel.
func (s *shared) requestCases() []advCase {
	refused := func(typ string) func(map[string]any) bool {
		return allOf(attrIs("type", typ), attrIs("name", "alice"))
	}
	tests := []struct {
		name, typ string
		payload   []byte
		event     string
		match     func(map[string]any) bool
	}{
		{"request-tcpip-forward-refused", "tcpip-forward", ssh.Marshal(hostPort{"0.0.0.0", 8081}),
			"request refused", refused("tcpip-forward")},
		{"request-cancel-tcpip-forward-refused", "cancel-tcpip-forward", ssh.Marshal(hostPort{"0.0.0.0", 8081}),
			"request refused", refused("cancel-tcpip-forward")},
		{"request-streamlocal-forward-refused", "streamlocal-forward@openssh.com",
			ssh.Marshal(struct{ Path string }{"/tmp/loopgate-evil.sock"}),
			"request refused", refused("streamlocal-forward@openssh.com")},
		{"request-unknown-want-reply-refused", "evil@example.com", []byte("\x00\x00\x00\x04evil\xff"),
			"request refused", refused("evil@example.com")},
		{"request-token-malformed-payload-denied", "token@loopgate", []byte{0, 0, 0, 200, 'n', 'a', 'n', 'o'},
			"token denied", allOf(attrIs("name", "alice"), attrHas("reason", "token request payload"))},
	}
	out := make([]advCase, 0, len(tests))
	for _, tt := range tests {
		out = append(out, advCase{tt.name, func(t *testing.T) {
			c := dialTagged(t, s.g, s.alice, tt.name)
			mark := s.g.mark()
			ok, reply, err := c.SendRequest(tt.typ, true, tt.payload)
			if err != nil || ok || len(reply) != 0 {
				t.Fatalf("global request %s: got ok=%v reply=%q err=%v, want ok=false, no reply payload", tt.typ, ok, reply, err)
			}
			s.g.waitEventAfter(t, mark, tt.event, allOf(c.is(), tt.match))
			expectGetVia(t, c.Client, "nanomq", s.nanomq)
		}})
	}
	return out
}

// --- 15: malformed direct-tcpip -------------------------------------------

// randomPayloads is how many seeded random direct-tcpip payloads case 15 sends.
const randomPayloads = 200

func testMalformedDirectTCPIP(t *testing.T) {
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq")
	g := r.d.serve(t)
	c := dialTagged(t, g, r.alice, "malformed")
	start := g.mark()
	tests := malformedPayloads(uint32(r.nanomq.port))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mark := g.mark()
			expectOpenRefused(t, c.Client, "direct-tcpip", tt.payload, tt.want)
			g.waitEventAfter(t, mark, "tunnel denied", allOf(c.is(), attrHas("reason", tt.reason)))
		})
	}
	rng := rand.New(rand.NewPCG(45337, 15))
	for i := range randomPayloads {
		p := randomDirectTCPIP(rng)
		if _, err := openRefusal(c.Client, "direct-tcpip", p); err != nil {
			t.Fatalf("random payload %d (%x): %v", i, p, err)
		}
	}
	n := len(tests) + randomPayloads
	g.logs.waitEvents(t, start, "tunnel denied", c.is(), n, waitTimeout)
	denied := g.logs.find(start, "tunnel denied", c.is())
	if len(denied) != n {
		t.Errorf("tunnel denied events: got %d, want %d (one per open)", len(denied), n)
	}
	parsed := 0
	for _, ev := range denied {
		if fmt.Sprint(ev["reason"]) == "" {
			t.Errorf("tunnel denied: got %v, want a reason", ev)
		}
		if _, ok := ev["host"]; ok {
			parsed++
		}
	}
	t.Logf("%d opens denied: %d after parsing (policy), %d as malformed", len(denied), parsed, len(denied)-parsed)
	expectFieldBounded(t, g, "host", maxLoggedString)
	for _, msg := range []string{"tunnel opened", "tunnel failed"} {
		if got := g.logs.find(start, msg, nil); len(got) != 0 {
			t.Errorf("%s events: got %d (%v), want none", msg, len(got), got[0])
		}
	}
	g.expectAlive(t)
	r.expectUntouched(t)
	expectCleanLog(t, g)
	expectGetVia(t, c.Client, "nanomq", r.nanomq) // the same connection still works
}

type malformedPayload struct {
	name    string
	payload []byte
	want    ssh.RejectionReason
	reason  string
}

// malformedPayloads are direct-tcpip payloads that must not open a tunnel;
// several name the granted service nanomq on its port.
func malformedPayloads(port uint32) []malformedPayload {
	valid := directTCPIP("nanomq", port)
	const malformed = "malformed direct-tcpip request"
	return []malformedPayload{
		{"empty", nil, ssh.ConnectionFailed, malformed},
		{"truncated string length", []byte{0, 0, 0, 10, 'n', 'a'}, ssh.ConnectionFailed, malformed},
		{"length 0xffffffff", append([]byte{0xff, 0xff, 0xff, 0xff}, valid[4:]...), ssh.ConnectionFailed, malformed},
		{"trailing bytes", append(slices.Clone(valid), 'x'), ssh.ConnectionFailed, malformed},
		{"no originator", ssh.Marshal(hostPort{"nanomq", port}), ssh.ConnectionFailed, malformed},
		{"port above 65535", directTCPIP("nanomq", 1<<16+port), ssh.Prohibited, "invalid port"},
		{"port 0", directTCPIP("nanomq", 0), ssh.Prohibited, "invalid port"},
		{"host with NUL", directTCPIP("nanomq\x00", port), ssh.Prohibited, "no such service"},
		{"64 KiB host", directTCPIP(strings.Repeat("n", 64<<10), port), ssh.Prohibited, "no such service"},
	}
}

// randomDirectTCPIP is either random bytes or a well-framed payload with a
// random host and ports, possibly cut short.
func randomDirectTCPIP(rng *rand.Rand) []byte {
	if rng.IntN(2) == 0 {
		return randomBytes(rng, rng.IntN(512))
	}
	host := string(randomBytes(rng, rng.IntN(64)))
	p := ssh.Marshal(directTCPIPMsg{host, rng.Uint32(), "127.0.0.1", rng.Uint32()})
	if rng.IntN(4) == 0 {
		p = p[:rng.IntN(len(p))]
	}
	return p
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return b
}

// --- 16-17: control characters in peer strings ----------------------------

// maxLoggedString is the longest a peer-supplied string may be in a log
// event: the gateway cuts them to 256 bytes and marks the cut with "...".
const maxLoggedString = 260

func testControlCharsInUserName(t *testing.T) {
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq")
	g := r.d.serve(t)
	stranger := newGoSigner(t)
	tests := []struct{ name, user, want string }{ // want "": only bounded and clean
		{"newline", "ali\nce", `ali\nce`},
		{"ansi escape", "\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"json injection", `"}{"x":"y`, `"}{"x":"y`},
		{"invalid utf-8", "al\xff\xfeice", `al\xff\xfeice`},
		{"10 KiB printable", strings.Repeat("u", 10<<10), strings.Repeat("u", 256) + "..."},
		{"10 KiB escapes", strings.Repeat("\x1b", 10<<10), ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The unknown key logs in from a source of its own each time,
			// so its failures earn neither 127.0.0.1 nor the next one a penalty.
			strangerSource := fmt.Sprintf("127.0.16.%d", i+1)
			mark := g.mark()
			c, err := dialGo(t, g, &ssh.ClientConfig{User: tt.user, Auth: []ssh.AuthMethod{ssh.PublicKeys(r.alice.signer(t))}})
			if err != nil {
				t.Fatalf("login as alice with user %.40q: %v", tt.user, err)
			}
			c.Close()
			cfg := &ssh.ClientConfig{User: tt.user, Auth: []ssh.AuthMethod{ssh.PublicKeys(stranger)}}
			if _, err := dialAttacker(g, strangerSource, cfg, nil); err == nil {
				t.Fatalf("login with an unknown key: got success, want failure")
			}
			accepted := g.waitEventAfter(t, mark, "auth accepted", attrIs("name", "alice"))
			rejected := g.waitEventAfter(t, mark, "auth rejected", attrIs("fingerprint", ssh.FingerprintSHA256(stranger.PublicKey())))
			for _, ev := range []map[string]any{accepted, rejected} {
				expectLoggedUser(t, ev, tt.want)
			}
		})
	}
	expectCleanLog(t, g)
	if got := g.logs.find(0, "", func(ev map[string]any) bool { _, ok := ev["x"]; return ok }); len(got) != 0 {
		t.Errorf("events with an injected field x: got %v, want none", got)
	}
}

// expectLoggedUser checks an event's user field is want (when set), at
// most maxLoggedString bytes and printable ASCII.
func expectLoggedUser(t testing.TB, ev map[string]any, want string) {
	t.Helper()
	user, _ := ev["user"].(string)
	if want != "" && user != want {
		t.Errorf("%s user: got %.300q, want %.300q", ev["msg"], user, want)
	}
	if len(user) > maxLoggedString {
		t.Errorf("%s user: got %d bytes (%.40q...), want at most %d", ev["msg"], len(user), user, maxLoggedString)
	}
	if i := strings.IndexFunc(user, func(r rune) bool { return r < 0x20 || r > 0x7e }); i >= 0 {
		t.Errorf("%s user: got %.300q, want printable ASCII (escaped)", ev["msg"], user)
	}
}

// newGoSigner is a fresh ed25519 key that no gateway knows.
func newGoSigner(t testing.TB) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatalf("signer: %v", err)
	}
	return s
}

func (s *shared) testControlCharsInTarget(t *testing.T) {
	c := dialTagged(t, s.g, s.alice, "control-target")
	tests := []struct{ name, host, want string }{
		{"newline", "nano\nmq", `nano\nmq`},
		{"nul", "nanomq\x00", `nanomq\x00`},
		{"crlf", "127.0.0.1\r\n", `127.0.0.1\r\n`},
		{"osc title", "\x1b]0;x\x07", `\x1b]0;x\a`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mark := s.g.mark()
			expectOpenRefused(t, c.Client, "direct-tcpip", directTCPIP(tt.host, uint32(s.nanomq.port)), ssh.Prohibited)
			ev := s.g.waitEventAfter(t, mark, "tunnel denied", c.is())
			if ev["host"] != tt.want {
				t.Errorf("tunnel denied host: got %q, want %q", ev["host"], tt.want)
			}
			if !strings.Contains(fmt.Sprint(ev["reason"]), "no such service") {
				t.Errorf("tunnel denied reason: got %q, want no such service", ev["reason"])
			}
		})
	}
	expectCleanLog(t, s.g)
	expectGetVia(t, c.Client, "nanomq", s.nanomq)
}

// --- 18-19: reload with a broken file -------------------------------------

// garbage is what a half-written or clobbered file might hold.
const garbage = "\x00\xff\xfe{{{ not a config\nListen\nssh-ed25519 %%%garbage%%% mallory\n\x1b[2J\n"

func breakConfig(t testing.TB, d *gwDir) string {
	replaceFile(t, d.conf, garbage)
	return d.conf
}

func breakAuthorizedKeys(t testing.TB, d *gwDir) string {
	replaceFile(t, d.authKeys, garbage)
	return d.authKeys
}

// testSIGHUPWithBrokenFile checks a reload from a broken file keeps the last
// good configuration: a live tunnel, new channels on its connection and a
// new connection all still work.
func testSIGHUPWithBrokenFile(t *testing.T, breakFile func(testing.TB, *gwDir) string) {
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq")
	g := r.d.serve(t)
	lport := freePort(t)
	p := g.forward(t, r.alice, []string{"-L", r.toNanomq(lport)}, lport)
	live := newKeptAlive(t, lport)
	live.expectGet(t, r.nanomq, false)

	file := breakFile(t, r.d)
	ev := g.reload(t, "reload failed")
	if !strings.Contains(fmt.Sprint(ev["error"]), filepath.Base(file)) {
		t.Errorf("reload failed error: got %q, want it to name %s", ev["error"], filepath.Base(file))
	}
	g.expectAlive(t)
	if p.exited() {
		t.Fatalf("ssh exited with code %d after the failed reload: %s", p.code, p.stderr.String())
	}
	live.expectGet(t, r.nanomq, true)
	expectServes(t, lport, r.nanomq)

	again := freePort(t)
	g.forward(t, r.alice, []string{"-L", r.toNanomq(again)}, again)
	expectServes(t, again, r.nanomq)
}

// --- 20: SIGTERM while a slow request is in flight --------------------------

func testSIGTERMWithSlowRequest(t *testing.T) {
	needOpenSSH(t)
	slow, arrived := startSlowUpstream(t, "slow", 2*time.Second)
	d := initGateway(t, "slow="+slow.addr)
	setDrainTimeout(t, d, "8s")
	alice := newOperator(t, "alice")
	d.allow(t, alice, "slow")
	g := d.serve(t)
	lport := freePort(t)
	g.forward(t, alice, []string{"-L", fmt.Sprintf("%d:slow:%d", lport, slow.port)}, lport)

	got := make(chan fetched, 1)
	go func() { got <- fetchOnce(lport) }()
	select {
	case <-arrived:
	case <-time.After(waitTimeout):
		t.Fatalf("the request did not reach the upstream within %v", waitTimeout)
	}
	time.Sleep(500 * time.Millisecond)
	signalled := time.Now()
	g.signal(t, syscall.SIGTERM)
	g.waitEvent(t, "shutting down", nil, waitTimeout)

	var res fetched
	select {
	case res = <-got:
	case <-time.After(waitTimeout):
		t.Fatalf("no response within %v of SIGTERM", waitTimeout)
	}
	if res.err != nil || !bytes.Equal(res.body, slow.body) || !res.at.After(signalled) {
		t.Fatalf("response: got %d bytes at +%v after SIGTERM (%v), want the %d bytes upstream sent, after SIGTERM",
			len(res.body), res.at.Sub(signalled), res.err, len(slow.body))
	}
	expectStopped(t, g)
}

// fetched is the outcome of one GET.
type fetched struct {
	body []byte
	at   time.Time // when the body was complete
	err  error
}

// fetchOnce GETs / through lport without keep-alive, so the tunnel closes
// after the response.
func fetchOnce(lport int) fetched {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: cmdTimeout}
	body, _, err := (&keptAlive{client: client, url: fmt.Sprintf("http://127.0.0.1:%d/", lport)}).get()
	return fetched{body: body, at: time.Now(), err: err}
}

// expectStopped checks g exits 0 after a drain that no deadline cut short.
func expectStopped(t testing.TB, g *gateway) {
	t.Helper()
	code, ok := g.wait(waitTimeout)
	if !ok {
		t.Fatalf("gateway still running %v after the response, want exit", waitTimeout)
	}
	if code != 0 {
		t.Errorf("gateway exit code: got %d, want 0", code)
	}
	g.waitEvent(t, "stopped", nil, waitTimeout)
	if got := g.logs.find(0, "drain deadline reached; open tunnels were closed", nil); len(got) != 0 {
		t.Errorf("drain deadline event: got %v, want none", got)
	}
}

// --- 21-25: files the gateway must refuse to start with --------------------

func testCorruptHostKey(t *testing.T) {
	d := initGateway(t, "nanomq=127.0.0.1:8081")
	writeFile(t, d.hostKey, "-----BEGIN OPENSSH PRIVATE KEY-----\n"+garbage+"-----END OPENSSH PRIVATE KEY-----\n")
	expectServeRefuses(t, d, filepath.Base(d.hostKey))
}

func wrongModeCases() []advCase {
	tests := []struct {
		name string
		file func(*gwDir) string
		mode os.FileMode
	}{
		{"wrong-mode-host-key-0644", func(d *gwDir) string { return d.hostKey }, 0o644},
		{"wrong-mode-authorized-keys-0666", func(d *gwDir) string { return d.authKeys }, 0o666},
		{"wrong-mode-gateway-conf-0666", func(d *gwDir) string { return d.conf }, 0o666},
		{"wrong-mode-token-key-0644", func(d *gwDir) string { return filepath.Join(d.dir, "jwtRS256.key") }, 0o644},
	}
	out := make([]advCase, 0, len(tests))
	for _, tt := range tests {
		out = append(out, advCase{tt.name, func(t *testing.T) {
			d := initGateway(t, "nanomq=127.0.0.1:8081")
			file := tt.file(d)
			if err := os.Chmod(file, tt.mode); err != nil {
				t.Fatalf("chmod %s: %v", file, err)
			}
			expectServeRefuses(t, d, filepath.Base(file), fmt.Sprintf("%04o", tt.mode))
		}})
	}
	return out
}

// --- 26: live revocation ----------------------------------------------------

func testRevokeOneOfTwo(t *testing.T) {
	r := newRig(t)
	carol := newOperator(t, "carol")
	r.d.allow(t, r.alice, "nanomq")
	r.d.allow(t, carol, "nanomq")
	g := r.d.serve(t)
	ap, cp := freePort(t), freePort(t)
	aliceSSH := g.forward(t, r.alice, []string{"-L", r.toNanomq(ap)}, ap)
	carolSSH := g.forward(t, carol, []string{"-L", r.toNanomq(cp)}, cp)
	aliceHTTP, carolHTTP := newKeptAlive(t, ap), newKeptAlive(t, cp)
	aliceHTTP.expectGet(t, r.nanomq, false)
	carolHTTP.expectGet(t, r.nanomq, false)

	mark := g.mark() // the gateway may pick the change up before SIGHUP
	if res := r.d.gateway(t, "revoke", "--name", "alice"); res.code != 0 {
		t.Fatalf("gateway revoke: %s", res)
	}
	start := time.Now()
	g.signal(t, syscall.SIGHUP)
	g.waitEventAfter(t, mark, "reloaded", nil)
	ev := g.logs.waitEvents(t, mark, "connection revoked", attrIs("name", "alice"), 1, 2*time.Second)[0]
	if _, ok := aliceSSH.wait(waitTimeout); !ok || time.Since(start) > 2*time.Second {
		t.Errorf("alice's ssh: exited %v, %v after revoke and SIGHUP; want it to exit within 2s", ok, time.Since(start).Round(time.Millisecond))
	}
	g.waitEventAfter(t, mark, "connection closed", allOf(attrIs("conn", ev["conn"]), attrHas("reason", "key revoked")))
	if got := g.logs.find(mark, "connection revoked", attrIs("name", "carol")); len(got) != 0 {
		t.Errorf("carol's connection revoked: got %v, want it kept", got)
	}
	if carolSSH.exited() {
		t.Fatalf("carol's ssh exited with code %d, want it still connected: %s", carolSSH.code, carolSSH.stderr.String())
	}
	carolHTTP.expectGet(t, r.nanomq, true)
	expectServes(t, cp, r.nanomq)
	if _, _, err := aliceHTTP.get(); err == nil {
		t.Errorf("GET through alice's revoked tunnel: got success, want failure")
	}
}

// --- 27: keys that must not log in -----------------------------------------

// rejectedKeyCases log in with keys the shared gateway must refuse, each
// from its own source address so that the penalties they earn do not fall
// on the other cases' 127.0.0.1.
func (s *shared) rejectedKeyCases() []advCase {
	return []advCase{
		{"unknown-key-rejected", func(t *testing.T) {
			ev := expectAuthFails(t, s.g, s.mallory, "unknown key", "-b", "127.0.0.27")
			if !strings.HasPrefix(fmt.Sprint(ev["source"]), "127.0.0.27:") {
				t.Errorf("auth rejected source: got %v, want 127.0.0.27:PORT", ev["source"])
			}
		}},
		{"expired-key-rejected", func(t *testing.T) { expectAuthFails(t, s.g, s.dave, "expired", "-b", "127.0.0.28") }},
		{"from-mismatch-rejected", func(t *testing.T) {
			ev := expectAuthFails(t, s.g, s.erin, "from=", "-b", "127.0.0.29")
			if !strings.Contains(fmt.Sprint(ev["reason"]), "127.0.0.29") {
				t.Errorf("auth rejected reason: got %v, want it to name the source 127.0.0.29", ev["reason"])
			}
		}},
	}
}

// --- 28: authentication floods --------------------------------------------

// maxAuthAttempts bounds the attempts one connection gets before the
// gateway hangs up: MaxAuthTries (6) failures, plus, where x/crypto alone
// counts, as many uncounted public key queries.
const maxAuthAttempts = 12

// floodAttempts is how many attempts a flood would make if let.
const floodAttempts = 50

// hugeUser is the SSH user name the floods log in with.
var hugeUser = strings.Repeat("u", 100<<10)

var errHungUp = errors.New("the gateway hung up")

func testManyAuthRequests(t *testing.T) {
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq")
	g := r.d.serve(t)
	t.Run("methods-not-offered", func(t *testing.T) {
		// x/crypto's client sends "none" only once; password and
		// keyboard-interactive attempts count as repeated "none" do.
		i := 0
		sent, src := authFlood(t, r, g, "127.0.0.61", func() ssh.AuthMethod {
			if i++; i%2 == 0 {
				return ssh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) { return nil, nil })
			}
			return ssh.Password("public")
		})
		t.Logf("methods-not-offered: %d attempts sent before the gateway hung up", sent)
		if sent > maxAuthAttempts/2+1 {
			t.Errorf("attempts before the gateway hung up: got %d, want at most %d", sent, maxAuthAttempts/2+1)
		}
		g.waitEvent(t, "handshake failed", attrIs("source", src), waitTimeout)
	})
	t.Run("unknown-keys", func(t *testing.T) {
		signers := make([]ssh.Signer, floodAttempts)
		for i := range signers {
			signers[i] = newGoSigner(t)
		}
		i := 0
		sent, src := authFlood(t, r, g, "127.0.0.62", func() ssh.AuthMethod { i++; return ssh.PublicKeys(signers[i-1]) })
		g.waitEvent(t, "handshake failed", attrIs("source", src), waitTimeout)
		rejected := g.logs.find(0, "auth rejected", attrIs("source", src))
		t.Logf("unknown-keys: %d keys sent, %d auth rejected events before the gateway hung up", sent, len(rejected))
		if sent > maxAuthAttempts || len(rejected) == 0 || len(rejected) > sent {
			t.Errorf("unknown keys: got %d sent and %d auth rejected events, want 1..%d of each", sent, len(rejected), maxAuthAttempts)
		}
		for _, ev := range rejected {
			if ev["reason"] != "unknown key" {
				t.Errorf("auth rejected reason: got %v, want unknown key", ev["reason"])
			}
		}
	})
	expectFieldBounded(t, g, "user", maxLoggedString)
	expectCleanLog(t, g)
	expectLegitServed(t, g, r.alice, "nanomq", r.nanomq)
}

// authFlood logs in from src as hugeUser with up to floodAttempts methods
// from next, and checks the gateway hangs up on it while alice is served
// in the middle of it. It returns the attempts sent before the gateway hung
// up and the flood's source address.
func authFlood(t *testing.T, r *rig, g *gateway, src string, next func() ssh.AuthMethod) (sent int, addr string) {
	t.Helper()
	var floodErr error
	a := startAttack(t, func(pause func()) error {
		var conn *hangupConn
		cfg := &ssh.ClientConfig{User: hugeUser, AuthCallback: func(*ssh.ClientAuthContext) (ssh.AuthMethod, error) {
			switch {
			case conn.hungUp.Load():
				return nil, errHungUp
			case sent == floodAttempts:
				return nil, fmt.Errorf("sent %d attempts and the gateway is still listening", sent)
			case sent == 3:
				pause()
			}
			sent++
			return next(), nil
		}}
		addr, floodErr = dialAttacker(g, src, cfg, &conn)
		return nil
	})
	a.during(t, func() { expectLegitServed(t, g, r.alice, "nanomq", r.nanomq) })
	_ = a.wait(t) // the outcome is floodErr
	if floodErr == nil || !errors.Is(floodErr, errHungUp) && !strings.Contains(floodErr.Error(), "too many authentication failures") {
		t.Errorf("auth flood: got %v, want the gateway to hang up (too many authentication failures)", floodErr)
	}
	return sent, addr
}

// --- 29: garbage before the version exchange --------------------------------

func (s *shared) testPreAuthGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 29))
	line := append([]byte("SSH-2.0-"), bytes.Repeat([]byte("A"), 300<<10)...)
	tests := []struct {
		name, src string
		data      []byte
	}{
		{"random-bytes", "127.0.0.91", randomBytes(rng, 64<<10)},
		{"300-KiB-version-line", "127.0.0.92", append(line, "\r\n"...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var addr string
			a := startAttack(t, func(pause func()) error {
				var err error
				addr, err = sendGarbage(s.g, tt.src, tt.data, pause)
				return err
			})
			a.during(t, func() { expectLegitServed(t, s.g, s.alice, "nanomq", s.nanomq) })
			if err := a.wait(t); err != nil {
				t.Fatal(err)
			}
			ev := s.g.waitEvent(t, "handshake failed", attrIs("source", addr), waitTimeout)
			if !strings.Contains(fmt.Sprint(ev["reason"]), "version") {
				t.Errorf("handshake failed reason: got %q, want one about the version string", ev["reason"])
			}
			s.g.expectAlive(t)
			expectLegitServed(t, s.g, s.alice, "nanomq", s.nanomq)
		})
	}
}

// sendGarbage connects to g from src, reads its version line, sends the
// first 100 bytes of data, pauses, sends the rest and checks the gateway
// closes the connection well before LoginGraceTime. It returns the address
// the gateway saw.
func sendGarbage(g *gateway, src string, data []byte, pause func()) (string, error) {
	c, err := dialFrom(src, g.addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	addr := c.LocalAddr().String()
	_ = c.SetDeadline(time.Now().Add(2 * waitTimeout))
	banner, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(banner, "SSH-2.0-") {
		return addr, fmt.Errorf("gateway version line: got %q (%v), want SSH-2.0-...", banner, err)
	}
	if _, err := c.Write(data[:100]); err != nil {
		return addr, fmt.Errorf("send the first garbage: %w", err)
	}
	pause()
	_, _ = c.Write(data[100:]) // the gateway may hang up before it read it all
	return addr, readUntilClosed(c, 5*time.Second)
}
