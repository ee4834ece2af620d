package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// benchLimits lift the gateway's per-source and per-connection limits so
// that the load, not a defence, is measured. MaxSessions cannot be set
// above 10000 or turned off, so the 10,000-connection row uses exactly
// the cap.
var benchLimits = []string{
	"MaxSessions 10000",
	"MaxConnectionsPerKey 100",
	"PerSourceMaxStartups none",
	"PerSourceConnectRate none",
	"MaxStartups 1000:30:2000",
	"PerSourcePenalties no",
}

const (
	benchIdentity = "bench"
	serviceName   = "up"
)

// gatewaySetup is a gateway directory made by `gateway init`, with the
// bench key granted the upstream service.
type gatewaySetup struct {
	gateway, client string // binaries
	dir, conf       string
	upPort          int
}

func setupGateway(gwBin, clientBin, dir, upAddr, userPub string) (*gatewaySetup, error) {
	_, port, _ := strings.Cut(upAddr, ":")
	upPort, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("upstream address %q: %w", upAddr, err)
	}
	g := &gatewaySetup{gateway: gwBin, client: clientBin, dir: filepath.Join(dir, "gateway"), upPort: upPort}
	g.conf = filepath.Join(g.dir, "gateway.conf")
	steps := [][]string{
		{"init", "--dir", g.dir, "--listen", "127.0.0.1:2222", "--service", serviceName + "=" + upAddr},
		{"allow", "--config", g.conf, "--name", benchIdentity, "--key", userPub, "--service", serviceName},
	}
	for _, args := range steps {
		if err := runQuiet(gwBin, args...); err != nil {
			return nil, err
		}
	}
	if err := editGatewayConf(g.conf); err != nil {
		return nil, err
	}
	return g, runQuiet(gwBin, "check", "--config", g.conf)
}

// editGatewayConf shortens DrainTimeout (the bench stops gateways whose
// clients are gone) and appends benchLimits.
func editGatewayConf(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("edit gateway config: %w", err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.EqualFold(f[0], "DrainTimeout") {
			continue
		}
		out = append(out, line)
	}
	out = append(out, "", "# loopbench", "DrainTimeout 2s")
	out = append(out, benchLimits...)
	if err := os.WriteFile(path, []byte(strings.Join(out, "\n")+"\n"), 0o600); err != nil {
		return fmt.Errorf("edit gateway config: %w", err)
	}
	return nil
}

// runQuiet runs a short command to completion, bounded in time.
func runQuiet(bin string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv(os.Environ())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), args[0], err, out)
	}
	return nil
}

// gatewayInst is one running `gateway serve`.
type gatewayInst struct {
	p          *proc
	port       int
	knownHosts string
}

func (gi *gatewayInst) target() sshTarget {
	return sshTarget{port: gi.port, user: benchIdentity, knownHosts: gi.knownHosts}
}

// startGateway runs `gateway serve` on a free port; extraEnv is added to
// its environment.
func (g *gatewaySetup) startGateway(ps *procs, name string, extraEnv []string) (*gatewayInst, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	kh, err := writeKnownHosts(g.dir, "gateway-"+name, port, filepath.Join(g.dir, "host_ed25519_key.pub"))
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p, err := ps.start("gateway-"+name, extraEnv, g.gateway, "serve", "--config", g.conf, "--listen", addr)
	if err != nil {
		return nil, err
	}
	if err := waitListening(p, addr); err != nil {
		return nil, err
	}
	return &gatewayInst{p: p, port: port, knownHosts: kh}, nil
}

// clientArgs is a `client` command against gi, strict about the pinned
// host key, offering only key and reading no ssh_config.
func (g *gatewaySetup) clientArgs(sub string, gi *gatewayInst, key string, extra ...string) []string {
	args := []string{g.client, sub, benchIdentity + "@127.0.0.1",
		"-p", strconv.Itoa(gi.port), "-i", key, "-F", "none", "--known-hosts", gi.knownHosts}
	return append(args, extra...)
}

// forwardArgs is `client forward -L 127.0.0.1:LPORT:up:UPPORT`.
func (g *gatewaySetup) forwardArgs(gi *gatewayInst, key string, lport int) []string {
	return g.clientArgs("forward", gi, key, "-L", fmt.Sprintf("127.0.0.1:%d:%s:%d", lport, serviceName, g.upPort))
}

// proxyArgs is `client proxy --service up:UPPORT` injecting a
// gateway-minted token (the default --auth gateway).
func (g *gatewaySetup) proxyArgs(gi *gatewayInst, key string, lport int) []string {
	return g.clientArgs("proxy", gi, key, "--service", fmt.Sprintf("%s:%d", serviceName, g.upPort),
		"--listen", "127.0.0.1:"+strconv.Itoa(lport))
}
