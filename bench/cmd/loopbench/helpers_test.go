package main

import (
	"net"
	"net/http"
	"testing"
	"time"
)

// startTestUpstream serves the bench upstream on 127.0.0.1 for the test.
func startTestUpstream(t testing.TB) (*upstream, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	u := newUpstream()
	srv := &http.Server{Handler: u, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return u, ln.Addr().String()
}
