package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// counter mints "tok1", "tok2", ... each valid for life.
func counter(life time.Duration) (MintFunc, *atomic.Int32) {
	var n atomic.Int32
	return func(context.Context) (string, time.Duration, error) {
		return fmt.Sprintf("tok%d", n.Add(1)), life, nil
	}, &n
}

func TestTokenCacheRefreshesWhenAThirdIsLeft(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	mint, n := counter(300 * time.Second)
	c := NewTokenCache(mint, clock.now)
	ctx := context.Background()
	for _, step := range []struct {
		advance time.Duration
		want    string
	}{
		{0, "Bearer tok1"},
		{199 * time.Second, "Bearer tok1"}, // 101 s of 300 left: more than a third
		{time.Second, "Bearer tok2"},       // 100 s left: refresh
		{time.Second, "Bearer tok2"},
	} {
		clock.add(step.advance)
		got, err := c.Authorization(ctx)
		if err != nil || got != step.want {
			t.Fatalf("after +%s: got %q, %v; want %q", step.advance, got, err, step.want)
		}
	}
	c.Invalidate("Bearer tok1") // not the current token: ignored
	if got, _ := c.Authorization(ctx); got != "Bearer tok2" {
		t.Fatalf("after invalidating an old token: got %q, want Bearer tok2", got)
	}
	c.Invalidate("Bearer tok2")
	if got, _ := c.Authorization(ctx); got != "Bearer tok3" {
		t.Fatalf("after invalidating the current token: got %q, want Bearer tok3", got)
	}
	if n.Load() != 3 {
		t.Fatalf("minted %d times, want 3", n.Load())
	}
	if s := fmt.Sprintf("%v %+v %s", c, c, c); strings.Contains(s, "tok") {
		t.Fatalf("formatting the cache shows the token: %s", s)
	}
}

func TestTokenCacheMintError(t *testing.T) {
	c := NewTokenCache(func(context.Context) (string, time.Duration, error) {
		return "", 0, errors.New("refused")
	}, nil)
	if _, err := c.Authorization(context.Background()); err == nil {
		t.Fatal("got nil error from a failing mint")
	}
}

// expiringAPI answers 401 {"code":116} to the first token it sees, and 200
// to later ones; it records every Authorization it got.
type expiringAPI struct {
	mu   sync.Mutex
	seen []string
}

func (a *expiringAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	a.mu.Lock()
	a.seen = append(a.seen, r.Header.Get("Authorization"))
	first := len(a.seen) == 1
	a.mu.Unlock()
	if first || r.URL.Path == "/always-expired" {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"code":116}`)
		return
	}
	io.WriteString(w, "ok")
}

func (a *expiringAPI) auths() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen...)
}

func startExpiringAPI(t *testing.T) (*expiringAPI, func(context.Context) (net.Conn, error)) {
	t.Helper()
	api := &expiringAPI{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return api, func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", ln.Addr().String())
	}
}

func TestExpiredTokenIsReMintedExactlyOnce(t *testing.T) {
	for _, tt := range []struct {
		name, method, path string
		body               string
		wantStatus         int
		wantAuths          []string
	}{
		{"get retried", http.MethodGet, "/x", "", 200, []string{"Bearer tok1", "Bearer tok2"}},
		{"put with body retried", http.MethodPut, "/x", "data", 200, []string{"Bearer tok1", "Bearer tok2"}},
		{"post not retried", http.MethodPost, "/x", "data", 401, []string{"Bearer tok1"}},
		{"retried once only", http.MethodGet, "/always-expired", "", 401, []string{"Bearer tok1", "Bearer tok2"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api, dial := startExpiringAPI(t)
			mint, _ := counter(time.Minute)
			cfg := Config{Dial: dial, Credential: NewTokenCache(mint, nil), Service: "nanomq"}
			if tt.path == "/always-expired" {
				api.seen = []string{"warm-up"} // so the first real request is not "first"
			}
			req, _ := http.NewRequest(tt.method, "http://x"+tt.path, strings.NewReader(tt.body))
			if tt.body == "" {
				req.Body, req.ContentLength = http.NoBody, 0
			}
			resp, err := Do(context.Background(), cfg, req)
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			resp.Body.Close()
			got := api.auths()
			if tt.path == "/always-expired" {
				got = got[1:]
			}
			if resp.StatusCode != tt.wantStatus || strings.Join(got, ",") != strings.Join(tt.wantAuths, ",") {
				t.Fatalf("got status %d, auths %v; want %d, %v", resp.StatusCode, got, tt.wantStatus, tt.wantAuths)
			}
		})
	}
}

func TestHandlerReMintsOnExpired(t *testing.T) {
	api, dial := startExpiringAPI(t)
	mint, n := counter(time.Minute)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h2, err := New(Config{Dial: dial, Credential: NewTokenCache(mint, nil), Service: "nanomq"}, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	go h2.Serve(ln)
	t.Cleanup(func() { h2.Close() })
	resp, err := http.Get("http://" + ln.Addr().String() + "/api/v4/brokers")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("got %d %q, want 200 ok after one re-mint", resp.StatusCode, body)
	}
	if got := api.auths(); len(got) != 2 || got[0] == got[1] || n.Load() != 2 {
		t.Fatalf("auths %v, minted %d; want two different tokens, minted twice", got, n.Load())
	}
}

func TestRemintBrokenUnauthorizedBody(t *testing.T) {
	dial := rawAPI(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err == nil {
			io.WriteString(c, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 300\r\n\r\n{\"code\":")
			io.Copy(io.Discard, br) // the rest never comes
		}
	})
	mint, _ := counter(time.Minute)
	cfg, _ := Config{Dial: dial, Credential: NewTokenCache(mint, nil)}.withDefaults()
	rt := &remint{base: newTransport(cfg), cred: cfg.Credential, log: cfg.Logger}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if resp, err := rt.RoundTrip(newAPIRequest(ctx, http.MethodGet, "/", "")); (resp == nil) == (err == nil) {
		t.Errorf("got response %v and error %v, want exactly one", resp != nil, err)
	}
}

// A TokenCache never prints its token, whatever the verb or logger.
func TestTokenCacheRedacted(t *testing.T) {
	const secret = "header.payload.signature-never-printed"
	c := NewTokenCache(func(context.Context) (string, time.Duration, error) { return secret, time.Hour, nil }, nil)
	if _, err := c.Authorization(context.Background()); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("cache", "credential", c)
	for _, got := range []string{
		fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%s", c),
		fmt.Sprintf("%q", c), fmt.Sprint(c), logged.String(),
	} {
		if strings.Contains(got, secret) || !strings.Contains(got, "redacted") {
			t.Errorf("printed %q: want it redacted", got)
		}
	}
}
