package tunnel

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loopgate/loopgate/keys"
	"github.com/loopgate/loopgate/limits"
)

// Helpers of the limit tests (limits_test.go, timeouts_test.go,
// robustness_test.go, algorithms_test.go). These tests run a real Gateway
// on 127.0.0.1 and talk to it with the x/crypto/ssh client or with raw TCP,
// one limit at a time. Other sources are other loopback addresses
// (127.0.0.2, ...), which Linux routes to lo.

// withLimits sets the gateway's limits; zero fields take the defaults
// (note: that includes LoginGraceTime, which the harness otherwise sets to 2s).
func withLimits(l limits.Limits) gatewayOption {
	return func(c *GatewayConfig) { c.Limits = l }
}

// echoGateway starts a gateway with one echo service granted to every
// key in entries, and returns it with the tunnel target "echo:PORT".
func echoGateway(t testing.TB, entries []keys.AuthorizedKey, opts ...gatewayOption) (*testGateway, string) {
	t.Helper()
	up, _ := echoServer(t)
	grants := map[string][]string{}
	for _, e := range entries {
		grants[e.Comment] = []string{"echo"}
	}
	tg := startGateway(t, map[string]string{"echo": up}, grants, entries, opts...)
	_, port, _ := net.SplitHostPort(up)
	return tg, "echo:" + port
}

func (tg *testGateway) clientConfig(user ssh.Signer) *ssh.ClientConfig {
	return &ssh.ClientConfig{
		User:            "op",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(user)},
		HostKeyCallback: ssh.FixedHostKey(tg.hostKey.PublicKey()),
		Timeout:         5 * time.Second,
	}
}

// rawFrom opens a plain TCP connection to the gateway from the loopback
// address src.
func (tg *testGateway) rawFrom(t testing.TB, src string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", tg.addr)
	if err != nil {
		t.Fatalf("dial gateway from %s: %v", src, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// dialFrom logs in as user over a connection from the loopback address src.
func (tg *testGateway) dialFrom(t testing.TB, src string, user ssh.Signer) (*ssh.Client, error) {
	t.Helper()
	raw := tg.rawFrom(t, src)
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	conn, chans, reqs, err := ssh.NewClientConn(raw, tg.addr, tg.clientConfig(user))
	if err != nil {
		return nil, err
	}
	raw.SetDeadline(time.Time{})
	c := ssh.NewClient(conn, chans, reqs)
	t.Cleanup(func() { c.Close() })
	return c, nil
}

func (tg *testGateway) mustDialFrom(t testing.TB, src string, user ssh.Signer) *ssh.Client {
	t.Helper()
	c, err := tg.dialFrom(t, src, user)
	if err != nil {
		t.Fatalf("log in from %s: %v", src, err)
	}
	return c
}

// count reports how many times s was logged so far.
func (l *logBuffer) count(s string) int { return strings.Count(l.String(), s) }

// line returns the first log line containing s, or "".
func (l *logBuffer) line(s string) string {
	for ln := range strings.Lines(l.String()) {
		if strings.Contains(ln, s) {
			return ln
		}
	}
	return ""
}

// wantBanner reads the gateway's version line: it admitted conn.
func wantBanner(t testing.TB, conn net.Conn) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer conn.SetReadDeadline(time.Time{})
	got := make([]byte, len(ServerVersion))
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != ServerVersion {
		t.Fatalf("admitted connection: got %q (%v), want the banner %q", got, err, ServerVersion)
	}
}

// dropLine is all the gateway may send to a connection it drops before
// the banner: sshd's line, which RFC 4253 4.2 allows before a version.
const dropLine = "Not allowed at this time\r\n"

// wantDropped checks that the gateway closed conn before its banner: it
// sends at most dropLine, never an SSH version, and hangs up at once.
func wantDropped(t testing.TB, conn net.Conn) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	got, err := io.ReadAll(conn)
	switch {
	case isTimeout(err):
		t.Fatalf("dropped connection: still open after 2s (read %q), want closed before the banner", got)
	case len(got) > 0 && string(got) != dropLine:
		t.Fatalf("dropped connection: got %q, want nothing or %q, and no SSH banner", got, dropLine)
	}
}

// waitClosed waits up to within for c to end and returns how long it took.
func waitClosed(t testing.TB, c ssh.Conn, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }() // ends when c does; cleanups close c
	select {
	case <-done:
		return time.Since(start)
	case <-time.After(within):
		t.Fatalf("connection still open after %s, want closed", within)
		return 0
	}
}

// isOpen reports whether c still carries a request and its reply.
func isOpen(c ssh.Conn) bool {
	_, _, err := c.SendRequest("ping@test", true, nil)
	return err == nil
}

// wantRejected checks that err is a channel open refused for reason want.
func wantRejected(t testing.TB, err error, want ssh.RejectionReason) {
	t.Helper()
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || oce.Reason != want {
		t.Fatalf("channel open: got %v, want rejected with %v", err, want)
	}
}

// waitUntil polls cond for up to 5s.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s: got false, want true", what)
		}
	}
}
