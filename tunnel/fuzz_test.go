package tunnel

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/ssh"

	"github.com/loopgate/loopgate/keys"
)

// maxFuzzPayload keeps a fuzzed payload inside one SSH packet of the size
// every implementation must accept (RFC 4253 6.1); a larger one would end
// the connection in the transport, before the gateway sees it.
const maxFuzzPayload = 32 << 10

// payloadSeeds returns a valid payload and broken variants of it: truncated,
// with trailing junk, with a huge length prefix, empty, and with NUL and
// control characters in the first string.
func payloadSeeds(valid []byte) [][]byte {
	return [][]byte{
		valid,
		valid[:len(valid)-1],
		valid[:3],
		append(bytes.Clone(valid), 0),
		{0xff, 0xff, 0xff, 0xff, 'x'},
		{0x7f, 0xff, 0xff, 0xf0},
		{},
		ssh.Marshal(directTCPIP{Host: "na\x00mq\r\n\x1b[31m", Port: 8081}),
		ssh.Marshal(tokenRequestMsg{Service: "\x00\x01\x7f\xff"}),
	}
}

func FuzzParseDirectTCPIP(f *testing.F) {
	valid := ssh.Marshal(directTCPIP{Host: "nanomq", Port: 8081, OrigHost: "127.0.0.1", OrigPort: 51000})
	for _, p := range payloadSeeds(valid) {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		req, err := parseDirectTCPIP(payload)
		if err != nil {
			if req != (directTCPIP{}) {
				t.Fatalf("parse %q failed (%v) but returned %+v, want the zero value", payload, err, req)
			}
			return
		}
		if back := ssh.Marshal(req); !bytes.Equal(back, payload) {
			t.Fatalf("parse %q then marshal: got %q, want the same bytes", payload, back)
		}
	})
}

func FuzzParseTokenRequest(f *testing.F) {
	for _, p := range payloadSeeds(ssh.Marshal(tokenRequestMsg{Service: "nanomq"})) {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		svc, err := parseTokenRequest(payload)
		if err != nil {
			if svc != "" {
				t.Fatalf("parse %q failed (%v) but returned %q, want \"\"", payload, err, svc)
			}
			return
		}
		if back := ssh.Marshal(tokenRequestMsg{Service: svc}); !bytes.Equal(back, payload) {
			t.Fatalf("parse %q then marshal: got %q, want the same bytes", payload, back)
		}
	})
}

// fuzzGateway is a gateway with two services granted to alice ("echo" and
// "plain") and one configured but not granted ("other"), each a real echo
// server, and one connection logged in as alice that every fuzz input of a
// process shares.
type fuzzGateway struct {
	*testGateway
	client   *ssh.Client
	services map[string]*fuzzService
}

// fuzzService is one configured service and the tunnels the gateway opened
// to it.
type fuzzService struct {
	port     uint32
	accepted func() int // connections its server accepted
	opened   int        // channels the gateway accepted for it
	granted  bool
}

func startFuzzGateway(tb testing.TB) *fuzzGateway {
	tb.Helper()
	fg := &fuzzGateway{services: map[string]*fuzzService{}}
	addrs := map[string]string{}
	for _, name := range []string{"echo", "plain", "other"} {
		addr, accepted := echoServer(tb)
		_, port, _ := net.SplitHostPort(addr)
		addrs[name] = addr
		fg.services[name] = &fuzzService{port: uint32(mustAtoi(tb, port)), accepted: accepted, granted: name != "other"}
	}
	alice := newSigner(tb)
	fg.testGateway = startGateway(tb, addrs, map[string][]string{"alice": {"echo", "plain"}},
		[]keys.AuthorizedKey{entry(alice, "alice", keys.Options{})})
	fg.client = fg.mustDial(tb, alice)
	return fg
}

// take returns what was logged since the last take and forgets it, so a
// long fuzz run does not keep every audit event in memory.
func (l *logBuffer) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.buf.String()
	l.buf.Reset()
	return s
}

// reaches returns the granted service that req names the way policy allows
// (by name, as localhost, or by its loopback literal, on its port), or "".
func (fg *fuzzGateway) reaches(req directTCPIP) string {
	for name, s := range fg.services {
		if !s.granted || req.Port != s.port {
			continue
		}
		switch req.Host {
		case name, "localhost", "127.0.0.1":
			return name
		}
	}
	return ""
}

// checkAlive requires the shared connection to still answer a request with
// the same service list as at the start, and every service's server to
// have seen exactly the tunnels the gateway opened to it.
func (fg *fuzzGateway) checkAlive(t *testing.T) {
	t.Helper()
	ok, payload, err := fg.client.SendRequest(ServicesRequest, true, nil)
	var reply servicesReply
	if err != nil || !ok || ssh.Unmarshal(payload, &reply) != nil {
		t.Fatalf("services request afterwards: got ok=%v %q err=%v, want an answer", ok, payload, err)
	}
	want := fmt.Sprintf("echo %d\nplain %d", fg.services["echo"].port, fg.services["plain"].port)
	if reply.List != want {
		t.Fatalf("services afterwards: got %q, want %q", reply.List, want)
	}
	for name, s := range fg.services {
		if n := s.accepted(); n != s.opened {
			t.Fatalf("service %s accepted %d connections for %d tunnels, want equal", name, n, s.opened)
		}
	}
}

func FuzzChannelOpen(f *testing.F) {
	fg := startFuzzGateway(f)
	echo, other := fg.services["echo"].port, fg.services["other"].port
	valid := ssh.Marshal(directTCPIP{Host: "echo", Port: echo, OrigHost: "127.0.0.1", OrigPort: 51000})
	for _, p := range payloadSeeds(valid) {
		f.Add(p)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1", "::ffff:127.0.0.1", "127.1", "plain", "echo.", "ECHO"} {
		f.Add(ssh.Marshal(directTCPIP{Host: host, Port: echo}))
	}
	f.Add(ssh.Marshal(directTCPIP{Host: "echo", Port: echo + 1<<16}))
	f.Add(ssh.Marshal(directTCPIP{Host: "other", Port: other}))
	f.Add(ssh.Marshal(directTCPIP{Host: "127.0.0.1", Port: other}))
	f.Add(ssh.Marshal(directTCPIP{Host: "plain", Port: fg.services["plain"].port}))
	f.Fuzz(func(t *testing.T, payload []byte) {
		if len(payload) > maxFuzzPayload {
			return
		}
		fg.log.take()
		ch, reqs, err := fg.client.OpenChannel("direct-tcpip", payload)
		if err == nil {
			go ssh.DiscardRequests(reqs)
			fg.checkOpened(t, ch, payload)
		} else {
			fg.checkRefused(t, err, payload)
		}
		fg.checkAlive(t)
	})
}

// checkOpened requires an accepted channel to be a valid open of a granted
// service, and to reach that service's server.
func (fg *fuzzGateway) checkOpened(t *testing.T, ch ssh.Channel, payload []byte) {
	t.Helper()
	defer ch.Close()
	req, err := parseDirectTCPIP(payload)
	name := fg.reaches(req)
	if err != nil || name == "" {
		t.Fatalf("open with %q (%+v, %v): got a channel, want a refusal", payload, req, err)
	}
	fg.services[name].opened++
	if _, err := ch.Write([]byte("fuzz")); err != nil {
		t.Fatalf("write to the tunnel: %v", err)
	}
	ch.CloseWrite()
	got := make(chan []byte, 1)
	go func() { // ends when the echo server closes or ch is closed
		var b bytes.Buffer
		b.ReadFrom(ch)
		got <- b.Bytes()
	}()
	select {
	case b := <-got:
		if string(b) != "echo:fuzz" {
			t.Fatalf("through the tunnel: got %q, want %q", b, "echo:fuzz")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer through the tunnel after 5s")
	}
	fg.waitClosed(t)
}

// waitClosed waits for the gateway to log the end of the tunnel, so that
// tunnels still closing never add up to the MaxSessions limit and a
// tunnel the gateway never counts out is caught.
func (fg *fuzzGateway) waitClosed(t *testing.T) {
	t.Helper()
	log := ""
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(log, "tunnel closed"); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no \"tunnel closed\" event 5s after the tunnel ended; log:\n%s", log)
		}
		log += fg.log.take()
	}
}

// checkRefused requires a typed refusal that fits the payload and an audit
// event for it.
func (fg *fuzzGateway) checkRefused(t *testing.T, err error, payload []byte) {
	t.Helper()
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) {
		t.Fatalf("open with %q: got %v, want an OpenChannelError", payload, err)
	}
	want := ssh.ConnectionFailed // malformed payloads
	if req, perr := parseDirectTCPIP(payload); perr == nil {
		if name := fg.reaches(req); name != "" {
			t.Fatalf("open of granted service %s with %q (%+v): got %v, want a channel", name, payload, req, err)
		}
		want = ssh.Prohibited
	}
	if oce.Reason != want {
		t.Fatalf("open with %q: got reason %v, want %v", payload, oce.Reason, want)
	}
	if log := fg.log.take(); !strings.Contains(log, "tunnel denied") {
		t.Fatalf("open with %q refused without an audit event; log:\n%s", payload, log)
	}
}

func FuzzTokenRequest(f *testing.F) {
	fg := startFuzzGateway(f)
	key := newTokenKey(f)
	rules, err := fg.gw.rules.Load().WithTokens(key, map[string]keys.TokenProfile{
		"echo":  {Kind: "nanomq", TTL: 2 * time.Minute},
		"other": {Kind: "nanomq"},
		"plain": {Kind: "none"},
	})
	if err != nil {
		f.Fatal(err)
	}
	fg.gw.SetRules(rules)
	for _, p := range payloadSeeds(ssh.Marshal(tokenRequestMsg{Service: "echo"})) {
		f.Add(p)
	}
	for _, svc := range []string{"other", "plain", "nope", "", "ECHO", "echo\x00", "127.0.0.1"} {
		f.Add(ssh.Marshal(tokenRequestMsg{Service: svc}))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		if len(payload) > maxFuzzPayload {
			return
		}
		fg.log.take()
		ok, reply, err := fg.client.SendRequest(TokenRequest, true, payload)
		if err != nil {
			t.Fatalf("token request %q: %v", payload, err)
		}
		log := fg.log.take()
		svc, perr := parseTokenRequest(payload)
		switch {
		case perr == nil && svc == "echo" && ok:
			checkMinted(t, key.Signer.Public(), reply, log)
		case perr == nil && svc == "echo" && !strings.Contains(log, "rate-limited"):
			t.Fatalf("token for the granted service refused without a rate limit; log:\n%s", log)
		case ok || len(reply) != 0:
			t.Fatalf("token request %q: got ok=%v reply %q, want a bare refusal", payload, ok, reply)
		case !strings.Contains(log, "token denied") && !strings.Contains(log, "rate-limited"):
			t.Fatalf("token request %q refused without an audit event; log:\n%s", payload, log)
		}
		fg.checkAlive(t)
	})
}

// checkMinted requires a granted token reply to carry a token for alice
// signed by the gateway's key, and the audit log to record it without its
// value.
func checkMinted(t *testing.T, pub any, payload []byte, log string) {
	t.Helper()
	var reply tokenReply
	if err := ssh.Unmarshal(payload, &reply); err != nil {
		t.Fatalf("token reply %q: %v", payload, err)
	}
	if reply.Lifetime != 120 {
		t.Errorf("token lifetime: got %ds, want 120s", reply.Lifetime)
	}
	_, err := jwt.Parse(reply.Token, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithSubject("alice"))
	if err != nil {
		t.Fatalf("minted token does not verify: %v", err)
	}
	if !strings.Contains(log, "token issued") || strings.Contains(log, reply.Token) {
		t.Fatalf("token issued: got log\n%s\nwant a \"token issued\" event without the token", log)
	}
}
