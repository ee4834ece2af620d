package integration

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// apiRig is a gateway with one recording upstream, the service api, granted
// to alice.
type apiRig struct {
	api   *recorder
	d     *gwDir
	alice *operator
}

func newAPIRig(t testing.TB, services ...string) *apiRig {
	t.Helper()
	needClient(t)
	r := &apiRig{api: startRecorder(t), alice: newOperator(t, "alice")}
	r.d = initGateway(t, append([]string{"api=" + r.api.addr}, services...)...)
	r.d.allow(t, r.alice, "api")
	return r
}

func TestClientForward(t *testing.T) {
	t.Parallel()
	needClient(t)
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq,other")
	g := r.d.serve(t)
	e := g.as(r.alice)

	byName, byNamePort := freePort(t), freePort(t)
	c := startForward(t, e, fmt.Sprintf("%d:nanomq", byName), r.toOther(byNamePort))
	expectServes(t, byName, r.nanomq)
	expectServes(t, byNamePort, r.other)

	c.logs.waitEvents(t, 0, "connected", nil, 1, waitTimeout)
	for _, f := range []struct {
		lport   int
		service string
		port    int
	}{{byName, "nanomq", r.nanomq.port}, {byNamePort, "other", r.other.port}} {
		match := allOf(attrIs("listen", fmt.Sprintf("127.0.0.1:%d", f.lport)), attrHas("to", f.service), attrHas("to", strconv.Itoa(f.port)))
		if got := c.logs.find(0, "forwarding", match); len(got) != 1 {
			t.Errorf("forwarding events for %d -> %s:%d: got %v, want one", f.lport, f.service, f.port, c.logs.find(0, "forwarding", nil))
		}
	}

	res := runClient(t, nil, e.args("services")...)
	want := []string{fmt.Sprintf("nanomq\t%d", r.nanomq.port), fmt.Sprintf("other\t%d", r.other.port)}
	got := strings.Split(strings.TrimSpace(res.stdout), "\n")
	slices.Sort(got)
	if res.code != 0 || !slices.Equal(got, want) {
		t.Errorf("client services: got %s, want exit 0 and lines %q", res, want)
	}

	c.expectRunning(t)
	_ = c.cmd.Process.Signal(os.Interrupt)
	if _, ok := c.wait(5 * time.Second); !ok {
		t.Errorf("client forward still running 5s after SIGINT, want exit")
	}
}

func TestClientForwardRefusesNonLoopbackBind(t *testing.T) {
	t.Parallel()
	needClient(t)
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq")
	g := r.d.serve(t)
	res := runClient(t, nil, g.as(r.alice).args("forward", "-L", fmt.Sprintf("0.0.0.0:%d:nanomq", freePort(t)))...)
	if res.code == 0 || !strings.Contains(res.stderr, "--allow-non-loopback") {
		t.Errorf("forward -L 0.0.0.0:...: got %s, want non-zero exit naming --allow-non-loopback", res)
	}
}

func TestClientProxy(t *testing.T) {
	t.Parallel()
	r := newAPIRig(t)
	g := r.d.serve(t)
	injected := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:public"))
	_, port := startProxy(t, g.as(r.alice), "api", "--auth", "basic", "--auth-file", credFile(t, "admin:public"))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	tests := []struct {
		name, path, status string
		curl               []string
	}{
		{name: "caller authorization replaced", path: "/own-auth", status: "200", curl: []string{"-H", "Authorization: Basic bad"}},
		{name: "connection header naming authorization", path: "/connection", status: "200", curl: []string{"-H", "Connection: Authorization"}},
		{name: "foreign host", path: "/foreign-host", status: "421", curl: []string{"-H", "Host: evil.example"}},
		{name: "cross-site origin", path: "/origin", status: "403", curl: []string{"-H", "Origin: http://evil.example"}},
		{name: "cross-site fetch", path: "/fetch-site", status: "403", curl: []string{"-H", "Sec-Fetch-Site: cross-site"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := curlURL(t, base+tt.path, tt.curl...)
			if res.code != 0 || res.status != tt.status {
				t.Fatalf("curl %s: got %s status %q, want status %s", tt.path, res.result, res.status, tt.status)
			}
			if tt.status != "200" {
				if got := r.api.requests(tt.path); len(got) != 0 {
					t.Errorf("upstream saw %d requests for %s, want none", len(got), tt.path)
				}
				return
			}
			if want := recorderBody("GET", tt.path); string(res.body) != want {
				t.Errorf("curl %s body: got %q, want %q", tt.path, res.body, want)
			}
			expectAuth(t, r.api.one(t, tt.path), injected)
		})
	}

	t.Run("chunked upload", func(t *testing.T) {
		data := bytes.Repeat([]byte("0123456789abcdef"), 12<<10)
		file := filepath.Join(t.TempDir(), "upload")
		writeFile(t, file, string(data))
		res := curlURL(t, base+"/upload", "-H", "Transfer-Encoding: chunked", "--data-binary", "@"+file)
		if res.code != 0 || res.status != "200" {
			t.Fatalf("chunked POST: got %s status %q, want 200", res.result, res.status)
		}
		s := r.api.one(t, "/upload")
		if s.method != "POST" || len(s.transferEncoding) != 0 || s.contentLength != int64(len(data)) || !bytes.Equal(s.body, data) {
			t.Errorf("upstream upload: got %s Transfer-Encoding %q Content-Length %d body %d bytes, want POST, none, %d, the %d bytes sent",
				s.method, s.transferEncoding, s.contentLength, len(s.body), len(data), len(data))
		}
		expectAuth(t, s, injected)
	})

	t.Run("keep-alive", func(t *testing.T) {
		paths := []string{"/keep-1", "/keep-2", "/keep-3"}
		args := []string{"-sS", "--max-time", "10", "-w", "%{http_code} %{num_connects}\n"}
		for _, p := range paths {
			args = append(args, "-o", "/dev/null", base+p)
		}
		res := runCmd(t, nil, "curl", args...)
		want := "200 1\n200 0\n200 0\n"
		if res.code != 0 || res.stdout != want {
			t.Fatalf("curl with %d URLs: got %s, want stdout %q (one connection, reused)", len(paths), res, want)
		}
		for _, p := range paths {
			expectAuth(t, r.api.one(t, p), injected)
		}
	})
}

func TestClientProxyStatus(t *testing.T) {
	t.Parallel()
	other := startRecorder(t)
	dead := freePort(t) // nothing listens here
	r := newAPIRig(t, "other="+other.addr, fmt.Sprintf("dead=127.0.0.1:%d", dead))
	r.d.allow(t, r.alice, "dead")
	g := r.d.serve(t)
	cred := credFile(t, "token")
	tests := []struct {
		name, service, status string
	}{
		{name: "refused by policy", service: fmt.Sprintf("other:%d", other.port), status: "403"},
		{name: "api refused connection", service: "dead", status: "502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, port := startProxy(t, g.as(r.alice), tt.service, "--auth", "bearer", "--auth-file", cred)
			res := curlURL(t, fmt.Sprintf("http://127.0.0.1:%d/x", port))
			if res.code != 0 || res.status != tt.status {
				t.Errorf("curl through proxy to %s: got %s status %q, want %s", tt.service, res.result, res.status, tt.status)
			}
		})
	}
	if n := other.accepted.Load(); n != 0 {
		t.Errorf("ungranted upstream accepted %d connections, want 0", n)
	}
}

func TestClientRequest(t *testing.T) {
	t.Parallel()
	r := newAPIRig(t)
	g := r.d.serve(t)
	e := g.as(r.alice)
	auth := []string{"--service", "api", "--auth", "bearer", "--auth-file", credFile(t, "request-token")}
	request := func(t *testing.T, extra ...string) result {
		t.Helper()
		return runClient(t, nil, e.args("request", append(slices.Clone(auth), extra...)...)...)
	}

	t.Run("GET", func(t *testing.T) {
		res := request(t, "GET", "/hello")
		if want := recorderBody("GET", "/hello"); res.code != 0 || res.stdout != want {
			t.Fatalf("request GET /hello: got %s, want exit 0 and stdout %q", res, want)
		}
		expectAuth(t, r.api.one(t, "/hello"), "Bearer request-token")
	})
	t.Run("not found", func(t *testing.T) {
		if res := request(t, "GET", "/missing"); res.code == 0 {
			t.Errorf("request GET /missing (404): got %s, want non-zero exit", res)
		}
	})
	t.Run("verbose", func(t *testing.T) {
		res := request(t, "-v", "GET", "/verbose")
		if res.code != 0 || !strings.Contains(res.stderr, "200 OK") || !strings.Contains(res.stderr, "application/json") {
			t.Errorf("request -v: got %s, want exit 0 and status 200 OK and headers on stderr", res)
		}
		if want := recorderBody("GET", "/verbose"); res.stdout != want {
			t.Errorf("request -v stdout: got %q, want only the body %q", res.stdout, want)
		}
	})
	t.Run("POST file", func(t *testing.T) {
		data := `{"cmd":"noop"}`
		file := filepath.Join(t.TempDir(), "data")
		writeFile(t, file, data)
		if res := request(t, "-H", "Content-Type: application/json", "--data", "@"+file, "POST", "/post"); res.code != 0 {
			t.Fatalf("request POST: got %s, want exit 0", res)
		}
		if s := r.api.one(t, "/post"); s.method != "POST" || string(s.body) != data || s.contentLength != int64(len(data)) {
			t.Errorf("upstream POST: got %s body %q length %d, want POST %q length %d", s.method, s.body, s.contentLength, data, len(data))
		}
	})
	t.Run("authorization header refused", func(t *testing.T) {
		if res := request(t, "-H", "Authorization: x", "GET", "/own-auth"); res.code == 0 {
			t.Errorf("request -H 'Authorization: x': got %s, want non-zero exit", res)
		}
		if got := r.api.requests("/own-auth"); len(got) != 0 {
			t.Errorf("upstream saw %d requests with a caller Authorization, want none", len(got))
		}
	})
}

// hostKeyLine is the known_hosts line the client should store for a host
// key file's public half on port.
func hostKeyLine(t testing.TB, pubFile string, port int) []string {
	t.Helper()
	f := strings.Fields(readFile(t, pubFile))
	return []string{fmt.Sprintf("[127.0.0.1]:%d", port), f[0], f[1]}
}

func TestClientHostKeys(t *testing.T) {
	t.Parallel()
	needClient(t)
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq")
	g, _ := startGateway(t, r.d, 0)
	e := g.as(r.alice)
	e.knownHosts = filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, e.knownHosts, "")
	fp := fingerprintOf(t, []byte(readFile(t, r.d.hostPub)))

	res := runClient(t, nil, e.args("services")...)
	if res.code == 0 || !strings.Contains(res.stderr, fp) || !strings.Contains(res.stderr, "--accept-new") {
		t.Errorf("unknown host key: got %s, want non-zero exit, the fingerprint %s and --accept-new on stderr", res, fp)
	}
	if got := readFile(t, e.knownHosts); got != "" {
		t.Errorf("known_hosts after refusal: got %q, want empty", got)
	}

	res = runClient(t, nil, e.args("services", "--accept-new")...)
	if res.code != 0 || !strings.Contains(res.stdout, "nanomq\t") {
		t.Fatalf("--accept-new: got %s, want exit 0 and nanomq listed", res)
	}
	stored := readFile(t, e.knownHosts)
	lines := strings.Split(strings.TrimSpace(stored), "\n")
	want := hostKeyLine(t, r.d.hostPub, g.port)
	if got := strings.Fields(lines[0]); len(lines) != 1 || len(got) < 3 || !slices.Equal(got[:3], want) {
		t.Fatalf("known_hosts after --accept-new: got %q, want exactly one line %q", stored, strings.Join(want, " "))
	}
	if res := runClient(t, nil, e.args("services")...); res.code != 0 {
		t.Errorf("second run with the stored key: got %s, want exit 0", res)
	}

	port := g.port
	stopGateway(t, g)
	d2 := initGateway(t, "nanomq="+r.nanomq.addr)
	d2.allow(t, r.alice, "nanomq")
	startGateway(t, d2, port)
	fp2 := fingerprintOf(t, []byte(readFile(t, d2.hostPub)))
	res = runClient(t, nil, e.args("services", "--accept-new")...)
	if res.code == 0 || !strings.Contains(res.stderr, fp) || !strings.Contains(res.stderr, fp2) {
		t.Errorf("changed host key with --accept-new: got %s, want non-zero exit naming %s and %s", res, fp, fp2)
	}
	if got := readFile(t, e.knownHosts); got != stored {
		t.Errorf("known_hosts after changed key: got %q, want unchanged %q", got, stored)
	}
}

func TestClientHostKeyRSAOnlyKnown(t *testing.T) {
	t.Parallel()
	needClient(t)
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq")
	rsaKey := filepath.Join(r.d.dir, "host_rsa_key")
	if res := runCmd(t, nil, "ssh-keygen", "-q", "-t", "rsa", "-b", "3072", "-N", "", "-C", "host", "-f", rsaKey); res.code != 0 {
		t.Fatalf("ssh-keygen rsa: %s", res)
	}
	writeFile(t, r.d.conf, readFile(t, r.d.conf)+"HostKey host_rsa_key\n")
	g, _ := startGateway(t, r.d, 0)
	e := g.as(r.alice)
	e.knownHosts = filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, e.knownHosts, strings.Join(hostKeyLine(t, rsaKey+".pub", g.port), " ")+"\n")

	res := runClient(t, nil, e.args("services")...)
	if res.code != 0 || !strings.Contains(res.stdout, "nanomq\t") {
		t.Errorf("known_hosts with only the RSA host key: got %s, want exit 0 and nanomq listed", res)
	}
}

// sshConfig writes an ssh_config with Host dev reaching g as op.
func sshConfig(t testing.TB, g *gateway, op *operator) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ssh_config")
	writeFile(t, path, fmt.Sprintf(`Host dev
  HostName 127.0.0.1
  Port %d
  User %s
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
`, g.port, op.name, op.key, g.knownHosts))
	return path
}

func TestClientSSHConfigAlias(t *testing.T) {
	t.Parallel()
	needClient(t)
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq")
	g := r.d.serve(t)
	lport := freePort(t)
	c := startClient(t, nil, "forward", "-F", sshConfig(t, g, r.alice), "dev", "-L", fmt.Sprintf("%d:nanomq", lport))
	c.waitListening(t, lport)
	expectServes(t, lport, r.nanomq)
	g.waitEvent(t, "auth accepted", attrIs("fingerprint", r.alice.fingerprint), waitTimeout)
}

func TestClientAgentWithManyKeys(t *testing.T) {
	t.Parallel()
	needClient(t)
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq")
	g := r.d.serve(t)
	// x/crypto/ssh does not count the first MaxAuthTries rejected key
	// queries, so 7 agent keys offered first would not lock alice out of
	// the gateway as they would with sshd: the test checks instead that
	// the gateway never saw them.
	sock := startAgent(t)
	env := sshEnv(sock)
	var strays []string
	for i := range 7 {
		op := newOperator(t, fmt.Sprintf("stray%d", i))
		if res := runCmd(t, env, "ssh-add", op.key); res.code != 0 {
			t.Fatalf("ssh-add: %s", res)
		}
		strays = append(strays, op.fingerprint)
	}
	if res := runCmd(t, env, "ssh-add", "-l"); strings.Count(res.stdout, "SHA256:") != 7 {
		t.Fatalf("ssh-add -l: got %s, want 7 keys", res)
	}

	tests := []struct {
		name string
		args []string
	}{
		{name: "-i", args: g.as(r.alice).args("services")},
		{name: "IdentitiesOnly", args: []string{"services", "-F", sshConfig(t, g, r.alice), "dev"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if res := runClient(t, env, tt.args...); res.code != 0 || !strings.Contains(res.stdout, "nanomq\t") {
				t.Errorf("client services with 7 agent keys: got %s, want exit 0 and nanomq listed", res)
			}
		})
	}
	for _, fp := range strays {
		if got := g.logs.find(0, "", attrIs("fingerprint", fp)); len(got) != 0 {
			t.Errorf("gateway saw agent key %s: got %v, want it never offered", fp, got)
		}
	}
}

// pollServes GETs through lport until it serves up's body or timeout passes.
func pollServes(t testing.TB, lport int, up *upstream, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last httpResult
	for time.Now().Before(deadline) {
		last = curlURL(t, fmt.Sprintf("http://127.0.0.1:%d/", lport), "--max-time", "2")
		if last.code == 0 && last.status == "200" && bytes.Equal(last.body, up.body) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET via %d: not serving within %v; last try %s status %q", lport, timeout, last.result, last.status)
}

func TestClientReconnect(t *testing.T) {
	t.Parallel()
	needClient(t)
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq")
	setDrainTimeout(t, r.d, "1s")
	g, _ := startGateway(t, r.d, 0)
	e := g.as(r.alice)
	lport := freePort(t)
	fwd := startForward(t, e, fmt.Sprintf("%d:nanomq", lport))
	px, pport := startProxy(t, e, "nanomq", "--auth", "bearer", "--auth-file", credFile(t, "t"), "--wait", "1s")
	proxyURL := fmt.Sprintf("http://127.0.0.1:%d/", pport)
	expectServes(t, lport, r.nanomq)
	if res := curlURL(t, proxyURL); res.status != "200" {
		t.Fatalf("proxy before the outage: got %s status %q, want 200", res.result, res.status)
	}

	fmark, pmark := fwd.logs.mark(), px.logs.mark()
	port := g.port
	stopGateway(t, g)
	fwd.logs.waitEvents(t, fmark, "connection lost; reconnecting", nil, 1, waitTimeout)
	px.logs.waitEvents(t, pmark, "connection lost; reconnecting", nil, 1, waitTimeout)
	res := curlURL(t, proxyURL)
	if res.status != "503" {
		t.Errorf("proxy during the outage: got %s status %q, want 503", res.result, res.status)
	}

	startGateway(t, r.d, port)
	pollServes(t, lport, r.nanomq, 10*time.Second)
	fwd.logs.waitEvents(t, fmark, "reconnected", nil, 1, waitTimeout)
	fwd.expectRunning(t)
	px.logs.waitEvents(t, pmark, "reconnected", nil, 1, waitTimeout)
	if res := curlURL(t, proxyURL); res.status != "200" {
		t.Errorf("proxy after reconnect: got %s status %q, want 200", res.result, res.status)
	}
}

func TestClientSecretsStayOutOfOutput(t *testing.T) {
	t.Parallel()
	r := newAPIRig(t)
	g, gw := startGateway(t, r.d, 0)
	e := g.as(r.alice)
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	secret := "lgsecret" + hex.EncodeToString(b)
	cred := credFile(t, secret)
	auth := []string{"--service", "api", "--auth", "bearer", "--log-level", "debug"}

	px, pport := startProxy(t, e, "api", append(slices.Clone(auth), "--auth-file", cred)...)
	base := fmt.Sprintf("http://127.0.0.1:%d", pport)
	outputs := map[string]string{}
	for _, p := range []string{"/proxy-get", "/missing"} {
		res := curlURL(t, base+p, "-v", "-H", "Authorization: Bearer guess")
		outputs["curl "+p] = res.String()
	}
	outputs["curl POST"] = curlURL(t, base+"/proxy-post", "-v", "--data", "x=1").String()

	env := append(sshEnv(""), "LG_TOKEN="+secret)
	requests := []struct {
		name string
		args []string
		ok   bool
	}{
		{name: "file json", args: []string{"--auth-file", cred, "-v", "GET", "/request-json"}, ok: true},
		{name: "file text", args: []string{"--auth-file", cred, "--log-format", "text", "-v", "GET", "/request-text"}, ok: true},
		{name: "env", args: []string{"--auth-env", "LG_TOKEN", "-v", "POST", "/request-env", "--data", "y=2"}, ok: true},
		{name: "not found", args: []string{"--auth-file", cred, "-v", "GET", "/missing"}},
	}
	for _, rq := range requests {
		res := runClient(t, env, e.args("request", append(slices.Clone(auth), rq.args...)...)...)
		if (res.code == 0) != rq.ok {
			t.Errorf("request %s: got exit %d, want success %v", rq.name, res.code, rq.ok)
		}
		outputs["request "+rq.name] = res.String()
	}
	px.stop(t)
	outputs["proxy"], outputs["gateway"] = px.output(), gw.output()

	for name, want := range map[string]string{"proxy": "proxy ready", "gateway": "tunnel opened", "request file json": "200 OK"} {
		if !strings.Contains(outputs[name], want) {
			t.Errorf("%s output: got %q, want it to contain %q (is output captured?)", name, outputs[name], want)
		}
	}
	for name, out := range outputs {
		if strings.Contains(out, secret) {
			t.Errorf("%s output contains the secret token, want it never printed", name)
		}
	}
	for _, p := range []string{"/proxy-get", "/proxy-post", "/request-json", "/request-text", "/request-env"} {
		expectAuth(t, r.api.one(t, p), "Bearer "+secret)
	}
}

// helpFlags lists the long flags `client SUB --help` documents.
func helpFlags(t testing.TB, sub string) []string {
	t.Helper()
	res := runClient(t, nil, sub, "--help")
	if res.code != 0 {
		t.Fatalf("client %s --help: %s", sub, res)
	}
	var flags []string
	for _, m := range regexp.MustCompile(`--([a-z][a-z0-9-]*)`).FindAllStringSubmatch(res.stdout, -1) {
		flags = append(flags, m[1])
	}
	return flags
}

func TestClientCredentialFlags(t *testing.T) {
	t.Parallel()
	r := newAPIRig(t)
	g := r.d.serve(t)
	e := g.as(r.alice)
	for _, sub := range []string{"proxy", "request"} {
		for _, f := range helpFlags(t, sub) {
			secretish := regexp.MustCompile(`token|secret|pass|bearer|basic|cred`).MatchString(f)
			if secretish || (strings.Contains(f, "auth") && f != "auth" && f != "auth-file" && f != "auth-env") {
				t.Errorf("client %s --%s: a flag that may take the secret itself, want only --auth, --auth-file, --auth-env", sub, f)
			}
		}
	}

	open := credFile(t, "open-secret")
	if err := os.Chmod(open, 0o644); err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	tests := []struct {
		name, want string
		args       []string
	}{
		{name: "neither file nor env", args: []string{"--auth", "bearer"}},
		{name: "file not 0600", args: []string{"--auth", "bearer", "--auth-file", open}, want: open},
		{name: "secret as a flag", args: []string{"--auth", "bearer", "--token", "s3cret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runClient(t, nil, e.args("proxy", append([]string{"--service", "api", "--listen", listen}, tt.args...)...)...)
			if res.code == 0 || !strings.Contains(res.stderr, tt.want) {
				t.Errorf("client proxy %s: got %s, want non-zero exit mentioning %q", strings.Join(tt.args, " "), res, tt.want)
			}
			if strings.Contains(res.String(), "open-secret") {
				t.Errorf("client proxy %s printed the credential file's content", strings.Join(tt.args, " "))
			}
		})
	}
	if got := r.api.requests("/"); len(got) != 0 {
		t.Errorf("upstream requests: got %d, want none", len(got))
	}
}
