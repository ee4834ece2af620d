package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// directWait bounds every wait in these tests for something that should
// happen at once; generous, for a loaded machine under -race.
const directWait = 2 * time.Second

// dialCounter wraps a Dial: it counts the tunnels opened, the ones open
// now (not yet closed by the transport) and the most ever open at once.
type dialCounter struct {
	dial    func(context.Context) (net.Conn, error)
	dials   atomic.Int32
	open    atomic.Int32
	maxOpen atomic.Int32
}

func countDials(dial func(context.Context) (net.Conn, error)) *dialCounter {
	return &dialCounter{dial: dial}
}

func (d *dialCounter) Dial(ctx context.Context) (net.Conn, error) {
	c, err := d.dial(ctx)
	if err != nil {
		return nil, err
	}
	d.dials.Add(1)
	n := d.open.Add(1)
	for {
		m := d.maxOpen.Load()
		if n <= m || d.maxOpen.CompareAndSwap(m, n) {
			break
		}
	}
	return &countedConn{Conn: c, d: d}, nil
}

type countedConn struct {
	net.Conn
	d    *dialCounter
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.d.open.Add(-1) })
	return c.Conn.Close()
}

// rawAPI serves loopback connections with handle, for what net/http's
// server will not send: interim responses, an unasked protocol switch,
// closing without a word. It returns a Dial for it. Cleanup closes every
// connection and waits for the handlers.
func rawAPI(t testing.TB, handle func(c net.Conn, br *bufio.Reader)) func(context.Context) (net.Conn, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		conns  []net.Conn
		closed bool
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				c.Close()
			}
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				handle(c, bufio.NewReader(c))
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	addr := ln.Addr().String()
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
}

// apiEvents is what a scripted API saw: every request body, and the ends
// of its connections, told apart by who ended them.
type apiEvents struct {
	bodies    chan string
	clientEOF chan struct{} // the client closed a connection between requests
	hungUp    chan struct{} // the API closed a connection after answering
}

func newAPIEvents() *apiEvents {
	return &apiEvents{
		bodies:    make(chan string, 128),
		clientEOF: make(chan struct{}, 128),
		hungUp:    make(chan struct{}, 128),
	}
}

func notify[T any](ch chan T, v T) {
	select {
	case ch <- v:
	default:
	}
}

// answer serves the requests on one connection in turn: respond gives each
// one's raw response bytes and whether the API hangs up after it.
func (e *apiEvents) answer(respond func(*http.Request) (raw string, hangUp bool)) func(net.Conn, *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				if errors.Is(err, io.EOF) {
					notify(e.clientEOF, struct{}{})
				}
				return
			}
			body, err := io.ReadAll(req.Body)
			if err != nil {
				return
			}
			notify(e.bodies, string(body))
			raw, hangUp := respond(req)
			if _, err := io.WriteString(c, raw); err != nil {
				return
			}
			if hangUp {
				c.Close()
				notify(e.hungUp, struct{}{})
				return
			}
		}
	}
}

func okResponse(body string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

func keepAnswering(*http.Request) (string, bool) { return okResponse("ok"), false }

// newTestDirect is the Handler's transport around dial.
func newTestDirect(t testing.TB, dial func(context.Context) (net.Conn, error), headerTimeout time.Duration) *directTransport {
	t.Helper()
	cfg, err := Config{Dial: dial, Credential: static{header: injected}, ResponseHeaderTimeout: headerTimeout}.withDefaults()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	tr := newDirectTransport(cfg)
	t.Cleanup(func() { tr.closeIdle(true) })
	return tr
}

// newAPIRequest is a request as the Handler passes one on: a body of known
// length that cannot be replayed (no GetBody).
func newAPIRequest(ctx context.Context, method, path, body string, headers ...string) *http.Request {
	req := &http.Request{
		Method: method,
		URL:    &url.URL{Scheme: "http", Host: testService, Path: path},
		Host:   testService,
		Header: make(http.Header),
	}
	if body != "" {
		req.Body = io.NopCloser(strings.NewReader(body))
		req.ContentLength = int64(len(body))
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	return req.WithContext(ctx)
}

// fetch sends req and reads the whole response.
func fetch(tr http.RoundTripper, req *http.Request) (int, string, error) {
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// roundTrip is fetch of a new request, bounded by directWait.
func roundTrip(tr http.RoundTripper, method, path, body string, headers ...string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), directWait)
	defer cancel()
	return fetch(tr, newAPIRequest(ctx, method, path, body, headers...))
}

func mustOK(t testing.TB, tr http.RoundTripper, method, path, body string, headers ...string) string {
	t.Helper()
	status, got, err := roundTrip(tr, method, path, body, headers...)
	if err != nil || status != http.StatusOK {
		t.Fatalf("%s %s: got %d, %v; want 200", method, path, status, err)
	}
	return got
}

func waitFor[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	var v T
	select {
	case v = <-ch:
	case <-time.After(directWait):
		t.Fatalf("timed out waiting for %s", what)
	}
	return v
}

// eventually polls cond until it holds, for state another goroutine
// settles just after the event the test can see (a slot is freed just
// after its tunnel is closed).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(directWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still false after %s", what, directWait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func slotsFreed(tr *directTransport) func() bool {
	return func() bool { return len(tr.slots) == 0 }
}

func idleCount(tr *directTransport) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.idle)
}

// patterned is n bytes that do not repeat with a short period, so a body
// cut, shifted or padded does not compare equal.
func patterned(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[(i+i/len(alphabet))%len(alphabet)]
	}
	return string(b)
}

func chunked(body string) string {
	var b strings.Builder
	for len(body) > 0 {
		n := min(len(body), 4096)
		fmt.Fprintf(&b, "%x\r\n%s\r\n", n, body[:n])
		body = body[n:]
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}

func TestDirectReusesTunnel(t *testing.T) {
	up := newUpstream(t, nil)
	d := countDials(up.dial)
	cfg := testConfig(up)
	cfg.Dial = d.Dial
	_, addr := startProxy(t, cfg)
	const n = 5
	for i := range n {
		if resp := get(t, addr, addr); resp.Status != http.StatusOK || resp.Body != "ok" {
			t.Fatalf("GET %d: got %d %q, want 200 %q", i, resp.Status, resp.Body, "ok")
		}
	}
	if got := d.dials.Load(); got != 1 {
		t.Errorf("dials after %d sequential GETs: got %d, want 1", n, got)
	}
	if got := len(up.requests()); got != n {
		t.Errorf("requests at the API: got %d, want %d", got, n)
	}
}

func TestDirectHeadReusesTunnel(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000") // a HEAD answer announces a body it does not send
		if r.Method != http.MethodHead {
			w.Write(make([]byte, 1000))
		}
	})
	d := countDials(up.dial)
	tr := newTestDirect(t, d.Dial, directWait)
	for _, tt := range []struct {
		method  string
		wantLen int
	}{{http.MethodHead, 0}, {http.MethodHead, 0}, {http.MethodGet, 1000}} {
		if got := mustOK(t, tr, tt.method, "/", ""); len(got) != tt.wantLen {
			t.Fatalf("%s body: got %d bytes, want %d", tt.method, len(got), tt.wantLen)
		}
	}
	if got := d.dials.Load(); got != 1 {
		t.Errorf("dials: got %d, want 1", got)
	}
}

func TestDirectConnectionCloseNotReused(t *testing.T) {
	tests := []struct {
		name         string
		respClose    bool
		requestClose bool
	}{
		{name: "the API answers Connection: close", respClose: true},
		{name: "the request says Connection: close", requestClose: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
				if tt.respClose {
					w.Header().Set("Connection", "close")
				}
				io.WriteString(w, "ok")
			})
			d := countDials(up.dial)
			tr := newTestDirect(t, d.Dial, directWait)
			ctx, cancel := context.WithTimeout(context.Background(), directWait)
			defer cancel()
			req := newAPIRequest(ctx, http.MethodGet, "/", "")
			req.Close = tt.requestClose
			if status, _, err := fetch(tr, req); err != nil || status != http.StatusOK {
				t.Fatalf("first GET: got %d, %v; want 200", status, err)
			}
			if got := d.open.Load(); got != 0 {
				t.Errorf("tunnels left open after the response: got %d, want 0", got)
			}
			mustOK(t, tr, http.MethodGet, "/", "")
			if got := d.dials.Load(); got != 2 {
				t.Errorf("dials: got %d, want 2", got)
			}
		})
	}
}

// TestDirectStaleTunnel: the API closes each connection after answering,
// without saying so; the next request finds the idle tunnel dead.
func TestDirectStaleTunnel(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		body      string
		headers   []string
		wantRetry bool
	}{
		{name: "GET is sent again", method: http.MethodGet, wantRetry: true},
		{name: "POST is not", method: http.MethodPost, body: "payload"},
		{name: "POST with Idempotency-Key is sent again", method: http.MethodPost, body: "payload",
			headers: []string{"Idempotency-Key: k-1"}, wantRetry: true},
		{name: "POST with X-Idempotency-Key is sent again", method: http.MethodPost, body: "payload",
			headers: []string{"X-Idempotency-Key: k-2"}, wantRetry: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := newAPIEvents()
			d := countDials(rawAPI(t, ev.answer(func(*http.Request) (string, bool) { return okResponse("ok"), true })))
			tr := newTestDirect(t, d.Dial, directWait)
			mustOK(t, tr, http.MethodGet, "/", "")
			waitFor(t, ev.hungUp, "the API to close the first tunnel")
			waitFor(t, ev.bodies, "the first request")
			status, _, err := roundTrip(tr, tt.method, "/", tt.body, tt.headers...)
			if tt.wantRetry {
				checkRetried(t, ev, d, status, err, tt.body)
			} else {
				checkNotRetried(t, ev, d, tr, err)
			}
		})
	}
}

// TestDirectStaleTunnelFailedWriteIsSentAgain: on a dead idle tunnel a
// body too big for one segment meets the API's reset while it is being
// written (broken pipe): nothing was answered, so an idempotent request is
// sent again, as when the tunnel's end is only seen on reading.
func TestDirectStaleTunnelFailedWriteIsSentAgain(t *testing.T) {
	ev := newAPIEvents()
	d := countDials(rawAPI(t, ev.answer(func(*http.Request) (string, bool) { return okResponse("ok"), true })))
	tr := newTestDirect(t, d.Dial, directWait)
	mustOK(t, tr, http.MethodGet, "/", "")
	waitFor(t, ev.hungUp, "the API to close the first tunnel")
	waitFor(t, ev.bodies, "the first request")
	body := patterned(directBodyMax)
	status, _, err := roundTrip(tr, http.MethodPost, "/", body, "Idempotency-Key: k-3")
	checkRetried(t, ev, d, status, err, body)
}

func checkRetried(t *testing.T, ev *apiEvents, d *dialCounter, status int, err error, body string) {
	t.Helper()
	if err != nil || status != http.StatusOK {
		t.Fatalf("request on a stale tunnel: got %d, %v; want 200", status, err)
	}
	if got := d.dials.Load(); got != 2 {
		t.Errorf("dials: got %d, want 2", got)
	}
	if got := waitFor(t, ev.bodies, "the retried request"); got != body {
		t.Errorf("body at the API: got %d bytes, want %d bytes intact", len(got), len(body))
	}
}

func checkNotRetried(t *testing.T, ev *apiEvents, d *dialCounter, tr *directTransport, err error) {
	t.Helper()
	if !errors.Is(err, errNothingRead) {
		t.Fatalf("request on a stale tunnel: got %v, want %v", err, errNothingRead)
	}
	if status, _ := StatusFor(err); status != http.StatusBadGateway {
		t.Errorf("proxy status: got %d, want 502", status)
	}
	if got := d.dials.Load(); got != 1 {
		t.Errorf("dials: got %d, want 1 (not sent again)", got)
	}
	select {
	case b := <-ev.bodies:
		t.Errorf("the API received a request %q, want none", b)
	default:
	}
	eventually(t, "slot of the stale tunnel freed", slotsFreed(tr))
	mustOK(t, tr, http.MethodGet, "/", "") // the transport still works
}

func TestDirectIdleTunnelExpires(t *testing.T) {
	ev := newAPIEvents()
	d := countDials(rawAPI(t, ev.answer(keepAnswering)))
	tr := newTestDirect(t, d.Dial, directWait)
	mustOK(t, tr, http.MethodGet, "/", "")
	idleSince := time.Now()
	select {
	case <-ev.clientEOF:
	case <-time.After(directIdleReuse + time.Second):
		t.Fatalf("the API saw no EOF within %s of the tunnel going idle", directIdleReuse+time.Second)
	}
	if waited := time.Since(idleSince); waited < directIdleReuse*3/4 {
		t.Errorf("idle tunnel closed after %s, want about %s", waited, directIdleReuse)
	}
	eventually(t, "slot of the expired tunnel freed", slotsFreed(tr))
	if got := idleCount(tr); got != 0 {
		t.Errorf("idle tunnels: got %d, want 0", got)
	}
	mustOK(t, tr, http.MethodGet, "/", "")
	if got := d.dials.Load(); got != 2 {
		t.Errorf("dials: got %d, want 2", got)
	}
}

// TestDirectIdleTunnelTooOldNotReused: a tunnel idle longer than
// directIdleReuse whose timer has not run yet (late, as under load) is
// closed instead of used.
func TestDirectIdleTunnelTooOldNotReused(t *testing.T) {
	ev := newAPIEvents()
	d := countDials(rawAPI(t, ev.answer(keepAnswering)))
	tr := newTestDirect(t, d.Dial, directWait)
	mustOK(t, tr, http.MethodGet, "/", "")
	tr.mu.Lock()
	for _, dc := range tr.idle {
		dc.idleAt = dc.idleAt.Add(-directIdleReuse)
	}
	tr.mu.Unlock()
	mustOK(t, tr, http.MethodGet, "/", "")
	if got := d.dials.Load(); got != 2 {
		t.Errorf("dials: got %d, want 2", got)
	}
	waitFor(t, ev.clientEOF, "the API to see the old tunnel closed")
	if got := len(tr.slots); got != 1 {
		t.Errorf("slots taken: got %d, want 1", got)
	}
}

// heldAPI is an API whose handler reports each request on arrived and
// answers "ok" only once released; a request for quickPath is answered at
// once.
type heldAPI struct {
	*upstream
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

// newHeldAPI starts a heldAPI; cleanup releases every handler.
func newHeldAPI(t testing.TB) *heldAPI {
	t.Helper()
	a := &heldAPI{arrived: make(chan struct{}, 2*maxConnsPerHost), release: make(chan struct{})}
	a.upstream = newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != quickPath {
			a.arrived <- struct{}{}
			<-a.release
		}
		io.WriteString(w, "ok")
	})
	t.Cleanup(a.releaseAll) // before the server closes: registered after it
	return a
}

const quickPath = "/quick"

// releaseOne lets one held handler answer; call it only while one waits.
func (a *heldAPI) releaseOne() { a.release <- struct{}{} }

func (a *heldAPI) releaseAll() { a.once.Do(func() { close(a.release) }) }

// fillSlots starts maxConnsPerHost GETs that api holds, and waits until it
// has them all. Their results arrive on the channel returned; cleanup
// releases them and waits for them to end.
func fillSlots(t testing.TB, tr *directTransport, api *heldAPI) <-chan error {
	t.Helper()
	results := make(chan error, maxConnsPerHost)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		api.releaseAll()
		wg.Wait()
	})
	for range maxConnsPerHost {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
			defer cancel()
			_, _, err := fetch(tr, newAPIRequest(ctx, http.MethodGet, "/", ""))
			results <- err
		})
	}
	for i := range maxConnsPerHost {
		waitFor(t, api.arrived, fmt.Sprintf("request %d at the API", i))
	}
	return results
}

// startGet sends a GET for path with ctx on its own goroutine.
func startGet(ctx context.Context, tr *directTransport, path string) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, _, err := fetch(tr, newAPIRequest(ctx, http.MethodGet, path, ""))
		done <- err
	}()
	return done
}

func TestDirectSlotLimit(t *testing.T) {
	api := newHeldAPI(t)
	d := countDials(api.dial)
	tr := newTestDirect(t, d.Dial, 4*time.Second)
	results := fillSlots(t, tr, api)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	extra := startGet(ctx, tr, quickPath)
	// Nothing shows a request waiting rather than slow: give it time to
	// dial if it would (generous for a loaded machine).
	select {
	case err := <-extra:
		t.Fatalf("request %d: finished with %v while every slot was busy, want it to wait", maxConnsPerHost+1, err)
	case <-time.After(300 * time.Millisecond):
	}
	if got := d.dials.Load(); got != maxConnsPerHost {
		t.Errorf("dials with every slot busy: got %d, want %d", got, maxConnsPerHost)
	}
	cancel()
	if err := waitFor(t, extra, "the waiting request to give up"); !errors.Is(err, context.Canceled) {
		t.Errorf("waiting request cancelled: got %v, want %v", err, context.Canceled)
	}
	api.releaseAll()
	for i := range maxConnsPerHost {
		if err := waitFor(t, results, "the held requests"); err != nil {
			t.Errorf("held request %d: %v", i, err)
		}
	}
	if got := d.maxOpen.Load(); got > maxConnsPerHost {
		t.Errorf("tunnels open at once: got %d, want at most %d", got, maxConnsPerHost)
	}
}

// TestDirectWaitingRequestTakesReturnedTunnel: a request waiting for a slot
// goes ahead when one of the busy requests finishes, not only when a
// tunnel is closed.
func TestDirectWaitingRequestTakesReturnedTunnel(t *testing.T) {
	api := newHeldAPI(t)
	tr := newTestDirect(t, api.dial, 4*time.Second)
	results := fillSlots(t, tr, api)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	extra := startGet(ctx, tr, quickPath)
	// Nothing shows a request waiting for a slot: give it time to get
	// there (generous), or it would simply find the returned tunnel idle.
	time.Sleep(300 * time.Millisecond)
	api.releaseOne() // one held request finishes and returns its tunnel
	if err := waitFor(t, results, "the released request"); err != nil {
		t.Fatalf("released request: %v", err)
	}
	const within = directIdleReuse / 2
	select {
	case err := <-extra:
		if err != nil {
			t.Fatalf("waiting request: got %v, want success", err)
		}
	case <-time.After(within):
		idle, taken := idleCount(tr), len(tr.slots)
		cancel()
		<-extra
		t.Fatalf("waiting request still waiting %s after a tunnel was returned (%d idle, %d slots taken)",
			within, idle, taken)
	}
}

// TestDirectStaleIdleTunnelsFreeTheirSlots: every slot is held by an idle
// tunnel found stale (its idle timer ran late, as under load); the next
// request must still get a tunnel.
func TestDirectStaleIdleTunnelsFreeTheirSlots(t *testing.T) {
	api := newHeldAPI(t)
	d := countDials(api.dial)
	tr := newTestDirect(t, d.Dial, 4*time.Second)
	results := fillSlots(t, tr, api)
	api.releaseAll()
	for range maxConnsPerHost {
		if err := waitFor(t, results, "the held requests"); err != nil {
			t.Fatalf("held request: %v", err)
		}
	}
	tr.mu.Lock()
	for _, dc := range tr.idle {
		dc.idleAt = dc.idleAt.Add(-directIdleReuse) // idle too long; the timer has not run yet
	}
	n := len(tr.idle)
	tr.mu.Unlock()
	if n != maxConnsPerHost {
		t.Fatalf("idle tunnels: got %d, want %d", n, maxConnsPerHost)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if status, _, err := fetch(tr, newAPIRequest(ctx, http.MethodGet, "/", "")); err != nil || status != http.StatusOK {
		t.Fatalf("GET with every slot held by a stale tunnel: got %d, %v; want 200", status, err)
	}
	if got := d.dials.Load(); got != maxConnsPerHost+1 {
		t.Errorf("dials: got %d, want %d", got, maxConnsPerHost+1)
	}
}

// getWithin sends one GET to the proxy and reads its response, giving up
// after limit.
func getWithin(t testing.TB, addr string, limit time.Duration) response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial proxy: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(limit))
	if _, err := io.WriteString(conn, rawRequest("GET", "/api/v4/brokers", addr, "")); err != nil {
		t.Fatalf("write request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
}

func TestDirectResponseHeaderTimeout(t *testing.T) {
	api := newHeldAPI(t) // never answers while the test runs
	cfg := testConfig(api.upstream)
	cfg.ResponseHeaderTimeout = 200 * time.Millisecond
	h, addr := startProxy(t, cfg)
	start := time.Now()
	resp := getWithin(t, addr, directWait)
	if resp.Status != http.StatusGatewayTimeout || resp.Body != "timeout\n" {
		t.Errorf("got %d %q, want 504 %q", resp.Status, resp.Body, "timeout\n")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("answered after %s, want about %s", took, cfg.ResponseHeaderTimeout)
	}
	eventually(t, "slot of the timed-out tunnel freed", slotsFreed(h.transport))
}

func TestDirectCancelWhileWaiting(t *testing.T) {
	got := make(chan struct{}, 1)
	ended := make(chan struct{}, 1)
	d := countDials(rawAPI(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		got <- struct{}{}
		io.Copy(io.Discard, br) // never answers; returns when the tunnel is closed
		ended <- struct{}{}
	}))
	tr := newTestDirect(t, d.Dial, 4*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := startGet(ctx, tr, "/")
	waitFor(t, got, "the request at the API")
	cancel()
	start := time.Now()
	if err := waitFor(t, done, "RoundTrip to return"); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want %v", err, context.Canceled)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("RoundTrip returned %s after the cancel, want at once", took)
	}
	waitFor(t, ended, "the API to see the tunnel closed")
	eventually(t, "slot of the cancelled tunnel freed", slotsFreed(tr))
	if got := d.open.Load(); got != 0 {
		t.Errorf("tunnels open: got %d, want 0", got)
	}
}

func TestDirectInterimResponses(t *testing.T) {
	tests := []struct{ name, interim string }{
		{name: "100 Continue", interim: "HTTP/1.1 100 Continue\r\n\r\n"},
		{name: "103 Early Hints", interim: "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"},
		{name: "102 then 103", interim: "HTTP/1.1 102 Processing\r\n\r\n" +
			"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := newAPIEvents()
			d := countDials(rawAPI(t, ev.answer(func(*http.Request) (string, bool) {
				return tt.interim + okResponse("final body"), false
			})))
			_, addr := startProxy(t, Config{Dial: d.Dial, Credential: static{header: injected}, Service: testService})
			for i := range 2 {
				if resp := getWithin(t, addr, directWait); resp.Status != http.StatusOK || resp.Body != "final body" {
					t.Fatalf("GET %d: got %d %q, want 200 %q", i, resp.Status, resp.Body, "final body")
				}
			}
			if got := d.dials.Load(); got != 1 {
				t.Errorf("dials: got %d, want 1 (the interim responses read cleanly)", got)
			}
		})
	}
}

// TestDirectBoundsWhatPrecedesTheBody: the API cannot make the proxy hold
// unbounded headers or read interim responses without end.
func TestDirectBoundsWhatPrecedesTheBody(t *testing.T) {
	hugeHeader := "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", maxResponseHeaderBytes+1) + "\r\nContent-Length: 0\r\n\r\n"
	interims := strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", maxInterim+1) + okResponse("final")
	tests := []struct {
		name, raw string
		want      error
	}{
		{name: "headers over the limit", raw: hugeHeader, want: errHeadersTooLarge},
		{name: "too many interim responses", raw: interims, want: errTooManyInterim},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := newAPIEvents()
			d := countDials(rawAPI(t, ev.answer(func(*http.Request) (string, bool) { return tt.raw, false })))
			tr := newTestDirect(t, d.Dial, directWait)
			if _, _, err := roundTrip(tr, http.MethodGet, "/", ""); !errors.Is(err, tt.want) {
				t.Errorf("RoundTrip: got %v, want %v", err, tt.want)
			}
			eventually(t, "slot freed", slotsFreed(tr))
		})
	}
	ev := newAPIEvents()
	exact := strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", maxInterim) + okResponse("final")
	tr := newTestDirect(t, countDials(rawAPI(t, ev.answer(func(*http.Request) (string, bool) { return exact, false }))).Dial, directWait)
	if got := mustOK(t, tr, http.MethodGet, "/", ""); got != "final" {
		t.Errorf("after %d interim responses: got %q, want %q", maxInterim, got, "final")
	}
}

const switchResponse = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"

func TestDirectUnaskedProtocolSwitch(t *testing.T) {
	ev := newAPIEvents()
	d := countDials(rawAPI(t, ev.answer(func(*http.Request) (string, bool) { return switchResponse, false })))
	tr := newTestDirect(t, d.Dial, time.Second)
	if _, _, err := roundTrip(tr, http.MethodGet, "/", ""); !errors.Is(err, errProtocolSwitch) {
		t.Errorf("RoundTrip: got %v, want %v", err, errProtocolSwitch)
	}
	waitFor(t, ev.clientEOF, "the API to see the tunnel closed")
	eventually(t, "slot freed", slotsFreed(tr))

	_, addr := startProxy(t, Config{Dial: d.Dial, Credential: static{header: injected}, Service: testService})
	if resp := getWithin(t, addr, directWait); resp.Status != http.StatusBadGateway {
		t.Errorf("through the proxy: got %d, want 502", resp.Status)
	}
}

func TestDirectBodies(t *testing.T) {
	atLimit, overLimit, small := patterned(directBodyMax), patterned(directBodyMax+1), patterned(1000)
	tests := []struct {
		name      string
		body      string
		headers   []string
		sent      string // as written to the proxy
		wantDials int32  // for two requests
	}{
		{name: "Content-Length at the limit goes direct", body: atLimit,
			headers: []string{fmt.Sprintf("Content-Length: %d", len(atLimit))}, sent: atLimit, wantDials: 1},
		{name: "Content-Length over the limit goes to the fallback", body: overLimit,
			headers: []string{fmt.Sprintf("Content-Length: %d", len(overLimit))}, sent: overLimit, wantDials: 2},
		{name: "chunked is sent direct with Content-Length", body: small,
			headers: []string{"Transfer-Encoding: chunked"}, sent: chunked(small), wantDials: 1},
		{name: "chunked over the limit goes to the fallback with Content-Length", body: overLimit,
			headers: []string{"Transfer-Encoding: chunked"}, sent: chunked(overLimit), wantDials: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, nil)
			d := countDials(up.dial)
			cfg := testConfig(up)
			cfg.Dial = d.Dial
			_, addr := startProxy(t, cfg)
			for i := range 2 {
				resp := exchange(t, addr, rawRequest("POST", "/api/v4/mqtt/publish", addr, tt.sent, tt.headers...))[0]
				if resp.Status != http.StatusOK {
					t.Fatalf("POST %d: got %d, want 200", i, resp.Status)
				}
			}
			for i, r := range up.requests() {
				if r.Body != tt.body || r.ContentLength != int64(len(tt.body)) || r.TransferEncoding != nil {
					t.Errorf("request %d at the API: got %d bytes (intact %t), Content-Length %d, Transfer-Encoding %v; want %d bytes intact with Content-Length",
						i, len(r.Body), r.Body == tt.body, r.ContentLength, r.TransferEncoding, len(tt.body))
				}
			}
			if got := d.dials.Load(); got != tt.wantDials {
				t.Errorf("dials: got %d, want %d", got, tt.wantDials)
			}
		})
	}
}

// TestDirectUnknownLengthBodyIsSent: for a client request, ContentLength 0
// with a Body means "unknown", not "empty" (net/http's Request doc).
func TestDirectUnknownLengthBodyIsSent(t *testing.T) {
	up := newUpstream(t, nil)
	tr := newTestDirect(t, up.dial, directWait)
	ctx, cancel := context.WithTimeout(context.Background(), directWait)
	defer cancel()
	req := newAPIRequest(ctx, http.MethodPost, "/", "")
	req.Body = io.NopCloser(io.MultiReader(strings.NewReader("payload"))) // length unknown
	if status, _, err := fetch(tr, req); err != nil || status != http.StatusOK {
		t.Fatalf("POST: got %d, %v; want 200", status, err)
	}
	if got := up.requests()[0].Body; got != "payload" {
		t.Errorf("body at the API: got %q, want %q", got, "payload")
	}
}

// echoUpgrade switches to an echo protocol when asked to; otherwise "ok".
func echoUpgrade(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "websocket" {
		io.WriteString(w, "ok")
		return
	}
	c, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(directWait))
	if _, err := io.WriteString(c, switchResponse); err != nil {
		return
	}
	io.Copy(c, brw)
}

func TestDirectUpgradeGoesToFallback(t *testing.T) {
	up := newUpstream(t, echoUpgrade)
	d := countDials(up.dial)
	cfg := testConfig(up)
	cfg.Dial = d.Dial
	_, addr := startProxy(t, cfg)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial proxy: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(directWait))
	io.WriteString(conn, rawRequest("GET", "/ws", addr, "", "Connection: Upgrade", "Upgrade: websocket"))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read upgrade response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: got %d, want 101", resp.StatusCode)
	}
	io.WriteString(conn, "ping")
	echo := make([]byte, 4)
	if _, err := io.ReadFull(br, echo); err != nil || string(echo) != "ping" {
		t.Errorf("echo: got %q, %v; want %q", echo, err, "ping")
	}
	if got := d.dials.Load(); got != 1 {
		t.Errorf("dials: got %d, want 1", got)
	}
}

func TestDirectShutdown(t *testing.T) {
	ev := newAPIEvents()
	release := make(chan struct{})
	d := countDials(rawAPI(t, ev.answer(func(r *http.Request) (string, bool) {
		if r.URL.Path == "/slow" {
			<-release
		}
		return okResponse("ok"), false
	})))
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	tr := newTestDirect(t, d.Dial, 4*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), directWait)
	defer cancel()
	slow := make(chan error, 1)
	go func() { _, _, err := fetch(tr, newAPIRequest(ctx, http.MethodGet, "/slow", "")); slow <- err }()
	waitFor(t, ev.bodies, "the slow request at the API")
	mustOK(t, tr, http.MethodGet, "/fast", "") // a second tunnel, left idle
	if got := idleCount(tr); got != 1 {
		t.Fatalf("idle tunnels: got %d, want 1", got)
	}

	tr.closeIdle(true)
	waitFor(t, ev.clientEOF, "the API to see the idle tunnel closed")
	eventually(t, "one slot left, the slow request's", func() bool { return len(tr.slots) == 1 })

	once.Do(func() { close(release) })
	if err := waitFor(t, slow, "the slow request"); err != nil {
		t.Fatalf("slow request: %v", err)
	}
	waitFor(t, ev.clientEOF, "the API to see the returning tunnel closed")
	eventually(t, "every slot freed", slotsFreed(tr))
	if got := idleCount(tr); got != 0 {
		t.Errorf("idle tunnels after shutdown: got %d, want 0", got)
	}
}

func TestHandlerCloseClosesIdleTunnels(t *testing.T) {
	ev := newAPIEvents()
	dial := rawAPI(t, ev.answer(keepAnswering))
	h, addr := startProxy(t, Config{Dial: dial, Credential: static{header: injected}, Service: testService})
	if resp := getWithin(t, addr, directWait); resp.Status != http.StatusOK {
		t.Fatalf("GET: got %d, want 200", resp.Status)
	}
	h.Close()
	waitFor(t, ev.clientEOF, "the API to see the idle tunnel closed")
}

// bigBodyAPI answers with a body of size bytes announced by Content-Length,
// but sends only its first sent bytes until the client hangs up.
func bigBodyAPI(size, sent int) func(net.Conn, *bufio.Reader) {
	part := patterned(sent)
	return func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", size)
			if _, err := io.WriteString(c, part); err != nil || sent < size {
				io.Copy(io.Discard, br)
				return
			}
		}
	}
}

func TestDirectUnreadBodyClosesTunnel(t *testing.T) {
	d := countDials(rawAPI(t, bigBodyAPI(1<<20, 1<<20)))
	tr := newTestDirect(t, d.Dial, directWait)
	ctx, cancel := context.WithTimeout(context.Background(), directWait)
	defer cancel()
	resp, err := tr.RoundTrip(newAPIRequest(ctx, http.MethodGet, "/", ""))
	if err != nil {
		t.Fatalf("RoundTrip: %v", err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1024)); err != nil {
		t.Fatalf("read the start of the body: %v", err)
	}
	resp.Body.Close()
	if got := d.open.Load(); got != 0 {
		t.Errorf("tunnels open after a body closed unread: got %d, want 0", got)
	}
	eventually(t, "slot freed", slotsFreed(tr))
	if got := mustOK(t, tr, http.MethodGet, "/", ""); len(got) != 1<<20 {
		t.Errorf("next body: got %d bytes, want %d", len(got), 1<<20)
	}
	if got := d.dials.Load(); got != 2 {
		t.Errorf("dials: got %d, want 2", got)
	}
}

// TestDirectClosingUnreadBodyDoesNotWait: Close gives up on the rest of
// the body at once, even when the API has not sent it.
func TestDirectClosingUnreadBodyDoesNotWait(t *testing.T) {
	d := countDials(rawAPI(t, bigBodyAPI(1<<20, 1024)))
	tr := newTestDirect(t, d.Dial, directWait)
	ctx, cancel := context.WithTimeout(context.Background(), directWait)
	defer cancel()
	resp, err := tr.RoundTrip(newAPIRequest(ctx, http.MethodGet, "/", ""))
	if err != nil {
		t.Fatalf("RoundTrip: %v", err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1024)); err != nil {
		t.Fatalf("read the start of the body: %v", err)
	}
	closed := make(chan struct{})
	go func() {
		resp.Body.Close()
		close(closed)
	}()
	defer func() { // bounded: the context ending closes the tunnel under a stuck Close
		cancel()
		<-closed
	}()
	select {
	case <-closed:
	case <-time.After(time.Second):
		t.Fatalf("Close of a body not read to its end still blocked after 1s (tunnels open: %d)", d.open.Load())
	}
	if got := d.open.Load(); got != 0 {
		t.Errorf("tunnels open: got %d, want 0", got)
	}
}

// slowReadConn delivers its first Read's bytes late: the response arrives
// as the header timer fires.
type slowReadConn struct {
	net.Conn
	once sync.Once
}

func (c *slowReadConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.once.Do(func() { time.Sleep(300 * time.Millisecond) })
	return n, err
}

func TestDirectTunnelClosedByHeaderTimerNotKept(t *testing.T) {
	raw := rawAPI(t, newAPIEvents().answer(func(r *http.Request) (string, bool) {
		if r.Method == http.MethodGet {
			return "HTTP/1.1 204 No Content\r\n\r\n", false
		}
		return okResponse("ok"), false
	}))
	var dials atomic.Int32
	tr := newTestDirect(t, func(ctx context.Context) (net.Conn, error) {
		c, err := raw(ctx)
		if err != nil || dials.Add(1) > 1 {
			return c, err
		}
		return &slowReadConn{Conn: c}, nil
	}, 100*time.Millisecond)
	roundTrip(tr, http.MethodGet, "/", "") // answered as the timer fires: either outcome is fine
	if status, _, err := roundTrip(tr, http.MethodPost, "/", "payload"); err != nil || status != http.StatusOK {
		t.Fatalf("POST after it: got %d, %v; want 200", status, err)
	}
}

func TestDirectShortCallerBodyTakesNoTunnel(t *testing.T) {
	d := countDials(rawAPI(t, newAPIEvents().answer(keepAnswering)))
	tr := newTestDirect(t, d.Dial, directWait)
	mustOK(t, tr, http.MethodGet, "/", "")
	req := newAPIRequest(context.Background(), http.MethodPost, "/", "short", "Idempotency-Key: k")
	req.ContentLength = 10 // the caller announced 10 bytes and sent 5
	if _, _, err := fetch(tr, req); err == nil || errors.Is(err, errNothingRead) {
		t.Errorf("got %v, want a request body error", err)
	}
	if got, open := d.dials.Load(), d.open.Load(); got != 1 || open != 1 {
		t.Errorf("tunnels dialled, open: got %d, %d; want 1, 1 (the idle one kept)", got, open)
	}
}

// A tunnel that goes idle just before a request starts waiting for a slot
// (all taken) is the one that request gets, at once: it does not wait for
// another request to finish or for the idle tunnel to expire (2 s).
func TestDirectWaiterTakesTunnelIdledBeforeItWaited(t *testing.T) {
	tr := newTestDirect(t, rawAPI(t, newAPIEvents().answer(keepAnswering)), directWait)
	tr.slots = make(chan struct{}, 1) // one tunnel at most
	dc, err := tr.fresh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tr.put(dc) // nobody waiting on the hand-off: it goes idle
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	got, err := tr.fresh(ctx)
	if err != nil || got != dc {
		t.Fatalf("fresh: got %p, %v; want the idle tunnel %p at once", got, err, dc)
	}
	tr.discard(got)
}
