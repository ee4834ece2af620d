package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// fdHeadroom is the open files a process needs beside its N connections.
const fdHeadroom = 1024

// bench is one run: the long-lived processes and what they measured.
type bench struct {
	opt     options
	tools   tools
	ps      *procs
	dir     string
	key     string // the bench user's private key, granted on both servers
	upAddr  string
	ossh    *opensshSetup
	gws     *gatewaySetup
	sshd    *sshdInst
	gw      *gatewayInst
	eps     map[string]*endpoint
	res     *results
	log     io.Writer // progress
	maxIdle int       // most idle connections the open files limit allows
	failed  int
}

// run sets everything up, measures opt.repeat times, prints the table and
// stops every process it started.
func run(ctx context.Context, opt options) (err error) {
	t, err := findTools()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "loopbench-")
	if err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	b := &bench{opt: opt, tools: t, ps: newProcs(dir), dir: dir, eps: make(map[string]*endpoint),
		res: newResults(), log: os.Stderr}
	defer func() {
		b.ps.stopAll()
		if err != nil || opt.keep {
			fmt.Fprintf(b.log, "work directory (keys, configs, logs) kept in %s\n", dir)
			return
		}
		os.RemoveAll(dir)
	}()
	if err := b.raiseLimit(); err != nil {
		return err
	}
	if err := b.setup(ctx); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	for r := range opt.repeat {
		if err := b.repeat(ctx, r); err != nil {
			return err
		}
	}
	return b.finish(ctx)
}

// raiseLimit raises the open files limit for the largest idle count and
// notes the counts it cannot allow.
func (b *bench) raiseLimit() error {
	want := uint64(fdHeadroom)
	if len(b.opt.idle) > 0 {
		want += uint64(slices.Max(b.opt.idle))
	}
	got, err := raiseNoFile(want)
	if err != nil {
		return err
	}
	b.maxIdle = int(got) - fdHeadroom
	for _, n := range b.opt.idle {
		if n > b.maxIdle {
			b.res.note("idle %d skipped: the open files limit is %d (ulimit -n), and each side needs %d plus %d",
				n, got, n, fdHeadroom)
		}
	}
	return nil
}

func (b *bench) setup(ctx context.Context) error {
	b.key = filepath.Join(b.dir, "id_ed25519")
	if err := keygen(b.tools, b.key, benchIdentity); err != nil {
		return err
	}
	up, addr, err := startUpstream(b.ps)
	if err != nil {
		return err
	}
	b.upAddr = addr
	if b.ossh, err = setupOpenSSH(b.tools, b.dir, b.key+".pub"); err != nil {
		return err
	}
	if err := b.setupWrk(); err != nil {
		return err
	}
	if b.sshd, err = b.ossh.startSSHD(b.ps, "main", addr); err != nil {
		return err
	}
	if b.gws, err = setupGateway(b.opt.gateway, b.opt.client, b.dir, addr, b.key+".pub"); err != nil {
		return err
	}
	if b.gw, err = b.gws.startGateway(b.ps, "main", nil); err != nil {
		return err
	}
	b.eps[vDirect] = &endpoint{variant: vDirect, addr: addr}
	if err := firstResponse(ctx, up, addr, "/json", time.Now().Add(readyWait)); err != nil {
		return err
	}
	return b.startEndpoints(ctx)
}

// startEndpoints starts the four long-lived tunnels and waits until a
// request passes through each.
func (b *bench) startEndpoints(ctx context.Context) error {
	sshdSide := &side{pid: b.sshd.p.pid(), tree: true}
	gwSide := &side{pid: b.gw.p.pid()}
	toSSHD := sshTarget{port: b.sshd.port, user: b.ossh.user, knownHosts: b.sshd.knownHosts}
	gwTarget := fmt.Sprintf("%s:%d", serviceName, b.gws.upPort)
	starts := []struct {
		variant, prefix string
		server          *side
		args            func(lport int) []string
	}{
		{vOpenSSH, "", sshdSide, func(l int) []string { return sshForwardArgs(b.tools, toSSHD, b.key, l, b.upAddr) }},
		{vForward, "", gwSide, func(l int) []string { return b.gws.forwardArgs(b.gw, b.key, l) }},
		{vProxy, authPrefix, gwSide, func(l int) []string { return b.gws.proxyArgs(b.gw, b.key, l) }},
		{vSSHGateway, "", gwSide, func(l int) []string { return sshForwardArgs(b.tools, b.gw.target(), b.key, l, gwTarget) }},
	}
	for _, s := range starts {
		lport, err := freePort()
		if err != nil {
			return err
		}
		p, err := b.ps.start(s.variant, nil, s.args(lport)...)
		if err != nil {
			return err
		}
		ep := &endpoint{variant: s.variant, addr: "127.0.0.1:" + strconv.Itoa(lport), prefix: s.prefix,
			client: &side{pid: p.pid()}, server: s.server}
		if err := firstResponse(ctx, p, ep.addr, ep.prefix+"/json", time.Now().Add(readyWait)); err != nil {
			return err
		}
		b.eps[s.variant] = ep
	}
	return nil
}

// fail records a measurement that could not be made; the run goes on.
func (b *bench) fail(r int, what string, err error) {
	b.failed++
	b.res.note("repeat %d, %s: %v", r+1, what, oneLine(err))
	fmt.Fprintf(b.log, "  FAILED %s: %v\n", what, err)
}

func oneLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// finish checks the upstream's counters and prints (and writes) the report.
func (b *bench) finish(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	st, err := fetchStats(ctx, b.upAddr)
	if err != nil {
		return err
	}
	if st.Rejects > 0 {
		b.failed++
		b.res.note("the upstream refused %d proxied requests without a well-formed bearer token", st.Rejects)
	}
	for _, c := range []string{"1", "32"} {
		b.res.addOverDirect(metric{"p50-added-c" + c, "latency p50 added over direct, " + c + " conn", "ms", false},
			"p50-c"+c, "p999-c"+c)
		b.res.addOverDirect(metric{"p99-added-c" + c, "latency p99 added over direct, " + c + " conn", "ms", false},
			"p99-c"+c, "p50-added-c"+c)
	}
	rep := b.report()
	if err := writeTable(os.Stdout, rep); err != nil {
		return err
	}
	if b.opt.jsonPath != "" {
		if err := writeJSONFile(b.opt.jsonPath, rep); err != nil {
			return err
		}
	}
	if b.failed > 0 {
		return fmt.Errorf("%d measurement(s) failed; see the notes", b.failed)
	}
	return nil
}

func (b *bench) report() Report {
	return Report{
		Generated: time.Now().UTC().Format(time.RFC3339),
		Host:      b.hostInfo(),
		Options: map[string]any{
			"quick": b.opt.quick, "repeat": b.opt.repeat, "bulk_bytes": b.opt.bulk, "idle": b.opt.idle,
			"load_seconds": b.opt.duration.Seconds(), "newconn_samples": b.opt.newconn, "phases": b.phaseList(),
		},
		Variants: allVariants,
		Rows:     b.res.rows(),
		Notes:    b.res.notes,
	}
}

func (b *bench) phaseList() []string {
	var out []string
	for _, p := range phaseNames {
		if b.opt.phases[p] {
			out = append(out, p)
		}
	}
	return out
}

func (b *bench) hostInfo() map[string]any {
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ver, _ := exec.CommandContext(ctx, b.tools.ssh, "-V").CombinedOutput()
	return map[string]any{
		"cpus": runtime.NumCPU(), "cpu": cpuModel(), "kernel": strings.TrimSpace(string(kernel)),
		"go": runtime.Version(), "openssh": strings.TrimSpace(string(ver)),
	}
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
