package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rig is one gateway set-up: two upstream services, nanomq and other, and
// the operator alice. Tests grant, write keys and then serve.
type rig struct {
	nanomq, other *upstream
	d             *gwDir
	alice         *operator
}

func newRig(t testing.TB) *rig {
	t.Helper()
	needOpenSSH(t)
	r := &rig{nanomq: startUpstream(t, "nanomq"), other: startUpstream(t, "other")}
	r.d = initGateway(t, "nanomq="+r.nanomq.addr, "other="+r.other.addr)
	r.alice = newOperator(t, "alice")
	return r
}

// toNanomq is the -L spec lport:nanomq:PORT.
func (r *rig) toNanomq(lport int) string {
	return fmt.Sprintf("%d:nanomq:%d", lport, r.nanomq.port)
}

func (r *rig) toOther(lport int) string {
	return fmt.Sprintf("%d:other:%d", lport, r.other.port)
}

// expectUntouched checks no upstream saw a connection.
func (r *rig) expectUntouched(t testing.TB) {
	t.Helper()
	for name, u := range map[string]*upstream{"nanomq": r.nanomq, "other": r.other} {
		if n := u.accepted.Load(); n != 0 {
			t.Errorf("upstream %s accepted %d connections, want 0", name, n)
		}
	}
}

// expectAuthFails runs `ssh DEST true` for op and checks authentication
// failed and an "auth rejected" event for op's key has a reason containing
// reason.
func expectAuthFails(t testing.TB, g *gateway, op *operator, reason string, opts ...string) map[string]any {
	t.Helper()
	mark := g.mark()
	args := append(opts, "-o", "PreferredAuthentications=publickey", g.dest(op), "true")
	res := g.ssh(t, op, "", args...)
	if res.code != 255 || !strings.Contains(res.stderr, "Permission denied") {
		t.Errorf("ssh as %s: got %s, want exit 255 and Permission denied", op.name, res)
	}
	ev := g.waitEventAfter(t, mark, "auth rejected",
		allOf(attrHas("fingerprint", strings.TrimPrefix(op.fingerprint, "SHA256:")), attrHas("reason", reason)))
	if got := g.logs.find(mark, "auth accepted", attrHas("fingerprint", strings.TrimPrefix(op.fingerprint, "SHA256:"))); len(got) != 0 {
		t.Errorf("auth accepted for %s: got %v, want none", op.name, got)
	}
	return ev
}

// expectDenied checks that a GET through lport fails and the gateway logs
// "tunnel denied" for host with a reason containing reason.
func expectDenied(t testing.TB, g *gateway, lport int, host, reason string) {
	t.Helper()
	mark := g.mark()
	expectRefused(t, lport)
	g.waitEventAfter(t, mark, "tunnel denied", allOf(attrIs("host", host), attrHas("reason", reason)))
}

// wantProcs is the gateway's "procs" on its "listening" line: the
// environment's GOMAXPROCS, or "auto" (internal/proctune) where there is
// more than one CPU to tune between.
func wantProcs() string {
	if v, set := os.LookupEnv("GOMAXPROCS"); set {
		return v
	}
	if runtime.NumCPU() > 1 {
		return "auto"
	}
	return "1"
}

func TestForwardGrantedService(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq")
	g := r.d.serve(t)
	listening := g.waitEvent(t, "listening", nil, waitTimeout)
	if got := listening["host_key"]; !strings.Contains(fmt.Sprint(got), fingerprintOf(t, []byte(readFile(t, r.d.hostPub)))) {
		t.Errorf("listening host_key: got %v, want the fingerprint of %s", got, r.d.hostPub)
	}
	if got, want := fmt.Sprint(listening["procs"]), wantProcs(); got != want {
		t.Errorf("listening procs: got %q, want %q", got, want)
	}
	byName, byLiteral := freePort(t), freePort(t)
	p := g.forward(t, r.alice, []string{
		"-L", "127.0.0.1:" + r.toNanomq(byName),
		"-L", fmt.Sprintf("%d:127.0.0.1:%d", byLiteral, r.nanomq.port),
	}, byName, byLiteral)
	auth := g.waitEvent(t, "auth accepted", allOf(attrIs("name", "alice"), attrIs("fingerprint", r.alice.fingerprint)), waitTimeout)

	expectServes(t, byName, r.nanomq)
	expectServes(t, byLiteral, r.nanomq)

	opened := g.logs.waitEvents(t, 0, "tunnel opened", allOf(attrIs("name", "alice"), attrIs("service", "nanomq")), 2, waitTimeout)
	for _, ev := range opened {
		if ev["addr"] != r.nanomq.addr || ev["conn"] != auth["conn"] {
			t.Errorf("tunnel opened: got addr %v conn %v, want addr %s conn %v", ev["addr"], ev["conn"], r.nanomq.addr, auth["conn"])
		}
	}
	p.stop(t)
	closed := g.logs.waitEvents(t, 0, "tunnel closed", allOf(attrIs("name", "alice"), attrIs("service", "nanomq")), 2, waitTimeout)
	for _, ev := range closed {
		if out, ok := number(ev, "bytes_out"); !ok || out < float64(len(r.nanomq.body)) {
			t.Errorf("tunnel closed bytes_out: got %v, want >= %d", ev["bytes_out"], len(r.nanomq.body))
		}
		if in, ok := number(ev, "bytes_in"); !ok || in <= 0 {
			t.Errorf("tunnel closed bytes_in: got %v, want > 0 (the request)", ev["bytes_in"])
		}
	}
	g.waitEvent(t, "connection closed", allOf(attrIs("name", "alice"), attrIs("conn", auth["conn"])), waitTimeout)
	if n := r.nanomq.accepted.Load(); n != 2 {
		t.Errorf("upstream nanomq accepted %d connections, want 2 (one per GET)", n)
	}
	if n := r.other.accepted.Load(); n != 0 {
		t.Errorf("upstream other accepted %d connections, want 0", n)
	}
}

func TestForwardDenied(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq")
	g := r.d.serve(t)
	tests := []struct {
		name, host, target, reason string
	}{
		{name: "service not granted", host: "other", target: fmt.Sprintf("other:%d", r.other.port), reason: "not granted"},
		{name: "foreign address", host: "10.0.0.1", target: "10.0.0.1:80", reason: "no such service"},
		{name: "localhost with dot", host: "localhost.", target: fmt.Sprintf("localhost.:%d", r.nanomq.port), reason: "no such service"},
		{name: "short loopback", host: "127.1", target: fmt.Sprintf("127.1:%d", r.nanomq.port), reason: "no such service"},
	}
	var opts []string
	ports := make([]int, len(tests))
	for i, tt := range tests {
		ports[i] = freePort(t)
		opts = append(opts, "-L", fmt.Sprintf("%d:%s", ports[i], tt.target))
	}
	g.forward(t, r.alice, opts, ports...)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectDenied(t, g, ports[i], tt.host, tt.reason)
		})
	}
	if got := g.logs.find(0, "tunnel opened", nil); len(got) != 0 {
		t.Errorf("tunnel opened: got %v, want none", got)
	}
	r.expectUntouched(t)
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq")
	g := r.d.serve(t)
	dest := g.dest(r.alice)
	session := allOf(attrIs("type", "session"), attrIs("name", "alice"))
	tests := []struct {
		name  string
		args  []string
		agent bool
		event string
		match func(map[string]any) bool
	}{
		{name: "exec", args: []string{dest, "true"}, event: "channel refused", match: session},
		{name: "tty shell", args: []string{"-tt", dest}, event: "channel refused", match: session},
		{name: "subsystem", args: []string{"-s", dest, "sftp"}, event: "channel refused", match: session},
		{name: "remote forward", args: []string{"-N", "-o", "ExitOnForwardFailure=yes", "-R", fmt.Sprintf("0:127.0.0.1:%d", r.nanomq.port), dest},
			event: "request refused", match: allOf(attrIs("type", "tcpip-forward"), attrIs("name", "alice"))},
		{name: "agent forwarding", args: []string{"-A", dest, "true"}, agent: true, event: "channel refused", match: session},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sock := ""
			if tt.agent {
				sock = startAgent(t)
			}
			mark := g.mark()
			if res := g.ssh(t, r.alice, sock, tt.args...); res.code == 0 {
				t.Errorf("ssh %s: got %s, want non-zero exit", strings.Join(tt.args, " "), res)
			}
			g.waitEventAfter(t, mark, tt.event, tt.match)
			g.expectNoChildren(t)
			g.expectAlive(t)
		})
	}
	lport := freePort(t)
	g.forward(t, r.alice, []string{"-L", r.toNanomq(lport)}, lport)
	expectServes(t, lport, r.nanomq)
}

// startAgent runs `ssh-agent -D -a SOCK` until the test ends.
func startAgent(t testing.TB) string {
	t.Helper()
	needTool(t, "ssh-agent")
	dir, err := os.MkdirTemp("", "agent") // short: socket paths are limited
	if err != nil {
		t.Fatalf("agent dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s")
	p := startProc(t, sshEnv(""), nil, "ssh-agent", "-D", "-a", sock)
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(sock); err == nil {
			return sock
		}
		if p.exited() {
			t.Fatalf("ssh-agent exited with code %d: %s", p.code, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("ssh-agent socket %s did not appear within %v", sock, waitTimeout)
	return ""
}

func TestRefusedChannelKeepsConnection(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq")
	g := r.d.serve(t)
	good, bad := freePort(t), freePort(t)
	p := g.forward(t, r.alice, []string{"-L", r.toNanomq(good), "-L", fmt.Sprintf("%d:10.0.0.1:80", bad)}, good, bad)
	expectDenied(t, g, bad, "10.0.0.1", "no such service")
	if p.exited() {
		t.Fatalf("ssh exited with code %d after a refused channel: %s", p.code, p.stderr.String())
	}
	expectServes(t, good, r.nanomq)
}

func TestUnknownKeyRejected(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq")
	g := r.d.serve(t)
	mallory := newOperator(t, "mallory")
	ev := expectAuthFails(t, g, mallory, "unknown key")
	if ev["fingerprint"] != mallory.fingerprint || !strings.Contains(fmt.Sprint(ev["source"]), "127.0.0.1") {
		t.Errorf("auth rejected: got fingerprint %v source %v, want %s from 127.0.0.1", ev["fingerprint"], ev["source"], mallory.fingerprint)
	}
}

func TestExpiredKeyRejected(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq")
	r.d.writeAuthorizedKeys(t, r.alice.line(`expiry-time="20200101"`))
	g := r.d.serve(t)
	expectAuthFails(t, g, r.alice, "expired")
}

func TestFromOption(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq")
	r.d.writeAuthorizedKeys(t, r.alice.line(`from="127.0.0.2"`))
	g := r.d.serve(t)

	lport := freePort(t)
	g.forward(t, r.alice, []string{"-b", "127.0.0.2", "-L", r.toNanomq(lport)}, lport)
	expectServes(t, lport, r.nanomq)
	g.waitEvent(t, "auth accepted", allOf(attrIs("name", "alice"), attrHas("source", "127.0.0.2")), waitTimeout)

	ev := expectAuthFails(t, g, r.alice, "from=", "-b", "127.0.0.3")
	if !strings.Contains(fmt.Sprint(ev["source"]), "127.0.0.3") {
		t.Errorf("auth rejected source: got %v, want 127.0.0.3:PORT", ev["source"])
	}
}

func TestPermitOpen(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq,other")
	r.d.writeAuthorizedKeys(t, r.alice.line(fmt.Sprintf(`permitopen="nanomq:%d"`, r.nanomq.port)))
	g := r.d.serve(t)
	allowed, denied := freePort(t), freePort(t)
	g.forward(t, r.alice, []string{"-L", r.toNanomq(allowed), "-L", r.toOther(denied)}, allowed, denied)
	expectServes(t, allowed, r.nanomq)
	expectDenied(t, g, denied, "other", "permitopen")
	if n := r.other.accepted.Load(); n != 0 {
		t.Errorf("upstream other accepted %d connections, want 0", n)
	}
}

func TestRestrictWithoutPortForwarding(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	bob := newOperator(t, "bob")
	r.d.allow(t, r.alice, "nanomq")
	r.d.allow(t, bob, "nanomq")
	r.d.writeAuthorizedKeys(t, r.alice.line("restrict"), bob.line("restrict,port-forwarding"))
	g := r.d.serve(t)

	lport := freePort(t)
	g.forward(t, r.alice, []string{"-L", r.toNanomq(lport)}, lport)
	expectDenied(t, g, lport, "nanomq", "port forwarding disabled")
	r.expectUntouched(t)

	lport = freePort(t)
	g.forward(t, bob, []string{"-L", r.toNanomq(lport)}, lport)
	expectServes(t, lport, r.nanomq)
}

func TestRevokeAndReload(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq")
	g := r.d.serve(t)
	lport := freePort(t)
	p := g.forward(t, r.alice, []string{"-L", r.toNanomq(lport)}, lport)
	expectServes(t, lport, r.nanomq)
	p.stop(t)

	if res := r.d.gateway(t, "revoke", "--name", "alice"); res.code != 0 {
		t.Fatalf("gateway revoke: %s", res)
	}
	blob := strings.Fields(r.alice.pubLine)[1]
	if keys := readFile(t, r.d.authKeys); strings.Contains(keys, blob) {
		t.Errorf("authorized_keys after revoke: got %q, want no line for alice", keys)
	}
	if conf := readFile(t, r.d.conf); strings.Contains(conf, "Grant alice") {
		t.Errorf("gateway.conf after revoke: got %q, want no Grant alice", conf)
	}
	g.reload(t, "reloaded")
	expectAuthFails(t, g, r.alice, "")
}

func TestReloadFailureKeepsPreviousKeys(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq")
	g := r.d.serve(t)

	// bob's key arrives together with a broken line, in one atomic write:
	// the gateway also reloads by itself on file changes, and must never
	// see bob's key without the broken line.
	bob := newOperator(t, "bob")
	keys := readFile(t, r.d.authKeys)
	replaceFile(t, r.d.authKeys, keys+bob.line("")+"\nssh-ed25519 %%%not-base64%%% mallory\n")
	mark := g.mark()
	g.signal(t, syscall.SIGHUP)
	ev := g.waitEventAfter(t, mark, "reload failed", nil)
	if !strings.EqualFold(fmt.Sprint(ev["level"]), "error") || fmt.Sprint(ev["error"]) == "" || ev["error"] == nil {
		t.Errorf("reload failed event: got level %v error %v, want level error and an error", ev["level"], ev["error"])
	}
	g.expectAlive(t)

	lport := freePort(t)
	g.forward(t, r.alice, []string{"-L", r.toNanomq(lport)}, lport)
	expectServes(t, lport, r.nanomq)
	expectAuthFails(t, g, bob, "unknown key")
}

func TestSIGTERMWithIdleConnection(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq")
	g := r.d.serve(t)
	lport := freePort(t)
	p := g.forward(t, r.alice, []string{"-L", r.toNanomq(lport)}, lport)
	g.waitEvent(t, "auth accepted", attrIs("name", "alice"), waitTimeout)

	g.signal(t, syscall.SIGTERM)
	code, ok := g.wait(waitTimeout)
	if !ok {
		t.Fatalf("gateway still running %v after SIGTERM, want exit", waitTimeout)
	}
	if code != 0 {
		t.Errorf("gateway exit code after SIGTERM: got %d, want 0", code)
	}
	if _, ok := p.wait(waitTimeout); !ok {
		t.Errorf("ssh still connected %v after the gateway exited", waitTimeout)
	}
}

func TestCLI(t *testing.T) {
	t.Parallel()
	needTool(t, "ssh-keygen")
	t.Run("init twice", func(t *testing.T) {
		d := initGateway(t, "nanomq=127.0.0.1:8081")
		fp := fingerprintOf(t, []byte(readFile(t, d.hostPub)))
		if !strings.Contains(d.initOut.stdout+d.initOut.stderr, fp) {
			t.Errorf("gateway init output: got %s, want the host key fingerprint %s", d.initOut, fp)
		}
		for _, f := range []string{d.hostKey, d.authKeys} {
			expectMode(t, f, 0o600)
		}
		key, pub := readFile(t, d.hostKey), readFile(t, d.hostPub)
		if res := runCmd(t, nil, gatewayBin, d.initArgs(t, "nanomq=127.0.0.1:8081")...); res.code == 0 {
			t.Errorf("second gateway init: got %s, want non-zero exit", res)
		}
		if readFile(t, d.hostKey) != key || readFile(t, d.hostPub) != pub {
			t.Errorf("host key after second init: changed, want unchanged")
		}
	})
	t.Run("serve refuses open host key", func(t *testing.T) {
		d := initGateway(t, "nanomq=127.0.0.1:8081")
		if err := os.Chmod(d.hostKey, 0o644); err != nil {
			t.Fatal(err)
		}
		res := runCmd(t, nil, gatewayBin, "serve", "--config", d.conf, "--listen", "127.0.0.1:0", "--log-format", "json")
		if res.code == 0 || !strings.Contains(res.stderr, "host_ed25519_key") || !strings.Contains(res.stderr, "permissions") {
			t.Errorf("gateway serve with host key 0644: got %s, want non-zero exit and stderr naming the file and permissions", res)
		}
	})
	t.Run("check", func(t *testing.T) {
		d := initGateway(t, "nanomq=127.0.0.1:8081")
		d.allow(t, newOperator(t, "alice"), "nanomq")
		if res := d.gateway(t, "check"); res.code != 0 {
			t.Errorf("gateway check on a good dir: got %s, want exit 0", res)
		}
		writeFile(t, d.conf, readFile(t, d.conf)+"Service web 10.0.0.1:80\n")
		res := d.gateway(t, "check")
		if res.code == 0 || !strings.Contains(res.stdout+res.stderr, "loopback") {
			t.Errorf("gateway check with Service web 10.0.0.1:80: got %s, want non-zero exit mentioning loopback", res)
		}
	})
	t.Run("two host keys of one type", func(t *testing.T) {
		// x/crypto serves only the last key of a type; listing two would
		// make check and the listening event name a key never served.
		d := initGateway(t, "nanomq=127.0.0.1:8081")
		second := filepath.Join(d.dir, "host2_ed25519_key")
		if res := runCmd(t, nil, needTool(t, "ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f", second); res.code != 0 {
			t.Fatalf("ssh-keygen: %s", res)
		}
		writeFile(t, d.conf, readFile(t, d.conf)+"HostKey host2_ed25519_key\n")
		res := d.gateway(t, "check")
		if res.code == 0 || !strings.Contains(res.stderr, "are both ssh-ed25519") {
			t.Errorf("gateway check with two ed25519 host keys: got %s, want non-zero exit saying both are ssh-ed25519", res)
		}
	})
}

func expectMode(t testing.TB, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat: %v", err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("mode of %s: got %o, want %o", path, got, want)
	}
}
