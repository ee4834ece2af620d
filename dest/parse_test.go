package dest

import (
	"strings"
	"testing"
)

type parseCase struct {
	name string
	in   string
	user string
	host string
	port int
	err  string // substring of the error; "" = must succeed
}

var parseCases = []parseCase{
	{name: "bare host", in: "device", host: "device"},
	{name: "user and host", in: "alice@device", user: "alice", host: "device"},
	{name: "host and port", in: "device:2222", host: "device", port: 2222},
	{name: "user host port", in: "alice@device.example.com:2222", user: "alice", host: "device.example.com", port: 2222},
	{name: "ipv4 and port", in: "10.0.0.1:22", host: "10.0.0.1", port: 22},
	{name: "bracketed v6 and port", in: "[::1]:2222", host: "::1", port: 2222},
	{name: "bare bracketed v6", in: "[::1]", host: "::1"},
	{name: "user bracketed v6 port", in: "user@[fe80::1]:22", user: "user", host: "fe80::1", port: 22},
	{name: "v6 with zone", in: "[fe80::1%eth0]:22", host: "fe80::1%eth0", port: 22},
	{name: "unbracketed v6", in: "fe80::1", host: "fe80::1"},
	{name: "uri", in: "ssh://bob@h:2200", user: "bob", host: "h", port: 2200},
	{name: "uri upper scheme", in: "SSH://h", host: "h"},
	{name: "uri trailing slash", in: "ssh://h:22/", host: "h", port: 22},
	{name: "uri v6", in: "ssh://[::1]:2200", host: "::1", port: 2200},
	{name: "uri percent user", in: "ssh://a%40b@h", user: "a@b", host: "h"},
	{name: "at in user splits at last", in: "a@b@host", user: "a@b", host: "host"},
	{name: "lowest port", in: "h:1", host: "h", port: 1},
	{name: "highest port", in: "h:65535", host: "h", port: 65535},
	{name: "case kept", in: "Device-01", host: "Device-01"},

	{name: "empty", in: "", err: "empty host"},
	{name: "option injection", in: "-oProxyCommand=x", err: "must not start with '-'"},
	{name: "option injection after user", in: "alice@-oProxyCommand=x", err: "must not start with '-'"},
	{name: "user option injection", in: "-l@host", err: "must not start with '-'"},
	{name: "bracketed dash", in: "[-x]:22", err: "must not start with '-'"},
	{name: "space", in: "a b", err: "space"},
	{name: "tab", in: "a\tb", err: "space"},
	{name: "newline", in: "host\n", err: "space"},
	{name: "nul", in: "host\x00", err: "control"},
	{name: "invalid utf8", in: "h\xff", err: "UTF-8"},
	{name: "port zero", in: "host:0", err: "port"},
	{name: "port too big", in: "host:70000", err: "port"},
	{name: "port letters", in: "host:22a", err: "port"},
	{name: "port sign", in: "host:+22", err: "port"},
	{name: "port negative", in: "host:-1", err: "port"},
	{name: "port empty", in: "host:", err: "empty port"},
	{name: "port only", in: ":22", err: "empty host"},
	{name: "empty user", in: "@host", err: "empty user"},
	{name: "empty host after user", in: "user@", err: "empty host"},
	{name: "missing bracket", in: "[::1:22", err: "missing ']'"},
	{name: "junk after bracket", in: "[::1]x", err: "after ']'"},
	{name: "empty brackets", in: "[]:22", err: "empty host"},
	{name: "bracketed empty port", in: "[::1]:", err: "empty port"},
	{name: "several colons", in: "a:b:c", err: "several colons"},
	{name: "stray bracket", in: "a]b", err: "must not contain"},
	{name: "comma", in: "a,b", err: "must not contain"},
	{name: "shell metachar", in: "h;rm", err: "must not contain"},
	{name: "command substitution", in: "$(x)", err: "must not contain"},
	{name: "user metachar", in: "a`b`@h", err: "must not contain"},
	{name: "uri path", in: "ssh://h/path", err: "path"},
	{name: "uri empty", in: "ssh://", err: "empty host"},
	{name: "uri bad escape", in: "ssh://%zz@h", err: "percent"},
	{name: "uri escaped space", in: "ssh://a%20b@h", err: "space"},
	{name: "uri escaped dash", in: "ssh://%2Dx@h", err: "must not start with '-'"},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			user, host, port, err := Parse(tc.in)
			if tc.err != "" {
				if err == nil {
					t.Fatalf("Parse(%q) = %q, %q, %d; want error containing %q", tc.in, user, host, port, tc.err)
				}
				if !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Parse(%q) error: got %q, want it to contain %q", tc.in, err, tc.err)
				}
				if strings.ContainsAny(err.Error(), "\r\n") {
					t.Fatalf("Parse(%q) error %q: want one line", tc.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if user != tc.user || host != tc.host || port != tc.port {
				t.Fatalf("Parse(%q): got %q, %q, %d; want %q, %q, %d", tc.in, user, host, port, tc.user, tc.host, tc.port)
			}
		})
	}
}
