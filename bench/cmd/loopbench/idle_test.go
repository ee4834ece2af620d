package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestIsGoroutineHeader(t *testing.T) {
	tests := []struct {
		name string
		line string
		want bool
	}{
		{name: "classic", line: "goroutine 7 [select]:", want: true},
		{name: "with duration", line: "goroutine 12 [chan receive, 3 minutes]:", want: true},
		{name: "go 1.26 all", line: "goroutine 21 gp=0x1c578cf04960 m=nil [IO wait]:", want: true},
		{name: "created by", line: "created by os/signal.Notify.func1.1 in goroutine 1", want: false},
		{name: "no id", line: "goroutine x [select]:", want: false},
		{name: "no state", line: "goroutine 7", want: false},
		{name: "frame", line: "\truntime.gopark(0x0?)", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isGoroutineHeader(tt.line); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCountGoroutines(t *testing.T) {
	dir := t.TempDir()
	dump := filepath.Join(dir, "dump.log")
	text := "INFO listening\nSIGQUIT: quit\n\ngoroutine 1 [running]:\nmain.main()\n\ngoroutine 2 gp=0x1 m=nil [IO wait]:\n"
	if err := os.WriteFile(dump, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := countGoroutines(dump); err != nil || got != 2 {
		t.Errorf("got %d, %v, want 2", got, err)
	}
	empty := filepath.Join(dir, "empty.log")
	os.WriteFile(empty, []byte("INFO nothing\n"), 0o600)
	if _, err := countGoroutines(empty); err == nil {
		t.Errorf("got nil, want an error for a log without a dump")
	}
}

func TestOpenIdleAndMove(t *testing.T) {
	_, addr := startTestUpstream(t)
	ctx := context.Background()
	conns, failed := openIdle(ctx, addr, 20)
	defer closeIdle(conns)
	if len(conns) != 20 || failed != 0 {
		t.Fatalf("got %d open, %d failed, want 20 and 0", len(conns), failed)
	}
	if got := moveEach(ctx, conns, addr, moveSize(len(conns), 0)); got != 0 {
		t.Errorf("got %d failed moves, want 0", got)
	}
}

func TestOpenIdleNothingListening(t *testing.T) {
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	conns, failed := openIdle(context.Background(), "127.0.0.1:"+strconv.Itoa(port), 3)
	if len(conns) != 0 || failed != 3 {
		t.Errorf("got %d open, %d failed, want 0 and 3", len(conns), failed)
	}
}

func TestMoveSize(t *testing.T) {
	tests := []struct {
		name    string
		n, move int
		want    int
	}{
		{name: "one", n: 1, want: 1 << 20},
		{name: "thousand", n: 1000, want: 1 << 20},
		{name: "ten thousand", n: 10000, want: 104 << 10},
		{name: "zero", n: 0, want: 1 << 20},
		{name: "a MiB at ten thousand, as asked", n: 10000, move: 1 << 20, want: 1 << 20},
		{name: "less than the rule, as asked", n: 1000, move: 4 << 10, want: 4 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := moveSize(tt.n, tt.move); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestMoveLimit(t *testing.T) {
	tests := []struct {
		name    string
		n, size int
		want    time.Duration
	}{
		{name: "default at ten thousand", n: 10000, size: 104 << 10, want: idlePhaseLimit},
		{name: "default at a thousand", n: 1000, size: 1 << 20, want: idlePhaseLimit},
		{name: "a MiB at ten thousand", n: 10000, size: 1 << 20, want: 1250 * time.Second},
		{name: "none", n: 0, size: 1 << 20, want: idlePhaseLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := moveLimit(tt.n, tt.size); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
