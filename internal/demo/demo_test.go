package demo

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRunShowsRequestThroughTunnel(t *testing.T) {
	var out, audit bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := Run(ctx, &out, slog.New(slog.NewTextHandler(&audit, nil))); err != nil {
		t.Fatalf("Run: %v\noutput:\n%s", err, out.String())
	}
	for _, want := range []string{"200 OK", `"node_status":"Running"`, "What happened"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, want := range []string{"auth accepted", "token issued", "tunnel opened", "service=nanomq", "tunnel closed"} {
		if !strings.Contains(audit.String(), want) {
			t.Errorf("audit log lacks %q:\n%s", want, audit.String())
		}
	}
}
