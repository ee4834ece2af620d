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
	"slices"
	"sync"
	"time"
)

// The direct transport's limits.
const (
	// directBodyMax is the largest request body the direct transport takes;
	// it holds the body in memory, so that a request can be sent again on
	// a fresh tunnel, and writes it whole before reading the response (it
	// fits the channel's 2 MiB window, so the write cannot stall behind an
	// API that answers early). Larger bodies go to the fallback.
	directBodyMax = 64 << 10
	// directIdleReuse is how long a tunnel may have been idle and still be
	// used for the next request. An idle tunnel is not watched (that would
	// cost a goroutine and a hand-off per request), so the API closing it
	// is only noticed on the next use; keeping the reuse window short makes
	// that rare. A tunnel idle longer is closed.
	directIdleReuse = 2 * time.Second
	// fallbackConns bounds the fallback's tunnels; with maxConnsPerHost it
	// stays below the gateway's default MaxSessions (64).
	fallbackConns = 8
	// maxResponseHeaderBytes and maxInterim bound what the API may send
	// before its final response's body, as http.Transport bounds them.
	maxResponseHeaderBytes = 10 << 20
	maxInterim             = 5
)

// errProtocolSwitch: the API switched protocols for a request that did not
// ask to (those go to the fallback).
var errProtocolSwitch = errors.New("the API switched protocols unasked")

var (
	errHeadersTooLarge = fmt.Errorf("response headers larger than %d bytes", maxResponseHeaderBytes)
	errTooManyInterim  = fmt.Errorf("more than %d interim (1xx) responses", maxInterim)
)

// directTransport is the proxy's http.RoundTripper. For a request whose
// body is small (or absent) and that does not upgrade the connection, it
// writes the request and reads the response on the calling goroutine, over
// tunnels it keeps between requests. http.Transport runs two goroutines per
// connection and hands every request and response between them; profiled
// under load, that hand-off cost the proxy more CPU than the HTTP itself.
// Other requests (large or streaming bodies, Upgrade) go to fallback, an
// http.Transport without keep-alive that writes the body while it reads the
// response.
//
// The framing on both sides is net/http's: Request.Write (or, for most
// requests, writeRequest's hand-written head, the same bytes but for the
// order of the header lines) and ReadResponse (or, for most responses,
// readSimpleResponse, which reads the same from the same bytes).
type directTransport struct {
	dial     func(ctx context.Context) (net.Conn, error)
	fallback *http.Transport
	timeout  time.Duration // for the response headers

	slots   chan struct{} // one per open tunnel, at most maxConnsPerHost
	handoff chan *directConn
	// idled holds a token when a tunnel went idle with no request waiting
	// on handoff at that instant: a request that was on its way into
	// fresh's wait then looks at the idle list instead of waiting for the
	// next hand-off or for the idle tunnel to expire.
	idled chan struct{}

	mu     sync.Mutex
	idle   []*directConn // most recently used last
	closed bool
}

// directConn is one tunnel and its buffers.
type directConn struct {
	c      net.Conn
	lim    *headerLimit // under br: bounds the response headers
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time   // when it last went idle; zero until its first response
	timer  *time.Timer // closes the tunnel when it has been idle directIdleReuse
}

// reused: dc carried a request before, so the API may have closed it since.
func (dc *directConn) reused() bool { return !dc.idleAt.IsZero() }

// headerLimit lets at most n more bytes through while n >= 0; a negative
// n is no limit (the body, whose length the framing bounds).
type headerLimit struct {
	r io.Reader
	n int64
}

func (l *headerLimit) Read(p []byte) (int, error) {
	if l.n < 0 {
		return l.r.Read(p)
	}
	if l.n == 0 {
		return 0, errHeadersTooLarge
	}
	n, err := l.r.Read(p[:min(int64(len(p)), l.n)])
	l.n -= int64(n)
	return n, err
}

// newDirectTransport takes cfg after withDefaults, which sets its
// ResponseHeaderTimeout.
func newDirectTransport(cfg Config) *directTransport {
	fb := newTransport(cfg)
	fb.MaxConnsPerHost = fallbackConns
	return &directTransport{
		dial:     cfg.Dial,
		fallback: fb,
		timeout:  cfg.ResponseHeaderTimeout,
		slots:    make(chan struct{}, maxConnsPerHost),
		handoff:  make(chan *directConn),
		idled:    make(chan struct{}, 1),
	}
}

// direct reports whether req can take the direct path, and makes its body
// replayable if so. The error is the caller's body ending short: no tunnel
// is taken for it.
func direct(req *http.Request) (bool, error) {
	if req.Header.Get("Upgrade") != "" || req.ContentLength > directBodyMax || req.ContentLength < 0 ||
		req.ContentLength == 0 && req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false, nil
	}
	if req.Body == nil || req.Body == http.NoBody || req.GetBody != nil {
		return true, nil
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, req.ContentLength))
	req.Body.Close()
	if err != nil || int64(len(body)) != req.ContentLength {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return true, fmt.Errorf("read request body: %w", err)
	}
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req.Body, _ = req.GetBody()
	return true, nil
}

// RoundTrip implements http.RoundTripper.
func (t *directTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ok, err := direct(req)
	if err != nil {
		return nil, err
	}
	if !ok {
		return t.fallback.RoundTrip(req)
	}
	dc, err := t.get(req.Context())
	if err != nil {
		return nil, err
	}
	resp, err := t.exchange(req, dc)
	if err != nil && dc.reused() && errors.Is(err, errNothingRead) && retryable(req) {
		// The API closed the idle tunnel before reading the request:
		// send it again on a fresh one. direct left every body replayable.
		if req.GetBody != nil {
			if req.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
		if dc, err = t.fresh(req.Context()); err != nil {
			return nil, err
		}
		resp, err = t.exchange(req, dc)
	}
	return resp, err
}

// retryable: a method the API may receive twice without harm (RFC 9110
// 9.2.2), as http.Transport decides it.
func retryable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != ""
}

// errNothingRead: the tunnel ended before the first byte of a response.
var errNothingRead = errors.New("the API closed the connection before answering")

// exchange sends req on dc and reads the response headers. The response
// body hands dc back (or closes it) when it is read to the end or closed.
func (t *directTransport) exchange(req *http.Request, dc *directConn) (*http.Response, error) {
	ctx := req.Context()
	stop := context.AfterFunc(ctx, func() { dc.c.Close() })
	timer := time.AfterFunc(t.timeout, func() { dc.c.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		timedOut := !timer.Stop()
		t.discard(dc)
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case timedOut:
			return nil, fmt.Errorf("waiting for the response headers: %w", context.DeadlineExceeded)
		}
		return nil, err
	}
	if err := writeRequest(dc.bw, req); err != nil {
		return fail(fmt.Errorf("write request: %w: %w", errNothingRead, err))
	}
	if err := dc.bw.Flush(); err != nil {
		return fail(fmt.Errorf("write request: %w: %w", errNothingRead, err))
	}
	for interim := 0; ; interim++ {
		dc.lim.n = maxResponseHeaderBytes - int64(dc.br.Buffered())
		if _, err := dc.br.Peek(1); err != nil {
			if errors.Is(err, io.EOF) {
				err = errNothingRead
			}
			return fail(err)
		}
		resp := readSimpleResponse(dc.br, req)
		if resp == nil {
			var err error
			if resp, err = http.ReadResponse(dc.br, req); err != nil {
				return fail(fmt.Errorf("read response: %w", err))
			}
		}
		switch {
		case resp.StatusCode == http.StatusSwitchingProtocols:
			return fail(errProtocolSwitch)
		case resp.StatusCode >= 100 && resp.StatusCode < 200 && interim == maxInterim:
			return fail(errTooManyInterim)
		case resp.StatusCode >= 100 && resp.StatusCode < 200:
			continue // 100 Continue, 102, 103: the final response follows
		}
		dc.lim.n = -1
		if !timer.Stop() {
			// It fired as the headers came in and closed the tunnel: the
			// body cannot be read, and the tunnel must not be kept.
			return fail(errors.New("response header timer fired"))
		}
		resp.Body = &directBody{rc: resp.Body, t: t, dc: dc, stop: stop, keep: !resp.Close && !req.Close}
		return resp, nil
	}
}

// directBody is a response body; at its end the tunnel goes back to the
// idle list if the exchange left it clean, and is closed otherwise.
type directBody struct {
	rc   io.ReadCloser
	t    *directTransport
	dc   *directConn
	stop func() bool
	keep bool
	done bool
}

func (b *directBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err != nil {
		b.finish(errors.Is(err, io.EOF))
	}
	return n, err
}

// Close ends the exchange; a body not read to its end leaves the tunnel
// mid-response, so it is closed.
func (b *directBody) Close() error {
	b.finish(false)
	return nil
}

func (b *directBody) finish(atEOF bool) {
	if b.done {
		return
	}
	b.done = true
	if b.stop() && atEOF && b.keep && b.dc.br.Buffered() == 0 {
		b.rc.Close()
		b.t.put(b.dc)
		return
	}
	b.t.discard(b.dc)
	b.rc.Close()
}

// get returns the most recently used idle tunnel, or a new one.
func (t *directTransport) get(ctx context.Context) (*directConn, error) {
	if dc := t.reuse(); dc != nil {
		return dc, nil
	}
	return t.fresh(ctx)
}

// reuse takes the most recently used idle tunnel that may still be used,
// or nil, and closes every older one it passed (before fresh waits: their
// slots may be the ones it needs).
func (t *directTransport) reuse() *directConn {
	dc, stale := t.takeIdle()
	for _, s := range stale {
		t.discard(s)
	}
	return dc
}

// takeIdle takes the most recently used idle tunnel that may still be
// used, and off the list every older one it passed, to be closed.
func (t *directTransport) takeIdle() (dc *directConn, stale []*directConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.idle) > 0 {
		dc := t.idle[len(t.idle)-1]
		t.idle = t.idle[:len(t.idle)-1]
		// Once off the list, dc is ours to close even if its timer has
		// fired: expire closes only what it finds on the list.
		if dc.timer.Stop() && time.Since(dc.idleAt) < directIdleReuse {
			return dc, stale
		}
		stale = append(stale, dc)
	}
	return nil, stale
}

// fresh opens a new tunnel once one of maxConnsPerHost slots is free, or
// takes one that put hands over or leaves idle while it waits.
func (t *directTransport) fresh(ctx context.Context) (*directConn, error) {
wait:
	for {
		select {
		case t.slots <- struct{}{}:
			break wait // a slot: dial below
		case dc := <-t.handoff:
			return dc, nil
		case <-t.idled:
			if dc := t.reuse(); dc != nil {
				return dc, nil
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c, err := t.dial(ctx)
	if err == nil && c == nil {
		err = errors.New("dial returned no connection")
	}
	if err != nil {
		<-t.slots
		return nil, err
	}
	lim := &headerLimit{r: c, n: -1}
	return &directConn{c: c, lim: lim, br: bufio.NewReader(lim), bw: bufio.NewWriter(c)}, nil
}

// put hands dc to a request waiting for a slot, or makes it idle, to be
// closed if unused for directIdleReuse.
func (t *directTransport) put(dc *directConn) {
	dc.idleAt = time.Now()
	select {
	case t.handoff <- dc:
		return
	default:
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.discard(dc)
		return
	}
	defer t.mu.Unlock()
	if dc.timer == nil {
		dc.timer = time.AfterFunc(directIdleReuse, func() { t.expire(dc) })
	} else {
		dc.timer.Reset(directIdleReuse)
	}
	t.idle = append(t.idle, dc)
	select {
	case t.idled <- struct{}{}:
	default: // a token is already there
	}
}

// expire closes dc if it is still idle.
func (t *directTransport) expire(dc *directConn) {
	t.mu.Lock()
	i := slices.Index(t.idle, dc)
	if i >= 0 {
		t.idle = slices.Delete(t.idle, i, i+1)
	}
	t.mu.Unlock()
	if i >= 0 {
		t.discard(dc)
	}
}

// discard closes dc and frees its slot.
func (t *directTransport) discard(dc *directConn) {
	dc.c.Close()
	<-t.slots
}

// closeIdle closes the idle tunnels and, once closing is set, every
// tunnel that becomes idle from then on (the proxy is shutting down).
func (t *directTransport) closeIdle(closing bool) {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.closed = t.closed || closing
	t.mu.Unlock()
	for _, dc := range idle { // off the list: ours to close, as in get
		dc.timer.Stop()
		t.discard(dc)
	}
	t.fallback.CloseIdleConnections()
}
