package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(&buf, "json", "info", time.TimeOnly)
	if err != nil {
		t.Fatal(err)
	}
	l.Debug("hidden")
	l.Info("shown", "k", "v")
	var ev map[string]any
	if err := json.Unmarshal(buf.Bytes(), &ev); err != nil || ev["msg"] != "shown" || ev["k"] != "v" {
		t.Fatalf("got %q (%v), want one JSON event msg=shown k=v", buf.String(), err)
	}
	for _, tt := range []struct{ format, level, want string }{
		{"xml", "info", "--log-format"},
		{"text", "loud", "--log-level"},
	} {
		if _, err := New(&buf, tt.format, tt.level, time.TimeOnly); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%s, %s): got %v, want an error naming %s", tt.format, tt.level, err, tt.want)
		}
	}
}
