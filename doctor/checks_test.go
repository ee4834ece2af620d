package doctor

import (
	"context"
	"crypto/rsa"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loopgate/loopgate/internal/standin"
	"github.com/loopgate/loopgate/keys"
)

func TestLoopbackOnly(t *testing.T) {
	ap := netip.MustParseAddrPort
	svc := Service{Name: "nanomq", Addr: ap("127.0.0.1:8081"), NanoMQ: true}
	plain := Service{Name: "web", Addr: ap("127.0.0.1:8081")}
	for _, tc := range []struct {
		name     string
		svc      Service
		ls       []Listener
		tableErr error
		want     Status
		detail   string // a part of Detail
		fix      string // a part of Fix
	}{
		{name: "loopback", svc: svc, ls: []Listener{{Addr: ap("127.0.0.1:8081")}, {Addr: ap("0.0.0.0:2222")}}, want: Pass, detail: "127.0.0.1:8081 only"},
		{name: "every IPv4 interface", svc: svc, ls: []Listener{{Addr: ap("0.0.0.0:8081")}}, want: Fail, detail: "0.0.0.0:8081 (every interface)", fix: `ip_addr = "127.0.0.1"`},
		{name: "every IPv6 interface", svc: svc, ls: []Listener{{Addr: ap("127.0.0.1:8081")}, {Addr: ap("[::]:8081")}}, want: Fail, detail: "[::]:8081 (every interface)", fix: "nanomq.conf"},
		{name: "one LAN address", svc: plain, ls: []Listener{{Addr: ap("192.168.1.20:8081")}}, want: Fail, detail: "reachable from that network", fix: "listen on 127.0.0.1 only"},
		{name: "nothing listening", svc: svc, ls: []Listener{{Addr: ap("127.0.0.1:9999")}}, want: Fail, detail: "nothing listens on port 8081"},
		{name: "other loopback address", svc: svc, ls: []Listener{{Addr: ap("[::1]:8081")}}, want: Warn, detail: "gateway dials 127.0.0.1:8081"},
		{name: "v4-mapped loopback", svc: svc, ls: []Listener{{Addr: ap("[::ffff:127.0.0.1]:8081")}}, want: Pass},
		{name: "no socket table", svc: svc, tableErr: errors.New("no /proc"), want: Warn, detail: "cannot read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := LoopbackOnly(tc.svc, tc.ls, tc.tableErr)
			if r.Status != tc.want || !strings.Contains(r.Detail, tc.detail) || !strings.Contains(r.Fix, tc.fix) {
				t.Errorf("got %v %q fix %q, want %v with %q and fix containing %q", r.Status, r.Detail, r.Fix, tc.want, tc.detail, tc.fix)
			}
			if r.Status != Pass && r.Fix == "" {
				t.Errorf("a %v without a fix", r.Status)
			}
		})
	}
}

var tokenKey struct {
	once sync.Once
	key  *keys.TokenKey
	err  error
}

// testTokenKey is one RSA token key pair for the package's tests, made
// once (RSA 3072 generation is slow under the race detector).
func testTokenKey(t *testing.T) *keys.TokenKey {
	t.Helper()
	tokenKey.once.Do(func() {
		dir, err := os.MkdirTemp("", "doctor-test-")
		if err != nil {
			tokenKey.err = err
			return
		}
		p := filepath.Join(dir, "jwtRS256.key")
		if tokenKey.err = keys.GenerateTokenKey(p); tokenKey.err == nil {
			tokenKey.key, tokenKey.err = keys.LoadTokenKey(p)
		}
	})
	if tokenKey.err != nil {
		t.Fatal(tokenKey.err)
	}
	return tokenKey.key
}

// serve runs h on a fresh loopback port until the test ends.
func serve(t *testing.T, h http.Handler) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// serveAPI runs the NanoMQ stand-in on a fresh loopback port until the
// test ends.
func serveAPI(t *testing.T, api *standin.API) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go api.Serve(ln)
	t.Cleanup(func() { api.Close() })
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// nanoMQService is a nanomq-profile service at addr that mints with k.
func nanoMQService(t *testing.T, addr netip.AddrPort, k *keys.TokenKey) Service {
	t.Helper()
	p := keys.TokenProfile{Kind: "nanomq"}
	iss, err := k.Issuer(p)
	if err != nil {
		t.Fatal(err)
	}
	return Service{Name: "nanomq", Addr: addr, NanoMQ: true, Issuer: iss, PublicKeyFile: k.PublicPath,
		Mint: func() (string, error) {
			tok, err := k.Mint(p, "nanomq", "doctor", time.Now())
			return tok.Value, err
		}}
}

func statuses(rs []Result) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.Check + "=" + r.Status.String() + ";")
	}
	return b.String()
}

func TestNanoMQ(t *testing.T) {
	k := testTokenKey(t)
	pub := k.Signer.Public().(*rsa.PublicKey)
	iss, _ := k.Issuer(keys.TokenProfile{Kind: "nanomq"})
	for _, tc := range []struct {
		name string
		api  *standin.API
		want string
		fix  string // a part of the failing row's fix
	}{
		{name: "jwt mode with the gateway's key", api: &standin.API{Mode: standin.JWTMode, PublicKey: pub, Issuer: iss},
			want: "refuses no credentials=pass;refuses admin/public=pass;accepts a minted token=pass;"},
		{name: "basic mode with the defaults", api: &standin.API{Mode: standin.BasicMode, User: "admin", Password: "public"},
			want: "refuses no credentials=pass;refuses admin/public=FAIL;accepts a minted token=FAIL;", fix: `auth_type = "jwt"`},
		{name: "basic mode with another password", api: &standin.API{Mode: standin.BasicMode, User: "admin", Password: "s3cret"},
			want: "refuses no credentials=pass;refuses admin/public=pass;accepts a minted token=FAIL;", fix: "public.keyfile"},
		{name: "jwt mode, key file named otherwise", api: &standin.API{Mode: standin.JWTMode, PublicKey: pub, Issuer: "nanomq.pub"},
			want: "refuses no credentials=pass;refuses admin/public=pass;accepts a minted token=FAIL;", fix: k.PublicPath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := nanoMQService(t, serveAPI(t, tc.api), k)
			rs := NanoMQ(context.Background(), svc)
			if got := statuses(rs); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			for _, r := range rs {
				if r.Status == Fail && !strings.Contains(r.Fix, tc.fix) {
					t.Errorf("%s: fix %q, want it to mention %q", r.Check, r.Fix, tc.fix)
				}
			}
		})
	}
}

func TestNanoMQOpenAPI(t *testing.T) {
	k := testTokenKey(t)
	open := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"code":0}`)) }))
	rs := NanoMQ(context.Background(), nanoMQService(t, open, k))
	if got, want := statuses(rs), "refuses no credentials=FAIL;refuses admin/public=FAIL;accepts a minted token=pass;"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if !strings.Contains(rs[0].Detail, "anyone who reaches the port is admin") {
		t.Errorf("detail %q does not say what an open API means", rs[0].Detail)
	}
}

func TestAnswers(t *testing.T) {
	up := serve(t, http.NotFoundHandler())
	if r := Answers(context.Background(), Service{Name: "web", Addr: up}); r.Status != Pass || !strings.Contains(r.Detail, "HTTP 404") {
		t.Errorf("live HTTP service: got %v %q, want pass with HTTP 404", r.Status, r.Detail)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	if r := Answers(context.Background(), Service{Name: "web", Addr: closed}); r.Status != Fail || !strings.Contains(r.Detail, "refused") {
		t.Errorf("closed port: got %v %q, want a fail saying refused", r.Status, r.Detail)
	}
	// Something that accepts but never speaks HTTP: bounded by the timeout's context.
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if r := Answers(ctx, Service{Name: "mute", Addr: mute.Addr().(*net.TCPAddr).AddrPort()}); r.Status != Fail || r.Fix == "" {
		t.Errorf("mute service: got %v %q fix %q, want a fail with a fix", r.Status, r.Detail, r.Fix)
	}
}

func TestProbeIgnoresProxyEnvironment(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://192.0.2.1:3128")
	t.Setenv("http_proxy", "http://192.0.2.1:3128")
	up := serve(t, http.NotFoundHandler())
	if r := Answers(context.Background(), Service{Name: "web", Addr: up}); r.Status != Pass {
		t.Errorf("with HTTP_PROXY set: got %v %q, want pass (straight to loopback)", r.Status, r.Detail)
	}
}

// TestProbeStaysOnLoopback: the probes (which carry a fresh token) refuse
// any address that is not loopback before connecting.
func TestProbeStaysOnLoopback(t *testing.T) {
	r := Answers(context.Background(), Service{Name: "web", Addr: netip.MustParseAddrPort("192.0.2.1:80")})
	if r.Status != Fail || !strings.Contains(r.Detail, "not a loopback address") {
		t.Errorf("got %v %q, want a fail refusing the non-loopback address", r.Status, r.Detail)
	}
}
