package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// dialGo connects to g with golang.org/x/crypto/ssh and cfg, pinning the
// host key; the handshake is bounded by waitTimeout. A handshake error is
// returned, any other failure ends the test.
func dialGo(t testing.TB, g *gateway, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial gateway: %v", err)
	}
	return handshakeGo(t, nc, g, cfg)
}

// handshakeGo runs the client handshake with g over nc with cfg, pinning
// g's host key and bounding the handshake by waitTimeout. The client is
// closed when the test ends; nc is closed if the handshake fails, and the
// error returned.
func handshakeGo(t testing.TB, nc net.Conn, g *gateway, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	t.Helper()
	cfg.HostKeyCallback = ssh.FixedHostKey(g.hostKey)
	_ = nc.SetDeadline(time.Now().Add(waitTimeout))
	c, chans, reqs, err := ssh.NewClientConn(nc, g.addr, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	client := ssh.NewClient(c, chans, reqs)
	t.Cleanup(func() { client.Close() })
	return client, nil
}

func TestGoClientRefusals(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq")
	g := r.d.serve(t)
	client, err := dialGo(t, g, &ssh.ClientConfig{User: "alice", Auth: []ssh.AuthMethod{ssh.PublicKeys(r.alice.signer(t))}})
	if err != nil {
		t.Fatalf("ssh handshake as alice: %v", err)
	}
	type hostPort struct {
		Host string
		Port uint32
	}
	channels := []struct {
		name, typ string
		payload   []byte
		want      ssh.RejectionReason
	}{
		{name: "session", typ: "session", want: ssh.Prohibited},
		{name: "x11", typ: "x11", payload: ssh.Marshal(hostPort{"127.0.0.1", 6010}), want: ssh.Prohibited},
		{name: "agent", typ: "auth-agent@openssh.com", want: ssh.Prohibited},
		{name: "streamlocal", typ: "direct-streamlocal@openssh.com", want: ssh.Prohibited,
			payload: ssh.Marshal(struct {
				Path, Reserved string
				Reserved2      uint32
			}{"/run/nanomq.sock", "", 0})},
		{name: "forwarded tcpip", typ: "forwarded-tcpip", want: ssh.Prohibited,
			payload: ssh.Marshal(struct{ Addr, Origin hostPort }{hostPort{"127.0.0.1", uint32(r.nanomq.port)}, hostPort{"127.0.0.1", 4242}})},
		{name: "unknown", typ: "foo", want: ssh.UnknownChannelType},
	}
	for _, tt := range channels {
		t.Run("channel "+tt.name, func(t *testing.T) {
			mark := g.mark()
			ch, reqs, err := client.OpenChannel(tt.typ, tt.payload)
			if err == nil {
				go ssh.DiscardRequests(reqs)
				ch.Close()
				t.Fatalf("open %s channel: got success, want refusal", tt.typ)
			}
			var oce *ssh.OpenChannelError
			if !errors.As(err, &oce) || oce.Reason != tt.want {
				t.Fatalf("open %s channel: got %v, want OpenChannelError with reason %v", tt.typ, err, tt.want)
			}
			g.waitEventAfter(t, mark, "channel refused", allOf(attrIs("type", tt.typ), attrIs("name", "alice")))
		})
	}
	requests := []struct {
		name    string
		payload []byte
	}{
		{name: "tcpip-forward", payload: ssh.Marshal(hostPort{"127.0.0.1", 0})},
		{name: "streamlocal-forward@openssh.com", payload: ssh.Marshal(struct{ Path string }{"/tmp/loopgate.sock"})},
		{name: "cancel-tcpip-forward", payload: ssh.Marshal(hostPort{"127.0.0.1", 0})},
		{name: "foo"},
	}
	for _, tt := range requests {
		t.Run("request "+tt.name, func(t *testing.T) {
			mark := g.mark()
			ok, _, err := client.SendRequest(tt.name, true, tt.payload)
			if err != nil || ok {
				t.Fatalf("global request %s: got ok=%v err=%v, want ok=false", tt.name, ok, err)
			}
			g.waitEventAfter(t, mark, "request refused", allOf(attrIs("type", tt.name), attrIs("name", "alice")))
		})
	}
	body := getThrough(t, client, fmt.Sprintf("nanomq:%d", r.nanomq.port))
	if !bytes.Equal(body, r.nanomq.body) {
		t.Errorf("GET through direct-tcpip after refusals: got %d bytes, want the %d bytes upstream sent", len(body), len(r.nanomq.body))
	}
	g.expectNoChildren(t)
}

// getThrough GETs / from target over a direct-tcpip channel of client.
func getThrough(t testing.TB, client *ssh.Client, target string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return client.DialContext(ctx, "tcp", target)
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://nanomq/", nil)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("GET through %s: %v", target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET through %s: got status %d (%v), want 200", target, resp.StatusCode, err)
	}
	return body
}

func TestOnlyPublicKeyAuth(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.d.allow(t, r.alice, "nanomq")
	g := r.d.serve(t)

	// Offer password and keyboard-interactive even though the server does
	// not list them, and record what it lists each time.
	var allowed [][]string
	answer := func(_, _ string, questions []string, _ []bool) ([]string, error) {
		answers := make([]string, len(questions))
		for i := range answers {
			answers[i] = "public"
		}
		return answers, nil
	}
	next := []ssh.AuthMethod{ssh.Password("public"), ssh.KeyboardInteractive(answer)}
	cfg := &ssh.ClientConfig{
		User: "alice",
		AuthCallback: func(ctx *ssh.ClientAuthContext) (ssh.AuthMethod, error) {
			allowed = append(allowed, ctx.AllowedMethods)
			if len(next) == 0 {
				return nil, nil
			}
			m := next[0]
			next = next[1:]
			return m, nil
		},
	}
	if client, err := dialGo(t, g, cfg); err == nil {
		client.Close()
		t.Fatalf("handshake with password and keyboard-interactive: got success, want failure")
	}
	if len(allowed) != 3 {
		t.Fatalf("auth rounds: got %d (%v), want 3 (none, password, keyboard-interactive)", len(allowed), allowed)
	}
	for i, methods := range allowed {
		if strings.Join(methods, ",") != "publickey" {
			t.Errorf("round %d: server allows %v, want only [publickey]", i, methods)
		}
	}

	res := g.ssh(t, r.alice, "", "-o", "PreferredAuthentications=password,keyboard-interactive", g.dest(r.alice), "true")
	if res.code != 255 || !strings.Contains(res.stderr, "Permission denied (publickey)") {
		t.Errorf("OpenSSH without publickey: got %s, want exit 255 and Permission denied (publickey)", res)
	}
}
