package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loopgate/loopgate/tunnel"
)

var strippedHeaders = []string{
	"Proxy-Authorization", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
}

func TestInjectsCredential(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
	}{
		{name: "no caller credential"},
		{name: "caller authorization replaced", headers: []string{"Authorization: Bearer " + callerSecret}},
		{name: "authorization sent twice", headers: []string{
			"Authorization: Bearer " + callerSecret, "Authorization: Basic " + callerSecret}},
		{name: "lower-case authorization", headers: []string{"authorization: Bearer " + callerSecret}},
		{name: "proxy authorization stripped", headers: []string{"Proxy-Authorization: Basic " + callerSecret}},
		{name: "forwarding headers stripped", headers: []string{
			"X-Forwarded-For: 10.0.0.1", "X-Forwarded-Host: evil.example", "X-Forwarded-Proto: https",
			"Forwarded: for=10.0.0.1;host=evil.example"}},
		// ReverseProxy deletes the headers named in Connection before Rewrite
		// runs; a Director would have set Authorization before that and lost it.
		{name: "connection lists authorization", headers: []string{
			"Connection: Authorization", "Authorization: Bearer " + callerSecret}},
		{name: "connection lists x-foo and authorization", headers: []string{
			"Connection: X-Foo, Authorization", "X-Foo: bar", "Authorization: Bearer " + callerSecret}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, nil)
			_, addr := startProxy(t, testConfig(up))
			resp := exchange(t, addr, rawRequest("GET", "/api/v4/brokers?limit=1", addr, "", tt.headers...))[0]
			if resp.Status != http.StatusOK {
				t.Fatalf("status: got %d, want 200 (body %q)", resp.Status, resp.Body)
			}
			reqs := up.requests()
			if len(reqs) != 1 {
				t.Fatalf("upstream requests: got %d, want 1", len(reqs))
			}
			checkInjected(t, reqs[0])
			if got := reqs[0].RequestURI; got != "/api/v4/brokers?limit=1" {
				t.Errorf("request URI: got %q, want %q", got, "/api/v4/brokers?limit=1")
			}
			if got := reqs[0].Header.Get("X-Foo"); got != "" {
				t.Errorf("X-Foo (listed in Connection): got %q, want it removed", got)
			}
		})
	}
}

// checkInjected asserts that r carries exactly the injected credential, the
// service's Host and nothing the caller claimed.
func checkInjected(t testing.TB, r recorded) {
	t.Helper()
	if got := r.Header.Values("Authorization"); !slices.Equal(got, []string{injected}) {
		t.Errorf("Authorization: got %q, want [%q]", got, injected)
	}
	for _, k := range strippedHeaders {
		if got := r.Header.Values(k); len(got) != 0 {
			t.Errorf("%s: got %q, want none", k, got)
		}
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			if strings.Contains(v, callerSecret) {
				t.Errorf("header %s carries the caller's secret", k)
			}
		}
	}
	if r.Host != testService {
		t.Errorf("Host: got %q, want %q", r.Host, testService)
	}
}

func TestHostHeaderChecked(t *testing.T) {
	up := newUpstream(t, nil)
	_, addr := startProxy(t, testConfig(up))
	_, port, _ := net.SplitHostPort(addr)
	other := strconv.Itoa(mustAtoi(t, port) + 1)
	tests := []struct {
		name string
		req  string
		want int
	}{
		{name: "listen address", req: rawRequest("GET", "/", addr, ""), want: 200},
		{name: "localhost", req: rawRequest("GET", "/", "localhost:"+port, ""), want: 200},
		{name: "upper-case localhost", req: rawRequest("GET", "/", "LOCALHOST:"+port, ""), want: 200},
		{name: "ipv4 loopback", req: rawRequest("GET", "/", "127.0.0.1:"+port, ""), want: 200},
		{name: "ipv6 loopback", req: rawRequest("GET", "/", "[::1]:"+port, ""), want: 200},
		{name: "foreign host same port", req: rawRequest("GET", "/", "evil.example:"+port, ""), want: 421},
		{name: "foreign host no port", req: rawRequest("GET", "/", "evil.example", ""), want: 421},
		{name: "localhost other port", req: rawRequest("GET", "/", "localhost:"+other, ""), want: 421},
		{name: "loopback without port", req: rawRequest("GET", "/", "127.0.0.1", ""), want: 421},
		{name: "absolute uri names foreign host",
			req: rawRequest("GET", "http://evil.example:"+port+"/", addr, ""), want: 421},
		{name: "http/1.0 without host", req: "GET / HTTP/1.0\r\n\r\n", want: 421},
	}
	wantForwarded := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := exchange(t, addr, tt.req)[0]
			if resp.Status != tt.want {
				t.Errorf("status: got %d, want %d (body %q)", resp.Status, tt.want, resp.Body)
			}
		})
		if tt.want == 200 {
			wantForwarded++
		}
	}
	if got := len(up.requests()); got != wantForwarded {
		t.Errorf("upstream requests: got %d, want %d", got, wantForwarded)
	}
}

func mustAtoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("atoi %q: %v", s, err)
	}
	return n
}

func TestCrossSiteRefused(t *testing.T) {
	up := newUpstream(t, nil)
	_, addr := startProxy(t, testConfig(up))
	_, port, _ := net.SplitHostPort(addr)
	tests := []struct {
		name    string
		headers []string
		want    int
	}{
		{name: "no browser headers (curl)", want: 200},
		{name: "origin is the proxy", headers: []string{"Origin: http://" + addr}, want: 200},
		{name: "origin is localhost form", headers: []string{"Origin: http://localhost:" + port}, want: 200},
		{name: "origin evil", headers: []string{"Origin: http://evil.example"}, want: 403},
		{name: "origin evil same port", headers: []string{"Origin: http://evil.example:" + port}, want: 403},
		{name: "origin https", headers: []string{"Origin: https://" + addr}, want: 403},
		{name: "origin null", headers: []string{"Origin: null"}, want: 403},
		{name: "origin empty", headers: []string{"Origin: "}, want: 403},
		{name: "sec-fetch-site same-origin", headers: []string{"Sec-Fetch-Site: same-origin"}, want: 200},
		{name: "sec-fetch-site none", headers: []string{"Sec-Fetch-Site: none"}, want: 200},
		{name: "sec-fetch-site cross-site", headers: []string{"Sec-Fetch-Site: cross-site"}, want: 403},
		{name: "sec-fetch-site same-site", headers: []string{"Sec-Fetch-Site: same-site"}, want: 403},
		{name: "same-origin but evil origin", headers: []string{
			"Sec-Fetch-Site: same-origin", "Origin: http://evil.example"}, want: 403},
		{name: "good origin but cross-site", headers: []string{
			"Sec-Fetch-Site: cross-site", "Origin: http://" + addr}, want: 403},
	}
	wantForwarded := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, addr, addr, tt.headers...)
			if resp.Status != tt.want {
				t.Errorf("status: got %d, want %d (body %q)", resp.Status, tt.want, resp.Body)
			}
		})
		if tt.want == 200 {
			wantForwarded++
		}
	}
	if got := len(up.requests()); got != wantForwarded {
		t.Errorf("upstream requests: got %d, want %d", got, wantForwarded)
	}
}

// CONNECT (a tunnel to anywhere) and TRACE (which an API may echo, the
// injected credential included) are refused.
func TestConnectAndTraceRefused(t *testing.T) {
	up := newUpstream(t, nil)
	_, addr := startProxy(t, testConfig(up))
	for _, req := range []string{rawRequest("CONNECT", addr, addr, ""), rawRequest("TRACE", "/api/v4/brokers", addr, "")} {
		resp := exchange(t, addr, req)[0]
		if resp.Status != http.StatusMethodNotAllowed {
			t.Errorf("%.7s: status %d, want 405", req, resp.Status)
		}
	}
	if got := len(up.requests()); got != 0 {
		t.Errorf("upstream requests: got %d, want 0", got)
	}
}

func TestBodySentWithContentLength(t *testing.T) {
	const limit = 16
	tests := []struct {
		name     string
		method   string
		headers  []string
		body     string
		want     int
		wantBody string // "" with want 200: an empty body, sent with Content-Length: 0
	}{
		{name: "chunked", method: "POST", headers: []string{"Transfer-Encoding: chunked"},
			body: "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", want: 200, wantBody: "hello world"},
		{name: "chunked with trailer", method: "PUT", headers: []string{"Transfer-Encoding: chunked", "Trailer: X-Sum"},
			body: "3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n", want: 200, wantBody: "abc"},
		{name: "chunked empty", method: "POST", headers: []string{"Transfer-Encoding: chunked"},
			body: "0\r\n\r\n", want: 200},
		{name: "chunked exactly the limit", method: "POST", headers: []string{"Transfer-Encoding: chunked"},
			body: "10\r\n0123456789abcdef\r\n0\r\n\r\n", want: 200, wantBody: "0123456789abcdef"},
		{name: "chunked over the limit", method: "POST", headers: []string{"Transfer-Encoding: chunked"},
			body: "11\r\n0123456789abcdefg\r\n0\r\n\r\n", want: 413},
		{name: "malformed chunked", method: "POST", headers: []string{"Transfer-Encoding: chunked"},
			body: "zz\r\nhello\r\n0\r\n\r\n", want: 400},
		{name: "known length streams", method: "POST", headers: []string{"Content-Length: 5"},
			body: "hello", want: 200, wantBody: "hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, nil)
			cfg := testConfig(up)
			cfg.MaxBodyBytes = limit
			_, addr := startProxy(t, cfg)
			resp := exchange(t, addr, rawRequest(tt.method, "/api/v4/x", addr, tt.body, tt.headers...))[0]
			if resp.Status != tt.want {
				t.Fatalf("status: got %d, want %d (body %q)", resp.Status, tt.want, resp.Body)
			}
			reqs := up.requests()
			if tt.want != 200 {
				if len(reqs) != 0 {
					t.Errorf("upstream requests: got %d, want 0", len(reqs))
				}
				return
			}
			if len(reqs) != 1 {
				t.Fatalf("upstream requests: got %d, want 1", len(reqs))
			}
			checkBody(t, reqs[0], tt.wantBody)
		})
	}
}

// checkBody asserts that r arrived with a fixed Content-Length and body.
func checkBody(t testing.TB, r recorded, want string) {
	t.Helper()
	if len(r.TransferEncoding) != 0 {
		t.Errorf("Transfer-Encoding: got %q, want none", r.TransferEncoding)
	}
	if r.ContentLength != int64(len(want)) {
		t.Errorf("Content-Length: got %d, want %d", r.ContentLength, len(want))
	}
	if r.Body != want {
		t.Errorf("body: got %q, want %q", r.Body, want)
	}
	if got := r.Header.Get("Trailer"); got != "" {
		t.Errorf("Trailer header: got %q, want none", got)
	}
}

func TestPipelinedRequestsEachGetCredential(t *testing.T) {
	up := newUpstream(t, nil)
	_, addr := startProxy(t, testConfig(up))
	var reqs []string
	for i := range 3 {
		reqs = append(reqs, rawRequest("GET", "/api/v4/n"+strconv.Itoa(i), addr, "",
			"Authorization: Bearer "+callerSecret+strconv.Itoa(i)))
	}
	for i, resp := range exchange(t, addr, reqs...) {
		if resp.Status != http.StatusOK {
			t.Errorf("response %d: got status %d, want 200", i, resp.Status)
		}
	}
	got := up.requests()
	if len(got) != 3 {
		t.Fatalf("upstream requests: got %d, want 3", len(got))
	}
	for i, r := range got {
		checkInjected(t, r)
		if want := "/api/v4/n" + strconv.Itoa(i); r.RequestURI != want {
			t.Errorf("request %d URI: got %q, want %q", i, r.RequestURI, want)
		}
	}
}

func TestCredentialFailure(t *testing.T) {
	up := newUpstream(t, nil)
	cfg := testConfig(up)
	cfg.Credential = credFunc(func(context.Context) (string, error) {
		return "", errors.New("token service unreachable")
	})
	_, addr := startProxy(t, cfg)
	resp := get(t, addr, addr)
	if resp.Status != http.StatusBadGateway || resp.Body != "credential unavailable\n" {
		t.Errorf("got %d %q, want 502 %q", resp.Status, resp.Body, "credential unavailable\n")
	}
	if got := len(up.requests()); got != 0 {
		t.Errorf("upstream requests: got %d, want 0", got)
	}
}

func TestRedirectPassedBackUntouched(t *testing.T) {
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			elsewhere := newUpstream(t, nil)
			location := "http://" + elsewhere.addr + "/collect?x=1"
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, location, code)
			})
			_, addr := startProxy(t, testConfig(up))
			resp := get(t, addr, addr)
			if resp.Status != code {
				t.Errorf("status: got %d, want %d", resp.Status, code)
			}
			if got := resp.Header.Get("Location"); got != location {
				t.Errorf("Location: got %q, want %q", got, location)
			}
			if got := len(up.requests()); got != 1 {
				t.Errorf("upstream requests: got %d, want 1", got)
			}
			if got := len(elsewhere.requests()); got != 0 {
				t.Errorf("requests at the redirect target: got %d, want 0", got)
			}
		})
	}
}

func TestResponsePassedThrough(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.Header().Set("X-Api", "nanomq")
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte("not really gzip"))
	})
	_, addr := startProxy(t, testConfig(up))
	resp := get(t, addr, addr)
	if resp.Status != http.StatusTeapot || resp.Body != "not really gzip" {
		t.Errorf("got %d %q, want 418 %q", resp.Status, resp.Body, "not really gzip")
	}
	if got := resp.Header.Values("Set-Cookie"); !slices.Equal(got, []string{"a=1", "b=2"}) {
		t.Errorf("Set-Cookie: got %q, want [a=1 b=2]", got)
	}
	for k, want := range map[string]string{"X-Api": "nanomq", "Content-Encoding": "gzip"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}
}

func TestStreamingResponseFlushed(t *testing.T) {
	release := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		http.NewResponseController(w).Flush()
		<-release
		io.WriteString(w, "data: second\n\n")
	})
	_, addr := startProxy(t, testConfig(up))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, rawRequest("GET", "/events", addr, ""))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// The first event must arrive while the upstream still holds the rest.
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	close(release)
	if err != nil || line != "data: first\n" {
		t.Errorf("first line: got %q, %v, want %q", line, err, "data: first\n")
	}
}

func TestNewValidates(t *testing.T) {
	dial := func(context.Context) (net.Conn, error) { return nil, errors.New("unused") }
	good := Config{Dial: dial, Credential: static{header: injected}}
	with := func(f func(*Config)) Config { c := good; f(&c); return c }
	tests := []struct {
		name    string
		cfg     Config
		addr    string
		wantErr string
	}{
		{name: "defaults", cfg: good, addr: "127.0.0.1:18081"},
		{name: "ipv6", cfg: good, addr: "[::1]:18081"},
		{name: "service with port", cfg: with(func(c *Config) { c.Service = "nanomq:8081" }), addr: "127.0.0.1:1"},
		{name: "no dial", cfg: with(func(c *Config) { c.Dial = nil }), addr: "127.0.0.1:1", wantErr: "Dial"},
		{name: "no credential", cfg: with(func(c *Config) { c.Credential = nil }), addr: "127.0.0.1:1", wantErr: "Credential"},
		{name: "negative body limit", cfg: with(func(c *Config) { c.MaxBodyBytes = -1 }), addr: "127.0.0.1:1", wantErr: "MaxBodyBytes"},
		{name: "negative timeout", cfg: with(func(c *Config) { c.ResponseHeaderTimeout = -time.Second }), addr: "127.0.0.1:1", wantErr: "ResponseHeaderTimeout"},
		{name: "service with space", cfg: with(func(c *Config) { c.Service = "nano mq" }), addr: "127.0.0.1:1", wantErr: "service"},
		{name: "service with newline", cfg: with(func(c *Config) { c.Service = "a\r\nX: y" }), addr: "127.0.0.1:1", wantErr: "service"},
		{name: "no port", cfg: good, addr: "127.0.0.1", wantErr: "listen address"},
		{name: "port zero", cfg: good, addr: "127.0.0.1:0", wantErr: "actual port"},
		{name: "port name", cfg: good, addr: "127.0.0.1:http", wantErr: "actual port"},
		{name: "port too big", cfg: good, addr: "127.0.0.1:65536", wantErr: "actual port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := New(tt.cfg, tt.addr)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: got %v, want no error", err)
				}
				h.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New: got %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestShutdownEndsServe(t *testing.T) {
	up := newUpstream(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(testConfig(up), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.Serve(ln) }()
	if resp := get(t, ln.Addr().String(), ln.Addr().String()); resp.Status != 200 {
		t.Fatalf("status: got %d, want 200", resp.Status)
	}
	if err := h.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve: got %v, want %v", err, http.ErrServerClosed)
	}
}

func TestHandlerWithoutServe(t *testing.T) {
	// ServeHTTP works on its own, e.g. mounted in another server.
	up := newUpstream(t, nil)
	h, err := New(testConfig(up), "127.0.0.1:18081")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	rec := &recorder{header: make(http.Header)}
	req, _ := http.NewRequest("GET", "http://127.0.0.1:18081/api/v4/brokers", nil)
	h.ServeHTTP(rec, req)
	if rec.code != 200 || rec.body.String() != "ok" {
		t.Errorf("got %d %q, want 200 %q", rec.code, rec.body.String(), "ok")
	}
}

// recorder is a minimal ResponseWriter (httptest is avoided to keep the
// upstream and client sides of every test on real sockets but this one).
type recorder struct {
	header http.Header
	code   int
	body   strings.Builder
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = 200
	}
	return r.body.Write(b)
}

func TestLogsNeverContainSecrets(t *testing.T) {
	const pw = "pa55-w0rd-in-log-test"
	t.Setenv("LOOPGATE_TEST_BASIC", "admin:"+pw)
	cred, err := BasicFromEnv("LOOPGATE_TEST_BASIC")
	if err != nil {
		t.Fatal(err)
	}
	auth, _ := cred.Authorization(context.Background())
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))

	up := newUpstream(t, nil)
	cfg := testConfig(up)
	cfg.Credential, cfg.Logger, cfg.MaxBodyBytes = cred, logger, 32
	h, addr := startProxy(t, cfg)
	down := cfg
	down.Dial = func(context.Context) (net.Conn, error) { return nil, errors.New("dial: tunnel down") }
	hDown, addrDown := startProxy(t, down)

	callerAuth := "Authorization: Bearer " + callerSecret
	get(t, addr, addr, callerAuth, "Proxy-Authorization: Basic "+callerSecret)
	get(t, addr, addr, callerAuth, "Origin: http://evil.example")
	get(t, addr, "evil.example", callerAuth)
	exchange(t, addr, rawRequest("POST", "/big", addr, "40\r\n"+strings.Repeat("x", 64)+"\r\n0\r\n\r\n",
		"Transfer-Encoding: chunked", callerAuth))
	get(t, addrDown, addrDown, callerAuth)
	resp, err := Do(context.Background(), cfg, mustRequest(t, "GET", "/api/v4/do", callerAuth))
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	resp.Body.Close()
	// Shutdown waits for handlers, so every log line is written.
	h.Shutdown(context.Background())
	hDown.Shutdown(context.Background())

	logs := buf.String()
	for _, want := range []string{"level=DEBUG", "status=200", "level=WARN", "status=421", "status=403", "status=413", "status=502"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	for _, secret := range []string{pw, auth, strings.TrimPrefix(auth, "Basic "), callerSecret} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain a secret (%q):\n%s", secret, logs)
		}
	}
}

func TestCredentialTunnelDownIs503(t *testing.T) {
	cfg := testConfig(newUpstream(t, nil))
	cfg.Credential = credFunc(func(context.Context) (string, error) {
		return "", fmt.Errorf("%w: no connection", tunnel.ErrDown)
	})
	_, addr := startProxy(t, cfg)
	if resp := get(t, addr, addr); resp.Status != http.StatusServiceUnavailable || resp.Body != "tunnel down\n" {
		t.Errorf("got %d %q, want 503 %q", resp.Status, resp.Body, "tunnel down\n")
	}
}
