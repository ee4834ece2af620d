package dest

import (
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestExpandPath(t *testing.T) {
	l := &local{home: "/home/op", user: func() string { return "op" }, uid: "1000", hostname: "laptop.example.com"}
	d := &Destination{Alias: "Dev", User: "alice", HostName: "dev.example.com", Port: 2222}
	tests := []struct {
		name string
		in   string
		want string
		err  string
	}{
		{name: "plain", in: "/etc/kh", want: "/etc/kh"},
		{name: "tilde alone", in: "~", want: "/home/op"},
		{name: "tilde slash", in: "~/.ssh/id", want: "/home/op/.ssh/id"},
		{name: "tilde inside is literal", in: "/a/~/b", want: "/a/~/b"},
		{name: "tilde user", in: "~root/id", err: "~user is not supported"},
		{name: "all tokens", in: "%d|%h|%i|%k|%l|%L|%n|%p|%r|%u|%%",
			want: "/home/op|dev.example.com|1000|Dev|laptop.example.com|laptop|Dev|2222|alice|op|%"},
		{name: "percent percent h", in: "%%h", want: "%h"},
		{name: "tilde then token", in: "~/%r", want: "/home/op/alice"},
		{name: "token values are not expanded again", in: "%n", want: "Dev"},
		{name: "unknown token", in: "%C", err: "unknown token %C"},
		{name: "lone percent", in: "a%", err: "lone % at the end"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := l.expandPath(tc.in, l.pathTokens(d))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("expandPath(%q): got %q, %v; want error %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("expandPath(%q): got %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestExpandKeyAlias(t *testing.T) {
	l := &local{home: "/h", user: func() string { return "op" }}
	d := &Destination{Alias: "dev", HostKeyAlias: "box"}
	if got, _ := l.expandPath("%k", l.pathTokens(d)); got != "box" {
		t.Fatalf("%%k with HostKeyAlias: got %q, want box", got)
	}
}

func TestResolveProcessDefaults(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("os.UserHomeDir does not read HOME here")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	d := mustResolve(t, "h", Overrides{})
	if want := filepath.Join(home, ".ssh", "known_hosts"); d.KnownHostsFiles[0] != want {
		t.Fatalf("got KnownHostsFiles %q, want [%q]", d.KnownHostsFiles, want)
	}
	if d.User == "" || d.User != currentUser() {
		t.Fatalf("got User %q, want the current user %q", d.User, currentUser())
	}
}

// TestLocalUserOnDemand checks that the local user name (an NSS lookup with
// cgo) is asked for only when needed, at most once, and that a missing one
// is an error there and only there.
func TestLocalUserOnDemand(t *testing.T) {
	asked, name := 0, ""
	was := lookupUser
	lookupUser = func() string { asked++; return name }
	t.Cleanup(func() { lookupUser = was })

	o := Overrides{Home: t.TempDir(), ConfigFile: "none"}
	d, err := Resolve("alice@dev", o)
	if err != nil || d.User != "alice" {
		t.Fatalf("Resolve alice@dev: %+v, %v", d, err)
	}
	if asked != 0 {
		t.Fatalf("local user looked up %d times for alice@dev, want 0", asked)
	}
	_, err = Resolve("dev", o)
	if !errors.Is(err, errNoLocalUser) || !strings.Contains(err.Error(), `host "dev"`) {
		t.Fatalf("Resolve dev with no local user: got %v, want %v naming the host", err, errNoLocalUser)
	}
	l, err := newLocal(o)
	if err != nil {
		t.Fatal(err)
	}
	asked = 0
	for range 2 {
		if _, err := l.expandPath("~/.ssh/%u", l.pathTokens(d)); !errors.Is(err, errNoLocalUser) {
			t.Fatalf("expand %%u with no local user: got %v, want %v", err, errNoLocalUser)
		}
	}
	if asked != 1 {
		t.Fatalf("local user looked up %d times for two %%u, want 1", asked)
	}
	name = "op"
	if d, err := Resolve("dev", o); err != nil || d.User != "op" {
		t.Fatalf("Resolve dev: %+v, %v; want the local user op", d, err)
	}
}
