package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/loopgate/loopgate/tunnel"
)

// timeoutError is a net.Error that timed out.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

var statusTests = []struct {
	name       string
	err        error
	wantStatus int
	wantReason string
}{
	{name: "refused", err: tunnel.ErrRefused, wantStatus: 403, wantReason: "refused by policy"},
	{name: "refused wrapped", err: fmt.Errorf("open channel nanomq: %w", tunnel.ErrRefused),
		wantStatus: 403, wantReason: "refused by policy"},
	{name: "unreachable", err: fmt.Errorf("open channel: %w", tunnel.ErrUnreachable),
		wantStatus: 502, wantReason: "the API refused the connection"},
	{name: "down", err: fmt.Errorf("dial: %w", tunnel.ErrDown), wantStatus: 503, wantReason: "tunnel down"},
	{name: "deadline", err: context.DeadlineExceeded, wantStatus: 504, wantReason: "timeout"},
	{name: "net timeout", err: &net.OpError{Op: "dial", Net: "tcp", Err: timeoutError{}},
		wantStatus: 504, wantReason: "timeout"},
	{name: "os deadline", err: fmt.Errorf("read: %w", os.ErrDeadlineExceeded), wantStatus: 504, wantReason: "timeout"},
	{name: "other", err: errors.New("boom"), wantStatus: 502, wantReason: "bad gateway"},
	{name: "canceled", err: context.Canceled, wantStatus: 502, wantReason: "bad gateway"},
}

func TestStatusFor(t *testing.T) {
	for _, tt := range statusTests {
		t.Run(tt.name, func(t *testing.T) {
			status, reason := StatusFor(tt.err)
			if status != tt.wantStatus || reason != tt.wantReason {
				t.Errorf("got %d %q, want %d %q", status, reason, tt.wantStatus, tt.wantReason)
			}
		})
	}
}

func TestDialErrorsAnswerHonestly(t *testing.T) {
	for _, tt := range statusTests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, nil)
			cfg := testConfig(up)
			cfg.Dial = func(context.Context) (net.Conn, error) { return nil, tt.err }
			_, addr := startProxy(t, cfg)
			resp := get(t, addr, addr)
			if resp.Status != tt.wantStatus || resp.Body != tt.wantReason+"\n" {
				t.Errorf("got %d %q, want %d %q", resp.Status, resp.Body, tt.wantStatus, tt.wantReason+"\n")
			}
			if got := resp.Header.Get("Content-Type"); got != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type: got %q, want text/plain; charset=utf-8", got)
			}
		})
	}
}

func TestDialReturningNothing(t *testing.T) {
	up := newUpstream(t, nil)
	cfg := testConfig(up)
	cfg.Dial = func(context.Context) (net.Conn, error) { return nil, nil }
	_, addr := startProxy(t, cfg)
	if resp := get(t, addr, addr); resp.Status != http.StatusBadGateway {
		t.Errorf("status: got %d, want 502", resp.Status)
	}
}

func TestResponseHeaderTimeout(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // the proxy gives up and closes the connection
	})
	cfg := testConfig(up)
	cfg.ResponseHeaderTimeout = 100 * time.Millisecond
	_, addr := startProxy(t, cfg)
	resp := get(t, addr, addr)
	if resp.Status != http.StatusGatewayTimeout || resp.Body != "timeout\n" {
		t.Errorf("got %d %q, want 504 %q", resp.Status, resp.Body, "timeout\n")
	}
}
