package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// callerHeaders, and every header named X-Forwarded-*, are dropped from
// every request: the caller's own credentials and forwarding claims never
// reach the service.
var callerHeaders = []string{
	"Authorization",
	"Proxy-Authorization",
	"Forwarded",
}

const forwardedPrefix = "X-Forwarded-"

// callerHeader reports whether rewrite drops the header named k.
func callerHeader(k string) bool {
	return len(k) >= len(forwardedPrefix) && strings.EqualFold(k[:len(forwardedPrefix)], forwardedPrefix) ||
		slices.ContainsFunc(callerHeaders, func(c string) bool { return strings.EqualFold(k, c) })
}

// rewrite points out at the service, keeping its path and query, and
// replaces whatever credentials the caller sent with auth. Header names are
// matched case-insensitively, for requests built by hand.
func rewrite(out *http.Request, service, auth string) {
	out.URL = &url.URL{
		Scheme:   "http",
		Host:     service,
		Path:     out.URL.Path,
		RawPath:  out.URL.RawPath,
		RawQuery: out.URL.RawQuery,
	}
	out.Host = service
	if out.Header == nil {
		out.Header = make(http.Header)
	}
	for k := range out.Header {
		if callerHeader(k) {
			delete(out.Header, k)
		}
	}
	out.Header.Set("Authorization", auth)
}

var errBodyTooLarge = errors.New("request body too large")

// fixLength reads a body of unknown length (chunked) into memory, at most
// limit bytes, so that it is sent with Content-Length: NanoMQ cannot read
// chunked bodies. A body whose length is known is left to stream.
func fixLength(r *http.Request, limit int64) error {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength > 0 {
		return nil
	}
	n := limit
	if n < math.MaxInt64 {
		n++ // one byte more tells an overflow from a body of exactly limit
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, n))
	r.Body.Close()
	if err != nil {
		return fmt.Errorf("read request body: %w", err)
	}
	if int64(len(body)) > limit {
		return fmt.Errorf("%w: more than %d bytes", errBodyTooLarge, limit)
	}
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	r.Trailer = nil
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	if len(body) == 0 {
		// As http.NewRequest does: a replayed empty body must be NoBody,
		// or it is written chunked (Content-Length 0 means unknown then).
		r.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
	}
	r.Body, _ = r.GetBody()
	return nil
}

// bodyStatus is the answer to a body fixLength could not take.
func bodyStatus(err error, limit int64) (int, string) {
	if errors.Is(err, errBodyTooLarge) {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", limit)
	}
	return http.StatusBadRequest, "could not read the request body"
}

// Do sends one request through the tunnel with the same rewriting as
// Handler: the caller's credentials and forwarding headers are stripped,
// cfg.Credential is injected, a body of unknown length is sent with
// Content-Length (at most cfg.MaxBodyBytes), and redirects are not
// followed: a 3xx is returned as is. Only req's method, path, query, headers
// and body are used; its host is replaced by cfg.Service. The caller closes
// the response body.
func Do(ctx context.Context, cfg Config, req *http.Request) (*http.Response, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if ctx == nil || req == nil || req.URL == nil {
		return nil, errors.New("proxy: Do needs a context and a request with a URL")
	}
	out := req.Clone(ctx)
	out.RequestURI = ""
	if err := fixLength(out, cfg.MaxBodyBytes); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	auth, err := cfg.Credential.Authorization(ctx)
	if err != nil {
		return nil, fmt.Errorf("proxy: credential: %w", err)
	}
	rewrite(out, cfg.Service, auth)
	client := &http.Client{
		Transport:     &remint{base: newTransport(cfg), cred: cfg.Credential, log: cfg.Logger},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	start := time.Now()
	resp, err := client.Do(out)
	if err != nil {
		return nil, err
	}
	cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "request",
		slog.String("service", cfg.Service),
		slog.String("method", out.Method),
		slog.String("path", out.URL.Path),
		slog.Int("status", resp.StatusCode),
		slog.Duration("duration", time.Since(start)))
	return resp, nil
}
