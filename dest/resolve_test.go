package dest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

const baseConfig = `
# an operator's ~/.ssh/config
Host dev
    HostName 10.1.2.3
    Port 2222
    User alice
    IdentityFile ~/.ssh/id_dev
    IdentityFile /keys/%r@%h:%p
    IdentityFile ~/.ssh/id_dev
    IdentitiesOnly yes
    UserKnownHostsFile ~/.ssh/kh_dev /etc/kh_%h
    StrictHostKeyChecking accept-new
    HostKeyAlias Dev-Box
    ServerAliveInterval 15
    ServerAliveCountMax 4
    ConnectTimeout 1m30s
    ForwardAgent yes
    SomeFutureKeyword whatever

Host *.lab !secret.lab
    User labuser
    Port 2200

Host special.lab
    User ignored
    HostName Special-Host

Host bastion
    HostName bastion.example.com
    User jump
    Port 22022

Host inner
    HostName 192.168.1.10
    ProxyJump bastion,ops@gw:2201

Host gw
    HostName gw.internal
    ProxyJump nowhere
    ProxyCommand ignored-for-a-chained-hop

Host deep
    ProxyJump mid
Host mid
    ProxyJump ssh://edge-user@edge:2022

Host direct
    ProxyJump none
    ProxyCommand none

Host tok
    HostName %h.Example.COM
    IdentityFile %d/k/%u-%r-%h-%p-%n-%k-%%
    UserKnownHostsFile ~/kh/%h_%p

Host v6
    HostName fe80::1
`

func TestResolve(t *testing.T) {
	home := newHome(t, baseConfig)
	o := overrides(home)
	kh := filepath.Join(home, ".ssh", "known_hosts")
	base := func(alias, host string) *Destination {
		return &Destination{Alias: alias, User: "op", HostName: host, Port: 22,
			KnownHostsFiles: []string{kh}, StrictHostKeyChecking: "yes"}
	}
	dev := &Destination{
		Alias: "dev", User: "alice", HostName: "10.1.2.3", Port: 2222, HostKeyAlias: "dev-box",
		IdentityFiles:         []string{home + "/.ssh/id_dev", "/keys/alice@10.1.2.3:2222"},
		IdentitiesOnly:        true,
		KnownHostsFiles:       []string{home + "/.ssh/kh_dev", "/etc/kh_10.1.2.3"},
		StrictHostKeyChecking: "accept-new",
		ServerAliveInterval:   15 * time.Second, ServerAliveCountMax: 4, ConnectTimeout: 90 * time.Second,
	}
	with := func(d *Destination, f func(*Destination)) *Destination {
		c := *d
		f(&c)
		return &c
	}
	tests := []struct {
		name string
		dest string
		o    Overrides
		want *Destination
	}{
		{name: "alias", dest: "dev", o: o, want: dev},
		{name: "unknown host keeps defaults", dest: "plain.example", o: o, want: base("plain.example", "plain.example")},
		{name: "hostname lowercased", dest: "Plain", o: o, want: base("Plain", "plain")},
		{name: "dest user and port beat config", dest: "bob@dev:2300", o: o, want: with(dev, func(d *Destination) {
			d.User, d.Port = "bob", 2300
			d.IdentityFiles = []string{home + "/.ssh/id_dev", "/keys/bob@10.1.2.3:2300"}
		})},
		{name: "uri user and port beat config", dest: "ssh://bob@dev:2300", o: o, want: with(dev, func(d *Destination) {
			d.User, d.Port = "bob", 2300
			d.IdentityFiles = []string{home + "/.ssh/id_dev", "/keys/bob@10.1.2.3:2300"}
		})},
		{name: "flags beat dest and config", dest: "bob@dev:2300", o: Overrides{
			Home: home, LocalUser: "op", Port: 2400, IdentityFile: "~/flag_key", KnownHosts: "~/kh_flag_%p", AcceptNew: true,
		}, want: with(dev, func(d *Destination) {
			d.User, d.Port = "bob", 2400
			d.IdentityFiles = []string{home + "/flag_key", home + "/.ssh/id_dev", "/keys/bob@10.1.2.3:2400"}
			d.KnownHostsFiles = []string{home + "/kh_flag_2400"}
		})},
		{name: "identity flag implies identities only", dest: "plain", o: Overrides{Home: home, LocalUser: "op", IdentityFile: "/k"},
			want: with(base("plain", "plain"), func(d *Destination) {
				d.IdentityFiles, d.IdentitiesOnly = []string{"/k"}, true
			})},
		{name: "accept new flag", dest: "plain", o: Overrides{Home: home, LocalUser: "op", AcceptNew: true},
			want: with(base("plain", "plain"), func(d *Destination) { d.StrictHostKeyChecking = "accept-new" })},
		{name: "wildcard block", dest: "x.lab", o: o, want: with(base("x.lab", "x.lab"), func(d *Destination) {
			d.User, d.Port = "labuser", 2200
		})},
		{name: "first match wins", dest: "special.lab", o: o, want: with(base("special.lab", "special-host"), func(d *Destination) {
			d.User, d.Port = "labuser", 2200
		})},
		{name: "negated pattern", dest: "secret.lab", o: o, want: base("secret.lab", "secret.lab")},
		{name: "host patterns are case-sensitive", dest: "Tok", o: o, want: base("Tok", "tok")},
		{name: "token expansion", dest: "tok", o: o, want: with(base("tok", "tok.example.com"), func(d *Destination) {
			d.IdentityFiles = []string{home + "/k/op-op-tok.example.com-22-tok-tok-%"}
			d.KnownHostsFiles = []string{home + "/kh/tok.example.com_22"}
		})},
		{name: "proxyjump none", dest: "direct", o: o, want: base("direct", "direct")},
		{name: "ipv6 hostname", dest: "v6", o: o, want: base("v6", "fe80::1")},
		{name: "no config", dest: "dev", o: Overrides{Home: home, LocalUser: "op", ConfigFile: "none"}, want: base("dev", "dev")},
		{name: "missing default config", dest: "dev", o: Overrides{Home: t.TempDir(), LocalUser: "op"}, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want == nil { // a home of its own: known_hosts lives there
				want = base("dev", "dev")
				want.KnownHostsFiles = []string{filepath.Join(tc.o.Home, ".ssh", "known_hosts")}
			}
			checkDest(t, tc.dest, mustResolve(t, tc.dest, tc.o), want)
		})
	}
}

func TestResolveProxyJump(t *testing.T) {
	home := newHome(t, baseConfig)
	kh := []string{filepath.Join(home, ".ssh", "known_hosts")}
	got := mustResolve(t, "inner", overrides(home))
	want := &Destination{
		Alias: "inner", User: "op", HostName: "192.168.1.10", Port: 22, KnownHostsFiles: kh, StrictHostKeyChecking: "yes",
		ProxyJump: []*Destination{
			{Alias: "bastion", User: "jump", HostName: "bastion.example.com", Port: 22022, KnownHostsFiles: kh, StrictHostKeyChecking: "yes"},
			// A chained hop: its own ProxyJump and ProxyCommand do not apply.
			{Alias: "gw", User: "ops", HostName: "gw.internal", Port: 2201, KnownHostsFiles: kh, StrictHostKeyChecking: "yes"},
		},
	}
	checkDest(t, "inner", got, want)

	got = mustResolve(t, "deep", overrides(home))
	edge := &Destination{Alias: "edge", User: "edge-user", HostName: "edge", Port: 2022, KnownHostsFiles: kh, StrictHostKeyChecking: "yes"}
	mid := &Destination{Alias: "mid", User: "op", HostName: "mid", Port: 22, KnownHostsFiles: kh, StrictHostKeyChecking: "yes",
		ProxyJump: []*Destination{edge}}
	want = &Destination{Alias: "deep", User: "op", HostName: "deep", Port: 22, KnownHostsFiles: kh, StrictHostKeyChecking: "yes",
		ProxyJump: []*Destination{mid}}
	checkDest(t, "deep", got, want)
	if hops := got.Hops(); len(hops) != 2 || hops[0].Alias != "edge" || hops[1].Alias != "mid" {
		t.Fatalf("Hops: got %s, want [edge, mid]", show(&Destination{ProxyJump: hops}))
	}
}

func TestHops(t *testing.T) {
	a := &Destination{Alias: "a"}
	b := &Destination{Alias: "b", ProxyJump: []*Destination{a}}
	c := &Destination{Alias: "c"}
	d := &Destination{Alias: "d", ProxyJump: []*Destination{b, c}}
	cyclic := &Destination{Alias: "x"}
	cyclic.ProxyJump = []*Destination{cyclic}
	tests := []struct {
		name string
		d    *Destination
		want string
	}{
		{name: "direct", d: a, want: ""},
		{name: "one hop", d: b, want: "a"},
		{name: "nested first hop", d: d, want: "a b c"},
		{name: "hand-built cycle ends", d: cyclic, want: strings.TrimSpace(strings.Repeat("x ", maxJump+1))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var names []string
			for _, h := range tc.d.Hops() {
				names = append(names, h.Alias)
			}
			if got := strings.Join(names, " "); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestResolveFlagsSkipJumpHosts(t *testing.T) {
	home := newHome(t, baseConfig)
	o := Overrides{Home: home, LocalUser: "op", Port: 2400, IdentityFile: "/k", KnownHosts: "/kh", AcceptNew: true}
	d := mustResolve(t, "inner", o)
	b := d.ProxyJump[0]
	if b.Port != 22022 || len(b.IdentityFiles) != 0 || b.IdentitiesOnly || b.StrictHostKeyChecking != "yes" ||
		b.KnownHostsFiles[0] != filepath.Join(home, ".ssh", "known_hosts") {
		t.Fatalf("jump host got flags meant for the destination: %s", show(b))
	}
	if d.Port != 2400 || d.IdentityFiles[0] != "/k" || d.KnownHostsFiles[0] != "/kh" || d.StrictHostKeyChecking != "accept-new" {
		t.Fatalf("destination lost its flags: %s", show(d))
	}
}

func TestResolveStrictHostKeyChecking(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  string
	}{
		{name: "unset", value: "", want: "yes"},
		{name: "yes", value: "yes", want: "yes"},
		{name: "true", value: "true", want: "yes"},
		{name: "ask", value: "ask", want: "yes"},
		{name: "accept-new", value: "accept-new", want: "accept-new"},
		{name: "no", value: "no", want: "accept-new"},
		{name: "off", value: "off", want: "accept-new"},
		{name: "false", value: "False", want: "accept-new"},
		{name: "nonsense", value: "maybe", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := "Host *\n  Port 22\n"
			if tc.value != "" {
				cfg += "  StrictHostKeyChecking " + tc.value + "\n"
			}
			d, err := Resolve("h", overrides(newHome(t, cfg)))
			if tc.want == "" {
				if err == nil || !strings.Contains(err.Error(), "StrictHostKeyChecking") {
					t.Fatalf("got %v, want an error about StrictHostKeyChecking", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.StrictHostKeyChecking != tc.want {
				t.Fatalf("got %q, want %q", d.StrictHostKeyChecking, tc.want)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	chain := ""
	for i := range maxJump + 2 {
		chain += fmt.Sprintf("Host c%d\n  ProxyJump c%d\n", i, i+1)
	}
	tests := []struct {
		name   string
		config string
		dest   string
		o      Overrides
		want   []string
	}{
		{name: "proxycommand", config: "Host pc\n  ProxyCommand nc %h %p\n", dest: "pc",
			want: []string{"ProxyCommand is not supported; use ProxyJump", `host "pc"`}},
		{name: "proxycommand on first hop", config: "Host a\n  ProxyJump b\nHost b\n  ProxyCommand nc %h %p\n", dest: "a",
			want: []string{"ProxyCommand is not supported", `host "b"`}},
		{name: "loop", config: "Host loop-a\n  ProxyJump loop-b\nHost loop-b\n  ProxyJump loop-a\n", dest: "loop-a",
			want: []string{"ProxyJump loop: loop-a -> loop-b -> loop-a"}},
		{name: "self loop", config: "Host *\n  ProxyJump bastion\n", dest: "device",
			want: []string{"ProxyJump loop: device -> bastion -> bastion"}},
		{name: "too deep", config: chain, dest: "c0", want: []string{"nested more than 8 deep"}},
		{name: "too many hops", config: "Host x\n  ProxyJump a,b,c,d,e,f,g,h,i\n", dest: "x", want: []string{"9 hops"}},
		{name: "bad hop", config: "Host x\n  ProxyJump ok,-oProxyCommand=x\n", dest: "x", want: []string{"must not start with '-'", "ProxyJump"}},
		{name: "empty hop", config: "Host x\n  ProxyJump a,,b\n", dest: "x", want: []string{"empty host"}},
		{name: "bad port", config: "Host x\n  Port ssh\n", dest: "x", want: []string{`host "x": Port "ssh"`}},
		{name: "bad hostname", config: "Host x\n  HostName -evil\n", dest: "x", want: []string{"HostName", "must not start with '-'"}},
		{name: "bad hostname token", config: "Host x\n  HostName %p.example\n", dest: "x", want: []string{"unknown token %p"}},
		{name: "bad user", config: "Host x\n  User a;b\n", dest: "x", want: []string{"User"}},
		{name: "bad identity token", config: "Host x\n  IdentityFile ~/%z\n", dest: "x", want: []string{`IdentityFile "~/%z": unknown token %z`}},
		{name: "lone percent", config: "Host x\n  IdentityFile ~/a%\n", dest: "x", want: []string{`"~/a%": lone %`}},
		{name: "tilde user", config: "Host x\n  IdentityFile ~root/.ssh/id\n", dest: "x", want: []string{"~user is not supported"}},
		{name: "known hosts none", config: "Host x\n  UserKnownHostsFile none\n", dest: "x", want: []string{"UserKnownHostsFile none"}},
		{name: "bad identities only", config: "Host x\n  IdentitiesOnly maybe\n", dest: "x", want: []string{"IdentitiesOnly"}},
		{name: "bad interval", config: "Host x\n  ServerAliveInterval soon\n", dest: "x", want: []string{"ServerAliveInterval"}},
		{name: "bad count", config: "Host x\n  ServerAliveCountMax -1\n", dest: "x", want: []string{"ServerAliveCountMax"}},
		{name: "bad timeout", config: "Host x\n  ConnectTimeout 5x\n", dest: "x", want: []string{"ConnectTimeout"}},
		{name: "unsupported match", config: "Match user root\n  Port 1\n", dest: "x", want: []string{"Match"}},
		{name: "long line", config: "Host x\n  HostName " + strings.Repeat("x", maxLineLength) + "\n", dest: "x",
			want: []string{"line 2 is longer than"}},
		{name: "large file", config: strings.Repeat("# padding\n", maxConfigSize/10+1), dest: "x", want: []string{"larger than"}},
		{name: "bad dest", config: "Host *\n", dest: "a b", want: []string{"destination"}},
		{name: "bad port flag", config: "Host *\n", dest: "x", o: Overrides{Port: 70000}, want: []string{"70000"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := newHome(t, tc.config)
			o := tc.o
			o.Home, o.LocalUser = home, "op"
			_, err := Resolve(tc.dest, o)
			if err == nil {
				t.Fatalf("Resolve(%q): got no error, want one containing %q", tc.dest, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("Resolve(%q): got %q, want it to contain %q", tc.dest, err, w)
				}
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("Resolve(%q): error %q is not one line", tc.dest, err)
			}
			cfg := filepath.Join(home, ".ssh", "config")
			if tc.name != "bad dest" && tc.name != "bad port flag" && !strings.Contains(err.Error(), cfg) {
				t.Fatalf("Resolve(%q): error %q does not name the config file", tc.dest, err)
			}
		})
	}
}

func TestResolveConfigFile(t *testing.T) {
	home := newHome(t, "Host dev\n  HostName from-default\n")
	other := filepath.Join(t.TempDir(), "other_config")
	writeFile(t, other, "Host dev\n  HostName from-flag\n", 0o644)

	o := overrides(home)
	if d := mustResolve(t, "dev", o); d.HostName != "from-default" {
		t.Fatalf("default config: got HostName %q, want from-default", d.HostName)
	}
	o.ConfigFile = other
	if d := mustResolve(t, "dev", o); d.HostName != "from-flag" {
		t.Fatalf("-F: got HostName %q, want from-flag", d.HostName)
	}
	o.ConfigFile = "none"
	if d := mustResolve(t, "dev", o); d.HostName != "dev" {
		t.Fatalf("-F none: got HostName %q, want dev", d.HostName)
	}
	o.ConfigFile = filepath.Join(t.TempDir(), "missing")
	if _, err := Resolve("dev", o); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("-F missing file: got %v, want an error naming it", err)
	}
}

func TestResolveInclude(t *testing.T) {
	dir := t.TempDir()
	inc := filepath.Join(dir, "devices.conf")
	writeFile(t, inc, "Host dev\n  HostName included\n  IdentityFile /k2\n", 0o600)
	home := newHome(t, "Host dev\n  IdentityFile /k1\nInclude "+inc+"\nHost dev\n  IdentityFile /k3\n")
	d := mustResolve(t, "dev", overrides(home))
	if d.HostName != "included" {
		t.Fatalf("got HostName %q, want included", d.HostName)
	}
	if got, want := strings.Join(d.IdentityFiles, " "), "/k1 /k2 /k3"; got != want {
		t.Fatalf("got IdentityFiles %q, want %q", got, want)
	}
}

func TestResolvePermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	tests := []struct {
		name    string
		mode    os.FileMode
		viaFlag bool
		ok      bool
	}{
		{name: "default 0600", mode: 0o600, ok: true},
		{name: "default 0644", mode: 0o644, ok: true},
		{name: "default 0666", mode: 0o666},
		{name: "default 0620", mode: 0o620},
		{name: "flag 0644", mode: 0o644, viaFlag: true, ok: true},
		{name: "flag 0666", mode: 0o666, viaFlag: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := newHome(t, "")
			o := overrides(home)
			path := filepath.Join(home, ".ssh", "config")
			if tc.viaFlag {
				path = filepath.Join(home, "flag_config")
				o.ConfigFile = path
			}
			writeFile(t, path, "Host dev\n  HostName 10.0.0.1\n", tc.mode)
			_, err := Resolve("dev", o)
			switch {
			case tc.ok && err != nil:
				t.Fatalf("mode %04o: got %v, want no error", tc.mode, err)
			case !tc.ok && (err == nil || !strings.Contains(err.Error(), "bad owner or permissions on "+path)):
				t.Fatalf("mode %04o: got %v, want bad owner or permissions on %s", tc.mode, err, path)
			}
		})
	}
}

func TestResolveDevNull(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no /dev/null")
	}
	o := overrides(newHome(t, "Host dev\n  HostName not-this\n"))
	o.ConfigFile = os.DevNull
	if d := mustResolve(t, "dev", o); d.HostName != "dev" {
		t.Fatalf("-F /dev/null: got HostName %q, want dev", d.HostName)
	}
}

func TestDestinationNames(t *testing.T) {
	tests := []struct {
		name       string
		d          Destination
		hostPort   string
		knownHosts string
	}{
		{name: "default port", d: Destination{HostName: "h", Port: 22}, hostPort: "h:22", knownHosts: "h:22"},
		{name: "other port", d: Destination{HostName: "h", Port: 2222}, hostPort: "h:2222", knownHosts: "h:2222"},
		{name: "ipv6", d: Destination{HostName: "::1", Port: 2222}, hostPort: "[::1]:2222", knownHosts: "[::1]:2222"},
		{name: "host key alias has no port", d: Destination{HostName: "h", Port: 2222, HostKeyAlias: "box"},
			hostPort: "h:2222", knownHosts: "box:22"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.d.HostPort(); got != tc.hostPort {
				t.Fatalf("HostPort: got %q, want %q", got, tc.hostPort)
			}
			if got := tc.d.KnownHostsName(); got != tc.knownHosts {
				t.Fatalf("KnownHostsName: got %q, want %q", got, tc.knownHosts)
			}
		})
	}
}

func TestParseSeconds(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int64
		ok   bool
	}{
		{name: "bare", in: "30", want: 30, ok: true},
		{name: "seconds", in: "30s", want: 30, ok: true},
		{name: "compound", in: "1h30m", want: 5400, ok: true},
		{name: "trailing bare", in: "1m30", want: 90, ok: true},
		{name: "upper", in: "2M", want: 120, ok: true},
		{name: "week", in: "1w", want: 604800, ok: true},
		{name: "empty", in: ""},
		{name: "unit only", in: "s"},
		{name: "bad unit", in: "5x"},
		{name: "negative", in: "-5"},
		{name: "overflow", in: "99999999999"},
		{name: "too large", in: "10000w"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseSeconds(tc.in)
			if ok != tc.ok || got != tc.want {
				t.Fatalf("parseSeconds(%q): got %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}
