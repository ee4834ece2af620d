package integration

import (
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/loopgate/loopgate/internal/standin"
)

// doctorRow finds the table row for check on subject and returns its status.
func doctorRow(t testing.TB, out, check, subject string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^(pass|warn|FAIL)\s+` + regexp.QuoteMeta(check) + `\s+` + regexp.QuoteMeta(subject) + `\s`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q row for %s in doctor's output:\n%s", check, subject, out)
	}
	return m[1]
}

// TestDoctorLoopbackAPI: a NanoMQ stand-in on 127.0.0.1 in JWT mode with the
// gateway's key, a running gateway: every check passes and doctor exits 0.
func TestDoctorLoopbackAPI(t *testing.T) {
	r := newTokenRig(t, "")
	r.serveAPI(t, r.jwtAPI())
	logs := newLogBook() // serve on the config's own Listen address, as systemd runs it
	startProc(t, sshEnv(""), logs, gatewayBin, "serve", "--config", r.d.conf, "--log-format", "json")
	logs.waitEvents(t, 0, "listening", nil, 1, startTimeout)
	res := r.d.gateway(t, "doctor")
	if res.code != 0 {
		t.Fatalf("doctor against a loopback-only API: %s", res)
	}
	for _, check := range []string{"listens on loopback only", "answers", "refuses no credentials", "refuses admin/public", "accepts a minted token"} {
		if got := doctorRow(t, res.stdout, check, "nanomq"); got != "pass" {
			t.Errorf("%s: got %s, want pass\n%s", check, got, res.stdout)
		}
	}
	for _, check := range []string{"config passes check", "host key present", "gateway is listening"} {
		if !regexp.MustCompile(`(?m)^pass\s+` + check).MatchString(res.stdout) {
			t.Errorf("%s: no pass row\n%s", check, res.stdout)
		}
	}
	if !strings.Contains(res.stdout, ", 0 failed") {
		t.Errorf("summary does not say 0 failed:\n%s", res.stdout)
	}
}

// TestDoctorExposedAPI: the same stand-in listening on 0.0.0.0 (the NanoMQ
// default) fails "listens on loopback only" with the NanoMQ setting to
// change, and doctor exits non-zero with a one-line error.
func TestDoctorExposedAPI(t *testing.T) {
	ln, err := net.Listen("tcp4", "0.0.0.0:0") // every IPv4 interface, as NanoMQ's default ip_addr
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	d := initGateway(t, "nanomq=127.0.0.1:"+port)
	pub, iss := loadStandinKey(t, d.dir+"/jwtRS256.key.pub")
	serveStandin(t, ln, &standin.API{Mode: standin.JWTMode, PublicKey: pub, Issuer: iss})

	res := d.gateway(t, "doctor")
	if res.code == 0 {
		t.Fatalf("doctor against an API on 0.0.0.0: exit 0, want non-zero\n%s", res.stdout)
	}
	if got := doctorRow(t, res.stdout, "listens on loopback only", "nanomq"); got != "FAIL" {
		t.Errorf("listens on loopback only: got %s, want FAIL\n%s", got, res.stdout)
	}
	for _, want := range []string{"0.0.0.0:" + port + " (every interface)", `ip_addr = "127.0.0.1"`} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, res.stdout)
		}
	}
	// The credential checks still ran and passed: the fail is the bind alone.
	if got := doctorRow(t, res.stdout, "accepts a minted token", "nanomq"); got != "pass" {
		t.Errorf("accepts a minted token: got %s, want pass\n%s", got, res.stdout)
	}
	if lines := strings.Split(strings.TrimSpace(res.stderr), "\n"); !strings.Contains(lines[len(lines)-1], "a check failed") || strings.Contains(res.stderr, "goroutine") {
		t.Errorf("stderr: got %q, want a one-line error saying a check failed", res.stderr)
	}
}
