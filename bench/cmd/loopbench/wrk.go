package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrk is the request-rate tool the prototype in the performance issue
// measured with (`wrk -t2 -c32`). The bench's own load generator is a Go
// program sharing the two cores with everything it measures; wrk is C,
// epoll and two threads. Where wrk is installed, the requests phase runs
// it too, at 32 connections, beside the bench's own generator, and its
// figures get rows of their own: the two tools see OpenSSH's tail
// differently (docs/PERFORMANCE.md, "p99 at 32 connections").

const (
	wrkConns   = 32
	wrkThreads = 2
	wrkGrace   = 30 * time.Second // past --duration, before wrk is stopped
	wrkPrefix  = "loopbench-wrk"
	// maxWrkField bounds every figure in wrk's report line (about 12 days
	// in µs), far above any real one, so that sums and conversions to a
	// time.Duration cannot overflow.
	maxWrkField = 1 << 40
)

// wrkScript makes wrk print one line the bench parses, in microseconds.
const wrkScript = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("` + wrkPrefix + ` requests=%d duration_us=%d p50_us=%d p99_us=%d p999_us=%d " ..
    "connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), e.connect, e.read, e.write, e.status, e.timeout))
end
`

// wrkResult is what one wrk run reported.
type wrkResult struct {
	requests       int64
	elapsed        time.Duration
	p50, p99, p999 time.Duration
	errors         int64 // connect, read, write and timeout errors, and 4xx/5xx answers
}

func (r wrkResult) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// parseWrk finds the line wrkScript prints in out.
func parseWrk(out string) (wrkResult, error) {
	var line string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), wrkPrefix+" "); ok {
			line = rest
		}
	}
	if line == "" {
		return wrkResult{}, errors.New("wrk printed no report line")
	}
	want := []string{"requests", "duration_us", "p50_us", "p99_us", "p999_us", "connect", "read", "write", "status", "timeout"}
	got := make(map[string]int64, len(want))
	for _, f := range strings.Fields(line) {
		k, v, ok := strings.Cut(f, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil || n < 0 || n > maxWrkField {
			return wrkResult{}, fmt.Errorf("wrk report: bad field %q", f)
		}
		got[k] = n
	}
	for _, k := range want {
		if _, ok := got[k]; !ok {
			return wrkResult{}, fmt.Errorf("wrk report: no %s", k)
		}
	}
	us := func(k string) time.Duration { return time.Duration(got[k]) * time.Microsecond }
	r := wrkResult{requests: got["requests"], elapsed: us("duration_us"), p50: us("p50_us"), p99: us("p99_us"),
		p999: us("p999_us"), errors: got["connect"] + got["read"] + got["write"] + got["status"] + got["timeout"]}
	if r.requests == 0 || r.elapsed <= 0 {
		return r, fmt.Errorf("wrk report: %d requests in %s", r.requests, r.elapsed)
	}
	return r, nil
}

// setupWrk writes wrk's report script, or notes that wrk is missing.
func (b *bench) setupWrk() error {
	if b.tools.wrk == "" {
		b.res.note("wrk not found: the requests phase ran the bench's own load generator only")
		return nil
	}
	b.wrkScript = filepath.Join(b.dir, "wrk-report.lua")
	return os.WriteFile(b.wrkScript, []byte(wrkScript), 0o644)
}

// wrkLoad runs wrk against every variant, interleaved.
func (b *bench) wrkLoad(ctx context.Context, r int) {
	if b.wrkScript == "" {
		return
	}
	for _, v := range rotate(allVariants, r) {
		if ctx.Err() != nil {
			return
		}
		ep := b.eps[v]
		res, err := b.runWrk(ep)
		if err != nil {
			b.fail(r, "wrk c="+strconv.Itoa(wrkConns)+" "+v, err)
			continue
		}
		b.addLoad("wrk", v, wrkConns, res.rate(), res.p50, res.p99, res.p999)
	}
}

// runWrk runs one wrk load of opt.duration, rounded up to whole seconds
// (all wrk takes), against ep and reads its report.
func (b *bench) runWrk(ep *endpoint) (wrkResult, error) {
	secs := strconv.Itoa(int(math.Ceil(b.opt.duration.Seconds()))) + "s"
	p, err := b.ps.start("wrk-"+ep.variant, nil, b.tools.wrk, "-t", strconv.Itoa(wrkThreads), "-c", strconv.Itoa(wrkConns),
		"-d", secs, "--timeout", "30s", "-s", b.wrkScript, "http://"+ep.addr+ep.prefix+"/json")
	if err != nil {
		return wrkResult{}, err
	}
	if !p.wait(b.opt.duration + wrkGrace) {
		p.stop()
		return wrkResult{}, fmt.Errorf("wrk still running %s after its %s", wrkGrace, secs)
	}
	if p.err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w\n%s", p.err, p.tail())
	}
	out, err := os.ReadFile(p.log)
	if err != nil {
		return wrkResult{}, err
	}
	res, err := parseWrk(string(out))
	if err == nil && res.errors > 0 {
		err = fmt.Errorf("wrk: %d of %d requests failed (connect, read, write, timeout, or a 4xx/5xx answer)", res.errors, res.requests)
	}
	return res, err
}
