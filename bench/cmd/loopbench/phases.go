package main

import (
	"context"
	"fmt"
	"strconv"
	"syscall"
	"time"
)

const (
	newConnDeadline = 30 * time.Second
	childrenWait    = 5 * time.Second // for sshd to reap a closed connection's children
	serverSettle    = 200 * time.Millisecond
)

var goDumpEnv = []string{"GOTRACEBACK=all"}

// rotate returns vs starting at index r, so that no variant always runs
// first (on a warmer or colder machine) within a repeat.
func rotate(vs []string, r int) []string {
	k := r % len(vs)
	return append(append([]string(nil), vs[k:]...), vs[:k]...)
}

// repeat runs every phase once, each interleaving its variants.
func (b *bench) repeat(ctx context.Context, r int) error {
	fmt.Fprintf(b.log, "repeat %d of %d\n", r+1, b.opt.repeat)
	if b.opt.phases["bulk"] {
		b.bulk(ctx, r, "download")
		b.bulk(ctx, r, "upload")
	}
	if b.opt.phases["requests"] {
		b.load(ctx, r, 1)
		b.load(ctx, r, 32)
		b.wrkLoad(ctx, r)
	}
	if b.opt.phases["newconn"] {
		b.newConns(ctx, r)
	}
	if b.opt.phases["idle"] {
		for _, n := range b.opt.idle {
			b.idle(ctx, r, n)
		}
	}
	return ctx.Err()
}

// cpu reads both sides' CPU seconds; zero for direct.
func (ep *endpoint) cpu() ([2]float64, error) { return ep.both(side.cpu) }

// faults reads both sides' page faults; zero for direct.
func (ep *endpoint) faults() ([2]float64, error) { return ep.both(side.faults) }

func (ep *endpoint) both(read func(side) (float64, error)) ([2]float64, error) {
	var out [2]float64
	if ep.client == nil {
		return out, nil
	}
	var err error
	if out[0], err = read(*ep.client); err != nil {
		return out, err
	}
	out[1], err = read(*ep.server)
	return out, err
}

// bulk moves opt.bulk bytes through every variant in one direction.
func (b *bench) bulk(ctx context.Context, r int, dir string) {
	transfer := download
	if dir == "upload" {
		transfer = upload
	}
	gib := float64(b.opt.bulk) / (1 << 30)
	for _, v := range rotate(allVariants, r) {
		if ctx.Err() != nil {
			return
		}
		ep := b.eps[v]
		before, err := ep.cpu()
		f0, err1 := ep.faults()
		var d time.Duration
		if err = firstErr(err, err1); err == nil {
			d, err = transfer(ctx, ep, b.opt.bulk)
		}
		after, err2 := ep.cpu()
		f1, err3 := ep.faults()
		if err = firstErr(err, err2, err3); err != nil {
			b.fail(r, dir+" "+v, err)
			continue
		}
		rate := float64(b.opt.bulk) / (1 << 20) / d.Seconds()
		b.res.add(metric{dir, "bulk " + dir, "MiB/s", true}, v, rate)
		line := fmt.Sprintf("  %-8s %-16s %8.1f MiB/s", dir, v, rate)
		if ep.client != nil {
			cli, srv := (after[0]-before[0])/gib, (after[1]-before[1])/gib
			b.res.add(metric{dir + "-cpu-client", dir + " CPU client", "s/GiB", false}, v, cli)
			b.res.add(metric{dir + "-cpu-server", dir + " CPU server", "s/GiB", false}, v, srv)
			b.res.add(metric{dir + "-cpu-total", dir + " CPU client+server", "s/GiB", false}, v, cli+srv)
			cliF, srvF := (f1[0]-f0[0])/gib, (f1[1]-f0[1])/gib
			b.res.add(metric{dir + "-faults", dir + " page faults client+server", "/GiB", false}, v, cliF+srvF)
			line += fmt.Sprintf("  CPU %.2f + %.2f s/GiB  page faults %.0f + %.0f /GiB", cli, srv, cliF, srvF)
		}
		fmt.Fprintln(b.log, line)
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// load runs the request-rate test with conns connections per variant.
func (b *bench) load(ctx context.Context, r, conns int) {
	c := strconv.Itoa(conns)
	for _, v := range rotate(allVariants, r) {
		if ctx.Err() != nil {
			return
		}
		ep := b.eps[v]
		res, err := httpLoad(ctx, ep, ep.prefix+"/json", conns, b.opt.duration)
		if err != nil {
			b.fail(r, "requests c="+c+" "+v, err)
			continue
		}
		if res.err != nil {
			b.fail(r, "requests c="+c+" "+v+" (a connection failed; its requests up to then are counted)", res.err)
		}
		b.addLoad("", v, conns, res)
	}
}

// addLoad records one load run's rate and latency rows. tool is "" for
// the bench's own generator, or the name of the tool that made the load
// (its rows are kept apart).
func (b *bench) addLoad(tool, v string, conns int, res loadResult) {
	c := strconv.Itoa(conns)
	key, label, name := "", "", "requests"
	if tool != "" {
		key, label, name = tool+"-", tool+" ", tool
	}
	b.res.add(metric{key + "rps-c" + c, label + "requests, " + c + " conn", "req/s", true}, v, res.rate())
	b.res.add(metric{key + "p50-c" + c, label + "latency p50, " + c + " conn", "ms", false}, v, ms(res.p50))
	b.res.add(metric{key + "p99-c" + c, label + "latency p99, " + c + " conn", "ms", false}, v, ms(res.p99))
	b.res.add(metric{key + "p999-c" + c, label + "latency p99.9, " + c + " conn", "ms", false}, v, ms(res.p999))
	fmt.Fprintf(b.log, "  %-8s c=%-3d %-16s %8.0f req/s  p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms\n",
		name, conns, v, res.rate(), ms(res.p50), ms(res.p99), ms(res.p999))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// newConnSample is one fresh client process: start to first 200, and CPU
// on each side.
type newConnSample struct {
	elapsed, clientCPU, serverCPU float64 // ms
	clientFaults                  float64 // page faults, start to stop
}

var newConnVariants = []string{vOpenSSH, vForward, vProxy, vSSHGateway}

// newConns samples every variant opt.newconn times, interleaved, and
// records the medians of this repeat.
func (b *bench) newConns(ctx context.Context, r int) {
	got := make(map[string][]newConnSample)
	for i := range b.opt.newconn {
		for _, v := range rotate(newConnVariants, r+i) {
			if ctx.Err() != nil {
				return
			}
			s, err := b.newConn(ctx, v)
			if err != nil {
				b.fail(r, "new connection "+v, err)
				continue
			}
			got[v] = append(got[v], s)
		}
	}
	for _, v := range newConnVariants {
		var el, cli, srv, flt []float64
		for _, s := range got[v] {
			el, cli, srv = append(el, s.elapsed), append(cli, s.clientCPU), append(srv, s.serverCPU)
			flt = append(flt, s.clientFaults)
		}
		if len(el) == 0 {
			continue
		}
		b.res.add(metric{"newconn", "new connection + first request", "ms", false}, v, median(el))
		b.res.add(metric{"newconn-cpu-client", "new connection CPU client", "ms", false}, v, median(cli))
		b.res.add(metric{"newconn-cpu-server", "new connection CPU server", "ms", false}, v, median(srv))
		b.res.add(metric{"newconn-faults-client", "new connection page faults client", "count", false}, v, median(flt))
		fmt.Fprintf(b.log, "  new conn %-16s %8.1f ms  CPU %.1f + %.1f ms  client page faults %.0f\n",
			v, median(el), median(cli), median(srv), median(flt))
	}
}

// newConn starts a fresh client process for variant v and times it from
// start to the first 200 through it.
func (b *bench) newConn(ctx context.Context, v string) (newConnSample, error) {
	lport, err := freePort()
	if err != nil {
		return newConnSample{}, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(lport)
	ep := b.eps[v]
	args := b.newConnArgs(v, lport)
	kids := len(descendants(ep.server.pid))
	srv0, err := ep.server.cpu()
	if err != nil {
		return newConnSample{}, err
	}
	t0 := time.Now()
	p, err := b.ps.start("newconn-"+v, nil, args...)
	if err != nil {
		return newConnSample{}, err
	}
	err = firstResponse(ctx, p, addr, ep.prefix+"/json", t0.Add(newConnDeadline))
	elapsed := time.Since(t0)
	p.stop()
	if err != nil {
		return newConnSample{}, err
	}
	b.settleServer(ep.server, kids)
	srv1, err := ep.server.cpu()
	if err != nil {
		return newConnSample{}, err
	}
	st := p.cmd.ProcessState
	cli := (st.UserTime() + st.SystemTime()).Seconds()
	s := newConnSample{elapsed: ms(elapsed), clientCPU: cli * 1000, serverCPU: (srv1 - srv0) * 1000}
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		s.clientFaults = float64(ru.Minflt)
	}
	return s, nil
}

func (b *bench) newConnArgs(v string, lport int) []string {
	switch v {
	case vOpenSSH:
		to := sshTarget{port: b.sshd.port, user: b.ossh.user, knownHosts: b.sshd.knownHosts}
		return sshForwardArgs(b.tools, to, b.key, lport, b.upAddr)
	case vForward:
		return b.gws.forwardArgs(b.gw, b.key, lport)
	case vProxy:
		return b.gws.proxyArgs(b.gw, b.key, lport)
	default:
		return sshForwardArgs(b.tools, b.gw.target(), b.key, lport, fmt.Sprintf("%s:%d", serviceName, b.gws.upPort))
	}
}

// settleServer waits until the server has finished with a closed
// connection: sshd's per-connection children are gone (and reaped, so
// their CPU is in the listener's), or a short pause for the gateway.
func (b *bench) settleServer(s *side, kids int) {
	if s.tree {
		for deadline := time.Now().Add(childrenWait); time.Now().Before(deadline); {
			if len(descendants(s.pid)) <= kids {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(serverSettle)
}

// idle measures n idle forwarded connections for OpenSSH and loopgate.
func (b *bench) idle(ctx context.Context, r, n int) {
	if n > b.maxIdle {
		return // noted once by raiseLimit
	}
	for _, v := range rotate([]string{vOpenSSH, vForward}, r) {
		if ctx.Err() != nil {
			return
		}
		tag := fmt.Sprintf("idle%d-%d", n, r+1)
		s, err := b.startIdle(ctx, v, tag)
		var res idleResult
		if err == nil {
			res, err = measureIdle(ctx, s, n, b.opt.idleMove)
		}
		s.stop()
		if err != nil {
			b.fail(r, fmt.Sprintf("idle %d %s", n, v), err)
			continue
		}
		b.addIdle(n, v, res)
	}
}

func (b *bench) addIdle(n int, v string, res idleResult) {
	p := "idle " + strconv.Itoa(n) + " "
	k := "idle" + strconv.Itoa(n) + "-"
	names := [2]string{"server", "client"}
	for i, name := range names {
		b.res.add(metric{k + "rss-cold-" + name, p + "RSS/conn cold " + name, "KiB", false}, v, res.cold[i])
	}
	for i, name := range names {
		b.res.add(metric{k + "rss-hot-" + name, p + "RSS/conn after " + sizeName(res.moved) + " " + name, "KiB", false}, v, res.hot[i])
	}
	for i, name := range names {
		b.res.add(metric{k + "goroutines-" + name, p + "goroutines/conn " + name, "count", false}, v, res.goroutines[i])
	}
	b.res.add(metric{k + "failed", p + "failed connections", "count", false}, v, float64(res.failed))
	if res.failed > 0 {
		b.res.note("idle %d %s: %d connection(s) failed", n, v, res.failed)
	}
	fmt.Fprintf(b.log, "  idle %-6d %-16s cold %.1f + %.1f KiB/conn, after %s %.1f + %.1f KiB/conn, "+
		"goroutines %.2f + %.2f, failed %d (opened in %s, moved in %s, dumped in %s)\n",
		n, v, res.cold[0], res.cold[1], sizeName(res.moved), res.hot[0], res.hot[1], res.goroutines[0], res.goroutines[1],
		res.failed, res.open.Round(time.Millisecond), res.move.Round(time.Millisecond), res.dump.Round(time.Millisecond))
}

// sizeName writes a byte count as MiB or KiB.
func sizeName(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	return strconv.Itoa(n>>10) + "KiB"
}

// startIdle starts a fresh server and client for one idle measurement. On
// error the returned setup holds what was started, for stop.
func (b *bench) startIdle(ctx context.Context, v, tag string) (*idleSetup, error) {
	s := &idleSetup{}
	lport, err := freePort()
	if err != nil {
		return s, err
	}
	s.addr = "127.0.0.1:" + strconv.Itoa(lport)
	var server, client *proc
	if v == vOpenSSH {
		inst, err := b.ossh.startSSHD(b.ps, tag, b.upAddr)
		if err != nil {
			return s, err
		}
		server = inst.p
		s.procs = append(s.procs, server)
		to := sshTarget{port: inst.port, user: b.ossh.user, knownHosts: inst.knownHosts}
		client, err = b.ps.start("ssh-"+tag, nil, sshForwardArgs(b.tools, to, b.key, lport, b.upAddr)...)
		if err != nil {
			return s, err
		}
	} else {
		inst, err := b.gws.startGateway(b.ps, tag, goDumpEnv)
		if err != nil {
			return s, err
		}
		server = inst.p
		s.procs = append(s.procs, server)
		client, err = b.ps.start("client-"+tag, goDumpEnv, b.gws.forwardArgs(inst, b.key, lport)...)
		if err != nil {
			return s, err
		}
		s.dump = []*proc{server, client}
	}
	s.procs = append(s.procs, client)
	s.server, s.client = side{pid: server.pid(), tree: v == vOpenSSH}, side{pid: client.pid()}
	return s, firstResponse(ctx, client, s.addr, "/json", time.Now().Add(readyWait))
}
