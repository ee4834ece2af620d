package integration

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoCommand runs the README's first command, the demo, as a built
// program with no input, and checks that it shows a 200 from the stand-in
// API through the tunnel, the audit events, and what to run next.
func TestDemoCommand(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "demo")
	if err := build(bin, "github.com/loopgate/loopgate/cmd/demo"); err != nil {
		t.Fatal(err)
	}
	res := runCmd(t, nil, bin)
	if res.code != 0 {
		t.Fatalf("demo: %s", res)
	}
	for _, want := range []string{"200 OK", `"node_status":"Running"`, "auth accepted", "token issued", "tunnel opened", "What happened"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, res.stdout)
		}
	}
	if res := runCmd(t, nil, bin, "extra"); res.code == 0 || !strings.Contains(res.stderr, "usage: demo") {
		t.Errorf("demo with an argument: got %s, want a usage line and non-zero exit", res)
	}
}
