package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"release", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.3.0"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "5e9641b0c1d2aaaabbbbccccddddeeeeffff0000"}, {Key: "vcs.time", Value: "2026-11-26T01:46:20Z"}, {Key: "vcs.modified", Value: "false"}}},
			"v0.3.0 (commit 5e9641b0c1d2, 2026-11-26T01:46:20Z, go1.26.8)"},
		{"dirty checkout", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}}},
			"(devel) (commit abc+dirty, time unknown, go1.26.8)"},
		{"no vcs", debug.BuildInfo{GoVersion: "go1.26.8"}, "(devel) (commit unknown, time unknown, go1.26.8)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := describe(&tt.bi); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
	if s := String(); !strings.Contains(s, "go1.") {
		t.Fatalf("String(): got %q, want the Go version in it", s)
	}
}
