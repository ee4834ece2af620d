package dest

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// interopConfig uses only what both ssh and Resolve understand the same way.
// IdentityFile paths avoid % tokens because ssh -G prints them unexpanded;
// UserKnownHostsFile, which ssh -G prints expanded, carries the tokens.
const interopConfig = `
Host dev
    HostName 10.1.2.3
    Port 2222
    User alice
    IdentityFile /keys/dev
    IdentityFile ~/.ssh/id_dev
    IdentityFile /keys/dev
    IdentitiesOnly yes
    UserKnownHostsFile ~/.ssh/kh_%h_%p /tmp/kh/%r/%u/%n/%d/%%/%k/%i/%l/%L
    HostKeyAlias Dev-Key
    ServerAliveInterval 1m
    ServerAliveCountMax 5
    ConnectTimeout 7
    StrictHostKeyChecking accept-new

Host *.lab !secret.lab
    User lab
    Port 2200

Host special.lab
    User ignored
    HostName Special-Host.%h

Host inner
    HostName 192.168.1.10
    ProxyJump bastion,ops@gw:2201

Host deep
    ProxyJump ssh://u@inner:2022

Host bastion
    HostName bastion.example.com
    User jump

Host Mixed
    HostName UPPER.example

Host off
    StrictHostKeyChecking off
    ProxyJump none

Host *
    StrictHostKeyChecking ask
    ServerAliveInterval 30
`

var interopDests = []string{
	"dev", "bob@dev", "ssh://bob@dev:2300", "special.lab", "secret.lab", "x.lab",
	"inner", "deep", "bastion", "Mixed", "mixed", "off", "unknown-host", "10.0.0.1",
}

// TestInteropSSHG compares Resolve with what `ssh -G` prints for the same
// config and destination.
func TestInteropSSHG(t *testing.T) {
	ssh := findSSH(t)
	me, err := user.Current()
	if err != nil {
		t.Skipf("current user: %v", err)
	}
	cfg := filepath.Join(t.TempDir(), "config")
	writeFile(t, cfg, interopConfig, 0o600)
	o := Overrides{ConfigFile: cfg, Home: me.HomeDir, LocalUser: me.Username}
	for _, dest := range interopDests {
		t.Run(dest, func(t *testing.T) {
			want := sshG(t, ssh, cfg, dest)
			got := mustResolve(t, dest, o)
			compareSSHG(t, got, want, me.HomeDir)
		})
	}
}

// findSSH returns the ssh binary, or skips the test when there is none; on CI
// (CI=true) a missing ssh fails instead, so that the check cannot go quiet.
func findSSH(tb testing.TB) string {
	tb.Helper()
	p, err := exec.LookPath("ssh")
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("ssh not found and CI=true: %v", err)
	}
	tb.Skipf("ssh not found: %v", err)
	return ""
}

// sshG runs `ssh -G -F cfg dest` and returns its keyword (lowercase) to
// values map, values in order.
func sshG(tb testing.TB, ssh, cfg, dest string) map[string][]string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ssh, "-G", "-F", cfg, dest).Output()
	if err != nil {
		tb.Fatalf("ssh -G -F %s %s: %v", cfg, dest, err)
	}
	m := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		m[k] = append(m[k], v)
	}
	return m
}

func compareSSHG(t *testing.T, got *Destination, g map[string][]string, home string) {
	t.Helper()
	one := func(k string) string { return strings.Join(g[k], " ") }
	same(t, "hostname", got.HostName, one("hostname"))
	same(t, "port", strconv.Itoa(got.Port), one("port"))
	same(t, "user", got.User, one("user"))
	same(t, "hostkeyalias", got.HostKeyAlias, one("hostkeyalias"))
	same(t, "identitiesonly", yesNo(got.IdentitiesOnly), one("identitiesonly"))
	same(t, "stricthostkeychecking", got.StrictHostKeyChecking, strictFromSSH(one("stricthostkeychecking")))
	same(t, "serveraliveinterval", seconds(got.ServerAliveInterval), one("serveraliveinterval"))
	same(t, "connecttimeout", seconds(got.ConnectTimeout), strings.ReplaceAll(one("connecttimeout"), "none", "0"))
	if got.ServerAliveCountMax != 0 { // ssh prints its default, 3, when unset
		same(t, "serveralivecountmax", strconv.Itoa(got.ServerAliveCountMax), one("serveralivecountmax"))
	}
	if len(got.IdentityFiles) > 0 { // ssh prints its default list when unset
		var ids []string
		for _, id := range g["identityfile"] {
			ids = append(ids, strings.Replace(id, "~", home, 1))
		}
		same(t, "identityfile", strings.Join(got.IdentityFiles, " "), strings.Join(ids, " "))
	}
	if !strings.HasSuffix(one("userknownhostsfile"), "/.ssh/known_hosts2") { // ssh's default has two files
		same(t, "userknownhostsfile", strings.Join(got.KnownHostsFiles, " "), one("userknownhostsfile"))
	}
	compareJumps(t, got.ProxyJump, one("proxyjump"))
}

func compareJumps(t *testing.T, got []*Destination, sshValue string) {
	t.Helper()
	var want []string
	if sshValue != "" && sshValue != "none" {
		want = strings.Split(sshValue, ",")
	}
	if len(got) != len(want) {
		t.Fatalf("proxyjump: got %d hops, ssh -G has %q", len(got), sshValue)
	}
	for i, spec := range want {
		user, host, port, err := Parse(spec)
		if err != nil {
			t.Fatalf("proxyjump hop %q from ssh -G: %v", spec, err)
		}
		d := got[i]
		if d.Alias != host || (user != "" && d.User != user) || (port != 0 && d.Port != port) {
			t.Fatalf("proxyjump hop %d: got %s@%s:%d, ssh -G has %q", i, d.User, d.Alias, d.Port, spec)
		}
	}
}

func same(t *testing.T, key, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %q, ssh -G has %q", key, got, want)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func seconds(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }

// strictFromSSH maps what ssh -G prints onto loopgate's two modes.
func strictFromSSH(v string) string {
	if slices.Contains([]string{"false", "no", "off", "accept-new"}, v) {
		return "accept-new"
	}
	return "yes"
}
