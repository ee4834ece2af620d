package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const unitFile = "../deploy/systemd/loopgate-gateway.service"

// TestSystemdUnit checks the example unit with systemd-analyze verify
// (pointing it at the gateway built for this run) where the machine has
// it, and in any case that it parses and keeps its sandbox settings.
func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	unit := readFile(t, unitFile)
	settings := parseUnit(t, unit)
	for key, want := range map[string]string{
		"User": "loopgate", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "StateDirectory": "loopgate",
		"Restart": "on-failure", "CapabilityBoundingSet": "",
	} {
		if got, ok := settings["Service."+key]; !ok || got != want {
			t.Errorf("[Service] %s: got %q (set %v), want %q", key, got, ok, want)
		}
	}
	if !strings.Contains(settings["Service.ExecStart"], "gateway serve --config ") {
		t.Errorf("ExecStart: got %q, want gateway serve --config ...", settings["Service.ExecStart"])
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Logf("systemd-analyze not installed; checked by parsing only")
		return
	}
	local := filepath.Join(t.TempDir(), "loopgate-gateway.service")
	writeFile(t, local, strings.ReplaceAll(unit, "/usr/local/bin/gateway", gatewayBin))
	r := runCmd(t, os.Environ(), analyze, "verify", local)
	if r.code != 0 || strings.TrimSpace(r.stdout+r.stderr) != "" {
		t.Fatalf("systemd-analyze verify: %s, want exit 0 and no complaint", r)
	}
}

// parseUnit reads a systemd unit as Section.Key -> value (the last one
// wins), failing on anything that is not a comment, a section or a key=value.
func parseUnit(t testing.TB, text string) map[string]string {
	t.Helper()
	out := map[string]string{}
	section := ""
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || k == "" {
				t.Fatalf("%s:%d: not a unit line: %q", unitFile, n+1, line)
			}
			out[section+"."+k] = v
		}
	}
	return out
}
