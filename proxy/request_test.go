package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loopgate/loopgate/tunnel"
)

// mustRequest builds a client request for Do; headers are "Key: value".
func mustRequest(t testing.TB, method, path string, headers ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, "http://service"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Add(k, v)
	}
	return req
}

func TestDoRewrites(t *testing.T) {
	up := newUpstream(t, nil)
	req := mustRequest(t, "GET", "/api/v4/brokers?x=1",
		"Authorization: Bearer "+callerSecret, "Proxy-Authorization: Basic "+callerSecret,
		"X-Forwarded-For: 10.0.0.1", "Forwarded: for=10.0.0.1", "X-Custom: kept")
	req.Header["authorization"] = []string{"Bearer " + callerSecret} // set by hand, not canonical
	resp, err := Do(context.Background(), testConfig(up), req)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, "ok")
	}
	reqs := up.requests()
	if len(reqs) != 1 {
		t.Fatalf("upstream requests: got %d, want 1", len(reqs))
	}
	checkInjected(t, reqs[0])
	if got := reqs[0].RequestURI; got != "/api/v4/brokers?x=1" {
		t.Errorf("request URI: got %q, want /api/v4/brokers?x=1", got)
	}
	if got := reqs[0].Header.Get("X-Custom"); got != "kept" {
		t.Errorf("X-Custom: got %q, want kept", got)
	}
	if got := req.Header.Get("Authorization"); got != "Bearer "+callerSecret {
		t.Errorf("caller's request was modified: Authorization is now %q", got)
	}
}

// unsized hides a reader's type so that its length is unknown.
type unsized struct{ io.Reader }

func TestDoBody(t *testing.T) {
	tests := []struct {
		name    string
		body    io.Reader
		want    string
		wantErr bool
	}{
		{name: "unknown length", body: unsized{strings.NewReader("hello world")}, want: "hello world"},
		{name: "unknown length empty", body: unsized{strings.NewReader("")}, want: ""},
		{name: "known length", body: strings.NewReader("hello world"), want: "hello world"},
		{name: "exactly the limit", body: unsized{strings.NewReader(strings.Repeat("x", 16))}, want: strings.Repeat("x", 16)},
		{name: "over the limit", body: unsized{strings.NewReader(strings.Repeat("x", 17))}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, nil)
			cfg := testConfig(up)
			cfg.MaxBodyBytes = 16
			req, err := http.NewRequest("POST", "http://service/api/v4/x", tt.body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := Do(context.Background(), cfg, req)
			if tt.wantErr {
				if !errors.Is(err, errBodyTooLarge) {
					t.Errorf("Do: got %v, want %v", err, errBodyTooLarge)
				}
				if got := len(up.requests()); got != 0 {
					t.Errorf("upstream requests: got %d, want 0", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			resp.Body.Close()
			reqs := up.requests()
			if len(reqs) != 1 {
				t.Fatalf("upstream requests: got %d, want 1", len(reqs))
			}
			checkBody(t, reqs[0], tt.want)
		})
	}
}

func TestDoDoesNotFollowRedirects(t *testing.T) {
	elsewhere := newUpstream(t, nil)
	location := "http://" + elsewhere.addr + "/collect"
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, location, http.StatusFound)
	})
	// Dial ignores the address, so a followed redirect would come back to
	// up; count requests there too.
	resp, err := Do(context.Background(), testConfig(up), mustRequest(t, "GET", "/"))
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != location {
		t.Errorf("got %d Location %q, want 302 Location %q", resp.StatusCode, resp.Header.Get("Location"), location)
	}
	if got := len(up.requests()); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
	if got := len(elsewhere.requests()); got != 0 {
		t.Errorf("requests at the redirect target: got %d, want 0", got)
	}
}

func TestDoErrors(t *testing.T) {
	up := newUpstream(t, nil)
	good := testConfig(up)
	credErr := errors.New("token service unreachable")
	tests := []struct {
		name string
		cfg  func(*Config)
		want error // matched with errors.Is; nil: any error
	}{
		{name: "refused", cfg: func(c *Config) {
			c.Dial = func(context.Context) (net.Conn, error) { return nil, tunnel.ErrRefused }
		}, want: tunnel.ErrRefused},
		{name: "down", cfg: func(c *Config) {
			c.Dial = func(context.Context) (net.Conn, error) { return nil, tunnel.ErrDown }
		}, want: tunnel.ErrDown},
		{name: "credential fails", cfg: func(c *Config) {
			c.Credential = credFunc(func(context.Context) (string, error) { return "", credErr })
		}, want: credErr},
		{name: "no credential", cfg: func(c *Config) { c.Credential = nil }},
		{name: "no dial", cfg: func(c *Config) { c.Dial = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.cfg(&cfg)
			resp, err := Do(context.Background(), cfg, mustRequest(t, "GET", "/"))
			if err == nil {
				resp.Body.Close()
				t.Fatal("Do: got no error, want one")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Do: got %v, want %v", err, tt.want)
			}
		})
	}
	if got := len(up.requests()); got != 0 {
		t.Errorf("upstream requests: got %d, want 0", got)
	}
}

func TestDoNilRequest(t *testing.T) {
	up := newUpstream(t, nil)
	if _, err := Do(context.Background(), testConfig(up), nil); err == nil {
		t.Error("Do(nil request): got no error, want one")
	}
}

func TestEveryXForwardedHeaderStripped(t *testing.T) {
	up := newUpstream(t, nil)
	_, addr := startProxy(t, testConfig(up))
	exchange(t, addr, rawRequest("GET", "/", addr, "", "X-Forwarded-User: admin", "x-forwarded-prefix: /evil"))
	for k := range up.requests()[0].Header {
		if strings.HasPrefix(strings.ToLower(k), "x-forwarded-") {
			t.Errorf("header %s reached the API, want every X-Forwarded-* dropped", k)
		}
	}
}

func TestReMintedEmptyChunkedBodyKeepsContentLength(t *testing.T) {
	var n atomic.Int32
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"code":116}`)
		}
	})
	mint, _ := counter(time.Minute)
	cfg := testConfig(up)
	cfg.Credential = NewTokenCache(mint, nil)
	_, addr := startProxy(t, cfg)
	exchange(t, addr, rawRequest("PUT", "/x", addr, "0\r\n\r\n", "Transfer-Encoding: chunked"))
	for i, r := range up.requests() {
		if len(r.TransferEncoding) != 0 || r.ContentLength != 0 {
			t.Errorf("request %d: got Transfer-Encoding %q, Content-Length %d; want none, 0", i, r.TransferEncoding, r.ContentLength)
		}
	}
}
