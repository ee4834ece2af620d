package standin

import (
	"context"
	"net"
	"net/http"
	"slices"
	"time"
)

// MaxHeaderBytes is how large the request line plus headers may be, as in
// NanoMQ's HTTP server (about 8 KiB).
const MaxHeaderBytes = 8192

// Serve answers requests on ln until Close or Shutdown, like
// http.Server.Serve, and returns http.ErrServerClosed after either. The
// server sets MaxHeaderBytes (net/http then answers 431 by itself, beyond
// its 4 KiB of slack) and a ReadHeaderTimeout.
func (a *API) Serve(ln net.Listener) error {
	return a.server().Serve(ln)
}

// Close stops the server now, closing its listeners and connections.
func (a *API) Close() error {
	return a.server().Close()
}

// Shutdown stops the server gracefully, like http.Server.Shutdown.
func (a *API) Shutdown(ctx context.Context) error {
	return a.server().Shutdown(ctx)
}

func (a *API) server() *http.Server {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.srv == nil {
		a.srv = &http.Server{
			Handler:           a.Handler(),
			MaxHeaderBytes:    MaxHeaderBytes,
			ReadHeaderTimeout: 5 * time.Second,
		}
	}
	return a.srv
}

// headerSize estimates the bytes of the request line and headers as they
// arrived (net/http has already parsed them).
func headerSize(r *http.Request) int {
	n := len(r.Method) + len(" ") + len(r.RequestURI) + len(" ") + len(r.Proto) + len("\r\n")
	n += len("Host: \r\n") + len(r.Host)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(": \r\n") + len(v)
		}
	}
	for _, te := range r.TransferEncoding {
		n += len("Transfer-Encoding: \r\n") + len(te)
	}
	return n + len("\r\n")
}

// isChunked reports whether the body comes in chunks, which NanoMQ cannot
// read: it reads bodies by Content-Length only.
func isChunked(r *http.Request) bool {
	return slices.Contains(r.TransferEncoding, "chunked")
}
