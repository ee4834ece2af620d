package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loopgate/loopgate/internal/sockio"
)

// The front end: Serve reads each connection's requests itself and
// forwards the plain ones (HTTP/1.1, no body, no upgrade, a head of at
// most frontHeadMax bytes that net/http parses and this file checks) through
// the direct transport on the connection's own goroutine, writing the
// response back itself. Profiled at 32 connections, net/http's server and
// ReverseProxy (a context, a background read goroutine, a response writer,
// a request clone per request) cost the proxy client more CPU than the
// tunnel. The first request that is not plain hands the connection, with
// every byte read from it and not yet used, to an http.Server that serves
// it from then on with ServeHTTP: net/http answers what it must refuse or
// parse itself (bad or oversized heads, HTTP/1.0, Expect, bodies,
// upgrades), and the checks and rewriting are the same on both paths.
const (
	// frontHeadMax is the largest request head the front end takes (its
	// read buffer); a larger one goes to net/http, which takes up to 1 MiB.
	frontHeadMax = 4 << 10
)

// front is the state of the connections the front end is serving.
type front struct {
	ctx    context.Context // ended by Close: in-flight requests end with it
	cancel context.CancelFunc

	handed atomic.Int64 // connections handed to the http.Server

	mu      sync.Mutex
	conns   map[*frontConn]struct{}
	lns     []net.Listener // every running Serve's, closed by shutdown
	closing bool
	idle    *sync.Cond // broadcast when a connection ends
	// The http.Server serves handoff while any Serve runs: the first
	// Serve starts it, the last one to return closes the listener and
	// waits for the server's Serve (served). nil while no Serve runs.
	handoff *handoffListener
	served  chan error
	serving int
}

func newFront() *front {
	ctx, cancel := context.WithCancel(context.Background())
	f := &front{
		ctx:    ctx,
		cancel: cancel,
		conns:  make(map[*frontConn]struct{}),
	}
	f.idle = sync.NewCond(&f.mu)
	return f
}

// frontConn is one caller's connection while the front end serves it.
type frontConn struct {
	c       net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	waiting bool // between requests: Shutdown may close it
	// ctx, under the front end's, ends the connection's request in flight
	// when the caller goes away during a streamed response (see watch).
	ctx    context.Context
	cancel context.CancelFunc
}

// headReaders parse request heads already read from a connection.
var headReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, frontHeadMax) }}

// Serve accepts connections on ln until Shutdown or Close, and then
// returns http.ErrServerClosed; any other accept error is returned. Like
// http.Server.Serve it closes ln, and it may run on several listeners at
// once, or again after every one has returned; a listener that fails ends
// its own Serve only. Accepted connections read and write without the
// scheduler's system-call bookkeeping (internal/sockio).
func (h *Handler) Serve(ln net.Listener) error {
	f := h.front
	ln = sockio.Listener{Listener: ln}
	f.mu.Lock()
	if f.closing {
		f.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	f.lns = append(f.lns, ln)
	if f.serving++; f.serving == 1 {
		hl, served := newHandoffListener(), make(chan error, 1)
		f.handoff, f.served = hl, served
		go func() { served <- h.server.Serve(hl) }()
	}
	f.mu.Unlock()

	err := h.accept(ln)
	ln.Close()
	f.mu.Lock()
	f.lns = slices.DeleteFunc(f.lns, func(l net.Listener) bool { return l == ln })
	f.serving--
	hl, served := f.handoff, f.served
	last := f.serving == 0
	if last {
		f.handoff, f.served = nil, nil
	}
	closing := f.closing
	f.mu.Unlock()
	if last {
		// Handed-over connections stay with the server until Shutdown or
		// Close; other listeners' Serves keep handing over until then.
		hl.Close()
		<-served
	}
	if closing {
		return http.ErrServerClosed
	}
	return err
}

// accept serves each connection on its own goroutine until ln fails.
// Running out of descriptors is waited out, as net/http does.
func (h *Handler) accept(ln net.Listener) error {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if isTemporary(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				h.log.Warn("accept", slog.Any("error", err), slog.Duration("retry_in", delay))
				if !h.sleep(delay) {
					return err
				}
				continue
			}
			return err
		}
		delay = 0
		fc := &frontConn{c: c, br: bufio.NewReaderSize(c, frontHeadMax), bw: bufio.NewWriter(c)}
		if !h.front.add(fc) {
			c.Close()
			continue
		}
		go h.serveConn(fc)
	}
}

// sleep waits d, or returns false at once if the server is closing.
func (h *Handler) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-h.front.ctx.Done():
		return false
	}
}

func (f *front) add(fc *frontConn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing {
		return false
	}
	f.conns[fc] = struct{}{}
	return true
}

func (f *front) remove(fc *frontConn) {
	f.mu.Lock()
	delete(f.conns, fc)
	f.idle.Broadcast()
	f.mu.Unlock()
}

// wait marks fc as between requests (true) or in one (false), and reports
// whether it may go on: once shutting down, a connection between requests
// is closed.
func (f *front) wait(fc *frontConn, waiting bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc.waiting = waiting
	return !f.closing
}

// serveConn serves fc's requests until one is not plain, the caller
// closes, a deadline passes or the server stops.
func (h *Handler) serveConn(fc *frontConn) {
	handed := false
	fc.ctx, fc.cancel = context.WithCancel(h.front.ctx)
	defer fc.cancel()
	defer func() {
		h.front.remove(fc)
		if !handed {
			fc.c.Close()
		}
	}()
	wait := readHeaderTimeout // for the first request, as net/http waits
	for {
		if !h.front.wait(fc, true) {
			return
		}
		fc.c.SetReadDeadline(time.Now().Add(wait))
		wait = serverIdleTimeout
		if _, err := fc.br.Peek(1); err != nil {
			return
		}
		if !h.front.wait(fc, false) {
			return
		}
		if buffered, _ := fc.br.Peek(fc.br.Buffered()); headEnd(buffered) == 0 {
			// The rest of the head is still to come. (Otherwise the
			// deadline set above stays: nothing reads the connection
			// until the next request's wait sets another.)
			fc.c.SetReadDeadline(time.Now().Add(readHeaderTimeout))
		}
		req, n, err := h.plainRequest(fc.br)
		if err != nil {
			return // timed out, or gone, before the head was whole
		}
		if req == nil {
			fc.c.SetReadDeadline(time.Time{}) // net/http sets its own
			handed = h.handOver(fc)
			return
		}
		fc.br.Discard(n)
		if !h.serveFront(fc, req) {
			return
		}
	}
}

// handOver gives fc's connection, with what it has read and not used, to
// the http.Server; false if the server is closed.
func (h *Handler) handOver(fc *frontConn) bool {
	var pending []byte
	if n := fc.br.Buffered(); n > 0 {
		p, _ := fc.br.Peek(n)
		pending = bytes.Clone(p)
	}
	h.front.handed.Add(1)
	h.front.mu.Lock()
	hl := h.front.handoff
	h.front.mu.Unlock()
	return hl != nil && hl.give(&replayConn{Conn: fc.c, pending: pending})
}

// plainRequest reads the next request head from br without consuming it
// and returns the request and the head's length if the front end may
// serve it, or nil (for net/http to serve); an error if the connection
// failed before the head was whole.
func (h *Handler) plainRequest(br *bufio.Reader) (*http.Request, int, error) {
	head, err := headBytes(br)
	if err != nil || head == nil {
		return nil, 0, err
	}
	req := readSimpleRequest(head)
	if req == nil {
		hr := headReaders.Get().(*bufio.Reader)
		hr.Reset(bytes.NewReader(head))
		req, err = http.ReadRequest(hr)
		hr.Reset(nil)
		headReaders.Put(hr)
	}
	if err != nil || !plain(req) {
		return nil, 0, nil
	}
	if status, _ := h.refusal(req); status != 0 {
		return nil, 0, nil // ServeHTTP answers and logs it
	}
	return req, len(head), nil
}

// headBytes returns the request head at the start of br (up to and
// including its empty line), reading more as needed; nil if it is not
// whole within br's buffer; an error if the connection fails first.
func headBytes(br *bufio.Reader) ([]byte, error) {
	for {
		// All that is buffered: a Peek for one byte more may have read more.
		p, _ := br.Peek(br.Buffered())
		if end := headEnd(p); end > 0 {
			return p[:end], nil
		}
		_, err := br.Peek(len(p) + 1)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			return nil, nil
		case err != nil:
			return nil, err
		}
	}
}

// headEnd is the length of the head in p, through the empty line that
// ends it ("\n\r\n" or "\n\n"), or 0 if p holds no whole head.
func headEnd(p []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			return 0
		}
		i += j + 1
		switch {
		case i < len(p) && p[i] == '\n':
			return i + 1
		case i+1 < len(p) && p[i] == '\r' && p[i+1] == '\n':
			return i + 2
		}
	}
}

// plain reports whether the front end forwards req itself: HTTP/1.1, an
// origin-form target, no body, nothing to negotiate. (ReadRequest has
// already refused what net/http's server refuses in a head: a second Host,
// control characters in a value, a malformed line.)
func plain(req *http.Request) bool {
	if req.ProtoMajor != 1 || req.ProtoMinor != 1 || req.Method == http.MethodConnect ||
		!strings.HasPrefix(req.RequestURI, "/") || strings.Contains(req.URL.RawQuery, ";") ||
		req.ContentLength != 0 || len(req.TransferEncoding) > 0 || req.Body != http.NoBody {
		return false
	}
	for _, k := range []string{"Upgrade", "Expect", "Content-Length", "Transfer-Encoding", "Trailer"} {
		if _, ok := req.Header[k]; ok {
			return false
		}
	}
	return true
}

// serveFront forwards a plain request and writes the response; false if
// the connection must close.
func (h *Handler) serveFront(fc *frontConn, req *http.Request) bool {
	start := time.Now()
	status, keep := h.forward(fc, req)
	if err := fc.bw.Flush(); err != nil {
		keep = false
	}
	h.log.LogAttrs(fc.ctx, slog.LevelDebug, "request",
		slog.String("method", req.Method),
		slog.String("path", req.URL.Path),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)))
	return keep && !req.Close
}

// forward sends req to the API with the credential and writes the answer
// to bw: the API's response, or a status and one-line reason.
func (h *Handler) forward(fc *frontConn, req *http.Request) (status int, keep bool) {
	ctx, bw := fc.ctx, fc.bw
	auth, err := h.cfg.Credential.Authorization(ctx)
	if err != nil {
		h.warn(req, "credential unavailable", slog.Any("error", err))
		status, reason := credentialStatus(err)
		return status, writeFrontReason(bw, req, status, reason)
	}
	// req is this connection's own: its header is rewritten in place.
	trailers := headerHasToken(req.Header["Te"], "trailers")
	removeHopByHop(req.Header)
	if trailers {
		req.Header.Set("Te", "trailers")
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header.Set("User-Agent", "") // else Request.Write sends Go's own
	}
	out := req.WithContext(ctx)
	out.RequestURI = ""
	out.Close = false // the caller's Connection: close is not the tunnel's
	rewrite(out, h.cfg.Service, auth)
	resp, err := h.rt.RoundTrip(out)
	if err != nil {
		status, reason := h.proxyFailure(ctx, req, err)
		return status, writeFrontReason(bw, req, status, reason)
	}
	defer resp.Body.Close()
	if resp.ContentLength < 0 || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		// A streamed body may last, with nothing to write for a while.
		defer fc.watch()()
	}
	return resp.StatusCode, writeFrontResponse(bw, req, resp)
}

// watch ends fc's request in flight if the caller closes its end (or the
// connection fails) before stop is called, as net/http's background read
// does on ServeHTTP's path: otherwise a stream the API keeps quiet would
// hold the goroutine and a tunnel after the caller left. Bytes the caller
// sends meanwhile (a pipelined request) end the watch and stay in fc.br.
func (fc *frontConn) watch() (stop func()) {
	fc.c.SetReadDeadline(time.Time{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := fc.br.Peek(1); err != nil && !isTimeout(err) {
			fc.cancel()
		}
	}()
	return func() {
		fc.c.SetReadDeadline(time.Unix(1, 0)) // ends the Peek; serveConn sets the next deadline
		<-done
	}
}

// hopByHop are the headers that describe one connection (RFC 9110 7.6.1),
// dropped on both sides as ReverseProxy drops them, with the ones a
// Connection header names.
var hopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func removeHopByHop(h http.Header) {
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = textproto.TrimString(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	for _, k := range hopByHop {
		delete(h, k)
	}
}

// headerHasToken: one of values' comma-separated elements is token.
func headerHasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(textproto.TrimString(t), token) {
				return true
			}
		}
	}
	return false
}

// writeFrontResponse writes resp to bw: its status and end-to-end headers,
// and its body framed for this connection (by length when the API gave
// one, chunked otherwise, none for HEAD, 1xx, 204 and 304). A streamed body
// (no length, or server-sent events) is flushed as it comes. False if the
// connection cannot carry another response.
func writeFrontResponse(bw *bufio.Writer, req *http.Request, resp *http.Response) bool {
	code := resp.StatusCode
	removeHopByHop(resp.Header) // with Trailer: announced again below
	cl := resp.ContentLength
	bodyless := req.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified
	writeStatusLine(bw, code)
	for k, vv := range resp.Header {
		if k == "Content-Length" {
			continue
		}
		for _, v := range vv {
			writeHeaderLine(bw, k, v)
		}
	}
	chunked := false
	switch {
	case code == http.StatusNoContent || code == http.StatusNotModified:
	case cl >= 0:
		writeHeaderLine(bw, "Content-Length", strconv.FormatInt(cl, 10))
	case req.Method != http.MethodHead:
		writeHeaderLine(bw, "Transfer-Encoding", "chunked")
		chunked = true
		if len(resp.Trailer) > 0 {
			writeHeaderLine(bw, "Trailer", strings.Join(slices.Sorted(maps.Keys(resp.Trailer)), ", "))
		}
	}
	if req.Close {
		writeHeaderLine(bw, "Connection", "close")
	}
	bw.WriteString("\r\n")
	if bodyless {
		// Read to its (immediate) end, which gives the tunnel back.
		_, err := io.Copy(io.Discard, resp.Body)
		return err == nil
	}
	flush := chunked || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	if flush && bw.Flush() != nil {
		return false // the head now: the body may be a while coming
	}
	buf := copyBuffers.Get()
	defer copyBuffers.Put(buf)
	var w io.Writer = bw
	var cw io.WriteCloser
	if chunked {
		cw = httputil.NewChunkedWriter(bw)
		w = cw
	}
	var n int64
	for {
		k, err := resp.Body.Read(buf)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return false
			}
			n += int64(k)
			if flush && bw.Flush() != nil {
				return false
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return false // the caller sees a short body and a closed connection
		}
	}
	if !chunked {
		return n == cl
	}
	if cw.Close() != nil {
		return false
	}
	for k, vv := range resp.Trailer {
		for _, v := range vv {
			writeHeaderLine(bw, k, v)
		}
	}
	_, err := bw.WriteString("\r\n")
	return err == nil
}

// writeFrontReason answers with status and a one-line plain-text reason,
// as writeReason does through net/http.
func writeFrontReason(bw *bufio.Writer, req *http.Request, status int, reason string) bool {
	writeStatusLine(bw, status)
	writeHeaderLine(bw, "Content-Type", "text/plain; charset=utf-8")
	writeHeaderLine(bw, "X-Content-Type-Options", "nosniff")
	writeHeaderLine(bw, "Content-Length", strconv.Itoa(len(reason)+1))
	if req.Close {
		writeHeaderLine(bw, "Connection", "close")
	}
	bw.WriteString("\r\n")
	if req.Method != http.MethodHead {
		bw.WriteString(reason)
		bw.WriteString("\n")
	}
	return true
}

func writeStatusLine(bw *bufio.Writer, code int) {
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(strconv.Itoa(code))
	bw.WriteByte(' ')
	bw.WriteString(text)
	bw.WriteString("\r\n")
}

// writeHeaderLine writes "k: v"; a line whose name is not a token or whose
// value could end the line or the head early is dropped (net/http or the
// hand-written readers parsed both, so this is a guard).
func writeHeaderLine(bw *bufio.Writer, k, v string) {
	if !tokenString(k) || !validValue(v) {
		return
	}
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(v)
	bw.WriteString("\r\n")
}

// isTemporary: an accept error worth waiting out (out of descriptors or
// buffers, or a timeout: net's timeout errors are temporary too).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// shutdown stops accepting and closes every connection between requests;
// with now, those in a request too, and in-flight requests end.
func (f *front) shutdown(now bool) {
	f.mu.Lock()
	f.closing = true
	for _, ln := range f.lns {
		ln.Close()
	}
	for fc := range f.conns {
		if now || fc.waiting {
			fc.c.Close()
		}
	}
	f.mu.Unlock()
	if now {
		f.cancel()
	}
}

// waitConns waits until the front end serves no connection, or ctx ends.
func (f *front) waitConns(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		f.mu.Lock()
		f.idle.Broadcast()
		f.mu.Unlock()
	})
	defer stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.conns) > 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		f.idle.Wait()
	}
	return nil
}

// handoffListener is the http.Server's listener: its connections are the
// ones the front end hands over.
type handoffListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newHandoffListener() *handoffListener {
	return &handoffListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return handoffAddr{} }

// give passes c to the server; false if the listener is closed.
func (l *handoffListener) give(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

type handoffAddr struct{}

func (handoffAddr) Network() string { return "handoff" }
func (handoffAddr) String() string  { return "handoff" }

// replayConn reads pending before the connection itself.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
