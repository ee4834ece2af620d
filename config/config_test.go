package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loopgate/loopgate/policy"
)

const good = `# comment
Listen 127.0.0.1:2222
HostKey host_ed25519_key
authorizedkeysfile /etc/loopgate/authorized_keys   # trailing comment
Service nanomq 127.0.0.1:8081
Service web [::1]:8080
Grant alice nanomq,web
DialTimeout 2s
`

func TestParseGood(t *testing.T) {
	c, err := Parse([]byte(good), "gateway.conf", "/dir")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Listen != "127.0.0.1:2222" {
		t.Errorf("Listen: got %q, want 127.0.0.1:2222", c.Listen)
	}
	if want := []string{"/dir/host_ed25519_key"}; len(c.HostKeys) != 1 || c.HostKeys[0] != want[0] {
		t.Errorf("HostKeys: got %v, want %v", c.HostKeys, want)
	}
	if c.AuthorizedKeysFile != "/etc/loopgate/authorized_keys" {
		t.Errorf("AuthorizedKeysFile: got %q", c.AuthorizedKeysFile)
	}
	if len(c.Services) != 2 || c.Services[1].Name != "web" {
		t.Errorf("Services: got %v", c.Services)
	}
	if g := c.Grants["alice"]; len(g) != 2 {
		t.Errorf("Grants[alice]: got %v, want [nanomq web]", g)
	}
	if c.DialTimeout != 2*time.Second || c.Limits.LoginGraceTime != 0 || c.DrainTimeout != DefaultDrainTimeout {
		t.Errorf("durations: got %v %v %v, want 2s, 0 (the gateway's default), %v", c.DialTimeout, c.Limits.LoginGraceTime, c.DrainTimeout, DefaultDrainTimeout)
	}
	if _, err := c.Policy(); err != nil {
		t.Errorf("Policy: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	base := "HostKey k\nAuthorizedKeysFile a\n"
	tests := []struct {
		name, text, want string
	}{
		{"unknown keyword", base + "Foo bar\n", `c:3: unknown keyword "Foo"`},
		{"missing argument", base + "Listen\n", "c:3: Listen takes 1 argument(s), got 0"},
		{"extra argument", base + "Service a 127.0.0.1:1 x\n", "c:3: Service takes 2 argument(s), got 3"},
		{"duplicate listen", base + "Listen :1\nListen :2\n", "c:4: Listen already set on line 3"},
		{"non-loopback service", base + "Service web 10.0.0.1:80\n", "c:3: Service: "},
		{"hostname service", base + "Service web localhost:80\n", "c:3: Service: "},
		{"duplicate service", base + "Service a 127.0.0.1:1\nService a 127.0.0.1:2\n", `service "a" defined twice`},
		{"shared address", base + "Service a 127.0.0.1:1\nService b 127.0.0.1:1\n", "share address"},
		{"grant unknown service", base + "Grant alice nope\n", "nope"},
		{"grant twice", base + "Service a 127.0.0.1:1\nGrant alice a\nGrant alice a\n", "granted twice"},
		{"bad name", base + "Service a 127.0.0.1:1\nGrant al/ice a\n", "invalid name"},
		{"bad duration", base + "DialTimeout soon\n", "invalid duration"},
		{"zero duration", base + "DialTimeout 0s\n", "out of range"},
		{"control char", base + "Listen :1\x00\n", "control character"},
		{"bad listen", base + "Listen nowhere\n", "invalid address"},
		{"no host key", "AuthorizedKeysFile a\n", "no HostKey"},
		{"no authorized keys", "HostKey k\n", "no AuthorizedKeysFile"},
		{"duplicate host key", base + "HostKey k\n", "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.text), "c", "/d")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestRenderParses(t *testing.T) {
	svc, err := policy.ParseService("nanomq", "127.0.0.1:8081")
	if err != nil {
		t.Fatal(err)
	}
	text := Render(Template{Listen: ":2222", HostKey: "host_ed25519_key", AuthorizedKeysFile: "authorized_keys", Services: []policy.Service{svc}})
	c, err := Parse(text, "rendered", "/d")
	if err != nil {
		t.Fatalf("rendered config does not parse: %v\n%s", err, text)
	}
	if len(c.Services) != 1 || c.Services[0] != svc || c.Listen != ":2222" {
		t.Errorf("got %+v", c)
	}
}

func TestSetAndRemoveGrantKeepOtherLines(t *testing.T) {
	text := []byte("# keep me\nHostKey k\nAuthorizedKeysFile a\nService a 127.0.0.1:1\nService b 127.0.0.1:2\nGrant bob a # bob's\n")
	out, err := SetGrant(text, "alice", []string{"a"}, "/d")
	if err != nil {
		t.Fatal(err)
	}
	if want := string(text) + "Grant alice a\n"; string(out) != want {
		t.Fatalf("append: got %q, want %q", out, want)
	}
	out, err = SetGrant(out, "alice", []string{"a", "b"}, "/d")
	if err != nil {
		t.Fatal(err)
	}
	if want := string(text) + "Grant alice a,b\n"; string(out) != want {
		t.Fatalf("replace: got %q, want %q", out, want)
	}
	if _, err := SetGrant(out, "alice", []string{"nope"}, "/d"); err == nil {
		t.Fatal("grant of unknown service: got nil error")
	}
	out, found := RemoveGrant(out, "alice")
	if !found || string(out) != string(text) {
		t.Fatalf("remove: got %q found=%v, want the original", out, found)
	}
	if _, found := RemoveGrant(out, "carol"); found {
		t.Fatal("remove of absent grant: found=true")
	}
}

func TestLoadRefusesWritableConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.conf")
	if err := os.WriteFile(path, []byte("HostKey k\nAuthorizedKeysFile a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.HostKeys[0] != filepath.Join(dir, "k") {
		t.Errorf("HostKey: got %q, want it relative to the config dir", c.HostKeys[0])
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "0666") {
		t.Fatalf("world-writable config: got %v, want a permissions error naming the mode", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("HostKey k\nAuthorizedKeysFile a\nService x 127.0.0.1:9\nGrant y x\n"))
	f.Add([]byte("Listen [::1]:22\nHostKey \"k k\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz", "/d")
		if err != nil {
			return
		}
		p, err := c.Policy()
		if err != nil {
			t.Fatalf("parsed config has an invalid policy: %v", err)
		}
		for _, s := range p.Services() {
			if !s.Addr.Addr().IsLoopback() {
				t.Fatalf("service %s is not loopback: %s", s.Name, s.Addr)
			}
		}
	})
}
