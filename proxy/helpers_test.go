package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testService  = "nanomq"
	testSecret   = "s3cr3t-injected-token"
	callerSecret = "caller-secret-token"
	injected     = "Bearer " + testSecret
)

// recorded is what the upstream saw of one request.
type recorded struct {
	Method           string
	RequestURI       string
	Host             string
	Header           http.Header
	ContentLength    int64
	TransferEncoding []string
	Body             string
}

// upstream stands in for the device's API: it records every request and
// answers with respond (200 "ok" when nil).
type upstream struct {
	addr    string
	respond http.HandlerFunc

	mu   sync.Mutex
	reqs []recorded
}

func newUpstream(t testing.TB, respond http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{respond: respond}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	u.addr = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(u.serve), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.reqs = append(u.reqs, recorded{
		Method:           r.Method,
		RequestURI:       r.RequestURI,
		Host:             r.Host,
		Header:           r.Header.Clone(),
		ContentLength:    r.ContentLength,
		TransferEncoding: r.TransferEncoding,
		Body:             string(body),
	})
	u.mu.Unlock()
	if u.respond != nil {
		u.respond(w, r)
		return
	}
	io.WriteString(w, "ok")
}

func (u *upstream) requests() []recorded {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]recorded(nil), u.reqs...)
}

func (u *upstream) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", u.addr)
}

// credFunc adapts a function to Credential.
type credFunc func(context.Context) (string, error)

func (f credFunc) Authorization(ctx context.Context) (string, error) { return f(ctx) }

func testConfig(u *upstream) Config {
	return Config{Dial: u.dial, Credential: static{header: injected}, Service: testService}
}

// startProxy serves a Handler for cfg on a loopback port and returns it
// with its address. Cleanup closes it and checks Serve's result.
// listenLocal listens on a free port of 127.0.0.1.
func listenLocal(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return ln
}

func startProxy(t testing.TB, cfg Config) (*Handler, string) {
	t.Helper()
	ln := listenLocal(t)
	h, err := New(cfg, ln.Addr().String())
	if err != nil {
		ln.Close()
		t.Fatalf("New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- h.Serve(ln) }()
	t.Cleanup(func() {
		h.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: got %v, want %v", err, http.ErrServerClosed)
		}
	})
	return h, ln.Addr().String()
}

// rawRequest builds an HTTP/1.1 request by hand, so tests control every
// byte: header lines are "Key: value", body follows the blank line.
func rawRequest(method, target, host string, body string, headers ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, host)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return b.String()
}

// response is a response read off a raw connection, body included.
type response struct {
	Status int
	Header http.Header
	Body   string
}

// dialProxy connects to the proxy at addr, with a 10 s deadline on
// everything; cleanup closes the connection.
func dialProxy(t testing.TB, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial proxy: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	return conn
}

// exchange writes all of reqs on one connection, then reads one response
// for each: pipelining when there is more than one. Each is read as the
// answer to its request's method (no body for HEAD), and interim (1xx)
// responses are skipped.
func exchange(t testing.TB, addr string, reqs ...string) []response {
	t.Helper()
	conn := dialProxy(t, addr)
	if _, err := io.WriteString(conn, strings.Join(reqs, "")); err != nil {
		t.Fatalf("write requests: %v", err)
	}
	br := bufio.NewReader(conn)
	var out []response
	for i, raw := range reqs {
		method, _, _ := strings.Cut(raw, " ")
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		for err == nil && resp.StatusCode < 200 {
			resp, err = http.ReadResponse(br, &http.Request{Method: method})
		}
		if err != nil {
			t.Fatalf("read response %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("read response %d body: %v", i, err)
		}
		out = append(out, response{Status: resp.StatusCode, Header: resp.Header, Body: string(body)})
	}
	return out
}

// get sends one GET on its own connection.
func get(t testing.TB, addr, host string, headers ...string) response {
	t.Helper()
	return exchange(t, addr, rawRequest("GET", "/api/v4/brokers", host, "", headers...))[0]
}

// syncBuffer is a bytes.Buffer safe for a logger shared by goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
