package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"

	"github.com/loopgate/loopgate/tunnel"
)

// StatusFor maps a Dial or transport error to the status the proxy answers
// with, and a one-line reason:
//
//	tunnel.ErrRefused                        403 refused by policy
//	tunnel.ErrUnreachable                    502 the API refused the connection
//	tunnel.ErrDown                           503 tunnel down
//	context.DeadlineExceeded, a net timeout  504 timeout
//	anything else                            502 bad gateway
func StatusFor(err error) (int, string) {
	switch {
	case errors.Is(err, tunnel.ErrRefused):
		return http.StatusForbidden, "refused by policy"
	case errors.Is(err, tunnel.ErrUnreachable):
		return http.StatusBadGateway, "the API refused the connection"
	case errors.Is(err, tunnel.ErrDown):
		return http.StatusServiceUnavailable, "tunnel down"
	case isTimeout(err):
		return http.StatusGatewayTimeout, "timeout"
	}
	return http.StatusBadGateway, "bad gateway"
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// proxyError is the ReverseProxy's ErrorHandler: the caller gets the
// status and reason from StatusFor, the log gets the error.
func (h *Handler) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	status, reason := h.proxyFailure(r.Context(), r, err)
	writeReason(w, status, reason)
}

// proxyFailure logs a round trip of r that failed with err and returns
// the status and reason to answer with (StatusFor). A caller that went
// away (ctx ended) is logged at debug only.
func (h *Handler) proxyFailure(ctx context.Context, r *http.Request, err error) (int, string) {
	status, reason := StatusFor(err)
	level := slog.LevelWarn
	if ctx.Err() != nil {
		level = slog.LevelDebug
	}
	h.log.LogAttrs(ctx, level, "proxy error",
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Any("error", err))
	return status, reason
}
