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
	// maxWrkField bounds every figure in wrk's report line (35 minutes in
	// µs, past --duration's 10 minutes), so that each fits an int on every
	// platform and nothing overflows.
	maxWrkField = math.MaxInt32
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

// parseWrk finds the line wrkScript prints in out. Requests that failed
// (connect, read, write and timeout errors, and 4xx/5xx answers) are the
// result's err.
func parseWrk(out string) (loadResult, error) {
	var line string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), wrkPrefix+" "); ok {
			line = rest
		}
	}
	if line == "" {
		return loadResult{}, errors.New("wrk printed no report line")
	}
	want := []string{"requests", "duration_us", "p50_us", "p99_us", "p999_us", "connect", "read", "write", "status", "timeout"}
	got := make(map[string]int64, len(want))
	for _, f := range strings.Fields(line) {
		k, v, ok := strings.Cut(f, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil || n < 0 || n > maxWrkField {
			return loadResult{}, fmt.Errorf("wrk report: bad field %q", f)
		}
		got[k] = n
	}
	for _, k := range want {
		if _, ok := got[k]; !ok {
			return loadResult{}, fmt.Errorf("wrk report: no %s", k)
		}
	}
	us := func(k string) time.Duration { return time.Duration(got[k]) * time.Microsecond }
	r := loadResult{requests: int(got["requests"]), elapsed: us("duration_us"), p50: us("p50_us"), p99: us("p99_us"),
		p999: us("p999_us")}
	if r.requests == 0 || r.elapsed <= 0 {
		return r, fmt.Errorf("wrk report: %d requests in %s", r.requests, r.elapsed)
	}
	if failed := got["connect"] + got["read"] + got["write"] + got["status"] + got["timeout"]; failed > 0 {
		r.err = fmt.Errorf("wrk: %d of %d requests failed (connect, read, write, timeout, or a 4xx/5xx answer)", failed, r.requests)
	}
	return r, nil
}

// wrkScriptPath is where setupWrk writes wrkScript.
func (b *bench) wrkScriptPath() string { return filepath.Join(b.dir, "wrk-report.lua") }

// setupWrk writes wrk's report script, or notes that wrk is missing.
func (b *bench) setupWrk() error {
	if b.tools.wrk == "" {
		b.res.note("wrk not found: the requests phase ran the bench's own load generator only")
		return nil
	}
	return os.WriteFile(b.wrkScriptPath(), []byte(wrkScript), 0o644)
}

// wrkLoad runs wrk, where installed, against every variant, interleaved.
func (b *bench) wrkLoad(ctx context.Context, r int) {
	if b.tools.wrk == "" {
		return
	}
	for _, v := range rotate(allVariants, r) {
		if ctx.Err() != nil {
			return
		}
		ep := b.eps[v]
		res, err := b.runWrk(ep)
		if err == nil {
			err = res.err
		}
		if err != nil {
			b.fail(r, "wrk c="+strconv.Itoa(wrkConns)+" "+v, err)
			continue
		}
		b.addLoad("wrk", v, wrkConns, res)
	}
}

// runWrk runs one wrk load of opt.duration, rounded up to whole seconds
// (all wrk takes), against ep and reads its report.
func (b *bench) runWrk(ep *endpoint) (loadResult, error) {
	secs := strconv.Itoa(int(math.Ceil(b.opt.duration.Seconds()))) + "s"
	p, err := b.ps.start("wrk-"+ep.variant, nil, b.tools.wrk, "-t", strconv.Itoa(wrkThreads), "-c", strconv.Itoa(wrkConns),
		"-d", secs, "--timeout", "30s", "-s", b.wrkScriptPath(), "http://"+ep.addr+ep.prefix+"/json")
	if err != nil {
		return loadResult{}, err
	}
	if !p.wait(b.opt.duration + wrkGrace) {
		p.stop()
		return loadResult{}, fmt.Errorf("wrk still running %s after its %s", wrkGrace, secs)
	}
	if p.err != nil {
		return loadResult{}, fmt.Errorf("wrk: %w\n%s", p.err, p.tail())
	}
	out, err := os.ReadFile(p.log)
	if err != nil {
		return loadResult{}, err
	}
	return parseWrk(string(out))
}
