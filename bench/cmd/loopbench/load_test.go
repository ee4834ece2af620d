package main

import (
	"context"
	"strconv"
	"testing"
	"time"
)

func TestTransfers(t *testing.T) {
	u, addr := startTestUpstream(t)
	ctx := context.Background()
	tests := []struct {
		name string
		ep   *endpoint
	}{
		{name: "plain", ep: &endpoint{variant: vDirect, addr: addr}},
		{name: "auth prefix rejected", ep: &endpoint{variant: vProxy, addr: addr, prefix: authPrefix}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr := tt.ep.prefix != ""
			if _, err := download(ctx, tt.ep, 3<<20); (err != nil) != wantErr {
				t.Errorf("download: got %v, want error %v", err, wantErr)
			}
			if _, err := upload(ctx, tt.ep, 3<<20); (err != nil) != wantErr {
				t.Errorf("upload: got %v, want error %v", err, wantErr)
			}
		})
	}
	if got := u.uploaded.Load(); got != 3<<20 {
		t.Errorf("got %d bytes uploaded, want %d", got, 3<<20)
	}
}

func TestHTTPLoad(t *testing.T) {
	_, addr := startTestUpstream(t)
	res, err := httpLoad(context.Background(), &endpoint{addr: addr}, "/json", 4, 300*time.Millisecond)
	if err != nil || res.err != nil {
		t.Fatalf("got %v, %v, want no error", err, res.err)
	}
	if res.requests == 0 || res.p50 <= 0 || res.p99 < res.p50 || res.p999 < res.p99 {
		t.Errorf("got %d requests, p50 %s, p99 %s, p99.9 %s, want some, p99.9 >= p99 >= p50 > 0", res.requests, res.p50, res.p99, res.p999)
	}
}

func TestHTTPLoadRefused(t *testing.T) {
	_, addr := startTestUpstream(t)
	_, err := httpLoad(context.Background(), &endpoint{addr: addr, prefix: authPrefix}, authPrefix+"/json", 2, 100*time.Millisecond)
	if err == nil {
		t.Errorf("got nil, want an error when every request is refused")
	}
}

func TestPercentile(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		var out []time.Duration
		for _, x := range xs {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{name: "empty", sorted: nil, p: 0.5, want: 0},
		{name: "one", sorted: ms(7), p: 0.99, want: 7 * time.Millisecond},
		{name: "p50 of 1..100", sorted: ms(hundred...), p: 0.50, want: 50 * time.Millisecond},
		{name: "p99 of 1..100", sorted: ms(hundred...), p: 0.99, want: 99 * time.Millisecond},
		{name: "p99 of four", sorted: ms(1, 2, 3, 4), p: 0.99, want: 4 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestFirstResponse(t *testing.T) {
	_, addr := startTestUpstream(t)
	_, p := startTestProc(t, "sleep", "30")
	if err := firstResponse(context.Background(), p, addr, "/json", time.Now().Add(5*time.Second)); err != nil {
		t.Errorf("got %v, want nil", err)
	}
	port, _ := freePort()
	err := firstResponse(context.Background(), p, "127.0.0.1:"+strconv.Itoa(port), "/json", time.Now().Add(50*time.Millisecond))
	if err == nil {
		t.Errorf("got nil, want an error when nothing listens")
	}
}
