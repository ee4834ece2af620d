package integration

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// What the gateway sends first: its version line, or, when it drops a
// connection before the banner, sshd's refusal line.
const (
	bannerLine = "SSH-2.0-loopgate\r\n"
	dropLine   = "Not allowed at this time\r\n"
)

// --- gateways with limits -------------------------------------------------

// limitsRig is a rig with a second operator, carol; alice and carol are
// both granted nanomq.
type limitsRig struct {
	*rig
	carol *operator
	g     *gateway
}

// prepLimits makes the rig and sets conf (gateway.conf lines) without
// starting the gateway; serve starts it.
func prepLimits(t testing.TB, conf ...string) *limitsRig {
	t.Helper()
	lr := &limitsRig{rig: newRig(t), carol: newOperator(t, "carol")}
	lr.d.allow(t, lr.alice, "nanomq")
	lr.d.allow(t, lr.carol, "nanomq")
	setConf(t, lr.d, conf...)
	return lr
}

func (lr *limitsRig) serve(t testing.TB) *limitsRig {
	t.Helper()
	lr.g = lr.d.serve(t)
	return lr
}

// startLimits is prepLimits and serve.
func startLimits(t testing.TB, conf ...string) *limitsRig {
	t.Helper()
	return prepLimits(t, conf...).serve(t)
}

// setConf puts each line into d's gateway.conf: it replaces the line that
// sets the same keyword (keywords may appear once), or is appended.
func setConf(t testing.TB, d *gwDir, lines ...string) {
	t.Helper()
	conf := readFile(t, d.conf)
	for _, line := range lines {
		kw, _, _ := strings.Cut(line, " ")
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(kw) + `[ \t].*$`)
		if re.MatchString(conf) {
			conf = re.ReplaceAllLiteralString(conf, line)
			continue
		}
		if conf != "" && !strings.HasSuffix(conf, "\n") {
			conf += "\n"
		}
		conf += line + "\n"
	}
	writeFile(t, d.conf, conf)
}

// tunnel starts `ssh -N -L PORT:nanomq:...` as op from 127.0.0.1 and
// returns it and the local port.
func (lr *limitsRig) tunnel(t testing.TB, op *operator) (*proc, int) {
	t.Helper()
	lport := freePort(t)
	return lr.g.forward(t, op, []string{"-L", lr.toNanomq(lport)}, lport), lport
}

// expectSSHServed checks a stock `ssh -L` as alice from 127.0.0.1 logs in
// and a GET through it returns 200 and the upstream's body.
func (lr *limitsRig) expectSSHServed(t testing.TB) {
	t.Helper()
	p, lport := lr.tunnel(t, lr.alice)
	expectServes(t, lport, lr.nanomq)
	p.stop(t)
}

// authorizedLines is alice's and carol's authorized_keys lines as `gateway
// allow` writes them, alice's with extra options appended.
func (lr *limitsRig) authorizedLines(aliceExtra string) []string {
	const base = "restrict,port-forwarding"
	alice := base
	if aliceExtra != "" {
		alice += "," + aliceExtra
	}
	return []string{lr.alice.line(alice), lr.carol.line(base)}
}

// --- raw connections ------------------------------------------------------

// rawFrom opens a TCP connection to g from src; it is closed when the test
// ends.
func rawFrom(t testing.TB, g *gateway, src string) net.Conn {
	t.Helper()
	c, err := dialFrom(src, g.addr)
	if err != nil {
		t.Fatalf("dial gateway from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readLine reads one line, terminator included, within d. It reads a byte
// at a time so nothing after the line is consumed.
func readLine(c net.Conn, d time.Duration) (string, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	var line []byte
	b := make([]byte, 1)
	for len(line) < 512 {
		if _, err := c.Read(b); err != nil {
			return string(line), err
		}
		line = append(line, b[0])
		if b[0] == '\n' {
			break
		}
	}
	return string(line), nil
}

// expectLine checks the next line c reads is want.
func expectLine(t testing.TB, c net.Conn, want string) {
	t.Helper()
	if got, err := readLine(c, 5*time.Second); got != want {
		t.Fatalf("first line from the gateway: got %q (%v), want %q", got, err, want)
	}
}

// readToEOF reads c until the peer closes it, within d, and returns what
// it read; it is an error if c is still open after d.
func readToEOF(c net.Conn, d time.Duration) ([]byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	data, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return data, fmt.Errorf("connection still open after %v, want the gateway to close it", d)
	}
	return data, nil // EOF or reset: closed by the peer
}

// loginFrom logs in to g as op from the loopback address src with a Go
// client; the client is closed when the test ends. It returns the error of
// a handshake that failed.
func loginFrom(t testing.TB, g *gateway, src string, op *operator) (*ssh.Client, error) {
	t.Helper()
	cfg := &ssh.ClientConfig{User: op.name, Auth: []ssh.AuthMethod{ssh.PublicKeys(op.signer(t))}}
	nc, err := dialFrom(src, g.addr)
	if err != nil {
		return nil, err
	}
	return handshakeGo(t, nc, g, cfg)
}

// trickleGet sends a GET through 127.0.0.1:lport one header line every
// interval for total, then ends the request and returns the body of a 200.
func trickleGet(lport int, every, total time.Duration) ([]byte, error) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", lport), 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(total + waitTimeout))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: nanomq\r\n"); err != nil {
		return nil, err
	}
	for i, start := 0, time.Now(); time.Since(start) < total; i++ {
		time.Sleep(every)
		if _, err := fmt.Fprintf(c, "X-Trickle-%d: %d\r\n", i, i); err != nil {
			return nil, fmt.Errorf("header %d at +%v: %w", i, time.Since(start).Round(time.Millisecond), err)
		}
	}
	if _, err := io.WriteString(c, "Connection: close\r\n\r\n"); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return body, err
}

// --- the gateway process (Linux /proc) -------------------------------------

// procPath is /proc/PID/name for g's process; it skips the test where
// /proc is missing.
func procPath(t testing.TB, g *gateway, name string) string {
	t.Helper()
	p := fmt.Sprintf("/proc/%d/%s", g.cmd.Process.Pid, name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: %v (CI runs on Linux)", p, err)
		}
		t.Skipf("no %s on this system: %v", p, err)
	}
	return p
}

// openFDs counts g's open file descriptors.
func openFDs(t testing.TB, g *gateway) int {
	t.Helper()
	entries, err := os.ReadDir(procPath(t, g, "fd"))
	if err != nil {
		t.Fatalf("list gateway fds: %v", err)
	}
	return len(entries)
}

// waitFDs waits until g has at most n open file descriptors and returns
// the last count.
func waitFDs(t testing.TB, g *gateway, n int, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := openFDs(t, g)
		if got <= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rssKiB is g's resident set size (VmRSS) in KiB.
func rssKiB(t testing.TB, g *gateway) int {
	t.Helper()
	for _, line := range strings.Split(readFile(t, procPath(t, g, "status")), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatalf("gateway VmRSS %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatalf("gateway status: no VmRSS line")
	return 0
}

// --- a link that goes dead -------------------------------------------------

// relay forwards TCP connections to a target until it is frozen; then it
// moves no more bytes either way but keeps every socket open, like a link
// that died without a FIN or a reset.
type relay struct {
	ln     net.Listener
	port   int
	target string
	frozen chan struct{}
	once   sync.Once
	mu     sync.Mutex
	conns  []net.Conn
	closed bool // cleanup has begun
	wg     sync.WaitGroup
}

// startRelay listens on 127.0.0.1:0 and relays to target until the test
// ends.
func startRelay(t testing.TB, target string) *relay {
	t.Helper()
	ln := listenLoopback(t)
	r := &relay{ln: ln, port: ln.Addr().(*net.TCPAddr).Port, target: target, frozen: make(chan struct{})}
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(func() {
		ln.Close()
		r.mu.Lock()
		r.closed = true
		for _, c := range r.conns {
			c.Close()
		}
		r.mu.Unlock()
		r.wg.Wait()
	})
	return r
}

func (r *relay) freeze() { r.once.Do(func() { close(r.frozen) }) }

func (r *relay) isFrozen() bool {
	select {
	case <-r.frozen:
		return true
	default:
		return false
	}
}

// accept relays each connection until the listener closes.
func (r *relay) accept() {
	defer r.wg.Done()
	for {
		down, err := r.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.DialTimeout("tcp", r.target, 5*time.Second)
		if err != nil {
			down.Close()
			continue
		}
		if !r.track(down, up) {
			return
		}
		r.wg.Add(2)
		go r.pipe(up, down)
		go r.pipe(down, up)
	}
}

// track records the sockets for cleanup; once cleanup has begun it closes
// them instead and returns false.
func (r *relay) track(cs ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	r.conns = append(r.conns, cs...)
	return true
}

// pipe copies src to dst until either ends, or drops what it reads once
// the relay is frozen and stops reading.
func (r *relay) pipe(dst, src net.Conn) {
	defer r.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if r.isFrozen() {
			return // keep both sockets open; cleanup closes them
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			return
		}
	}
}

// knownHostsFor writes a known_hosts file pinning g's host key for
// 127.0.0.1:port (a relay in front of g).
func knownHostsFor(t testing.TB, g *gateway, port int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, path, fmt.Sprintf("[127.0.0.1]:%d %s", port, ssh.MarshalAuthorizedKey(g.hostKey)))
	return path
}

// sshArgsVia is g.sshArgs for op with the port and known_hosts file
// replaced: for connecting through a relay.
func (g *gateway) sshArgsVia(op *operator, port int, knownHosts string, extra ...string) []string {
	args := g.sshArgs(op)
	for i := range args {
		switch {
		case args[i] == "-p" && i+1 < len(args):
			args[i+1] = strconv.Itoa(port)
		case strings.HasPrefix(args[i], "UserKnownHostsFile="):
			args[i] = "UserKnownHostsFile=" + knownHosts
		}
	}
	return append(args, extra...)
}

// --- keys -----------------------------------------------------------------

// agentWithWrongKeys starts an ssh-agent holding n fresh ed25519 keys that
// no gateway knows, and returns its socket.
func agentWithWrongKeys(t testing.TB, n int) string {
	t.Helper()
	needTool(t, "ssh-add")
	sock := startAgent(t)
	dir := t.TempDir()
	files := make([]string, n)
	for i := range files {
		_, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatalf("generate key: %v", err)
		}
		block, err := ssh.MarshalPrivateKey(priv, fmt.Sprintf("wrong%d", i))
		if err != nil {
			t.Fatalf("marshal key: %v", err)
		}
		files[i] = filepath.Join(dir, fmt.Sprintf("wrong%d", i))
		writeFile(t, files[i], string(pem.EncodeToMemory(block)))
	}
	if res := runCmd(t, sshEnv(sock), "ssh-add", files...); res.code != 0 {
		t.Fatalf("ssh-add: %s", res)
	}
	res := runCmd(t, sshEnv(sock), "ssh-add", "-l")
	if got := strings.Count(res.stdout, "\n"); res.code != 0 || got != n {
		t.Fatalf("ssh-add -l: got %d keys (%s), want %d", got, res, n)
	}
	return sock
}

// newRSAOperator is newOperator with an RSA key of the given size.
func newRSAOperator(t testing.TB, name string, bits int) *operator {
	t.Helper()
	dir := t.TempDir()
	op := &operator{name: name, key: filepath.Join(dir, name), pub: filepath.Join(dir, name+".pub")}
	if r := runCmd(t, nil, "ssh-keygen", "-q", "-t", "rsa", "-b", strconv.Itoa(bits), "-N", "", "-C", name, "-f", op.key); r.code != 0 {
		t.Fatalf("ssh-keygen: %s", r)
	}
	data := readFile(t, op.pub)
	op.pubLine = strings.TrimSpace(data)
	op.fingerprint = fingerprintOf(t, []byte(data))
	return op
}

// weakRSALine is an authorized_keys line for a fresh 1024-bit RSA key.
func weakRSALine(t testing.TB, name string) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatalf("generate 1024-bit RSA key: %v", err)
	}
	pub, err := ssh.NewPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatalf("ssh public key: %v", err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " " + name
}
