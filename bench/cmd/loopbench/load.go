package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"
)

const (
	dialTimeout      = 10 * time.Second
	bulkTimeout      = 10 * time.Minute       // bound on one bulk transfer
	requestTimeout   = 30 * time.Second       // bound on one small request
	maxReqsPerWorker = 1 << 21                // bound on one load worker's loop
	firstPoll        = 200 * time.Microsecond // asked of nanosleep(2); see pollPause
)

// endpoint is where a variant's traffic enters: a local port, and the
// path prefix its requests use.
type endpoint struct {
	variant string
	addr    string // 127.0.0.1:PORT
	prefix  string // authPrefix for the proxy, so the upstream checks its token
	client  *side  // nil for direct
	server  *side
}

// dialCtx connects to addr and closes the connection when ctx ends. The
// returned stop must be called once the connection is no longer used.
func dialCtx(ctx context.Context, addr string) (net.Conn, func() bool, error) {
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	return c, stop, nil
}

// getRequest is a keep-alive GET whose Host names the endpoint (the proxy
// refuses any other).
func getRequest(addr, path string) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: loopbench\r\n\r\n")
}

// roundTrip writes req and reads the whole response with buf, returning
// the status and body length.
func roundTrip(c net.Conn, br *bufio.Reader, req, buf []byte) (int, int64, error) {
	if _, err := c.Write(req); err != nil {
		return 0, 0, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, 0, err
	}
	n, err := drain(resp.Body, buf)
	resp.Body.Close()
	return resp.StatusCode, n, err
}

// drain reads r to the end with buf (io.Copy to io.Discard would use
// 8 KiB reads).
func drain(r io.Reader, buf []byte) (int64, error) {
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(k)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// bulkConn dials ep for one bulk transfer, bounded by bulkTimeout; done
// closes it.
func bulkConn(ctx context.Context, ep *endpoint) (c net.Conn, done func(), err error) {
	c, stop, err := dialCtx(ctx, ep.addr)
	if err != nil {
		return nil, nil, err
	}
	c.SetDeadline(time.Now().Add(bulkTimeout))
	return c, func() { c.Close(); stop() }, nil
}

// download fetches n bytes through ep and returns how long it took from
// sending the request to the last byte.
func download(ctx context.Context, ep *endpoint, n int64) (time.Duration, error) {
	c, done, err := bulkConn(ctx, ep)
	if err != nil {
		return 0, err
	}
	defer done()
	start := time.Now()
	req := getRequest(ep.addr, ep.prefix+"/bulk?bytes="+strconv.FormatInt(n, 10))
	status, got, err := roundTrip(c, bufio.NewReaderSize(c, 64<<10), req, make([]byte, copyBuf))
	switch {
	case err != nil:
		return 0, fmt.Errorf("download: %w", err)
	case status != http.StatusOK || got != n:
		return 0, fmt.Errorf("download: status %d, %d bytes, want 200, %d bytes", status, got, n)
	}
	return time.Since(start), nil
}

// upload sends n bytes through ep and returns how long it took from the
// request's first byte to the upstream's answer.
func upload(ctx context.Context, ep *endpoint, n int64) (time.Duration, error) {
	c, done, err := bulkConn(ctx, ep)
	if err != nil {
		return 0, err
	}
	defer done()
	start := time.Now()
	head := fmt.Sprintf("POST %s/upload HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\n"+
		"Content-Length: %d\r\n\r\n", ep.prefix, ep.addr, n)
	if err := writeBody(c, head, n); err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	defer resp.Body.Close()
	var got struct{ Bytes int64 }
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("upload: status %d (%v), want 200", resp.StatusCode, err)
	}
	if got.Bytes != n {
		return 0, fmt.Errorf("upload: upstream got %d bytes, want %d", got.Bytes, n)
	}
	return time.Since(start), nil
}

func writeBody(c net.Conn, head string, n int64) error {
	if _, err := io.WriteString(c, head); err != nil {
		return err
	}
	for n > 0 {
		k, err := c.Write(pattern[:min(n, int64(len(pattern)))])
		if err != nil {
			return err
		}
		n -= int64(k)
	}
	return nil
}

// loadResult is what a fixed-duration request load measured.
type loadResult struct {
	requests int
	elapsed  time.Duration
	p50, p99 time.Duration
	p999     time.Duration // 99.9th percentile: the one request in 1,000 a stall on a shared link hits
	err      error         // the first failure, if any worker failed
}

func (r loadResult) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// loadWorker sends requests one after another on its own keep-alive
// connection.
type loadWorker struct {
	c    net.Conn
	stop func() bool
	br   *bufio.Reader
	req  []byte
	buf  []byte
	lat  []time.Duration
	err  error
}

func newLoadWorker(ctx context.Context, ep *endpoint, path string) (*loadWorker, error) {
	c, stop, err := dialCtx(ctx, ep.addr)
	if err != nil {
		return nil, err
	}
	w := &loadWorker{c: c, stop: stop, br: bufio.NewReader(c), req: getRequest(ep.addr, path), buf: make([]byte, 4096)}
	for range 3 { // warm up: the tunnel, the proxy's pool, its token
		if err := w.once(time.Now().Add(requestTimeout)); err != nil {
			w.close()
			return nil, err
		}
	}
	return w, nil
}

func (w *loadWorker) once(deadline time.Time) error {
	w.c.SetDeadline(deadline)
	status, _, err := roundTrip(w.c, w.br, w.req, w.buf)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("status %d, want 200", status)
	}
	return err
}

// run sends requests until end, recording each latency.
func (w *loadWorker) run(end time.Time) {
	for n := 0; n < maxReqsPerWorker && time.Now().Before(end); n++ {
		t0 := time.Now()
		if err := w.once(t0.Add(requestTimeout)); err != nil {
			w.err = err
			return
		}
		w.lat = append(w.lat, time.Since(t0))
	}
}

func (w *loadWorker) close() {
	w.stop()
	w.c.Close()
}

// httpLoad keeps conns connections busy with GET path for d and reports
// the rate and latency percentiles.
func httpLoad(ctx context.Context, ep *endpoint, path string, conns int, d time.Duration) (loadResult, error) {
	workers := make([]*loadWorker, 0, conns)
	defer func() {
		for _, w := range workers {
			w.close()
		}
	}()
	for range conns {
		w, err := newLoadWorker(ctx, ep, path)
		if err != nil {
			return loadResult{}, fmt.Errorf("load: connect: %w", err)
		}
		workers = append(workers, w)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.run(start.Add(d)) })
	}
	wg.Wait()
	res := loadResult{elapsed: time.Since(start)}
	var all []time.Duration
	for _, w := range workers {
		all = append(all, w.lat...)
		if res.err == nil {
			res.err = w.err
		}
	}
	res.requests = len(all)
	if len(all) == 0 {
		return res, fmt.Errorf("load: no request succeeded: %v", res.err)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	res.p50, res.p99, res.p999 = percentile(all, 0.50), percentile(all, 0.99), percentile(all, 0.999)
	return res, ctx.Err()
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p * float64(len(sorted))))
	return sorted[min(max(rank-1, 0), len(sorted)-1)]
}

// tryGet sends one GET on a new connection and reports whether it got 200.
func tryGet(ctx context.Context, addr, path string) (bool, error) {
	c, stop, err := dialCtx(ctx, addr)
	if err != nil {
		return false, err
	}
	defer stop()
	defer c.Close()
	c.SetDeadline(time.Now().Add(requestTimeout))
	status, _, err := roundTrip(c, bufio.NewReader(c), getRequest(addr, path), make([]byte, 4096))
	return status == http.StatusOK, err
}

// pollPause waits about firstPoll between tries for a first response.
// time.Sleep waits at least about a millisecond whatever it is asked (the
// runtime's poller sleeps in whole milliseconds: 1.25 ms measured here for
// 200 µs), which added over half a millisecond on average to a ~30 ms
// figure; nanosleep(2) blocks this thread for the time asked, rounded up
// by the machine's timer (0.67 ms measured here).
func pollPause() {
	ts := syscall.NsecToTimespec(int64(firstPoll))
	syscall.Nanosleep(&ts, nil) // an early wake (EINTR) only polls sooner
}

// firstResponse polls addr until a GET of path answers 200, p exits, or
// the deadline passes.
func firstResponse(ctx context.Context, p *proc, addr, path string, deadline time.Time) error {
	var last error
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited: %v\n%s", p.name, p.err, p.tail())
		}
		ok, err := tryGet(ctx, addr, path)
		if ok {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		last = err
		pollPause()
	}
	return fmt.Errorf("%s: no 200 from %s before the deadline (last: %v)", p.name, addr, last)
}
