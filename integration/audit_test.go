package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// policyFile is the ssh-audit policy for the gateway's hardened defaults,
// relative to this package's directory, where go test runs.
var policyFile = filepath.Join("..", "audit", "loopgate.policy")

// ssh-audit's exit codes (ssh_audit/exitcodes.py).
const (
	auditGood    = 0
	auditWarning = 2
	auditFailure = 3
)

// weakAlgorithmLines weaken each algorithm list the policy pins:
// diffie-hellman-group14-sha1 and hmac-sha1 need AllowInsecureAlgorithms,
// aes128-ctr does not (it is sound, only not in the default list).
var weakAlgorithmLines = []string{
	"KexAlgorithms mlkem768x25519-sha256,curve25519-sha256,diffie-hellman-group14-sha1",
	"MACs hmac-sha2-256-etm@openssh.com,hmac-sha1",
	"Ciphers aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes128-ctr",
}

// unknownTo250 are the algorithms ssh-audit 2.5.0 (Debian bookworm) does
// not know and reports as "[warn] unknown algorithm" although they are what
// we want: the ML-KEM hybrid key exchange and the strict-KEX marker
// (Terrapin) that golang.org/x/crypto/ssh sends. audit/README.md explains.
var unknownTo250 = []string{"mlkem768x25519-sha256", "kex-strict-s-v00@openssh.com"}

func TestSSHAuditPolicyPasses(t *testing.T) {
	t.Parallel()
	needTool(t, "ssh-audit")
	g := initGateway(t, "nanomq=127.0.0.1:8081").serve(t)

	res := sshAudit(t, g, "-P", policyPath(t))
	if got := policyResult(res.stdout); res.code != auditGood || got != "Passed" {
		t.Errorf("ssh-audit -P: got result %q (%s), want Passed and exit %d", got, res, auditGood)
	}
	expectAuditClean(t, sshAudit(t, g))
}

func TestSSHAuditPolicyFailsOnWeakConfig(t *testing.T) {
	t.Parallel()
	needTool(t, "ssh-audit")
	d := initGateway(t, "nanomq=127.0.0.1:8081")
	appendConf(t, d, append(slices.Clone(weakAlgorithmLines), "AllowInsecureAlgorithms yes")...)
	g := d.serve(t)

	res := sshAudit(t, g, "-P", policyPath(t))
	if got := policyResult(res.stdout); res.code != auditFailure || got != "Failed!" {
		t.Fatalf("ssh-audit -P: got result %q (%s), want Failed! and exit %d", got, res, auditFailure)
	}
	for _, want := range []struct{ field, alg string }{
		{"Key exchanges", "diffie-hellman-group14-sha1"},
		{"MACs", "hmac-sha1"},
		{"Ciphers", "aes128-ctr"},
	} {
		if !strings.Contains(res.stdout, "* "+want.field+" did not match.") || !strings.Contains(res.stdout, want.alg) {
			t.Errorf("ssh-audit -P output: got %q, want %q reported as not matching, naming %s", res.stdout, want.field, want.alg)
		}
	}
	// The plain report's checks catch the two weak ones (2.5.0 rates
	// aes128-ctr info only).
	expectAuditFlags(t, sshAudit(t, g), "diffie-hellman-group14-sha1", "hmac-sha1")
}

func TestInsecureAlgorithmsNeedOptIn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		lines []string
		alg   string // the algorithm the error names, on the first line
	}{
		{"weak kex, mac and cipher", weakAlgorithmLines, "diffie-hellman-group14-sha1"},
		{"weak mac", weakAlgorithmLines[1:2], "hmac-sha1"},
		{"weak cipher", []string{"Ciphers aes256-gcm@openssh.com,aes128-cbc"}, "aes128-cbc"},
		{"weak user key algorithm", []string{"PubkeyAcceptedAlgorithms ssh-ed25519,ssh-rsa"}, "ssh-rsa"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { // serial: each init makes an RSA key
			d := initGateway(t, "nanomq=127.0.0.1:8081")
			line := appendConf(t, d, tc.lines...)
			wants := []string{fmt.Sprintf("%s:%d:", d.conf, line), strconv.Quote(tc.alg), "insecure", "AllowInsecureAlgorithms"}
			expectCheckProblem(t, d, wants...)
			expectServeRefuses(t, d, wants...)
		})
	}
}

// --- ssh-audit ------------------------------------------------------------

func policyPath(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(policyFile); err != nil {
		t.Fatalf("ssh-audit policy: %v", err)
	}
	return policyFile
}

// sshAudit runs ssh-audit without colours against g, args first.
func sshAudit(t testing.TB, g *gateway, args ...string) result {
	t.Helper()
	args = append(args, "-n", "-p", strconv.Itoa(g.port), "127.0.0.1")
	return runCmd(t, nil, "ssh-audit", args...)
}

// policyResult is the last word of ssh-audit -P's "Result:" line, after
// the icon: "Passed" or "Failed!"; "" when there is no such line.
func policyResult(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "Result:" {
			return f[len(f)-1]
		}
	}
	return ""
}

// auditNote is one note of ssh-audit's report on an algorithm.
type auditNote struct {
	alg, level, text string
}

func (n auditNote) String() string { return fmt.Sprintf("%s [%s] %s", n.alg, n.level, n.text) }

var (
	// auditAlgLine is "(kex) NAME ..." in the report; notes after the first
	// continue on indented "`- [level] text" lines ("└─" in later versions).
	auditAlgLine = regexp.MustCompile(`^\((?:kex|key|enc|mac)\) (\S+)`)
	auditNoteRE  = regexp.MustCompile("(?:--|`-|└─) \\[(fail|warn|info)\\] (.*)$")
)

// auditNotes collects the notes on algorithms from a plain ssh-audit report.
func auditNotes(out string) []auditNote {
	var notes []auditNote
	alg := ""
	for _, line := range strings.Split(out, "\n") {
		if m := auditAlgLine.FindStringSubmatch(line); m != nil {
			alg = m[1]
		} else if !strings.HasPrefix(line, " ") {
			alg = ""
		}
		if m := auditNoteRE.FindStringSubmatch(line); m != nil && alg != "" {
			notes = append(notes, auditNote{alg: alg, level: m[1], text: strings.TrimSpace(m[2])})
		}
	}
	return notes
}

// auditProblems lists what a plain ssh-audit report holds beyond what the
// hardened gateway may show: any failure; any warning except "unknown
// algorithm" on unknownTo250; any algorithm to remove; any CVE. warned
// tells whether the allowed warnings were printed.
func auditProblems(out string) (problems []string, warned bool) {
	for _, n := range auditNotes(out) {
		switch {
		case n.level == "warn" && n.text == "unknown algorithm" && slices.Contains(unknownTo250, n.alg):
			warned = true
		case n.level == "fail" || n.level == "warn":
			problems = append(problems, n.String())
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "(rec) -") || strings.HasPrefix(line, "(cve)") {
			problems = append(problems, line)
		}
	}
	return problems, warned
}

// expectAuditClean checks a plain ssh-audit report of the hardened gateway
// has no problem and the exit code that follows.
func expectAuditClean(t testing.TB, res result) {
	t.Helper()
	if len(auditNotes(res.stdout)) == 0 {
		t.Fatalf("ssh-audit: got no algorithm notes (%s), want a report", res)
	}
	problems, warned := auditProblems(res.stdout)
	for _, p := range problems {
		t.Errorf("ssh-audit: got %q, want no failure, warning, removal or CVE", p)
	}
	want := auditGood
	if warned {
		want = auditWarning
	}
	if res.code != want {
		t.Errorf("ssh-audit exit code: got %d, want %d (%s)", res.code, want, res)
	}
}

// expectAuditFlags checks a plain ssh-audit report names each of algs as a
// problem, so expectAuditClean can fail.
func expectAuditFlags(t testing.TB, res result, algs ...string) {
	t.Helper()
	problems, _ := auditProblems(res.stdout)
	for _, alg := range algs {
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, alg) }) {
			t.Errorf("ssh-audit problems: got %q, want one naming %s (%s)", problems, alg, res)
		}
	}
}

// --- gateway config -------------------------------------------------------

// appendConf appends lines to d's config and returns the number of the
// first appended line.
func appendConf(t testing.TB, d *gwDir, lines ...string) int {
	t.Helper()
	conf := readFile(t, d.conf)
	if conf != "" && !strings.HasSuffix(conf, "\n") {
		conf += "\n"
	}
	first := strings.Count(conf, "\n") + 1
	writeFile(t, d.conf, conf+strings.Join(lines, "\n")+"\n")
	return first
}

// expectCheckProblem checks `gateway check` fails with exactly one problem
// line, holding every want.
func expectCheckProblem(t testing.TB, d *gwDir, wants ...string) {
	t.Helper()
	res := d.gateway(t, "check")
	var problems []string
	for _, line := range strings.Split(res.stderr, "\n") {
		if strings.HasPrefix(line, "problem: ") {
			problems = append(problems, line)
		}
	}
	if res.code == 0 || len(problems) != 1 {
		t.Fatalf("gateway check: got %s, want a non-zero exit and one problem line", res)
	}
	expectNamesAll(t, "gateway check", problems[0], wants)
}

// expectNamesAll checks that msg, the error `what` printed, names every
// want.
func expectNamesAll(t testing.TB, what, msg string, wants []string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("%s error: got %q, want it to name %q", what, msg, w)
		}
	}
}
