package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	// authPrefix: paths under it demand the token the proxy injects; the
	// proxy variant's requests use it, the raw variants' do not.
	authPrefix = "/auth"
	maxBulk    = 64 << 30
	copyBuf    = 256 << 10
	jsonBody   = `{"code":0,"data":[{"node":"bench@127.0.0.1","uptime":"1 hour","version":"0.0.0"}]}` + "\n"
)

// directClient never uses an environment proxy.
var directClient = &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 30 * time.Second}

// pattern is what /bulk sends and uploads send: any bytes do, they are
// never compared.
var pattern = make([]byte, copyBuf)

// upstream is the loopback HTTP service every variant reaches.
type upstream struct {
	requests, rejects, uploaded atomic.Int64
	mux, authed                 *http.ServeMux
}

// upstreamStats is what GET /stats answers.
type upstreamStats struct {
	Requests int64 `json:"requests"`
	Rejects  int64 `json:"rejects"`
	Uploaded int64 `json:"uploaded_bytes"`
}

func newUpstream() *upstream {
	u := &upstream{mux: http.NewServeMux(), authed: http.NewServeMux()}
	for _, r := range []struct {
		method, path string
		h            http.HandlerFunc
	}{
		{"GET", "/bulk", u.bulk},
		{"POST", "/upload", u.upload},
		{"GET", "/json", u.json},
		{"GET", "/stats", u.stats},
	} {
		u.mux.HandleFunc(r.method+" "+r.path, r.h)
		// The same under authPrefix, routed directly: http.StripPrefix
		// would copy every request (the proxy variant's cost, not the
		// proxy's).
		u.authed.HandleFunc(r.method+" "+authPrefix+r.path, r.h)
	}
	return u
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.requests.Add(1)
	if !strings.HasPrefix(r.URL.Path, authPrefix+"/") {
		u.mux.ServeHTTP(w, r)
		return
	}
	if !validBearer(r.Header.Get("Authorization")) {
		u.rejects.Add(1)
		http.Error(w, "missing or malformed bearer token", http.StatusUnauthorized)
		return
	}
	u.authed.ServeHTTP(w, r)
}

// validBearer accepts "Bearer " and a JWT-shaped token: three non-empty
// base64url parts. The signature is not verified: the bench only checks
// that the proxy injected a token on every request. One pass over the
// bytes, no allocation: the check is the bench's, and should cost the
// proxy variant little (a Split and a rune callback per byte cost the
// upstream about 1.5 µs a request; docs/PERFORMANCE.md, change 22).
func validBearer(h string) bool {
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return false
	}
	dots, n := 0, 0 // dots seen; bytes in the current part
	for i := 0; i < len(tok); i++ {
		switch c := tok[i]; {
		case base64URL[c]:
			n++
		case c == '.' && n > 0:
			dots, n = dots+1, 0
		default:
			return false
		}
	}
	return dots == 2 && n > 0
}

// base64URL: the base64url alphabet, looked up (a chain of range checks
// mispredicts on every byte of a token).
var base64URL = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		t[c] = true
	}
	return t
}()

// bulk streams ?bytes=N bytes.
func (u *upstream) bulk(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.URL.Query().Get("bytes"), 10, 64)
	if err != nil || n < 0 || n > maxBulk {
		http.Error(w, "bytes: want 0 to 64 GiB", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	for n > 0 {
		k, err := w.Write(pattern[:min(n, int64(len(pattern)))])
		if err != nil {
			return
		}
		n -= int64(k)
	}
}

// upload discards the body and answers with its length.
func (u *upstream) upload(w http.ResponseWriter, r *http.Request) {
	buf := make([]byte, copyBuf)
	var n int64
	for {
		k, err := r.Body.Read(buf)
		n += int64(k)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	u.uploaded.Add(n)
	writeJSON(w, map[string]int64{"bytes": n})
}

func (u *upstream) json(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(jsonBody)))
	io.WriteString(w, jsonBody)
}

func (u *upstream) stats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, upstreamStats{Requests: u.requests.Load(), Rejects: u.rejects.Load(), Uploaded: u.uploaded.Load()})
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

// runUpstream is `loopbench upstream --listen 127.0.0.1:PORT`: the
// upstream as its own process, so that its sockets and CPU are apart from
// the load generator's. It serves until SIGTERM or SIGINT.
func runUpstream(args []string) error {
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	listen := fs.String("listen", "", "loopback address to serve on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkLoopback(*listen); err != nil {
		return fmt.Errorf("upstream --listen: %w", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("upstream: %w", err)
	}
	srv := &http.Server{Handler: newUpstream(), ReadHeaderTimeout: time.Minute, IdleTimeout: time.Hour}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("upstream: %w", err)
	}
	return nil
}

// checkLoopback refuses an address that is not 127.0.0.1:PORT.
func checkLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host != "127.0.0.1" {
		return fmt.Errorf("%q: want 127.0.0.1:PORT", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%q: want a port from 1 to 65535", addr)
	}
	return nil
}

// startUpstream starts the upstream process on a free port.
func startUpstream(ps *procs) (*proc, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", fmt.Errorf("start upstream: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p, err := ps.start("upstream", nil, self, "upstream", "--listen", addr)
	if err != nil {
		return nil, "", err
	}
	return p, addr, waitListening(p, addr)
}

// fetchStats asks the upstream for its counters.
func fetchStats(ctx context.Context, addr string) (upstreamStats, error) {
	var st upstreamStats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/stats", nil)
	if err != nil {
		return st, err
	}
	resp, err := directClient.Do(req)
	if err != nil {
		return st, fmt.Errorf("upstream stats: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&st); err != nil {
		return st, fmt.Errorf("upstream stats: %w", err)
	}
	return st, nil
}
