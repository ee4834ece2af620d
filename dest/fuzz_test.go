package dest

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		user, host, port, err := Parse(in)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("Parse(%q): error %q is not one line", in, err)
			}
			return
		}
		if host == "" || host[0] == '-' || checkText(host) != nil {
			t.Fatalf("Parse(%q): accepted host %q", in, host)
		}
		if user != "" && (user[0] == '-' || checkText(user) != nil) {
			t.Fatalf("Parse(%q): accepted user %q", in, user)
		}
		if port < 0 || port > 65535 {
			t.Fatalf("Parse(%q): accepted port %d", in, port)
		}
	})
}

func FuzzResolveConfig(f *testing.F) {
	f.Add([]byte(baseConfig), "inner")
	f.Add([]byte(baseConfig), "dev")
	f.Add([]byte(interopConfig), "deep")
	f.Add([]byte("Host *\n  ProxyJump a,b\nHost a\n  ProxyJump b\n"), "x")
	f.Add([]byte("Match host x\n  HostName %h.%h\nMatch all\n  Port 2\n"), "x")
	f.Add([]byte("Host x\n  IdentityFile \"~/a b\"\n  UserKnownHostsFile=\"%d\" %%\n"), "x")
	f.Add([]byte("Host \"x\n\tPort\t=\t 0x10 # comment\n"), "x")
	home := f.TempDir() // one per fuzzing process; its inputs run one at a time
	path := filepath.Join(home, "config")
	f.Fuzz(func(t *testing.T, config []byte, dest string) {
		// Include would make the parser read whatever files the input
		// names (/dev/zero among them); it is exercised by the unit tests.
		if bytes.Contains(bytes.ToLower(config), []byte("include")) {
			t.Skip()
		}
		writeFile(t, path, string(config), 0o600)
		d, err := Resolve(dest, Overrides{ConfigFile: path, Home: home, LocalUser: "op"})
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error %q is not one line", err)
			}
			return
		}
		checkResolved(t, d, 0)
	})
}

// checkResolved asserts what every resolved Destination promises.
func checkResolved(t *testing.T, d *Destination, depth int) {
	t.Helper()
	if depth > maxJump || len(d.ProxyJump) > maxJump {
		t.Fatalf("ProxyJump too deep or too long: %s", show(d))
	}
	if validHost(d.HostName) != nil || d.Port < 1 || d.Port > 65535 || d.User == "" {
		t.Fatalf("bad address: %s", show(d))
	}
	if len(d.KnownHostsFiles) == 0 || (d.StrictHostKeyChecking != "yes" && d.StrictHostKeyChecking != "accept-new") {
		t.Fatalf("bad host key checking: %s", show(d))
	}
	for _, j := range d.ProxyJump {
		checkResolved(t, j, depth+1)
	}
}
