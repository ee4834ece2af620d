package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestValidBearer(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{name: "jwt", in: "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiIn0.c2ln-_", want: true},
		{name: "missing", in: "", want: false},
		{name: "basic", in: "Basic YWRtaW46cHVibGlj", want: false},
		{name: "lower-case scheme", in: "bearer a.b.c", want: false},
		{name: "two parts", in: "Bearer a.b", want: false},
		{name: "four parts", in: "Bearer a.b.c.d", want: false},
		{name: "empty signature", in: "Bearer a.b.", want: false},
		{name: "padding", in: "Bearer a.b.c=", want: false},
		{name: "space inside", in: "Bearer a.b .c", want: false},
		{name: "empty header part", in: "Bearer .b.c", want: false},
		{name: "empty claims part", in: "Bearer a..c", want: false},
		{name: "non-ASCII", in: "Bearer a.b.c\u00e9", want: false},
		{name: "nothing after the scheme", in: "Bearer ", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validBearer(tt.in); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUpstreamRoutes(t *testing.T) {
	u, addr := startTestUpstream(t)
	tests := []struct {
		name, method, path, auth, body string
		wantStatus                     int
		wantLen                        int64 // -1: do not check
	}{
		{name: "bulk", method: "GET", path: "/bulk?bytes=300000", wantStatus: 200, wantLen: 300000},
		{name: "bulk zero", method: "GET", path: "/bulk?bytes=0", wantStatus: 200, wantLen: 0},
		{name: "bulk bad size", method: "GET", path: "/bulk?bytes=-1", wantStatus: 400, wantLen: -1},
		{name: "json", method: "GET", path: "/json", wantStatus: 200, wantLen: int64(len(jsonBody))},
		{name: "upload", method: "POST", path: "/upload", body: "hello", wantStatus: 200, wantLen: -1},
		{name: "auth without token", method: "GET", path: "/auth/json", wantStatus: 401, wantLen: -1},
		{name: "auth with token", method: "GET", path: "/auth/json", auth: "Bearer a.b.c", wantStatus: 200,
			wantLen: int64(len(jsonBody))},
		{name: "unknown", method: "GET", path: "/nope", wantStatus: 404, wantLen: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(context.Background(), tt.method, "http://"+addr+tt.path, strings.NewReader(tt.body))
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := directClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			n, _ := io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("got status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantLen >= 0 && n != tt.wantLen {
				t.Errorf("got %d bytes, want %d", n, tt.wantLen)
			}
		})
	}
	st, err := fetchStats(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rejects != 1 || st.Uploaded != 5 || u.rejects.Load() != 1 {
		t.Errorf("got %+v, want 1 reject and 5 bytes uploaded", st)
	}
}

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		name string
		addr string
		ok   bool
	}{
		{name: "loopback", addr: "127.0.0.1:8081", ok: true},
		{name: "any address", addr: "0.0.0.0:8081", ok: false},
		{name: "localhost name", addr: "localhost:8081", ok: false},
		{name: "no port", addr: "127.0.0.1", ok: false},
		{name: "port zero", addr: "127.0.0.1:0", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkLoopback(tt.addr); (err == nil) != tt.ok {
				t.Errorf("got %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func FuzzValidBearer(f *testing.F) {
	f.Add("Bearer a.b.c")
	f.Add("Bearer ..")
	f.Add("Bearer \xff.a.b")
	// The check restated plainly: three non-empty parts of base64url.
	restated := func(h string) bool {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		parts := strings.Split(tok, ".")
		if !ok || len(parts) != 3 {
			return false
		}
		for _, p := range parts {
			if p == "" || strings.Trim(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
				return false
			}
		}
		return true
	}
	f.Fuzz(func(t *testing.T, h string) {
		if got, want := validBearer(h), restated(h); got != want {
			t.Errorf("validBearer(%q) = %v, want %v", h, got, want)
		}
	})
}
