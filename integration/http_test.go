package integration

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// upstream is a loopback HTTP server standing in for a service's API.
type upstream struct {
	addr     string // host:port
	port     int
	body     []byte
	accepted atomic.Int64 // TCP connections accepted so far
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// upstreamBody is 64 KiB of deterministic bytes and a JSON line naming tag.
func upstreamBody(tag string) []byte {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte(i*31 + i>>8)
	}
	return fmt.Appendf(b, "{\"service\":%q,\"ok\":true}\n", tag)
}

// startUpstream serves upstreamBody(tag) with status 200 on 127.0.0.1:0.
func startUpstream(t testing.TB, tag string) *upstream {
	t.Helper()
	return startUpstreamBefore(t, tag, nil)
}

// startUpstreamBefore is startUpstream whose handler first calls before, if
// it is not nil, and answers nothing when before returns false.
func startUpstreamBefore(t testing.TB, tag string, before func(*http.Request) bool) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("upstream listen: %v", err)
	}
	u := &upstream{addr: ln.Addr().String(), port: ln.Addr().(*net.TCPAddr).Port, body: upstreamBody(tag)}
	serveCounting(t, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if before != nil && !before(r) {
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(u.body)
	}), &u.accepted)
	return u
}

// serveCounting serves h on ln until the test ends, adding each TCP
// connection it accepts to accepted.
func serveCounting(t testing.TB, ln net.Listener, h http.Handler, accepted *atomic.Int64) {
	t.Helper()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(countingListener{Listener: ln, n: accepted})
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
}

// --- local listeners and HTTP ---------------------------------------------

// waitListening waits until something listens on 127.0.0.1:port, failing
// if p exits first.
func waitListening(t testing.TB, p *proc, port int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			t.Fatalf("ssh exited with code %d before listening on %d: %s", p.code, port, p.stderr.String())
		}
		if isListening(port) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listening on 127.0.0.1:%d after %v; ssh stderr: %s", port, waitTimeout, p.stderr.String())
}

// isListening looks for a listening socket on 127.0.0.1:port in
// /proc/net/tcp, so the check opens no connection (and no tunnel). Without
// /proc it falls back to a dial.
func isListening(port int) bool {
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && f[1] == want && f[3] == "0A" {
			return true
		}
	}
	return false
}

// httpResult is what curl got from one GET.
type httpResult struct {
	result
	status string
	body   []byte
}

// curlGet fetches http://127.0.0.1:port/ with curl.
func curlGet(t testing.TB, port int) httpResult {
	t.Helper()
	out := filepath.Join(t.TempDir(), "body")
	r := runCmd(t, nil, "curl", "-sS", "--max-time", "10", "-o", out, "-w", "%{http_code}",
		fmt.Sprintf("http://127.0.0.1:%d/", port))
	body, _ := os.ReadFile(out)
	return httpResult{result: r, status: strings.TrimSpace(r.stdout), body: body}
}

// expectServes checks a GET through port returns 200 and up's exact body.
func expectServes(t testing.TB, port int, up *upstream) {
	t.Helper()
	r := curlGet(t, port)
	if r.code != 0 || r.status != "200" {
		t.Fatalf("GET via %d: got exit %d status %q (%s), want exit 0 status 200", port, r.code, r.status, r.stderr)
	}
	if !bytes.Equal(r.body, up.body) {
		t.Fatalf("GET via %d: got body of %d bytes, want the %d bytes upstream sent", port, len(r.body), len(up.body))
	}
}

// expectRefused checks a GET through port fails at the transport level.
func expectRefused(t testing.TB, port int) {
	t.Helper()
	r := curlGet(t, port)
	if r.code == 0 {
		t.Fatalf("GET via %d: got exit 0 status %q (%d bytes), want curl to fail", port, r.status, len(r.body))
	}
}
