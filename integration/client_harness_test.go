package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// clientBin is the client binary TestMain built; clientBuildErr says why
// it could not be built, and every client test then fails with it.
var (
	clientBin      string
	clientBuildErr error
)

// needClient checks the tools client tests use and that the client built.
func needClient(t testing.TB) {
	t.Helper()
	needOpenSSH(t)
	if clientBuildErr != nil {
		t.Fatalf("client binary: %v", clientBuildErr)
	}
}

// --- processes with captured output ---------------------------------------

// captured is a background process whose stdout is kept and whose stderr
// goes to a logBook (JSON lines become events).
type captured struct {
	*proc
	logs   *logBook
	stdout *lockedBuffer
}

// output is everything the process wrote so far, stdout then stderr.
func (c *captured) output() string { return c.stdout.String() + "\n" + c.logs.dump() }

// startCaptured starts name with args; the test's cleanup kills it and, on
// failure or with INTEGRATION_LOG set, logs its output under label.
func startCaptured(t testing.TB, env []string, label, name string, args ...string) *captured {
	t.Helper()
	c := &captured{logs: newLogBook(), stdout: &lockedBuffer{}}
	c.proc = &proc{cmd: exec.Command(name, args...), done: make(chan struct{})}
	c.cmd.Env = env
	c.cmd.WaitDelay = 2 * time.Second
	c.cmd.Stdout, c.cmd.Stderr = c.stdout, c.logs
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		defer close(c.done)
		_ = c.cmd.Wait()
		c.code = c.cmd.ProcessState.ExitCode()
		c.logs.close()
	}()
	t.Cleanup(func() {
		c.kill(t)
		if t.Failed() || os.Getenv("INTEGRATION_LOG") != "" {
			t.Logf("%s output (exit %d):\n%s", label, c.code, c.output())
		}
	})
	return c
}

// waitListening waits until something listens on 127.0.0.1:port, failing
// if the process exits first.
func (c *captured) waitListening(t testing.TB, port int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		if c.exited() {
			t.Fatalf("%s exited with code %d before listening on %d:\n%s", c.cmd.Path, c.code, port, c.output())
		}
		if isListening(port) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listening on 127.0.0.1:%d after %v", port, waitTimeout)
}

// expectRunning fails the test if the process has exited.
func (c *captured) expectRunning(t testing.TB) {
	t.Helper()
	if c.exited() {
		t.Fatalf("%s exited with code %d, want it still running:\n%s", c.cmd.Path, c.code, c.output())
	}
}

// --- gateway on a chosen port ---------------------------------------------

// startGateway runs `gateway serve` for d on 127.0.0.1:port (0: any free
// port) with debug JSON logs, keeping its stdout too, and waits for
// "listening". Unlike gwDir.serve it can come back on the same port.
func startGateway(t testing.TB, d *gwDir, port int) (*gateway, *captured) {
	t.Helper()
	c := startCaptured(t, sshEnv(""), "gateway", gatewayBin, "serve", "--config", d.conf,
		"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--log-format", "json", "--log-level", "debug")
	g := &gateway{proc: c.proc, d: d, logs: c.logs}
	ev := g.logs.waitEvents(t, 0, "listening", nil, 1, startTimeout)[0]
	addr, _ := ev["addr"].(string)
	tcp, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil || tcp.Port == 0 || (port != 0 && tcp.Port != port) {
		t.Fatalf("listening event: got addr %q, want 127.0.0.1:%d (%v)", addr, port, err)
	}
	g.addr, g.port = addr, tcp.Port
	g.pinHostKey(t)
	return g, c
}

// stopGateway sends SIGTERM and waits for the gateway to exit with 0.
func stopGateway(t testing.TB, g *gateway) {
	t.Helper()
	g.signal(t, syscall.SIGTERM)
	code, ok := g.wait(waitTimeout)
	if !ok {
		t.Fatalf("gateway still running %v after SIGTERM, want exit", waitTimeout)
	}
	if code != 0 {
		t.Errorf("gateway exit code after SIGTERM: got %d, want 0", code)
	}
}

// setDrainTimeout rewrites d's DrainTimeout, so SIGTERM does not wait long
// for tunnels a client keeps open (the proxy pools idle connections).
func setDrainTimeout(t testing.TB, d *gwDir, timeout string) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^DrainTimeout .*$`)
	conf := readFile(t, d.conf)
	if !re.MatchString(conf) {
		t.Fatalf("%s: no DrainTimeout line to rewrite", d.conf)
	}
	writeFile(t, d.conf, re.ReplaceAllString(conf, "DrainTimeout "+timeout))
}

// --- client invocations ---------------------------------------------------

// endpoint is an SSH server as the client reaches it.
type endpoint struct {
	dest       string // user@127.0.0.1
	port       int
	key        string // -i; "" for none
	knownHosts string // --known-hosts; "" for none
}

// as is g reached with op's key and the pinned host key.
func (g *gateway) as(op *operator) endpoint {
	return endpoint{dest: g.dest(op), port: g.port, key: op.key, knownHosts: g.knownHosts}
}

// args is `client SUB DEST` with -F none, JSON logs, the port, key and
// known_hosts of e, then extra.
func (e endpoint) args(sub string, extra ...string) []string {
	args := []string{sub, e.dest, "-F", "none", "--log-format", "json", "-p", strconv.Itoa(e.port)}
	if e.key != "" {
		args = append(args, "-i", e.key)
	}
	if e.knownHosts != "" {
		args = append(args, "--known-hosts", e.knownHosts)
	}
	return append(args, extra...)
}

// runClient runs the client to completion (env nil: no agent).
func runClient(t testing.TB, env []string, args ...string) result {
	t.Helper()
	return runCmd(t, env, clientBin, args...)
}

// startClient starts the client in the background (env nil: no agent).
func startClient(t testing.TB, env []string, args ...string) *captured {
	t.Helper()
	if env == nil {
		env = sshEnv("")
	}
	return startCaptured(t, env, "client "+args[0], clientBin, args...)
}

// startForward runs `client forward` with the -L specs, each starting with
// "LPORT:", and waits for a "forwarding" event and a listener per spec.
func startForward(t testing.TB, e endpoint, specs ...string) *captured {
	t.Helper()
	var extra []string
	for _, s := range specs {
		extra = append(extra, "-L", s)
	}
	c := startClient(t, nil, e.args("forward", extra...)...)
	c.logs.waitEvents(t, 0, "forwarding", nil, len(specs), waitTimeout)
	for _, s := range specs {
		c.waitListening(t, specPort(t, s))
	}
	return c
}

// specPort is the local port of an "LPORT:..." spec.
func specPort(t testing.TB, spec string) int {
	t.Helper()
	lport, _, _ := strings.Cut(spec, ":")
	port, err := strconv.Atoi(lport)
	if err != nil {
		t.Fatalf("spec %q: want LPORT:...", spec)
	}
	return port
}

// startProxy runs `client proxy --service service` on a free loopback
// port with extra flags (the credential) and waits for "proxy ready".
func startProxy(t testing.TB, e endpoint, service string, extra ...string) (*captured, int) {
	t.Helper()
	port := freePort(t)
	args := append([]string{"--service", service, "--listen", fmt.Sprintf("127.0.0.1:%d", port)}, extra...)
	c := startClient(t, nil, e.args("proxy", args...)...)
	want := fmt.Sprintf("http://127.0.0.1:%d", port)
	if ev := c.logs.waitEvents(t, 0, "proxy ready", nil, 1, waitTimeout)[0]; ev["url"] != want {
		t.Errorf("proxy ready url: got %v, want %s", ev["url"], want)
	}
	c.waitListening(t, port)
	return c, port
}

// credFile writes a credential file with mode 0600 and returns its path.
func credFile(t testing.TB, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cred")
	writeFile(t, path, content)
	return path
}

// curlURL runs curl on url with extra options before it; the status is
// in result.status, the body in body.
func curlURL(t testing.TB, url string, extra ...string) httpResult {
	t.Helper()
	out := filepath.Join(t.TempDir(), "body")
	args := append([]string{"-sS", "--max-time", "10", "-o", out, "-w", "%{http_code}"}, extra...)
	r := runCmd(t, nil, "curl", append(args, url)...)
	body, _ := os.ReadFile(out)
	return httpResult{result: r, status: strings.TrimSpace(r.stdout), body: body}
}

// --- recording upstream ---------------------------------------------------

// seenRequest is what the recording upstream received.
type seenRequest struct {
	method, path, host string
	auth               []string // every Authorization header value
	transferEncoding   []string
	contentLength      int64
	body               []byte
}

// recorder is a loopback HTTP API that records every request. It answers
// 404 on /missing and 200 with recorderBody otherwise.
type recorder struct {
	addr     string
	port     int
	accepted atomic.Int64
	mu       sync.Mutex
	seen     []seenRequest
}

// recorderBody is the body the recorder answers a request with.
func recorderBody(method, path string) string {
	return fmt.Sprintf("{\"method\":%q,\"path\":%q,\"ok\":true}\n", method, path)
}

func startRecorder(t testing.TB) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("recorder listen: %v", err)
	}
	u := &recorder{addr: ln.Addr().String(), port: ln.Addr().(*net.TCPAddr).Port}
	serveCounting(t, ln, http.HandlerFunc(u.serveHTTP), &u.accepted)
	return u
}

func (u *recorder) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	u.mu.Lock()
	u.seen = append(u.seen, seenRequest{
		method: r.Method, path: r.URL.Path, host: r.Host,
		auth:             r.Header.Values("Authorization"),
		transferEncoding: r.TransferEncoding,
		contentLength:    r.ContentLength,
		body:             body,
	})
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/missing" {
		http.Error(w, "no such thing", http.StatusNotFound)
		return
	}
	_, _ = io.WriteString(w, recorderBody(r.Method, r.URL.Path))
}

// requests returns the requests seen for path.
func (u *recorder) requests(path string) []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []seenRequest
	for _, s := range u.seen {
		if s.path == path {
			out = append(out, s)
		}
	}
	return out
}

// one returns the single request seen for path, failing otherwise.
func (u *recorder) one(t testing.TB, path string) seenRequest {
	t.Helper()
	got := u.requests(path)
	if len(got) != 1 {
		t.Fatalf("upstream requests for %s: got %d, want 1", path, len(got))
	}
	return got[0]
}

// expectAuth checks s carried exactly one Authorization header, want.
func expectAuth(t testing.TB, s seenRequest, want string) {
	t.Helper()
	if len(s.auth) != 1 || s.auth[0] != want {
		t.Errorf("%s %s upstream Authorization: got %q, want exactly [%q]", s.method, s.path, s.auth, want)
	}
}
