package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loopgate/loopgate/internal/standin"
)

// retryMsg is what the client logs when it re-mints after a 116.
const retryMsg = "token expired at the API; retrying once with a new one"

func TestTokenVerifiesWithOpenSSL(t *testing.T) {
	t.Parallel()
	openssl := needTool(t, "openssl")
	r := newTokenRig(t, "")
	g := r.d.serve(t)
	mark := g.mark()
	tok, res := mintToken(t, g, r.alice)
	g.waitEventAfter(t, mark, "connection closed", nil)
	if strings.Contains(res.stderr, tok) {
		t.Errorf("client token stderr contains the token, want it on stdout only")
	}
	header, payload, sig := jwtParts(t, tok)

	dir := t.TempDir()
	input, sigFile, tampered := filepath.Join(dir, "input"), filepath.Join(dir, "sig"), filepath.Join(dir, "tampered")
	writeFile(t, input, header+"."+payload)
	writeFile(t, tampered, header+"."+payload+"x")
	writeFile(t, sigFile, string(decodePart(t, "signature", sig)))
	verify := func(in string) result {
		return runCmd(t, nil, openssl, "dgst", "-sha256", "-verify", r.tokenPub(), "-signature", sigFile, in)
	}
	if v := verify(input); v.code != 0 || strings.TrimSpace(v.stdout) != "Verified OK" {
		t.Errorf("openssl dgst -verify on the signing input: got %s, want exit 0 and \"Verified OK\"", v)
	}
	if v := verify(tampered); v.code == 0 || strings.Contains(v.stdout, "Verified OK") {
		t.Errorf("openssl dgst -verify on a changed input: got %s, want a verification failure", v)
	}

	if h := jsonObject(t, "header", decodePart(t, "header", header)); h["alg"] != "RS256" {
		t.Errorf("token header alg: got %v, want RS256", h["alg"])
	}
	claims := jsonObject(t, "payload", decodePart(t, "payload", payload))
	checkNanoMQClaims(t, claims, r.iss, "alice", 5*time.Minute)
	if n := len("Authorization: Bearer " + tok); n >= 1024 {
		t.Errorf("Authorization header: got %d bytes, want under 1024", n)
	}

	ev := g.waitEventAfter(t, mark, "token issued", nil)
	exp := time.Unix(jsonInt(t, claims, "exp"), 0).UTC().Format(time.RFC3339)
	want := map[string]any{"service": "nanomq", "sub": "alice", "jti": claims["jti"], "expires": exp}
	for k, v := range want {
		if fmt.Sprint(ev[k]) != fmt.Sprint(v) {
			t.Errorf("token issued event %s: got %v, want %v", k, ev[k], v)
		}
	}
	if log := g.logs.dump(); strings.Contains(log, sig) || strings.Contains(log, payload) {
		t.Errorf("gateway log contains the token, want only its jti")
	}
}

// checkNanoMQClaims checks a payload holds exactly NanoMQ's claim set: iss,
// sub, iat and exp as JSON integers ttl apart, and jti; so no bodyEncode.
func checkNanoMQClaims(t testing.TB, claims map[string]any, iss, sub string, ttl time.Duration) {
	t.Helper()
	if got, want := slices.Sorted(maps.Keys(claims)), []string{"exp", "iat", "iss", "jti", "sub"}; !slices.Equal(got, want) {
		t.Errorf("token claims: got %q, want exactly %q (no bodyEncode)", got, want)
	}
	if claims["iss"] != iss || claims["sub"] != sub {
		t.Errorf("token iss, sub: got %v, %v, want %q, %q", claims["iss"], claims["sub"], iss, sub)
	}
	if jti, _ := claims["jti"].(string); jti == "" {
		t.Errorf("token jti: got %v, want a non-empty string", claims["jti"])
	}
	iat, exp := jsonInt(t, claims, "iat"), jsonInt(t, claims, "exp")
	if exp-iat != int64(ttl/time.Second) {
		t.Errorf("token exp-iat: got %d, want %d (the ttl)", exp-iat, int64(ttl/time.Second))
	}
	if skew := time.Since(time.Unix(iat, 0)); skew < -time.Minute || skew > time.Minute {
		t.Errorf("token iat: got %v, want within a minute of now", time.Unix(iat, 0))
	}
}

func TestTokenReachesAPI(t *testing.T) {
	t.Parallel()
	r := newTokenRig(t, "")
	api := r.jwtAPI()
	r.serveAPI(t, api)
	g := r.d.serve(t)
	e := g.as(r.alice)

	_, port := startProxy(t, e, "nanomq")
	res := curlURL(t, fmt.Sprintf("http://127.0.0.1:%d%s", port, brokersPath))
	if res.code != 0 || res.status != "200" || !bytes.Contains(res.body, []byte(`"node_status":"Running"`)) {
		t.Errorf("curl through client proxy: got %s status %q body %q, want 200 and \"Running\"", res.result, res.status, res.body)
	}
	req := runClient(t, nil, e.args("request", "--service", "nanomq", "GET", brokersPath)...)
	if req.code != 0 || !strings.Contains(req.stdout, `"node_status":"Running"`) {
		t.Errorf("client request GET %s: got %s, want exit 0 and \"Running\"", brokersPath, req)
	}
	if got := api.Refusals(); len(got) != 0 {
		t.Errorf("stand-in refusals: got %v, want none", got)
	}
	if got := api.Accepted(); got != 2 {
		t.Errorf("stand-in accepted: got %d, want 2", got)
	}
	g.logs.waitEvents(t, 0, "token issued", allOf(attrIs("service", "nanomq"), attrIs("sub", "alice")), 2, waitTimeout)
}

func TestTokenDeniedWithoutGrant(t *testing.T) {
	t.Parallel()
	other := startUpstream(t, "other")
	r := newTokenRig(t, "", "other="+other.addr)
	bob := newOperator(t, "bob")
	r.d.allow(t, bob, "other")
	g := r.d.serve(t)

	res, mark := runSettled(t, g, g.as(bob).args("token", "--service", "nanomq")...)
	if res.code == 0 || res.stdout != "" || !strings.Contains(res.stderr, "nanomq") || !strings.Contains(res.stderr, "refused to issue a token") {
		t.Errorf("client token for an ungranted service: got %s, want non-zero exit, no token, and stderr naming nanomq and the refusal", res)
	}
	ev := g.waitEventAfter(t, mark, "token denied", allOf(attrIs("service", "nanomq"), attrIs("name", "bob")))
	if reason, _ := ev["reason"].(string); reason == "" {
		t.Errorf("token denied event: got %v, want a reason", ev)
	}
	if got := g.logs.find(0, "token issued", nil); len(got) != 0 {
		t.Errorf("token issued events: got %v, want none", got)
	}

	// bob's own grant does get a token: the refusal was about the grant.
	if res := runClient(t, nil, g.as(bob).args("token", "--service", "other")...); res.code != 0 {
		t.Errorf("client token for bob's granted service: got %s, want exit 0", res)
	}
}

func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	t.Parallel()
	r := newTokenRig(t, "3s")
	api := r.jwtAPI()
	api.Leeway = time.Millisecond // an expired token is refused with 116 at once
	r.serveAPI(t, api)
	g := r.d.serve(t)
	px, port := startProxy(t, g.as(r.alice), "nanomq")
	url := fmt.Sprintf("http://127.0.0.1:%d%s", port, brokersPath)

	// 11 requests 500 ms apart span 5 s: past the first token's expiry
	// (3 s) and two refresh points (2 s into each token's life).
	const sent = 11
	start := time.Now()
	for i := range sent {
		time.Sleep(time.Until(start.Add(time.Duration(i) * 500 * time.Millisecond)))
		res := curlURL(t, url, "--max-time", "5")
		if res.code != 0 || res.status != "200" {
			t.Errorf("request %d at %v: got %s status %q body %q, want 200", i, time.Since(start).Round(time.Millisecond), res.result, res.status, res.body)
		}
	}
	if got := api.Refusals(); len(got) != 0 {
		t.Errorf("stand-in refusals: got %v, want none (no 116)", got)
	}
	if got := api.Accepted(); got != sent {
		t.Errorf("stand-in accepted: got %d, want %d", got, sent)
	}
	if got := px.logs.find(0, retryMsg, nil); len(got) != 0 {
		t.Errorf("proxy retried after 116 %d time(s), want a refresh before expiry", len(got))
	}
	evs := g.logs.waitEvents(t, 0, "token issued", attrIs("service", "nanomq"), 2, waitTimeout)
	t.Logf("%d requests, %d tokens issued", sent, len(evs))
}

func TestTokenRemintOnceOnExpired(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		late     func(n int64) bool // whether the nth check (from 1) sees the clock 10 min ahead
		ok       bool
		accepted int
		refusals map[int]int
	}{
		{name: "first token refused", late: func(n int64) bool { return n == 1 }, ok: true, accepted: 1, refusals: map[int]int{116: 1}},
		{name: "every token refused", late: func(int64) bool { return true }, accepted: 0, refusals: map[int]int{116: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newTokenRig(t, "")
			api := r.jwtAPI()
			var checks atomic.Int64
			api.Now = func() time.Time {
				if tt.late(checks.Add(1)) {
					return time.Now().Add(10 * time.Minute) // beyond 5m ttl + 200s leeway
				}
				return time.Now()
			}
			r.serveAPI(t, api)
			g := r.d.serve(t)

			res, mark := runSettled(t, g, g.as(r.alice).args("request", "--service", "nanomq", "GET", brokersPath)...)
			if ok := res.code == 0 && strings.Contains(res.stdout, "Running"); ok != tt.ok {
				t.Errorf("client request: got %s, want success %v", res, tt.ok)
			}
			if !strings.Contains(res.stderr, retryMsg) {
				t.Errorf("client stderr: got %q, want %q", res.stderr, retryMsg)
			}
			evs := tokenEvents(g, mark)
			if len(evs) != 2 || evs[0]["jti"] == evs[1]["jti"] {
				t.Errorf("token issued events for the run: got %v, want exactly 2 with distinct jti", evs)
			}
			if got := api.Refusals(); !maps.Equal(got, tt.refusals) {
				t.Errorf("stand-in refusals: got %v, want %v", got, tt.refusals)
			}
			if got := api.Accepted(); got != tt.accepted {
				t.Errorf("stand-in accepted: got %d, want %d", got, tt.accepted)
			}
		})
	}
}

func TestTokenKeyInit(t *testing.T) {
	t.Parallel()
	r := newTokenRig(t, "")
	block := httpServerBlock(t, r.d.initOut.stdout)
	for _, want := range []string{
		fmt.Sprintf("port = %d", r.ln.Addr().(*net.TCPAddr).Port),
		`ip_addr = "127.0.0.1"`,
		`auth_type = "jwt"`,
		fmt.Sprintf(`public.keyfile = %q`, r.tokenPub()),
	} {
		if !strings.Contains(block, want) {
			t.Errorf("gateway init http_server block: got\n%s\nwant it to contain %s", block, want)
		}
	}
	if !filepath.IsAbs(r.tokenPub()) {
		t.Fatalf("test setup: %s is not absolute", r.tokenPub())
	}
	if got := fileMode(t, filepath.Join(r.d.dir, "jwtRS256.key")); got != 0o600 {
		t.Errorf("jwtRS256.key mode: got %v, want 0600", got)
	}
	conf := readFile(t, r.d.conf)
	for _, re := range []string{`(?m)^TokenKey jwtRS256\.key$`, `(?m)^Token nanomq nanomq ttl=5m$`} {
		if !regexp.MustCompile(re).MatchString(conf) {
			t.Errorf("gateway.conf: got\n%s\nwant a line matching %s", conf, re)
		}
	}
	if r.iss != "jwtRS256.key.pub" {
		t.Errorf("issuer NanoMQ derives: got %q, want jwtRS256.key.pub", r.iss)
	}

	// Given a relative --dir, the printed key path is still absolute.
	base := t.TempDir()
	res := runInDir(t, base, gatewayBin, "init", "--dir", "rel", "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"--service", "nanomq=127.0.0.1:8081")
	want := fmt.Sprintf(`public.keyfile = %q`, filepath.Join(base, "rel", "jwtRS256.key.pub"))
	if block := httpServerBlock(t, res.stdout); res.code != 0 || !strings.Contains(block, want) {
		t.Errorf("gateway init --dir rel: got %s, want exit 0 and a block containing %s", res, want)
	}
}

// httpServerBlock is the NanoMQ http_server { ... } block in out.
func httpServerBlock(t testing.TB, out string) string {
	t.Helper()
	block := regexp.MustCompile(`(?ms)^http_server \{$.*?^\}$`).FindString(out)
	if block == "" {
		t.Fatalf("gateway init output: got\n%s\nwant an http_server { ... } block", out)
	}
	return block
}

func TestTokenKeyRotate(t *testing.T) {
	t.Parallel()
	r := newTokenRig(t, "")
	oldPub := readFile(t, r.tokenPub())
	oldAddr := startStandin(t, r.jwtAPI()) // NanoMQ not yet restarted
	g := r.d.serve(t)
	before, _ := mintToken(t, g, r.alice)
	if status, code := callAPI(t, oldAddr, before); status != 200 || code != 0 {
		t.Fatalf("token before rotation at the stand-in: got %d code %d, want 200 code 0", status, code)
	}

	res := r.d.gateway(t, "rotate-token-key")
	if res.code != 0 || !strings.Contains(res.stdout, "restart NanoMQ") {
		t.Fatalf("gateway rotate-token-key: got %s, want exit 0 and \"restart NanoMQ\"", res)
	}
	if readFile(t, r.tokenPub()) == oldPub {
		t.Errorf("jwtRS256.key.pub after rotation: unchanged, want a new key")
	}
	if got := readFile(t, r.tokenPub()+".old"); got != oldPub {
		t.Errorf("jwtRS256.key.pub.old: got %q, want the previous public key %q", got, oldPub)
	}
	if got := fileMode(t, filepath.Join(r.d.dir, "jwtRS256.key")); got != 0o600 {
		t.Errorf("rotated jwtRS256.key mode: got %v, want 0600", got)
	}
	g.reload(t, "reloaded")

	after, _ := mintToken(t, g, r.alice)
	pub, iss := loadStandinKey(t, r.tokenPub())
	if iss != r.iss {
		t.Errorf("issuer after rotation: got %q, want unchanged %q", iss, r.iss)
	}
	newAddr := startStandin(t, &standin.API{Mode: standin.JWTMode, PublicKey: pub, Issuer: iss})
	tests := []struct {
		name, addr, token string
		status, code      int
	}{
		{name: "new token, restarted NanoMQ", addr: newAddr, token: after, status: 200, code: 0},
		{name: "new token, NanoMQ with the old key", addr: oldAddr, token: after, status: 401, code: 103},
		{name: "old token, restarted NanoMQ", addr: newAddr, token: before, status: 401, code: 103},
	}
	for _, tt := range tests {
		if status, code := callAPI(t, tt.addr, tt.token); status != tt.status || code != tt.code {
			t.Errorf("%s: got %d code %d, want %d code %d", tt.name, status, code, tt.status, tt.code)
		}
	}
}

func TestTokenSignedLocally(t *testing.T) {
	t.Parallel()
	r := newTokenRig(t, "")
	other := initGateway(t, fmt.Sprintf("nanomq=127.0.0.1:%d", freePort(t)))
	key := copyKeyPair(t, filepath.Join(other.dir, "jwtRS256.key"), t.TempDir(), "fleet.key")
	pub, iss := loadStandinKey(t, key+".pub")
	if want := filepath.Base(key) + ".pub"; iss != want {
		t.Fatalf("stand-in issuer: got %q, want %q", iss, want)
	}
	api := &standin.API{Mode: standin.JWTMode, PublicKey: pub, Issuer: iss}
	r.serveAPI(t, api)
	g := r.d.serve(t)

	res, mark := runSettled(t, g, g.as(r.alice).args("request", "--service", "nanomq",
		"--auth", "sign", "--sign-key", key, "GET", brokersPath)...)
	if res.code != 0 || !strings.Contains(res.stdout, "Running") {
		t.Errorf("client request --auth sign: got %s, want exit 0 and \"Running\"", res)
	}
	if !hasWarning(res.stderr, "weaker") {
		t.Errorf("client request --auth sign stderr: got %q, want a warn event saying local signing is weaker", res.stderr)
	}
	if got, want := api.Refusals(), map[int]int{}; !maps.Equal(got, want) || api.Accepted() != 1 {
		t.Errorf("stand-in: got accepted %d refusals %v, want accepted 1 and no refusals", api.Accepted(), got)
	}
	if got := tokenEvents(g, mark); len(got) != 0 {
		t.Errorf("gateway token issued events: got %v, want none (signed locally)", got)
	}
}

// hasWarning reports whether JSON log lines hold a warn event whose text
// contains sub.
func hasWarning(logs, sub string) bool {
	for _, line := range strings.Split(logs, "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) == nil && ev["level"] == "warn" && strings.Contains(line, sub) {
			return true
		}
	}
	return false
}
