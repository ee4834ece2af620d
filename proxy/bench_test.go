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
	_, addr := startProxy(b, Config{Dial: benchAPI(b), Credential: static{header: injected}, Service: testService})
	client := &http.Transport{MaxIdleConnsPerHost: 1}
	b.Cleanup(client.CloseIdleConnections)
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v4/brokers", nil)
	if err != nil {
		b.Fatal(err)
	}
	benchRoundTrips(b, client, req)
}

// benchAPI is a loopback API answering every request with a small body.
func benchAPI(b *testing.B) func(context.Context) (net.Conn, error) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"code":0}`)
	}))
	b.Cleanup(up.Close)
	addr := up.Listener.Addr().String()
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
}

// benchRoundTrips sends req through tr once per iteration and reads the
// whole response.
func benchRoundTrips(b *testing.B, tr http.RoundTripper, req *http.Request) {
	b.ReportAllocs()
	for b.Loop() {
		resp, err := tr.RoundTrip(req)
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

// benchAPIRequest is the small GET the transport benchmarks send.
func benchAPIRequest() *http.Request {
	return newAPIRequest(context.Background(), http.MethodGet, "/api/v4/brokers", "")
}

// BenchmarkDirectRoundTrip is one small GET through the proxy's transport.
func BenchmarkDirectRoundTrip(b *testing.B) {
	benchRoundTrips(b, newTestDirect(b, benchAPI(b), DefaultResponseHeaderTimeout), benchAPIRequest())
}

// BenchmarkHTTPTransportRoundTrip is the same through an http.Transport
// set up as newTransport but keeping its connections, for comparison.
func BenchmarkHTTPTransportRoundTrip(b *testing.B) {
	dial := benchAPI(b)
	tr := &http.Transport{
		DialContext:           func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
		Protocols:             http1Only(),
		ResponseHeaderTimeout: DefaultResponseHeaderTimeout,
		DisableCompression:    true,
		MaxIdleConnsPerHost:   32,
	}
	b.Cleanup(tr.CloseIdleConnections)
	benchRoundTrips(b, tr, benchAPIRequest())
}
