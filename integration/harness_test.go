package integration

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Bounds for every wait in this package.
const (
	waitTimeout  = 10 * time.Second // an event, a listener, a process exit
	cmdTimeout   = 30 * time.Second // one ssh, curl or gateway command (init makes an RSA-3072 key; slow under load)
	startTimeout = 20 * time.Second // the gateway's "listening" event
)

// needTool returns the path of the named program, skipping the test when it
// is missing, or failing it when CI=true.
func needTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required in CI: %v", name, err)
	}
	t.Skipf("%s not found, skipping: %v", name, err)
	return ""
}

// needOpenSSH checks for the tools most tests drive the gateway with.
func needOpenSSH(t testing.TB) {
	t.Helper()
	for _, name := range []string{"ssh", "ssh-keygen", "curl"} {
		needTool(t, name)
	}
}

// Ports freePort hands out: below Linux's ephemeral range (32768-60999),
// so no outgoing connection of a parallel test gets one by chance, and
// never the same one twice in a run.
const (
	portLow, portHigh = 20000, 32000
)

var (
	portsMu   sync.Mutex
	portsUsed = map[int]bool{}
)

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago and
// that no other test in this run was given.
func freePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 200 {
		p := portLow + mrand.IntN(portHigh-portLow)
		if portsUsed[p] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		portsUsed[p] = true
		return p
	}
	t.Fatalf("pick free port: no free port in %d-%d after 200 tries", portLow, portHigh)
	return 0
}

// --- commands -------------------------------------------------------------

// result is the outcome of one finished command.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// runCmd runs a command to completion within cmdTimeout and fails the test
// if it could not be started or did not finish in time. env nil means the
// environment of sshEnv.
func runCmd(t testing.TB, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	if env == nil {
		cmd.Env = sshEnv("")
	}
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
	if ctx.Err() != nil {
		t.Fatalf("%s %s: did not finish within %v (%s)", name, strings.Join(args, " "), cmdTimeout, r)
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return r
}

// sshEnv is the environment for child processes: ours, without an agent
// unless agentSock is set.
func sshEnv(agentSock string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SSH_AUTH_SOCK=") {
			env = append(env, kv)
		}
	}
	if agentSock != "" {
		env = append(env, "SSH_AUTH_SOCK="+agentSock)
	}
	return env
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a background process that the test's cleanup kills.
type proc struct {
	cmd    *exec.Cmd
	stderr lockedBuffer
	done   chan struct{} // closed when the process has exited
	code   int           // exit code, valid after done
}

// startProc starts a process in the background; output on stderr is kept.
func startProc(t testing.TB, env []string, out *logBook, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.WaitDelay = 2 * time.Second // do not hang on a pipe an orphan holds
	p.cmd.Stderr = &p.stderr
	if out != nil {
		p.cmd.Stderr = out
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		defer close(p.done)
		_ = p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		if out != nil {
			out.close()
		}
	}()
	t.Cleanup(func() { p.kill(t) })
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits up to timeout for the process to exit and returns its code.
func (p *proc) wait(timeout time.Duration) (int, bool) {
	select {
	case <-p.done:
		return p.code, true
	case <-time.After(timeout):
		return 0, false
	}
}

// stop asks the process to end with SIGTERM and kills it if it does not.
func (p *proc) stop(t testing.TB) {
	t.Helper()
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if _, ok := p.wait(5 * time.Second); !ok {
		p.kill(t)
	}
}

func (p *proc) kill(t testing.TB) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Kill()
	if _, ok := p.wait(waitTimeout); !ok {
		t.Errorf("process %d (%s) did not exit after SIGKILL", p.cmd.Process.Pid, p.cmd.Path)
	}
}

// --- operators ------------------------------------------------------------

// operator is an identity with an ed25519 key made by ssh-keygen.
type operator struct {
	name        string
	key         string // private key file
	pub         string // public key file
	pubLine     string // "ssh-ed25519 AAAA... name"
	fingerprint string // "SHA256:..."
}

func newOperator(t testing.TB, name string) *operator {
	t.Helper()
	dir := t.TempDir()
	op := &operator{name: name, key: filepath.Join(dir, name), pub: filepath.Join(dir, name+".pub")}
	if r := runCmd(t, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", op.key); r.code != 0 {
		t.Fatalf("ssh-keygen: %s", r)
	}
	data, err := os.ReadFile(op.pub)
	if err != nil {
		t.Fatalf("read public key: %v", err)
	}
	op.pubLine = strings.TrimSpace(string(data))
	op.fingerprint = fingerprintOf(t, data)
	return op
}

// line is op's authorized_keys line with the given options ("" for none).
func (op *operator) line(options string) string {
	if options == "" {
		return op.pubLine
	}
	return options + " " + op.pubLine
}

// signer loads op's private key for golang.org/x/crypto/ssh clients.
func (op *operator) signer(t testing.TB) ssh.Signer {
	t.Helper()
	data, err := os.ReadFile(op.key)
	if err != nil {
		t.Fatalf("read private key: %v", err)
	}
	s, err := ssh.ParsePrivateKey(data)
	if err != nil {
		t.Fatalf("parse private key %s: %v", op.key, err)
	}
	return s
}

// fingerprintOf returns the SHA256 fingerprint of an authorized_keys-format key.
func fingerprintOf(t testing.TB, authorizedKey []byte) string {
	t.Helper()
	pk, _, _, _, err := ssh.ParseAuthorizedKey(authorizedKey)
	if err != nil {
		t.Fatalf("parse public key %q: %v", authorizedKey, err)
	}
	return ssh.FingerprintSHA256(pk)
}

// --- gateway directory ----------------------------------------------------

// gwDir is a directory made by `gateway init`.
type gwDir struct {
	dir, conf, hostKey, hostPub, authKeys string
	initOut                               result
}

// initGateway runs `gateway init` in a fresh directory with the services
// given as "name=host:port".
func initGateway(t testing.TB, services ...string) *gwDir {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "gw")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatalf("make gateway dir: %v", err)
	}
	d := &gwDir{
		dir:      dir,
		conf:     filepath.Join(dir, "gateway.conf"),
		hostKey:  filepath.Join(dir, "host_ed25519_key"),
		hostPub:  filepath.Join(dir, "host_ed25519_key.pub"),
		authKeys: filepath.Join(dir, "authorized_keys"),
	}
	d.initOut = runCmd(t, nil, gatewayBin, d.initArgs(t, services...)...)
	if d.initOut.code != 0 {
		t.Fatalf("gateway init: %s", d.initOut)
	}
	return d
}

func (d *gwDir) initArgs(t testing.TB, services ...string) []string {
	args := []string{"init", "--dir", d.dir, "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	for _, s := range services {
		args = append(args, "--service", s)
	}
	return args
}

// gateway runs a gateway subcommand with --config pointing at d.
func (d *gwDir) gateway(t testing.TB, sub string, args ...string) result {
	t.Helper()
	return runCmd(t, nil, gatewayBin, append([]string{sub, "--config", d.conf}, args...)...)
}

// allow grants op the comma-separated services with `gateway allow`.
func (d *gwDir) allow(t testing.TB, op *operator, services string, extra ...string) {
	t.Helper()
	args := append([]string{"--name", op.name, "--key", op.pub, "--service", services}, extra...)
	if r := d.gateway(t, "allow", args...); r.code != 0 {
		t.Fatalf("gateway allow %s: %s", op.name, r)
	}
}

// writeAuthorizedKeys replaces authorized_keys with lines, mode 0600.
func (d *gwDir) writeAuthorizedKeys(t testing.TB, lines ...string) {
	t.Helper()
	writeFile(t, d.authKeys, strings.Join(lines, "\n")+"\n")
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatalf("chmod %s: %v", path, err)
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(data)
}

// --- running gateway ------------------------------------------------------

// gateway is a running `gateway serve` with its collected log events.
type gateway struct {
	*proc
	d          *gwDir
	logs       *logBook
	addr       string // actual listen address
	port       int
	hostKey    ssh.PublicKey
	knownHosts string // OpenSSH known_hosts file pinning the host key
}

// serve starts `gateway serve` on 127.0.0.1:0 and waits for "listening".
func (d *gwDir) serve(t testing.TB) *gateway {
	t.Helper()
	g := &gateway{d: d, logs: newLogBook()}
	g.proc = startProc(t, sshEnv(""), g.logs, gatewayBin, "serve", "--config", d.conf,
		"--listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "debug")
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("INTEGRATION_LOG") != "" {
			t.Logf("gateway log:\n%s", g.logs.dump())
		}
	})
	ev := g.logs.waitEvents(t, 0, "listening", nil, 1, startTimeout)[0]
	addr, _ := ev["addr"].(string)
	tcp, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil || tcp.Port == 0 {
		t.Fatalf("listening event: got addr %q, want 127.0.0.1:PORT (%v)", addr, err)
	}
	g.addr, g.port = addr, tcp.Port
	g.pinHostKey(t)
	return g
}

// pinHostKey writes a known_hosts file with the host key from the .pub file.
func (g *gateway) pinHostKey(t testing.TB) {
	t.Helper()
	pub := strings.TrimSpace(readFile(t, g.d.hostPub))
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pub))
	if err != nil {
		t.Fatalf("parse host public key: %v", err)
	}
	g.hostKey = pk
	g.knownHosts = filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, g.knownHosts, fmt.Sprintf("[127.0.0.1]:%d %s\n", g.port, pub))
}

// waitEvent waits for an event named msg that match accepts (nil: any).
func (g *gateway) waitEvent(t testing.TB, msg string, match func(map[string]any) bool, timeout time.Duration) map[string]any {
	t.Helper()
	return g.logs.waitEvents(t, 0, msg, match, 1, timeout)[0]
}

// waitEventAfter is waitEvent counting only events logged after mark.
func (g *gateway) waitEventAfter(t testing.TB, mark int, msg string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	return g.logs.waitEvents(t, mark, msg, match, 1, waitTimeout)[0]
}

func (g *gateway) mark() int { return g.logs.mark() }

func (g *gateway) signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := g.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal gateway: %v", err)
	}
}

// reload sends SIGHUP and waits for the event want ("reloaded" or
// "reload failed") logged after the signal.
func (g *gateway) reload(t testing.TB, want string) map[string]any {
	t.Helper()
	mark := g.mark()
	g.signal(t, syscall.SIGHUP)
	return g.waitEventAfter(t, mark, want, nil)
}

// sshArgs are the options every ssh invocation uses, then extra.
func (g *gateway) sshArgs(op *operator, extra ...string) []string {
	args := []string{
		"-F", "/dev/null",
		"-o", "BatchMode=yes",
		"-o", "IdentitiesOnly=yes",
		"-o", "IdentityFile=" + op.key,
		"-o", "UserKnownHostsFile=" + g.knownHosts,
		"-o", "StrictHostKeyChecking=yes",
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "ConnectTimeout=5",
		"-o", "LogLevel=ERROR",
		"-p", strconv.Itoa(g.port),
	}
	return append(args, extra...)
}

// dest is the ssh destination for op.
func (g *gateway) dest(op *operator) string { return op.name + "@127.0.0.1" }

// ssh runs ssh to completion with args after the common options.
func (g *gateway) ssh(t testing.TB, op *operator, agentSock string, args ...string) result {
	t.Helper()
	return runCmd(t, sshEnv(agentSock), "ssh", g.sshArgs(op, args...)...)
}

// forward starts `ssh -N -o ExitOnForwardFailure=yes` with the given
// options (e.g. -L specs) and waits until ssh listens on every lport.
func (g *gateway) forward(t testing.TB, op *operator, opts []string, lports ...int) *proc {
	t.Helper()
	args := append([]string{"-N", "-o", "ExitOnForwardFailure=yes"}, opts...)
	args = append(args, g.dest(op))
	p := startProc(t, sshEnv(""), nil, "ssh", g.sshArgs(op, args...)...)
	for _, port := range lports {
		waitListening(t, p, port)
	}
	return p
}

// expectAlive checks the gateway process runs and answers with an SSH banner.
func (g *gateway) expectAlive(t testing.TB) {
	t.Helper()
	if g.exited() {
		t.Fatalf("gateway exited with code %d, want it still serving", g.code)
	}
	c, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial gateway: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "SSH-2.0-") {
		t.Fatalf("gateway banner: got %q (%v), want SSH-2.0-...", line, err)
	}
}

// expectNoChildren checks the gateway has spawned no process (Linux only).
func (g *gateway) expectNoChildren(t testing.TB) {
	t.Helper()
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", g.cmd.Process.Pid))
	if err != nil || len(files) == 0 {
		t.Logf("no /proc/PID/task/*/children on this system; child check skipped")
		return
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended meanwhile
		}
		if kids := strings.TrimSpace(string(data)); kids != "" {
			t.Errorf("gateway children (%s): got %q, want none", f, kids)
		}
	}
}
