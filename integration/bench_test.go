package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// benchReport is the part of bench/run's JSON this test reads.
type benchReport struct {
	Rows []struct {
		Metric string `json:"metric"`
		Values map[string]struct {
			Median    float64   `json:"median"`
			Samples   []float64 `json:"samples"`
			VsOpenSSH *float64  `json:"vs_openssh"`
		} `json:"values"`
	} `json:"rows"`
}

// TestBenchRunSideBySide runs bench/run as documented, scaled down: it
// builds both programs, starts its own sshd, ssh -L, gateway and client on
// 127.0.0.1, and measures every phase. The table must hold every variant
// with its ratio to OpenSSH from the same run, the idle connections must
// all open with at most 3 goroutines each on either side, and no process
// the run started may outlive it.
func TestBenchRunSideBySide(t *testing.T) {
	needOpenSSH(t)
	sshdPath(t)
	needTool(t, "wrk")
	bash := needTool(t, "bash")
	tmp := t.TempDir() // bench/run's binaries and loopbench's work directory go under it
	out := filepath.Join(tmp, "bench.json")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, filepath.Join("..", "bench", "run"),
		"--repeat", "1", "--bulk", "1MiB", "--duration", "500ms", "--newconn", "1", "--idle", "200", "--json", out)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench/run: %v\n%s", err, log.String())
	}
	if left := procsUnder(tmp); len(left) > 0 {
		t.Errorf("processes the run started still running after it ended:\n%s", strings.Join(left, "\n"))
	}

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep benchReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("bench JSON: %v", err)
	}
	rows := make(map[string]map[string]float64)
	ratios := make(map[string]map[string]bool)
	for _, r := range rep.Rows {
		rows[r.Metric], ratios[r.Metric] = map[string]float64{}, map[string]bool{}
		for v, c := range r.Values {
			rows[r.Metric][v] = c.Median
			ratios[r.Metric][v] = c.VsOpenSSH != nil
		}
	}
	loopgate := []string{"loopgate-forward", "loopgate-proxy", "ssh-to-gateway"}
	for _, m := range []string{"download", "upload", "download-cpu-total", "upload-cpu-total", "rps-c1", "rps-c32",
		"p50-added-c1", "p99-added-c1", "p99-c32", "p999-c32", "wrk-rps-c32", "wrk-p99-c32", "wrk-p999-c32", "newconn"} {
		if _, ok := rows[m]["openssh"]; !ok {
			t.Errorf("%s: no OpenSSH figure (row %v)", m, rows[m])
		}
		for _, v := range loopgate {
			// An "added over direct" figure can come out below zero on
			// a noisy run (the tunnel's p99 under the direct path's);
			// no ratio is meaningful then, and the report leaves it out.
			x, ok := rows[m][v]
			want := ok && x >= 0 && rows[m]["openssh"] > 0
			if ratios[m][v] != want {
				t.Errorf("%s: %s has a ratio to OpenSSH: %t, want %t (row %v)", m, v, ratios[m][v], want, rows[m])
			}
			if !ok {
				t.Errorf("%s: no %s figure (row %v)", m, v, rows[m])
			}
		}
	}
	for _, m := range []string{"download", "upload", "rps-c1", "rps-c32", "wrk-rps-c32", "newconn"} {
		for v, x := range rows[m] {
			if x <= 0 {
				t.Errorf("%s %s = %v, want > 0", m, v, x)
			}
		}
	}
	for _, v := range []string{"openssh", "loopgate-forward"} {
		if _, ok := rows["idle200-rss-hot-server"][v]; !ok {
			t.Errorf("idle 200: no memory figure after traffic for %s", v)
		}
		if failed, ok := rows["idle200-failed"][v]; !ok || failed != 0 {
			t.Errorf("idle 200: %v failed connections for %s (present %t), want 0", failed, v, ok)
		}
	}
	// At most 3 per connection, plus the ones every process has whatever
	// its connections (about 20 for either program), spread over the 200.
	const perProcess = 25
	for _, side := range []string{"server", "client"} {
		if g, ok := rows["idle200-goroutines-"+side]["loopgate-forward"]; !ok || g > 3+perProcess/200.0 {
			t.Errorf("idle 200: %v goroutines per connection on the %s (present %t), want at most 3 + %d/200", g, side, ok, perProcess)
		}
	}
	if t.Failed() {
		t.Logf("bench/run output:\n%s", log.String())
	}
}

// procsUnder lists the live processes whose command line names a path
// under dir.
func procsUnder(dir string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(b, []byte(dir)) {
			continue
		}
		out = append(out, e.Name()+": "+string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
	}
	return out
}
