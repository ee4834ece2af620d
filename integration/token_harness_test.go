package integration

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/loopgate/loopgate/internal/standin"
)

// brokersPath is the NanoMQ endpoint the token tests call.
const brokersPath = "/api/v4/brokers"

// tokenRig is a gateway whose service nanomq is a loopback listener that a
// NanoMQ stand-in serves once the test has configured it, granted to alice.
type tokenRig struct {
	d     *gwDir
	alice *operator
	ln    net.Listener   // the nanomq service's address
	pub   *rsa.PublicKey // the gateway's token public key
	iss   string         // the issuer NanoMQ derives from it
}

// newTokenRig runs `gateway init` with nanomq on a fresh loopback listener
// and the extra services, sets nanomq's token ttl when ttl is not empty, and
// grants alice nanomq.
func newTokenRig(t testing.TB, ttl string, services ...string) *tokenRig {
	t.Helper()
	needClient(t)
	r := &tokenRig{ln: listenLoopback(t), alice: newOperator(t, "alice")}
	r.d = initGateway(t, append([]string{"nanomq=" + r.ln.Addr().String()}, services...)...)
	if ttl != "" {
		setTokenLine(t, r.d, "Token nanomq nanomq ttl="+ttl)
	}
	r.d.allow(t, r.alice, "nanomq")
	r.pub, r.iss = loadStandinKey(t, r.tokenPub())
	return r
}

// tokenPub is the gateway's token public key file.
func (r *tokenRig) tokenPub() string { return filepath.Join(r.d.dir, "jwtRS256.key.pub") }

// jwtAPI is a JWT-mode stand-in trusting the gateway's public key.
func (r *tokenRig) jwtAPI() *standin.API {
	return &standin.API{Mode: standin.JWTMode, PublicKey: r.pub, Issuer: r.iss}
}

// serveAPI serves api on the nanomq service's listener until the test ends.
func (r *tokenRig) serveAPI(t testing.TB, api *standin.API) {
	t.Helper()
	serveStandin(t, r.ln, api)
}

// listenLoopback listens on 127.0.0.1:0 until the test ends.
func listenLoopback(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// loadStandinKey reads a NanoMQ public key file as the stand-in does.
func loadStandinKey(t testing.TB, path string) (*rsa.PublicKey, string) {
	t.Helper()
	pub, iss, err := standin.LoadPublicKey(path)
	if err != nil {
		t.Fatalf("stand-in: %v", err)
	}
	return pub, iss
}

// serveStandin serves api on ln in this process; the test's cleanup closes
// it and, on failure, logs the stand-in's refusal reasons.
func serveStandin(t testing.TB, ln net.Listener, api *standin.API) {
	t.Helper()
	logs := &lockedBuffer{}
	if api.Log == nil {
		api.Log = slog.New(slog.NewTextHandler(logs, nil))
	}
	done := make(chan error, 1)
	go func() { done <- api.Serve(ln) }()
	t.Cleanup(func() {
		_ = api.Close()
		select {
		case err := <-done:
			if !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("stand-in serve: got %v, want %v", err, http.ErrServerClosed)
			}
		case <-time.After(waitTimeout):
			t.Errorf("stand-in still serving %v after Close", waitTimeout)
		}
		if t.Failed() || os.Getenv("INTEGRATION_LOG") != "" {
			t.Logf("stand-in log (accepted %d, refusals %v):\n%s", api.Accepted(), api.Refusals(), logs.String())
		}
	})
}

// startStandin serves api on a fresh loopback listener and returns its
// address.
func startStandin(t testing.TB, api *standin.API) string {
	t.Helper()
	ln := listenLoopback(t)
	serveStandin(t, ln, api)
	return ln.Addr().String()
}

// setTokenLine replaces the nanomq Token line of d's config with line.
func setTokenLine(t testing.TB, d *gwDir, line string) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^Token nanomq .*$`)
	conf := readFile(t, d.conf)
	if !re.MatchString(conf) {
		t.Fatalf("%s: no \"Token nanomq ...\" line to rewrite:\n%s", d.conf, conf)
	}
	writeFile(t, d.conf, re.ReplaceAllString(conf, line))
}

// callAPI sends GET brokersPath straight to the stand-in at addr with the
// token and returns the HTTP status and the NanoMQ code of the answer.
func callAPI(t testing.TB, addr, token string) (status, code int) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+brokersPath, nil)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	client := &http.Client{Timeout: cmdTimeout}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s from the stand-in: %v", brokersPath, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("read the stand-in's answer: %v", err)
	}
	var v struct {
		Code int `json:"code"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("stand-in answer %q: %v", body, err)
	}
	return resp.StatusCode, v.Code
}

// mintToken runs `client token` for nanomq as op and returns the token,
// failing unless it exits 0 with exactly one line on stdout.
func mintToken(t testing.TB, g *gateway, op *operator) (string, result) {
	t.Helper()
	res := runClient(t, nil, g.as(op).args("token", "--service", "nanomq")...)
	tok := strings.TrimSuffix(res.stdout, "\n")
	if res.code != 0 || tok == "" || strings.ContainsAny(tok, "\n \t") {
		t.Fatalf("client token: got %s, want exit 0 and one token line on stdout", res)
	}
	return tok, res
}

// jwtParts splits a compact JWS into its three base64url parts.
func jwtParts(t testing.TB, tok string) (header, payload, sig string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d dot-separated parts, want 3", len(parts))
	}
	return parts[0], parts[1], parts[2]
}

// decodePart decodes one unpadded base64url part of a JWT.
func decodePart(t testing.TB, what, part string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		t.Fatalf("token %s is not unpadded base64url: %v", what, err)
	}
	return b
}

// jsonObject decodes a JWT header or payload, keeping numbers as written.
func jsonObject(t testing.TB, what string, data []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("token %s %q: %v", what, data, err)
	}
	return m
}

// jsonInt reads a claim that must be a JSON integer.
func jsonInt(t testing.TB, claims map[string]any, key string) int64 {
	t.Helper()
	n, ok := claims[key].(json.Number)
	if !ok || strings.ContainsAny(n.String(), ".eE") {
		t.Fatalf("claim %s: got %v (%T), want a JSON integer", key, claims[key], claims[key])
	}
	v, err := n.Int64()
	if err != nil {
		t.Fatalf("claim %s: got %v, want an int64: %v", key, n, err)
	}
	return v
}

// runSettled runs the client to completion and waits for the gateway to log
// the end of its connection, so every event of that run is in g's log
// after the returned mark.
func runSettled(t testing.TB, g *gateway, args ...string) (result, int) {
	t.Helper()
	mark := g.mark()
	res := runClient(t, nil, args...)
	g.waitEventAfter(t, mark, "connection closed", nil)
	return res, mark
}

// tokenEvents returns g's "token issued" events for nanomq after mark.
func tokenEvents(g *gateway, mark int) []map[string]any {
	return g.logs.find(mark, "token issued", attrIs("service", "nanomq"))
}

// copyKeyPair copies a token key pair to dir/name and dir/name.pub, the
// private half with mode 0600, and returns the private key's path.
func copyKeyPair(t testing.TB, from, dir, name string) string {
	t.Helper()
	to := filepath.Join(dir, name)
	writeFile(t, to, readFile(t, from))
	writeFile(t, to+".pub", readFile(t, from+".pub"))
	return to
}

// fileMode is path's permission bits.
func fileMode(t testing.TB, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat: %v", err)
	}
	return fi.Mode().Perm()
}

// runInDir runs name in dir to completion within cmdTimeout.
func runInDir(t testing.TB, dir, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env, cmd.WaitDelay = dir, append(sshEnv(""), "PWD="+dir), 2*time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
	var exitErr *exec.ExitError
	if ctx.Err() != nil || (err != nil && !errors.As(err, &exitErr)) {
		t.Fatalf("%s %s in %s: %v (%s)", name, strings.Join(args, " "), dir, err, r)
	}
	return r
}
