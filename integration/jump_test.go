package integration

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestClientProxyJump reaches the gateway only through a stock sshd jump
// host whose authorized_keys permits nothing but the gateway's port, with
// both hosts named in an ssh_config and each pinned in its own known_hosts.
func TestClientProxyJump(t *testing.T) {
	t.Parallel()
	needClient(t)
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq")
	g := r.d.serve(t)
	jump := startSSHD(t, r.alice.line(fmt.Sprintf(`permitopen="127.0.0.1:%d"`, g.port)))

	conf := filepath.Join(t.TempDir(), "ssh_config")
	writeFile(t, conf, fmt.Sprintf(`Host jump
  HostName 127.0.0.1
  Port %d
  User %s
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s

Host dev
  HostName 127.0.0.1
  Port %d
  User alice
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
  ProxyJump jump
`, jump.port, jump.user, r.alice.key, jump.knownHosts, g.port, r.alice.key, g.knownHosts))

	lport := freePort(t)
	c := startClient(t, nil, "forward", "-F", conf, "--log-format", "json", "dev", "-L", fmt.Sprintf("%d:nanomq", lport))
	c.waitListening(t, lport)
	expectServes(t, lport, r.nanomq)
	g.waitEvent(t, "auth accepted", attrIs("fingerprint", r.alice.fingerprint), waitTimeout)
	if out := jump.output(); !strings.Contains(out, "Accepted publickey for "+jump.user) {
		t.Errorf("jump host log: got %q, want it to show alice's key accepted (the tunnel must go through it)", out)
	}

	// The jump host's permitopen allows only the gateway: a destination
	// on another port fails at the jump, and the client says so.
	badConf := filepath.Join(t.TempDir(), "ssh_config")
	writeFile(t, badConf, strings.Replace(readFile(t, conf), fmt.Sprintf("Port %d\n  User alice", g.port), fmt.Sprintf("Port %d\n  User alice", r.nanomq.port), 1))
	res := runClient(t, nil, "services", "-F", badConf, "dev")
	if res.code == 0 || !strings.Contains(res.stderr, "jump host") {
		t.Errorf("client through a jump host that refuses the target: got %s, want non-zero exit naming the jump host", res)
	}
}
