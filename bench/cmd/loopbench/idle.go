package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	idleParallel   = 64      // connections being opened at once
	moveParallel   = 64      // connections moving their MiB at once
	moveBytes      = 1 << 20 // traffic each idle connection carries, up to moveBudget/N
	moveBudget     = 1 << 30 // traffic over all N: OpenSSH moves ~20 MiB/s with 10,000 channels open
	idlePhaseLimit = 10 * time.Minute
	// moveFloor is the slowest rate moving is allowed, over all N: moving
	// is bounded by idlePhaseLimit or by the whole traffic at this rate,
	// whichever is longer (--idle-move 1MiB at 10,000: 1,250 s).
	moveFloor = 8 << 20 // bytes per second
	settle    = time.Second
	// settleMoved is the pause between the last byte moved and the "after
	// traffic" reading: idle memory a few seconds on, not mid-transfer. The
	// loopgate programs give freed memory back once traffic has stopped for
	// a second (internal/gctune); OpenSSH's figure does not change with it.
	settleMoved = 3 * time.Second
	dumpWait    = 5 * time.Minute // bound on a goroutine dump of 30,000+ goroutines
)

// idleSetup is a fresh server and client pair for one idle measurement,
// so that its memory baseline holds nothing from earlier phases.
type idleSetup struct {
	addr           string
	server, client side
	procs          []*proc // started in this order; stopped in reverse
	dump           []*proc // Go processes whose goroutines are counted, or none
}

func (s *idleSetup) stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		s.procs[i].stop()
	}
}

// rss reads the server's and the client's resident memory in KiB.
func (s *idleSetup) rss() ([2]int64, error) {
	srv, err := s.server.rssKiB()
	if err != nil {
		return [2]int64{}, err
	}
	cli, err := s.client.rssKiB()
	return [2]int64{srv, cli}, err
}

// idleResult is per forwarded connection: KiB of RSS cold (after one tiny
// request) and hot (after each moved its traffic), and goroutines (NaN where
// they cannot be counted) for server and client.
type idleResult struct {
	cold, hot, goroutines [2]float64
	failed                int
	moved                 int           // bytes each connection moved
	open, move            time.Duration // how long opening and moving took
	dump                  time.Duration // how long the goroutine dump took
}

// measureIdle opens n connections through s, each doing one small
// request, and reads memory before, after and after moving some traffic
// over each; then counts goroutines by making the Go processes dump them.
// Each connection downloads moveSize(n, move) bytes.
func measureIdle(ctx context.Context, s *idleSetup, n, move int) (idleResult, error) {
	res := idleResult{goroutines: [2]float64{math.NaN(), math.NaN()}, moved: moveSize(n, move)}
	if ok, err := tryGet(ctx, s.addr, "/json"); !ok {
		return res, fmt.Errorf("idle: first request: %v", err)
	}
	time.Sleep(settle)
	base, err := s.rss()
	if err != nil {
		return res, err
	}
	conns, err := s.openAndMove(ctx, n, base, &res)
	defer closeIdle(conns)
	if err != nil {
		return res, err
	}
	if err := s.countGoroutines(len(conns), &res); err != nil {
		return res, err
	}
	return res, ctx.Err()
}

// openAndMove opens the connections, moves traffic over them and fills
// in res's memory figures, relative to base.
func (s *idleSetup) openAndMove(ctx context.Context, n int, base [2]int64, res *idleResult) ([]idleConn, error) {
	t0 := time.Now()
	conns, failed := openIdle(ctx, s.addr, n)
	res.open = time.Since(t0)
	if len(conns) == 0 {
		return nil, fmt.Errorf("idle: no connection of %d opened", n)
	}
	time.Sleep(settle)
	cold, err := s.rss()
	if err != nil {
		return conns, err
	}
	t0 = time.Now()
	failed += moveEach(ctx, conns, s.addr, res.moved)
	res.move = time.Since(t0)
	time.Sleep(settleMoved)
	hot, err := s.rss()
	if err != nil {
		return conns, err
	}
	res.failed = failed
	for i := range 2 {
		res.cold[i] = float64(cold[i]-base[i]) / float64(len(conns))
		res.hot[i] = float64(hot[i]-base[i]) / float64(len(conns))
	}
	return conns, nil
}

// countGoroutines fills in goroutines per connection for a loopgate pair;
// it ends those processes.
func (s *idleSetup) countGoroutines(conns int, res *idleResult) error {
	if len(s.dump) != 2 {
		return nil
	}
	t0 := time.Now()
	g, err := dumpGoroutines(s.dump)
	res.dump = time.Since(t0)
	if err != nil {
		return err
	}
	for i := range 2 {
		res.goroutines[i] = float64(g[i]) / float64(conns)
	}
	return nil
}

// idleConn is one open forwarded connection.
type idleConn struct {
	c    net.Conn
	stop func() bool
}

// openIdle opens n keep-alive connections to addr, each answering one GET
// /json, and returns the ones that succeeded and how many failed (or were
// not tried within idlePhaseLimit).
func openIdle(ctx context.Context, addr string, n int) ([]idleConn, int) {
	slots := make([]*idleConn, n)
	limit, cancel := context.WithTimeout(ctx, idlePhaseLimit)
	defer cancel()
	forEach(limit, n, idleParallel, func(i int, buf []byte) {
		if c, err := openOne(ctx, addr, buf); err == nil { // ctx: the connection outlives limit
			slots[i] = c
		}
	})
	var out []idleConn
	for _, c := range slots {
		if c != nil {
			out = append(out, *c)
		}
	}
	return out, n - len(out)
}

func openOne(ctx context.Context, addr string, buf []byte) (*idleConn, error) {
	c, stop, err := dialCtx(ctx, addr)
	if err != nil {
		return nil, err
	}
	ic := &idleConn{c: c, stop: stop}
	if err := getOn(ic, addr, "/json", buf); err != nil {
		closeIdle([]idleConn{*ic})
		return nil, err
	}
	return ic, nil
}

// getOn sends one GET on an open connection and reads the whole answer.
func getOn(ic *idleConn, addr, path string, buf []byte) error {
	ic.c.SetDeadline(time.Now().Add(requestTimeout))
	defer ic.c.SetDeadline(time.Time{})
	status, _, err := roundTrip(ic.c, bufio.NewReaderSize(ic.c, 4096), getRequest(addr, path), buf)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("status %d, want 200", status)
	}
	return err
}

// moveSize is what each of n idle connections downloads: move (--idle-move)
// if it is set, else 1 MiB, or whole KiB less where n connections would
// move more than moveBudget.
func moveSize(n, move int) int {
	if move > 0 {
		return move
	}
	return min(moveBytes, moveBudget/max(n, 1)&^1023)
}

// moveEach downloads size bytes over every connection and returns how
// many failed (or were not tried within moveLimit).
func moveEach(ctx context.Context, conns []idleConn, addr string, size int) int {
	var moved atomic.Int64
	path := "/bulk?bytes=" + strconv.Itoa(size)
	limit, cancel := context.WithTimeout(ctx, moveLimit(len(conns), size))
	defer cancel()
	forEach(limit, len(conns), moveParallel, func(i int, buf []byte) {
		if getOn(&conns[i], addr, path, buf) == nil {
			moved.Add(1)
		}
	})
	return len(conns) - int(moved.Load())
}

// moveLimit bounds moving size bytes over each of n connections:
// idlePhaseLimit, or the whole traffic at moveFloor if that takes longer.
func moveLimit(n, size int) time.Duration {
	return max(idlePhaseLimit, time.Duration(int64(n)*int64(size)/moveFloor)*time.Second)
}

// forEach calls fn for 0..n-1 on par goroutines, each with its own
// buffer, stopping early when ctx ends.
func forEach(ctx context.Context, n, par int, fn func(i int, buf []byte)) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(par, n) {
		wg.Go(func() {
			buf := make([]byte, 64<<10)
			for i := range jobs {
				fn(i, buf)
			}
		})
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
}

func closeIdle(conns []idleConn) {
	for _, ic := range conns {
		ic.stop()
		ic.c.Close()
	}
}

// dumpGoroutines counts the goroutines of Go processes by having them
// dump their stacks: SIGQUIT makes a Go program print every goroutine
// (GOTRACEBACK=all) to stderr and exit. The products have no endpoint that
// reports goroutines and the bench adds none, so this is read once, at the
// end of a measurement. The processes are stopped first and continued
// together, so that neither sees the other exit before it has dumped.
func dumpGoroutines(ps []*proc) ([]int, error) {
	for _, p := range ps {
		syscall.Kill(p.pid(), syscall.SIGSTOP)
	}
	for _, p := range ps {
		syscall.Kill(p.pid(), syscall.SIGQUIT)
	}
	for _, p := range ps {
		syscall.Kill(p.pid(), syscall.SIGCONT)
	}
	out := make([]int, len(ps))
	for i, p := range ps {
		if !p.wait(dumpWait) {
			return nil, fmt.Errorf("%s: no goroutine dump within %s", p.name, dumpWait)
		}
		n, err := countGoroutines(p.log)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// countGoroutines counts the "goroutine N [state]:" headers in a dump.
func countGoroutines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("count goroutines: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		if isGoroutineHeader(sc.Text()) {
			n++
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("count goroutines: %w", err)
	}
	if n == 0 {
		return 0, fmt.Errorf("count goroutines: no dump in %s", path)
	}
	return n, nil
}

// isGoroutineHeader matches "goroutine 7 [select]:" and, as Go 1.26
// prints with GOTRACEBACK=all, "goroutine 7 gp=0x... m=nil [select]:".
func isGoroutineHeader(line string) bool {
	rest, ok := strings.CutPrefix(line, "goroutine ")
	if !ok {
		return false
	}
	id, state, ok := strings.Cut(rest, " ")
	if _, err := strconv.ParseUint(id, 10, 64); err != nil || !ok {
		return false
	}
	return strings.Contains(state, "[") && strings.HasSuffix(state, "]:")
}
