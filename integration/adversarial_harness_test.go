package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"
)

// --- tagged Go clients ----------------------------------------------------

// tagged is a golang.org/x/crypto/ssh client logged in with a user name that
// tags its connection, and the gateway's id for that connection.
type tagged struct {
	*ssh.Client
	conn any // the "conn" attribute of the connection's events
}

// dialTagged logs in to g with op's key and the SSH user name tag (the
// gateway takes the identity from the key, so the user name is free), and
// finds the connection's "auth accepted" event.
func dialTagged(t testing.TB, g *gateway, op *operator, tag string) *tagged {
	t.Helper()
	client, err := dialGo(t, g, &ssh.ClientConfig{User: tag, Auth: []ssh.AuthMethod{ssh.PublicKeys(op.signer(t))}})
	if err != nil {
		t.Fatalf("ssh handshake as %s (user %q): %v", op.name, tag, err)
	}
	ev := g.waitEvent(t, "auth accepted", allOf(attrIs("user", tag), attrIs("name", op.name)), waitTimeout)
	return &tagged{Client: client, conn: ev["conn"]}
}

// is matches the events of c's connection.
func (c *tagged) is() func(map[string]any) bool { return attrIs("conn", c.conn) }

// openRefusal opens a channel and returns the reason it was rejected with,
// or an error if it was not rejected with an *ssh.OpenChannelError.
func openRefusal(c *ssh.Client, typ string, payload []byte) (ssh.RejectionReason, error) {
	ch, reqs, err := c.OpenChannel(typ, payload)
	if err == nil {
		go ssh.DiscardRequests(reqs)
		ch.Close()
		return 0, fmt.Errorf("open %q channel: got success, want a rejection", typ)
	}
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) {
		return 0, fmt.Errorf("open %q channel: got %v, want an *ssh.OpenChannelError", typ, err)
	}
	return oce.Reason, nil
}

// expectOpenRefused checks a channel open is rejected with want.
func expectOpenRefused(t testing.TB, c *ssh.Client, typ string, payload []byte, want ssh.RejectionReason) {
	t.Helper()
	got, err := openRefusal(c, typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("open %q channel: got rejection %v, want %v", typ, got, want)
	}
}

// directTCPIPMsg is a direct-tcpip channel open payload (RFC 4254 7.2).
type directTCPIPMsg struct {
	Host     string
	Port     uint32
	OrigHost string
	OrigPort uint32
}

// directTCPIP is the open payload for host:port from 127.0.0.1:40000.
func directTCPIP(host string, port uint32) []byte {
	return ssh.Marshal(directTCPIPMsg{Host: host, Port: port, OrigHost: "127.0.0.1", OrigPort: 40000})
}

// expectGetVia checks a GET to service over a direct-tcpip channel of c
// returns up's exact body.
func expectGetVia(t testing.TB, c *ssh.Client, service string, up *upstream) {
	t.Helper()
	if body := getThrough(t, c, fmt.Sprintf("%s:%d", service, up.port)); !bytes.Equal(body, up.body) {
		t.Fatalf("GET %s over direct-tcpip: got %d bytes, want the %d bytes upstream sent", service, len(body), len(up.body))
	}
}

// expectLegitServed logs in to g as op with a fresh Go client and checks a
// GET to service through it returns up's body.
func expectLegitServed(t testing.TB, g *gateway, op *operator, service string, up *upstream) {
	t.Helper()
	c, err := dialGo(t, g, &ssh.ClientConfig{User: op.name, Auth: []ssh.AuthMethod{ssh.PublicKeys(op.signer(t))}})
	if err != nil {
		t.Fatalf("legitimate login as %s: %v", op.name, err)
	}
	defer c.Close()
	expectGetVia(t, c, service, up)
}

// sshArgsNoIdentity is g.sshArgs without the IdentityFile option, for
// invocations that name their keys with -i.
func (g *gateway) sshArgsNoIdentity(extra ...string) []string {
	base := g.sshArgs(&operator{})
	out := make([]string, 0, len(base)+len(extra))
	for i := 0; i < len(base); i++ {
		if base[i] == "-o" && i+1 < len(base) && strings.HasPrefix(base[i+1], "IdentityFile=") {
			i++
			continue
		}
		out = append(out, base[i])
	}
	return append(out, extra...)
}

// --- attacks in the background --------------------------------------------

// attack runs an attacker in a goroutine that can stop once, at a point of
// its choosing, so the test can check a legitimate client is served while
// the attack is in progress.
type attack struct {
	paused, resume chan struct{}
	resumeOnce     sync.Once
	done           chan struct{} // closed when the attacker has returned
	err            error         // what it returned, valid after done
}

// startAttack runs fn in a goroutine; fn calls pause where the test should
// step in, and returns nil if the gateway treated it as expected. Every
// network operation in fn must have a deadline: the test's cleanup waits
// for fn to end.
func startAttack(t testing.TB, fn func(pause func()) error) *attack {
	t.Helper()
	a := &attack{paused: make(chan struct{}), resume: make(chan struct{}), done: make(chan struct{})}
	var pauseOnce sync.Once
	pause := func() {
		pauseOnce.Do(func() {
			close(a.paused)
			<-a.resume
		})
	}
	go func() {
		defer close(a.done)
		a.err = fn(pause)
	}()
	t.Cleanup(func() {
		a.release()
		<-a.done
	})
	return a
}

func (a *attack) release() { a.resumeOnce.Do(func() { close(a.resume) }) }

// during waits until the attack pauses, runs f, and lets the attack go on.
func (a *attack) during(t testing.TB, f func()) {
	t.Helper()
	select {
	case <-a.paused:
	case <-a.done:
		t.Fatalf("attack ended before the test could step in: %v", a.err)
	case <-time.After(waitTimeout):
		t.Fatalf("attack did not reach its pause within %v", waitTimeout)
	}
	defer a.release()
	f()
}

// wait returns the attack's outcome.
func (a *attack) wait(t testing.TB) error {
	t.Helper()
	a.release()
	select {
	case <-a.done:
		return a.err
	case <-time.After(2 * waitTimeout):
		t.Fatalf("attack still running after %v", 2*waitTimeout)
		return nil
	}
}

// dialFrom connects to addr from the loopback address src (any 127.0.0.0/8
// address works on Linux), so an attacker's penalties and rate limits fall
// on its own source and not on the legitimate clients' 127.0.0.1.
func dialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return d.Dial("tcp", addr)
}

// hangupConn records that a read failed: the peer closed the connection.
type hangupConn struct {
	net.Conn
	hungUp atomic.Bool
}

func (c *hangupConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.hungUp.Store(true)
	}
	return n, err
}

// dialAttacker runs an SSH handshake with cfg from src for an attack
// goroutine: it reports failures as errors, registers no cleanup and closes
// the connection before it returns. conn, when set, receives the connection
// before the handshake starts (for a callback that watches it). It returns
// the address the gateway saw as the source.
func dialAttacker(g *gateway, src string, cfg *ssh.ClientConfig, conn **hangupConn) (string, error) {
	cfg.HostKeyCallback = ssh.FixedHostKey(g.hostKey)
	nc, err := dialFrom(src, g.addr)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(2 * waitTimeout))
	hc := &hangupConn{Conn: nc}
	if conn != nil {
		*conn = hc
	}
	c, chans, reqs, err := ssh.NewClientConn(hc, g.addr, cfg)
	if err == nil {
		ssh.NewClient(c, chans, reqs).Close()
	}
	return nc.LocalAddr().String(), err
}

// readUntilClosed reads c until the peer closes it, and fails if that takes
// longer than within: a gateway that holds a garbage connection open would
// only drop it at LoginGraceTime.
func readUntilClosed(c net.Conn, within time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("connection still open after %v, want the gateway to close it", within)
	}
	return nil // EOF or reset: closed by the gateway
}

// --- log hygiene ----------------------------------------------------------

// snapshot returns every line logged so far.
func (b *logBook) snapshot() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.lines)
}

// isControl reports a C0 or C1 control character or DEL.
func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

// expectCleanLog checks every line g logged is one JSON object in valid
// UTF-8 with no raw control character, and that no decoded string value
// holds a control character either (a text log would print it raw).
func expectCleanLog(t testing.TB, g *gateway) {
	t.Helper()
	for i, line := range g.logs.snapshot() {
		if j := strings.IndexFunc(line, isControl); j >= 0 || !utf8.ValidString(line) {
			t.Errorf("log line %d: got raw control character or invalid UTF-8 (at %d) in %.300q, want none", i, j, line)
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Errorf("log line %d: got %.300q, want one JSON object (%v)", i, line, err)
			continue
		}
		for k, v := range ev {
			if s, ok := v.(string); ok && strings.IndexFunc(s, isControl) >= 0 {
				t.Errorf("log line %d, field %s: got %.300q, want no control characters", i, k, s)
			}
		}
	}
}

// expectFieldBounded checks every event's string attribute key is at most
// limit bytes long.
func expectFieldBounded(t testing.TB, g *gateway, key string, limit int) {
	t.Helper()
	for _, ev := range g.logs.find(0, "", nil) {
		if s, ok := ev[key].(string); ok && len(s) > limit {
			t.Errorf("%q event %s: got %d bytes (%.80q...), want at most %d", ev["msg"], key, len(s), s, limit)
		}
	}
}

// --- upstreams and HTTP -------------------------------------------------------

// startSlowUpstream is startUpstream whose handler waits delay before it
// answers; arrived receives once per request as it comes in.
func startSlowUpstream(t testing.TB, tag string, delay time.Duration) (*upstream, <-chan struct{}) {
	t.Helper()
	arrived := make(chan struct{}, 16)
	u := startUpstreamBefore(t, tag, func(r *http.Request) bool {
		arrived <- struct{}{}
		select {
		case <-time.After(delay):
			return true
		case <-r.Context().Done():
			return false
		}
	})
	return u, arrived
}

// keptAlive is an HTTP client through a local port that keeps its
// connection (and so the SSH channel behind it) open between requests.
type keptAlive struct {
	client *http.Client
	url    string
}

func newKeptAlive(t testing.TB, lport int) *keptAlive {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute}
	t.Cleanup(tr.CloseIdleConnections)
	return &keptAlive{client: &http.Client{Transport: tr, Timeout: cmdTimeout}, url: fmt.Sprintf("http://127.0.0.1:%d/", lport)}
}

// get fetches / and reports whether it went over a reused connection.
func (k *keptAlive) get() (body []byte, reused bool, err error) {
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, false, err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return body, reused, err
}

// expectGet checks a GET returns up's body, over a reused connection when
// reuse is set.
func (k *keptAlive) expectGet(t testing.TB, up *upstream, reuse bool) {
	t.Helper()
	body, reused, err := k.get()
	if err != nil || !bytes.Equal(body, up.body) {
		t.Fatalf("GET %s: got %d bytes (%v), want the %d bytes upstream sent", k.url, len(body), err, len(up.body))
	}
	if reuse && !reused {
		t.Fatalf("GET %s: got a new connection, want the kept-alive one (the live tunnel)", k.url)
	}
}

// replaceFile replaces path with content (mode 0600) by a rename, so the
// gateway's file watcher never reads it half-written (an empty
// authorized_keys is valid, and would revoke every key).
func replaceFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".new"
	writeFile(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatalf("rename %s: %v", tmp, err)
	}
}

// --- serve refusals -------------------------------------------------------

// expectServeRefuses runs `gateway serve` for d and checks it exits non-zero
// with one line on stderr that holds every want, and no panic or stack trace.
func expectServeRefuses(t testing.TB, d *gwDir, wants ...string) {
	t.Helper()
	res := runCmd(t, nil, gatewayBin, "serve", "--config", d.conf, "--listen", "127.0.0.1:0", "--log-format", "json")
	msg := strings.TrimSuffix(res.stderr, "\n")
	if res.code == 0 || msg == "" || strings.Contains(msg, "\n") {
		t.Errorf("gateway serve: got %s, want a non-zero exit and a one-line error", res)
	}
	expectNamesAll(t, "gateway serve", msg, wants)
	for _, bad := range []string{"panic", "goroutine ", ".go:"} {
		if strings.Contains(res.stdout+res.stderr, bad) {
			t.Errorf("gateway serve output: got %s, want no %q (a panic or stack trace)", res, bad)
		}
	}
}
