package integration

import (
	"strings"
	"testing"
)

// TestVersionFlag: both programs say what they were built from.
func TestVersionFlag(t *testing.T) {
	t.Parallel()
	for name, bin := range map[string]string{"gateway": gatewayBin, "client": clientBin} {
		r := runCmd(t, nil, bin, "--version")
		if r.code != 0 || !strings.HasPrefix(r.stdout, name+" version ") || !strings.Contains(r.stdout, "(commit ") || !strings.Contains(r.stdout, "go1.") {
			t.Errorf("%s --version: got %s, want exit 0 and %q with the commit and Go version", name, r, name+" version ...")
		}
	}
}
