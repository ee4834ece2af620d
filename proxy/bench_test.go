package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkTokenCacheHit is the per-request cost of the default
// credential once a token is cached.
func BenchmarkTokenCacheHit(b *testing.B) {
	c := NewTokenCache(func(context.Context) (string, time.Duration, error) {
		return "header.payload.signature", time.Hour, nil
	}, nil)
	ctx := context.Background()
	if _, err := c.Authorization(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Authorization(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProxyRequest is one small GET through the proxy on loopback:
// the proxy's per-request work (checks, credential, rewrite, transport)
// plus the client and upstream sides, all in this process.
func BenchmarkProxyRequest(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"code":0}`)
	}))
	b.Cleanup(up.Close)
	dial := func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", up.Listener.Addr().String())
	}
	_, addr := startProxy(b, Config{Dial: dial, Credential: static{header: injected}, Service: testService})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	b.Cleanup(client.CloseIdleConnections)
	url := "http://" + addr + "/api/v4/brokers"
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status: got %d, want 200", resp.StatusCode)
		}
	}
}
