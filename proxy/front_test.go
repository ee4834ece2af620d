package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The front end forwards plain requests itself, pipelined ones in order,
// with the same rewriting as ServeHTTP: hop-by-hop headers and the
// caller's credentials and forwarding claims dropped, the credential
// injected, "Te: trailers" kept, no User-Agent added.
func TestFrontServesPlainRequests(t *testing.T) {
	up := newUpstream(t, nil)
	h, addr := startProxy(t, testConfig(up))
	got := exchange(t, addr,
		rawRequest("GET", "/api/v4/brokers?x=1", addr, "",
			"Connection: X-Hop, keep-alive", "X-Hop: hop", "Keep-Alive: timeout=5",
			"Authorization: Bearer "+callerSecret, "X-Forwarded-For: 10.0.0.1", "Te: trailers",
			"Accept: application/json"),
		rawRequest("HEAD", "/api/v4/nodes", addr, ""),
		rawRequest("DELETE", "/api/v4/subscriptions", "localhost:"+portOf(t, addr), ""))
	for i, r := range got {
		if r.Status != http.StatusOK {
			t.Errorf("response %d: got %d, want 200", i, r.Status)
		}
	}
	if got[0].Body != "ok" || got[1].Body != "" || got[2].Body != "ok" {
		t.Errorf("bodies: got %q, %q, %q; want ok, empty, ok", got[0].Body, got[1].Body, got[2].Body)
	}
	if got[1].Header.Get("Content-Length") != "2" {
		t.Errorf("HEAD Content-Length: got %q, want 2", got[1].Header.Get("Content-Length"))
	}
	reqs := up.requests()
	if len(reqs) != 3 {
		t.Fatalf("upstream saw %d requests, want 3", len(reqs))
	}
	for i, want := range []string{"GET /api/v4/brokers?x=1", "HEAD /api/v4/nodes", "DELETE /api/v4/subscriptions"} {
		if got := reqs[i].Method + " " + reqs[i].RequestURI; got != want {
			t.Errorf("request %d: got %q, want %q", i, got, want)
		}
		if reqs[i].Host != testService {
			t.Errorf("request %d Host: got %q, want %q", i, reqs[i].Host, testService)
		}
		if got := reqs[i].Header.Values("Authorization"); len(got) != 1 || got[0] != injected {
			t.Errorf("request %d Authorization: got %q, want only the injected credential", i, got)
		}
		if ua, ok := reqs[i].Header["User-Agent"]; ok {
			t.Errorf("request %d User-Agent: got %q, want none", i, ua)
		}
	}
	first := reqs[0].Header
	for _, k := range []string{"X-Hop", "Keep-Alive", "Connection", "X-Forwarded-For"} {
		if v, ok := first[k]; ok {
			t.Errorf("header %s reached the API: %q", k, v)
		}
	}
	if first.Get("Te") != "trailers" || first.Get("Accept") != "application/json" {
		t.Errorf("Te %q, Accept %q: want trailers, application/json", first.Get("Te"), first.Get("Accept"))
	}
	if n := h.front.handed.Load(); n != 0 {
		t.Errorf("connections handed to net/http: got %d, want 0", n)
	}
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// Every request the front end does not take goes to net/http with the
// bytes already read, and is answered as ServeHTTP answers it.
func TestFrontHandsOver(t *testing.T) {
	up := newUpstream(t, nil)
	h, addr := startProxy(t, testConfig(up))
	big := "X-Big: " + strings.Repeat("b", frontHeadMax)
	cases := []struct {
		name, req string
		status    int
		upstream  string // what the API saw, "" for nothing
	}{
		{"body", rawRequest("POST", "/p", addr, "a=1", "Content-Length: 3"), 200, "POST /p a=1"},
		{"chunked body", rawRequest("PUT", "/p", addr, "3\r\nabc\r\n0\r\n\r\n", "Transfer-Encoding: chunked"), 200, "PUT /p abc"},
		{"expect", rawRequest("POST", "/p", addr, "xy", "Content-Length: 2", "Expect: 100-continue"), 200, "POST /p xy"},
		{"http/1.0", "GET /p HTTP/1.0\r\nHost: " + addr + "\r\n\r\n", 200, "GET /p "},
		{"head over the front end's buffer", rawRequest("GET", "/p", addr, "", big), 200, "GET /p "},
		{"empty Content-Length", rawRequest("GET", "/p", addr, "", "Content-Length: 0"), 200, "GET /p "},
		{"absolute form", "GET http://" + addr + "/p HTTP/1.1\r\nHost: " + addr + "\r\n\r\n", 200, "GET /p "},
		{"no host", "GET /p HTTP/1.1\r\n\r\n", 400, ""},
		{"two hosts", "GET /p HTTP/1.1\r\nHost: " + addr + "\r\nHost: " + addr + "\r\n\r\n", 400, ""},
		{"control byte in a value", rawRequest("GET", "/p", addr, "", "X-Bad: a\x01b"), 400, ""},
		{"expectation", rawRequest("GET", "/p", addr, "", "Expect: something"), 417, ""},
		{"semicolon in the query", rawRequest("GET", "/p?a=1;b=2&c=3", addr, ""), 200, "GET /p?c=3 "},
		{"malformed head", "GET /p HTTP/1.1\r\nHost: " + addr + "\r\nno colon\r\n\r\n", 400, ""},
		{"other host", rawRequest("GET", "/p", "evil.example:80", ""), 421, ""},
		{"cross-site", rawRequest("GET", "/p", addr, "", "Sec-Fetch-Site: cross-site"), 403, ""},
		{"connect", "CONNECT " + addr + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n", 405, ""},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(up.requests())
			got := exchange(t, addr, c.req)[0]
			if got.Status != c.status {
				t.Errorf("status: got %d, want %d (%q)", got.Status, c.status, got.Body)
			}
			reqs := up.requests()[before:]
			switch {
			case c.upstream == "" && len(reqs) > 0:
				t.Errorf("the API saw %d requests, want none", len(reqs))
			case c.upstream != "" && len(reqs) != 1:
				t.Errorf("the API saw %d requests, want 1", len(reqs))
			case c.upstream != "":
				if got := reqs[0].Method + " " + reqs[0].RequestURI + " " + reqs[0].Body; got != c.upstream {
					t.Errorf("the API saw %q, want %q", got, c.upstream)
				}
				if reqs[0].Header.Get("Authorization") != injected {
					t.Errorf("Authorization: got %q, want the injected credential", reqs[0].Header.Get("Authorization"))
				}
			}
			if n := h.front.handed.Load(); n != int64(i+1) {
				t.Errorf("connections handed over: got %d, want %d", n, i+1)
			}
		})
	}
}

// A connection handed over mid-pipeline keeps its order: what the front
// end had read and not used reaches net/http first.
func TestFrontHandOverMidPipeline(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Method+" "+r.URL.Path)
	})
	h, addr := startProxy(t, testConfig(up))
	got := exchange(t, addr,
		rawRequest("GET", "/1", addr, ""),
		rawRequest("POST", "/2", addr, "body", "Content-Length: 4"),
		rawRequest("GET", "/3", addr, ""))
	for i, want := range []string{"GET /1", "POST /2", "GET /3"} {
		if got[i].Status != http.StatusOK || got[i].Body != want {
			t.Errorf("response %d: got %d %q, want 200 %q", i, got[i].Status, got[i].Body, want)
		}
	}
	if n := h.front.handed.Load(); n != 1 {
		t.Errorf("connections handed over: got %d, want 1", n)
	}
}

// cannedAPI answers every request with resp, written as is, and closes
// the connection after it when closeAfter is set.
func cannedAPI(t *testing.T, resp string, closeAfter bool) Config {
	t.Helper()
	dial := rawAPI(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			if _, err := io.WriteString(c, resp); err != nil || closeAfter {
				return
			}
		}
	})
	return Config{Dial: dial, Credential: static{header: injected}, Service: testService}
}

// The front end frames each response for the caller's connection: by
// length, chunked (with the API's trailers) when the API gave no length,
// no body for HEAD, 204 and 304; and the connection carries the next
// request after each.
func TestFrontResponseFraming(t *testing.T) {
	cases := []struct {
		name, resp string
		closeAfter bool
		method     string
		status     int
		body       string
		header     map[string]string // on the response; "" means absent
		trailer    map[string]string
	}{
		{name: "length", resp: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello",
			method: "GET", status: 200, body: "hello", header: map[string]string{"Content-Length": "5", "X-A": "1"}},
		{name: "chunked with trailer", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
			"2\r\nab\r\n1\r\nc\r\n0\r\nX-Sum: 3\r\n\r\n",
			method: "GET", status: 200, body: "abc",
			header:  map[string]string{"Content-Length": ""},
			trailer: map[string]string{"X-Sum": "3"}},
		{name: "close-delimited", resp: "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end", closeAfter: true,
			method: "GET", status: 200, body: "to the end", header: map[string]string{"Connection": ""}},
		{name: "head", resp: "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n",
			method: "HEAD", status: 200, body: "", header: map[string]string{"Content-Length": "7"}},
		{name: "204", resp: "HTTP/1.1 204 No Content\r\n\r\n", method: "DELETE", status: 204},
		{name: "304", resp: "HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\n\r\n",
			method: "GET", status: 304, header: map[string]string{"Etag": `"e"`}},
		{name: "interim first", resp: "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
			method: "GET", status: 200, body: "ok"},
		{name: "hop-by-hop", resp: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=1\r\nUpgrade: h2c\r\n\r\nok",
			method: "GET", status: 200, body: "ok", header: map[string]string{"X-Hop": "", "Keep-Alive": "", "Upgrade": "", "Connection": ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := cannedAPI(t, c.resp, c.closeAfter)
			var dials atomic.Int64
			dial := cfg.Dial
			cfg.Dial = func(ctx context.Context) (net.Conn, error) {
				dials.Add(1)
				return dial(ctx)
			}
			h, addr := startProxy(t, cfg)
			conn := dialProxy(t, addr)
			br := bufio.NewReader(conn)
			for round := range 2 { // the second shows the framing left the connection clean
				req, _ := http.NewRequest(c.method, "http://"+addr+"/x", nil)
				if err := req.Write(conn); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(br, req)
				if err != nil {
					t.Fatalf("round %d: read response: %v", round, err)
				}
				for k := range c.trailer {
					if _, ok := resp.Trailer[k]; !ok {
						t.Errorf("round %d: trailer %s not announced in the head", round, k)
					}
				}
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatalf("round %d: read body: %v", round, err)
				}
				if resp.StatusCode != c.status || string(body) != c.body {
					t.Errorf("round %d: got %d %q, want %d %q", round, resp.StatusCode, body, c.status, c.body)
				}
				for k, want := range c.header {
					if got := resp.Header.Get(k); got != want {
						t.Errorf("round %d: header %s: got %q, want %q", round, k, got, want)
					}
				}
				for k, want := range c.trailer {
					if got := resp.Trailer.Get(k); got != want {
						t.Errorf("round %d: trailer %s: got %q, want %q", round, k, got, want)
					}
				}
			}
			if n := h.front.handed.Load(); n != 0 {
				t.Errorf("connections handed over: got %d, want 0", n)
			}
			if want := map[bool]int64{false: 1, true: 2}[c.closeAfter]; dials.Load() != want {
				t.Errorf("tunnels opened for two requests: got %d, want %d", dials.Load(), want)
			}
		})
	}
}

// A response the API cuts short cannot be completed: the caller sees its
// connection close rather than a next response read from the middle.
func TestFrontShortBodyClosesConnection(t *testing.T) {
	_, addr := startProxy(t, cannedAPI(t, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true))
	conn := dialProxy(t, addr)
	io.WriteString(conn, rawRequest("GET", "/x", addr, ""))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("body: got %q, %v; want a short body and io.ErrUnexpectedEOF", body, err)
	}
}

// Connection: close from the caller is answered with Connection: close and
// the connection is closed; the API's tunnel is not asked to close.
func TestFrontCallerCloses(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Close {
			w.Header().Set("X-Asked-To-Close", "yes")
		}
		io.WriteString(w, "ok")
	})
	_, addr := startProxy(t, testConfig(up))
	conn := dialProxy(t, addr)
	io.WriteString(conn, rawRequest("GET", "/x", addr, "", "Connection: close"))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	if !resp.Close || resp.Header.Get("X-Asked-To-Close") != "" {
		t.Errorf("Close %v, API asked to close %q: want true and not asked", resp.Close, resp.Header.Get("X-Asked-To-Close"))
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("after the response: got %v, want EOF", err)
	}
}

// The API failing is answered on the front end's path as on ServeHTTP's:
// the status and one-line reason from StatusFor, no detail.
func TestFrontAPIErrors(t *testing.T) {
	cfg := Config{
		Dial:       func(context.Context) (net.Conn, error) { return nil, errors.New("secret detail") },
		Credential: static{header: injected},
		Service:    testService,
	}
	h, addr := startProxy(t, cfg)
	got := exchange(t, addr, rawRequest("GET", "/x", addr, ""), rawRequest("HEAD", "/x", addr, ""))
	if got[0].Status != http.StatusBadGateway || got[0].Body != "bad gateway\n" {
		t.Errorf("GET: got %d %q, want 502 \"bad gateway\\n\"", got[0].Status, got[0].Body)
	}
	if got[1].Status != http.StatusBadGateway || got[1].Body != "" {
		t.Errorf("HEAD: got %d %q, want 502 and no body", got[1].Status, got[1].Body)
	}
	if n := h.front.handed.Load(); n != 0 {
		t.Errorf("connections handed over: got %d, want 0", n)
	}

	cfg = testConfig(newUpstream(t, nil))
	cfg.Credential = credFunc(func(context.Context) (string, error) { return "", errors.New("no key") })
	_, addr = startProxy(t, cfg)
	if r := get(t, addr, addr); r.Status != http.StatusBadGateway || r.Body != "credential unavailable\n" {
		t.Errorf("no credential: got %d %q, want 502 \"credential unavailable\\n\"", r.Status, r.Body)
	}
}

// Shutdown closes a connection waiting between requests at once, lets a
// request in flight finish, and Serve returns http.ErrServerClosed.
func TestFrontShutdown(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		io.WriteString(w, "ok")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	h, err := New(testConfig(up), addr)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- h.Serve(ln) }()
	defer h.Close()

	idle := dialProxy(t, addr)
	io.WriteString(idle, rawRequest("GET", "/fast", addr, ""))
	ibr := bufio.NewReader(idle)
	resp, err := http.ReadResponse(ibr, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)

	busy := dialProxy(t, addr)
	io.WriteString(busy, rawRequest("GET", "/slow", addr, ""))
	<-entered

	shut := make(chan error, 1)
	go func() { shut <- h.Shutdown(context.Background()) }()
	if _, err := ibr.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("idle connection: got %v, want EOF", err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	resp, err = http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("request in flight: got %v, %v; want 200", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve: got %v, want http.ErrServerClosed", err)
	}
}

// Close ends a request in flight: the caller's connection closes without
// waiting for the API.
func TestFrontCloseEndsRequests(t *testing.T) {
	stop := make(chan struct{})
	entered := make(chan struct{}, 1)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-stop
	})
	defer close(stop)
	h, addr := startProxy(t, testConfig(up))
	conn := dialProxy(t, addr)
	io.WriteString(conn, rawRequest("GET", "/x", addr, ""))
	<-entered
	start := time.Now()
	h.Close()
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Errorf("read after Close: want the connection closed")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the connection closed %s after Close", d)
	}
}

func TestHeadEnd(t *testing.T) {
	cases := map[string]int{
		"":                                   0,
		"GET / HTTP/1.1\r\n":                 0,
		"GET / HTTP/1.1\r\n\r\n":             18,
		"GET / HTTP/1.1\n\n":                 16,
		"GET / HTTP/1.1\r\nA: b\r\n\r\nbody": 24,
		"GET / HTTP/1.1\r\nA: b\r\n\r":       0,
		"\r\n":                               0,
		"\n\n":                               2,
	}
	for in, want := range cases {
		if got := headEnd([]byte(in)); got != want {
			t.Errorf("headEnd(%q): got %d, want %d", in, got, want)
		}
	}
}

// shortTimeouts sets the caller-side timeouts to head and idle for one
// test (before its proxy is made: net/http's server copies them).
func shortTimeouts(t *testing.T, head, idle time.Duration) {
	oldHead, oldIdle := readHeaderTimeout, serverIdleTimeout
	readHeaderTimeout, serverIdleTimeout = head, idle
	t.Cleanup(func() { readHeaderTimeout, serverIdleTimeout = oldHead, oldIdle })
}

// A head that arrives in pieces within the head timeout is served; one
// that stops coming, or never starts, has its connection closed when the
// head timeout passes; a connection idle between requests is closed after
// the idle timeout.
func TestFrontCallerTimeouts(t *testing.T) {
	shortTimeouts(t, 300*time.Millisecond, 2*time.Second)
	up := newUpstream(t, nil)
	h, addr := startProxy(t, testConfig(up))

	slow := dialProxy(t, addr)
	head := rawRequest("GET", "/slow", addr, "")
	for _, part := range []string{head[:5], head[5:20], head[20:]} {
		io.WriteString(slow, part)
		time.Sleep(50 * time.Millisecond)
	}
	br := bufio.NewReader(slow)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("head in pieces: got %v, %v; want 200", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	start := time.Now()
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("idle connection: got %v, want EOF", err)
	}
	if d := time.Since(start); d < 1500*time.Millisecond || d > 5*time.Second {
		t.Errorf("idle connection closed after %s, want about 2s", d)
	}

	// The head timeout holds for a later request too, not the idle one.
	second := dialProxy(t, addr)
	io.WriteString(second, head+head[:20])
	br = bufio.NewReader(second)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("first request: got %v, %v; want 200", resp, err)
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	start = time.Now()
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("stalled second head: got %v, want EOF", err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("stalled second head: closed after %s, want about 300ms", d)
	}

	for name, send := range map[string]string{"stalled head": head[:20], "nothing": ""} {
		c := dialProxy(t, addr)
		io.WriteString(c, send)
		start := time.Now()
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Errorf("%s: got %v, want EOF", name, err)
		}
		if d := time.Since(start); d < 200*time.Millisecond || d > 3*time.Second {
			t.Errorf("%s: closed after %s, want about 300ms", name, d)
		}
	}
	if got := len(up.requests()); got != 2 {
		t.Errorf("the API saw %d requests, want 2", got)
	}
	if n := h.front.handed.Load(); n != 0 {
		t.Errorf("connections handed over: got %d, want 0", n)
	}
}

// eventStream is an API that answers with the head of a server-sent event
// stream at once and then sends nothing until the request ends, which it
// reports on ended.
func eventStream(t *testing.T) (*upstream, chan struct{}) {
	ended := make(chan struct{}, 2)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		defer func() { ended <- struct{}{} }()
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(8 * time.Second):
		}
	})
	return up, ended
}

// streamPaths are the extra request headers that send a request for an
// event stream down the front end's path, then net/http's.
var streamPaths = [][]string{nil, {"Content-Length: 0"}}

// openStream asks a new proxy in front of up for /events with extra
// headers and reads the response head, waiting at most 2 s for it.
func openStream(t *testing.T, up *upstream, extra []string) (net.Conn, *http.Response, error) {
	t.Helper()
	_, addr := startProxy(t, testConfig(up))
	conn := dialProxy(t, addr)
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	io.WriteString(conn, rawRequest("GET", "/events", addr, "", extra...))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	return conn, resp, err
}

// A streamed response's head reaches the caller as soon as the API sends
// it, before any of its body, as ReverseProxy flushes it on ServeHTTP's
// path: an event stream that is quiet at first must not look hung.
func TestFrontStreamHeadFlushed(t *testing.T) {
	up, _ := eventStream(t)
	for _, extra := range streamPaths {
		_, resp, err := openStream(t, up, extra)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("headers %q: got %v, %v; want 200 at once", extra, resp, err)
		}
	}
}

// A caller that goes away while a streamed response waits on the API ends
// the request, as net/http's server does on ServeHTTP's path: the API's
// request is cancelled and its tunnel given back, instead of both being
// held until the API next writes.
func TestFrontCallerGoneEndsStream(t *testing.T) {
	for _, extra := range streamPaths {
		up, ended := eventStream(t)
		conn, resp, err := openStream(t, up, extra)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("headers %q: got %v, %v; want 200", extra, resp, err)
		}
		conn.Close()
		start := time.Now()
		<-ended
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("headers %q: the API's request ended %s after the caller left, want at once", extra, d)
		}
	}
}

// A head that arrives in pieces is served as soon as its last piece
// arrives, not when the head timeout (10 s) ends the wait for more.
func TestFrontHeadInPiecesServedAtOnce(t *testing.T) {
	_, addr := startProxy(t, testConfig(newUpstream(t, nil)))
	for _, cut := range []int{5, 20, 30} {
		conn := dialProxy(t, addr)
		head := rawRequest("GET", "/p", addr, "")
		io.WriteString(conn, head[:cut])
		time.Sleep(50 * time.Millisecond)
		io.WriteString(conn, head[cut:])
		start := time.Now()
		conn.SetReadDeadline(start.Add(2 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("cut at %d: got %v, %v after %s; want 200 at once", cut, resp, err, time.Since(start))
		}
	}
}

// Serve may run on several listeners at once (127.0.0.1:PORT and
// [::1]:PORT, which New's Host check allows alike), as http.Server's may:
// Close ends every one of them.
func TestFrontServeTwoListeners(t *testing.T) {
	up := newUpstream(t, nil)
	ln1, ln2 := listenLocal(t), listenLocal(t)
	h, err := New(testConfig(up), ln1.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 2)
	go func() { served <- h.Serve(ln1) }()
	get(t, ln1.Addr().String(), ln1.Addr().String()) // the first Serve runs
	go func() { served <- h.Serve(ln2) }()
	if r := get(t, ln2.Addr().String(), ln1.Addr().String()); r.Status != http.StatusOK {
		t.Fatalf("second listener: got %d, want 200", r.Status)
	}
	h.Close()
	for i := range 2 {
		select {
		case err := <-served:
			if !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("Serve: got %v, want http.ErrServerClosed", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("Serve %d of 2 still runs 2 s after Close", i+1)
		}
	}
}

// A listener that fails (closed by its owner, not by Shutdown or Close)
// ends its own Serve only: the other listeners' connections are still
// handed over to the http.Server, and Serve may be called again once all
// have ended.
func TestFrontListenerEndsAloneAndServeAgain(t *testing.T) {
	up := newUpstream(t, nil)
	ln1, ln2, ln3 := listenLocal(t), listenLocal(t), listenLocal(t)
	host := ln1.Addr().String()
	h, err := New(testConfig(up), host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	serve := func(ln net.Listener) chan error {
		served := make(chan error, 1)
		go func() { served <- h.Serve(ln) }()
		get(t, ln.Addr().String(), host) // it runs
		return served
	}
	ended := func(served chan error, name string) {
		t.Helper()
		select {
		case err := <-served:
			if err == nil || errors.Is(err, http.ErrServerClosed) {
				t.Errorf("Serve(%s) after its listener closed: got %v, want its accept error", name, err)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("Serve(%s) still runs 2 s after its listener closed", name)
		}
	}
	// A body is not plain: the request is handed over.
	handedOver := func(ln net.Listener, body string) {
		t.Helper()
		before := h.front.handed.Load()
		r := exchange(t, ln.Addr().String(), rawRequest("POST", "/echo", host, body, "Content-Length: "+strconv.Itoa(len(body))))
		if r[0].Status != http.StatusOK {
			t.Errorf("POST on %s: got %d, want 200", ln.Addr(), r[0].Status)
		}
		if reqs := up.requests(); len(reqs) == 0 || reqs[len(reqs)-1].Body != body {
			t.Errorf("POST on %s: the API did not get %q", ln.Addr(), body)
		}
		if h.front.handed.Load() != before+1 {
			t.Errorf("POST on %s was not handed over", ln.Addr())
		}
	}
	served1, served2 := serve(ln1), serve(ln2)
	ln1.Close()
	ended(served1, "ln1")
	handedOver(ln2, "still served")
	ln2.Close()
	ended(served2, "ln2")
	served3 := serve(ln3)
	handedOver(ln3, "served again")
	h.Close()
	if err := <-served3; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve(ln3) after Close: got %v, want http.ErrServerClosed", err)
	}
}

// A streamed response leaves the connection clean for the caller's next
// request, pipelined or not (the watch for the caller leaving reads
// nothing away).
func TestFrontPipelinedAfterStream(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a")
		w.(http.Flusher).Flush()
		time.Sleep(20 * time.Millisecond)
		io.WriteString(w, r.URL.Path)
	})
	h, addr := startProxy(t, testConfig(up))
	got := exchange(t, addr, rawRequest("GET", "/1", addr, ""), rawRequest("GET", "/2", addr, ""),
		rawRequest("HEAD", "/3", addr, ""), rawRequest("GET", "/4", addr, ""))
	for i, want := range []string{"a/1", "a/2", "", "a/4"} {
		if got[i].Status != http.StatusOK || got[i].Body != want {
			t.Errorf("response %d: got %d %q, want 200 %q", i, got[i].Status, got[i].Body, want)
		}
	}
	if n := h.front.handed.Load(); n != 0 {
		t.Errorf("connections handed over: got %d, want 0", n)
	}
}
