package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults for zero Config fields.
const (
	DefaultMaxBodyBytes          = 16 << 20
	DefaultResponseHeaderTimeout = 30 * time.Second
	DefaultService               = "localhost"
)

// How long a caller may take to send a request head, and stay idle
// between requests; variables so that tests can shorten them.
var (
	readHeaderTimeout = 10 * time.Second
	serverIdleTimeout = 2 * time.Minute // a browser's idle keep-alive connection
)

const (
	// maxConnsPerHost bounds the direct transport's tunnels, below the
	// gateway's default MaxSessions (64) so that requests queue here
	// instead of being refused there; they stay open between requests, so
	// a steady load reuses its tunnels instead of opening one per request.
	maxConnsPerHost = 32
)

// Config configures a Handler or a single Do.
type Config struct {
	// Dial opens a new connection to the service through the tunnel.
	// Required.
	Dial func(ctx context.Context) (net.Conn, error)
	// Credential is injected into every request. Required.
	Credential Credential
	// Service is the service name, for logs and the upstream Host header
	// ("Host: SERVICE"). Empty means DefaultService.
	Service string
	// MaxBodyBytes bounds a request body of unknown length, which is
	// buffered to compute Content-Length; a larger one is answered with 413.
	// Bodies whose length is known are streamed. Zero means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// ResponseHeaderTimeout bounds waiting for the API's response headers.
	// Zero means DefaultResponseHeaderTimeout.
	ResponseHeaderTimeout time.Duration
	// Logger receives one line per request at debug level (method, path,
	// status, duration) and errors at warn. Header values are never logged.
	// Nil discards.
	Logger *slog.Logger
}

// withDefaults checks c and fills its zero fields.
func (c Config) withDefaults() (Config, error) {
	switch {
	case c.Dial == nil:
		return c, errors.New("proxy: config needs a Dial function")
	case c.Credential == nil:
		return c, errors.New("proxy: config needs a Credential")
	case c.MaxBodyBytes < 0:
		return c, fmt.Errorf("proxy: MaxBodyBytes %d is negative", c.MaxBodyBytes)
	case c.ResponseHeaderTimeout < 0:
		return c, fmt.Errorf("proxy: ResponseHeaderTimeout %s is negative", c.ResponseHeaderTimeout)
	}
	if c.Service == "" {
		c.Service = DefaultService
	}
	if !validService(c.Service) {
		return c, fmt.Errorf("proxy: service %q is not a valid Host header value", c.Service)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.ResponseHeaderTimeout == 0 {
		c.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// validService accepts host names, IP literals and an optional port: the
// characters a Host header needs and nothing that could split it.
func validService(s string) bool {
	return len(s) <= 255 && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("-._:[]", r))
	})
}

// Handler is the local HTTP proxy. It implements http.Handler.
type Handler struct {
	cfg       Config
	log       *slog.Logger
	errLog    *log.Logger // for net/http's own complaints
	hosts     []string    // Host header values that name this proxy
	transport *directTransport
	rt        http.RoundTripper // the direct transport, re-minting an expired token
	rp        *httputil.ReverseProxy
	server    *http.Server // serves the connections the front end hands over
	front     *front
}

// New validates cfg. listenAddr is the address the proxy is served on (e.g.
// "127.0.0.1:18081", the listener's actual address, not port 0): requests
// whose Host header is not exactly that address, or "localhost:PORT",
// "127.0.0.1:PORT" or "[::1]:PORT" with the same port, are rejected with
// 421 Misdirected Request (DNS rebinding defence).
func New(cfg Config, listenAddr string) (*Handler, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	hosts, err := allowedHosts(listenAddr)
	if err != nil {
		return nil, err
	}
	h := &Handler{
		cfg:       cfg,
		log:       cfg.Logger.With("service", cfg.Service),
		hosts:     hosts,
		transport: newDirectTransport(cfg),
		front:     newFront(),
	}
	h.rt = &remint{base: h.transport, cred: cfg.Credential, log: cfg.Logger}
	h.errLog = slog.NewLogLogger(h.log.Handler(), slog.LevelWarn)
	h.rp = h.reverseProxy()
	h.server = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       serverIdleTimeout,
		ErrorLog:          h.errLog,
		Protocols:         http1Only(),
	}
	return h, nil
}

// allowedHosts lists the Host header values that name a proxy listening on
// addr.
func allowedHosts(addr string) ([]string, error) {
	_, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("proxy: listen address %q: %w", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("proxy: listen address %q: want the listener's actual port (1-65535)", addr)
	}
	p := strconv.FormatUint(port, 10)
	return []string{addr, "localhost:" + p, "127.0.0.1:" + p, "[::1]:" + p}, nil
}

func http1Only() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	return p
}

// newTransport dials every connection through cfg.Dial, speaks HTTP/1.1
// only, leaves bodies' encoding alone, uses no environment proxy and opens
// a tunnel per request.
func newTransport(cfg Config) *http.Transport {
	dial := cfg.Dial
	return &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := dial(ctx)
			if err == nil && c == nil {
				err = errors.New("dial returned no connection")
			}
			return c, err
		},
		ForceAttemptHTTP2:     false,
		Protocols:             http1Only(),
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		MaxConnsPerHost:       maxConnsPerHost,
		DisableCompression:    true,
		DisableKeepAlives:     true,
	}
}

// ServeHTTP checks that the request is meant for this proxy, fixes its body
// length, injects the credential and forwards it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	defer func() { // deferred: ReverseProxy aborts a broken response with a panic
		h.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status()),
			slog.Duration("duration", time.Since(start)))
	}()
	h.serve(rec, r)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	if status, reason := h.refusal(r); status != 0 {
		h.warn(r, "request refused", slog.Int("status", status), slog.String("reason", reason))
		writeReason(w, status, reason)
		return
	}
	r = r.WithContext(r.Context()) // a shallow copy: fixLength replaces the body fields
	if err := fixLength(r, h.cfg.MaxBodyBytes); err != nil {
		status, reason := bodyStatus(err, h.cfg.MaxBodyBytes)
		h.warn(r, "request body", slog.Any("error", err))
		writeReason(w, status, reason)
		return
	}
	auth, err := h.cfg.Credential.Authorization(r.Context())
	if err != nil {
		h.warn(r, "credential unavailable", slog.Any("error", err))
		status, reason := credentialStatus(err)
		writeReason(w, status, reason)
		return
	}
	h.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), authKey{}, auth)))
}

// credentialStatus is the answer when no credential could be had: a token
// is minted through the tunnel, so the tunnel's failures keep their
// statuses (503 tunnel down, 504 timeout); anything else is 502.
func credentialStatus(err error) (int, string) {
	status, reason := StatusFor(err)
	if status == http.StatusBadGateway {
		reason = "credential unavailable"
	}
	return status, reason
}

// authKey carries a request's credential from serve to the Rewrite of the
// one ReverseProxy every request shares.
type authKey struct{}

func (h *Handler) reverseProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			auth, _ := pr.In.Context().Value(authKey{}).(string) // always set by serve
			rewrite(pr.Out, h.cfg.Service, auth)
		},
		Transport:    h.rt,
		ErrorHandler: h.proxyError,
		ErrorLog:     h.errLog,
		BufferPool:   copyBuffers,
	}
}

// copyBuffers lends ReverseProxy its response copy buffers; without a pool
// it allocates (and zeroes) one for every response. They are 128 KiB, not
// ReverseProxy's 32 KiB: it reads a response body from the tunnel's SSH
// channel a buffer at a time, and x/crypto grants the gateway more window
// on every read while more than 96 KiB waits, so larger reads mean fewer
// window adjustments (see tunnel's channelReadBuf). Measured, 512 MiB
// through the proxy, three interleaved pairs: 253-362 → 326-389 MB/s,
// client + gateway CPU 4.20-6.16 → 3.90-4.54 s/GiB, write system calls
// 125k → 84k per GiB; small requests at 1 and 32 connections unchanged.
// A response holds its buffer until it ends, so each long-lived stream
// (server-sent events, a long poll) holds 128 KiB while it is open.
var copyBuffers = &bufferPool{}

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, copyBufferSize)
}

const copyBufferSize = 128 << 10

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

// refusal says why r must not be forwarded, or returns 0.
func (h *Handler) refusal(r *http.Request) (int, string) {
	switch {
	case !h.hostAllowed(r.Host):
		return http.StatusMisdirectedRequest, "the Host header does not name this proxy"
	case h.crossSite(r.Header):
		return http.StatusForbidden, "cross-site request refused"
	case r.Method == http.MethodConnect:
		return http.StatusMethodNotAllowed, "CONNECT is not supported"
	case r.Method == http.MethodTrace:
		// An API that echoes TRACE would hand the injected credential to
		// the caller.
		return http.StatusMethodNotAllowed, "TRACE is not supported"
	}
	return 0, ""
}

func (h *Handler) hostAllowed(host string) bool {
	for _, a := range h.hosts {
		if strings.EqualFold(host, a) {
			return true
		}
	}
	return false
}

// crossSite reports a browser request made by another site: Sec-Fetch-Site
// other than same-origin or none (typed in the address bar), or an Origin
// that is not this proxy. Requests with neither header (curl) pass.
func (h *Handler) crossSite(hdr http.Header) bool {
	for _, v := range hdr["Sec-Fetch-Site"] {
		if v != "same-origin" && v != "none" {
			return true
		}
	}
	for _, v := range hdr["Origin"] {
		if !h.originAllowed(v) {
			return true
		}
	}
	return false
}

func (h *Handler) originAllowed(origin string) bool {
	const prefix = "http://"
	if len(origin) < len(prefix) || !strings.EqualFold(origin[:len(prefix)], prefix) {
		return false
	}
	return h.hostAllowed(origin[len(prefix):])
}

func (h *Handler) warn(r *http.Request, msg string, attrs ...slog.Attr) {
	attrs = append([]slog.Attr{slog.String("method", r.Method), slog.String("path", r.URL.Path)}, attrs...)
	h.log.LogAttrs(r.Context(), slog.LevelWarn, msg, attrs...)
}

// Shutdown stops accepting requests, closes connections between requests,
// waits for those in flight or for ctx, and closes idle tunnel
// connections.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.front.shutdown(false)
	err := h.server.Shutdown(ctx)
	if werr := h.front.waitConns(ctx); err == nil {
		err = werr
	}
	h.transport.closeIdle(true)
	return err
}

// Close stops the server now: every connection closes and requests in
// flight end. Idle tunnel connections are closed.
func (h *Handler) Close() error {
	h.front.shutdown(true)
	err := h.server.Close()
	h.transport.closeIdle(true)
	return err
}

// statusRecorder remembers the status written, for the request log line.
// Unwrap lets http.ResponseController reach Flush and Hijack underneath.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

// writeReason answers with status and a one-line plain-text reason.
func writeReason(w http.ResponseWriter, status int, reason string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	io.WriteString(w, reason+"\n")
}
