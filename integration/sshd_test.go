package integration

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// sshd is a stock OpenSSH server that the test runs as the current user.
type sshd struct {
	*captured
	port       int
	user       string
	knownHosts string // pins the server's host key
}

// sshdPath returns an absolute path to sshd (it refuses a relative one),
// skipping the test when there is none, or failing it when CI=true.
func sshdPath(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("sshd"); err == nil && filepath.IsAbs(p) {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("sshd is required in CI")
	}
	t.Skipf("sshd not found, skipping")
	return ""
}

// ensurePrivsepDir creates /run/sshd, which sshd started by root insists on.
func ensurePrivsepDir(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("make sshd privilege separation dir: %v", err)
	}
}

// sshdConfig is a minimal sshd_config: loopback, public keys only, local
// forwarding only.
func sshdConfig(port int, hostKey, authKeys string) string {
	return strings.Join([]string{
		"Port " + strconv.Itoa(port),
		"ListenAddress 127.0.0.1",
		"HostKey " + hostKey,
		"AuthorizedKeysFile " + authKeys,
		"PidFile none",
		"StrictModes no",
		"UsePAM no",
		"PermitRootLogin prohibit-password",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"AuthenticationMethods publickey",
		"AllowTcpForwarding local",
		"AllowAgentForwarding no",
		"PermitTTY no",
		"X11Forwarding no",
		"LogLevel VERBOSE",
	}, "\n") + "\n"
}

// startSSHD runs `sshd -D -e` with authorized_keys holding lines and waits
// until it listens.
func startSSHD(t testing.TB, lines ...string) *sshd {
	t.Helper()
	bin := sshdPath(t)
	ensurePrivsepDir(t)
	u, err := user.Current()
	if err != nil {
		t.Fatalf("current user: %v", err)
	}
	dir := t.TempDir()
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	if r := runCmd(t, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sshd", "-f", hostKey); r.code != 0 {
		t.Fatalf("ssh-keygen host key: %s", r)
	}
	authKeys := filepath.Join(dir, "authorized_keys")
	writeFile(t, authKeys, strings.Join(lines, "\n")+"\n")
	s := &sshd{port: freePort(t), user: u.Username, knownHosts: filepath.Join(dir, "known_hosts")}
	conf := filepath.Join(dir, "sshd_config")
	writeFile(t, conf, sshdConfig(s.port, hostKey, authKeys))
	writeFile(t, s.knownHosts, fmt.Sprintf("[127.0.0.1]:%d %s", s.port, readFile(t, hostKey+".pub")))
	s.captured = startCaptured(t, sshEnv(""), "sshd", bin, "-D", "-e", "-f", conf)
	s.waitListening(t, s.port)
	return s
}

// as is s reached as the current user with op's key.
func (s *sshd) as(op *operator) endpoint {
	return endpoint{dest: s.user + "@127.0.0.1", port: s.port, key: op.key, knownHosts: s.knownHosts}
}

// TestClientAgainstOpenSSHServer checks the client works against a stock
// sshd that restricts forwarding with permitopen=.
func TestClientAgainstOpenSSHServer(t *testing.T) {
	t.Parallel()
	needClient(t)
	up, other := startUpstream(t, "permitted"), startUpstream(t, "not-permitted")
	alice := newOperator(t, "alice")
	s := startSSHD(t, alice.line(fmt.Sprintf(`permitopen="127.0.0.1:%d"`, up.port)))
	e := s.as(alice)

	allowed, refused := freePort(t), freePort(t)
	c := startForward(t, e,
		fmt.Sprintf("%d:127.0.0.1:%d", allowed, up.port),
		fmt.Sprintf("%d:127.0.0.1:%d", refused, other.port))
	expectServes(t, allowed, up)

	mark := c.logs.mark()
	expectRefused(t, refused)
	c.logs.waitEvents(t, mark, "forward failed", nil, 1, waitTimeout)
	c.expectRunning(t)
	expectServes(t, allowed, up)
	if n := other.accepted.Load(); n != 0 {
		t.Errorf("upstream outside permitopen accepted %d connections, want 0", n)
	}

	tests := []struct {
		name string
		args []string
	}{
		{name: "forward by service name", args: e.args("forward", "-L", fmt.Sprintf("%d:nanomq", freePort(t)))},
		{name: "services", args: e.args("services")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runClient(t, nil, tt.args...)
			if res.code == 0 || !strings.Contains(res.stderr, "does not list services") {
				t.Errorf("client %s against sshd: got %s, want non-zero exit and an error that the server does not list services", strings.Join(tt.args, " "), res)
			}
		})
	}
}
