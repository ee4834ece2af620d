package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/loopgate/loopgate/keys"
	"github.com/loopgate/loopgate/limits"
)

const base = "HostKey k\nAuthorizedKeysFile a\nService nanomq 127.0.0.1:8081\n"

func TestLimitKeywords(t *testing.T) {
	c, err := Parse([]byte(base+`LoginGraceTime 10
MaxStartups 5:50:20
PerSourceMaxStartups none
PerSourceConnectRate 10/1s
PerSourceNetBlockSize 24:64
PerSourcePenalties authfail:2s min:4s
MaxAuthTries 3
MaxSessions 4
MaxConnections 50
MaxConnectionsPerKey 2
ChannelTimeout direct-tcpip=5m
UnusedConnectionTimeout none
ClientAliveInterval 5s
ClientAliveCountMax 2
`), "gateway.conf", "/dir")
	if err != nil {
		t.Fatal(err)
	}
	l := c.Limits
	want := limits.Limits{
		LoginGraceTime:        10 * time.Second,
		MaxStartups:           limits.Startups{Start: 5, Rate: 50, Full: 20},
		PerSourceMaxStartups:  limits.Off,
		PerSourceConnectRate:  limits.Rate{Count: 10, Per: time.Second},
		PerSourceNetBlockSize: limits.NetBlock{V4: 24, V6: 64},
		MaxAuthTries:          3, MaxSessions: 4, MaxConnections: 50, MaxConnectionsPerKey: 2,
		ChannelTimeout: 5 * time.Minute, UnusedConnectionTimeout: limits.Off,
		ClientAliveInterval: 5 * time.Second, ClientAliveCountMax: 2,
	}
	want.PerSourcePenalties = l.PerSourcePenalties
	if l != want {
		t.Fatalf("limits:\n got %+v\nwant %+v", l, want)
	}
	if p := l.PerSourcePenalties; p.AuthFail != 2*time.Second || p.Min != 4*time.Second || p.Crash != 90*time.Second {
		t.Fatalf("penalties: got %+v", p)
	}
}

func TestLimitKeywordErrors(t *testing.T) {
	tests := []struct{ name, line, want string }{
		{"grace off", "LoginGraceTime none", "cannot be turned off"},
		{"bad startups", "MaxStartups 100:30:10", "start may not exceed full"},
		{"auth tries off", "MaxAuthTries none", "cannot be turned off"},
		{"sessions zero", "MaxSessions 0", "invalid count"},
		{"channel type", "ChannelTimeout session=5m", "only direct-tcpip"},
		{"penalty keyword", "PerSourcePenalties bogus:1", "unknown keyword"},
		{"twice", "MaxSessions 2\nMaxSessions 3", "MaxSessions already set on line 4"},
		{"insecure yes-ish", "AllowInsecureAlgorithms true", "want yes or no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(base+tt.line+"\n"), "gateway.conf", "/dir")
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "gateway.conf:") {
				t.Fatalf("got %v, want an error at gateway.conf:4 containing %q", err, tt.want)
			}
		})
	}
}

func TestWeakAlgorithmsNeedInsecureOptIn(t *testing.T) {
	weak := "KexAlgorithms curve25519-sha256,diffie-hellman-group14-sha1\nMACs hmac-sha2-256-etm@openssh.com,hmac-sha1\n"
	_, err := Parse([]byte(base+weak), "gateway.conf", "/dir")
	if !errors.Is(err, keys.ErrInsecureAlgorithm) || !strings.Contains(err.Error(), "gateway.conf:4: KexAlgorithms") {
		t.Fatalf("weak kex without opt-in: got %v, want ErrInsecureAlgorithm at line 4", err)
	}
	// The opt-in may come after the lists it covers.
	c, err := Parse([]byte(base+weak+"AllowInsecureAlgorithms yes\n"), "gateway.conf", "/dir")
	if err != nil {
		t.Fatalf("with AllowInsecureAlgorithms yes: %v", err)
	}
	if got := c.Algorithms[keys.MACs]; len(got) != 2 || got[1] != "hmac-sha1" {
		t.Fatalf("MACs: got %v", got)
	}
	if _, err := Parse([]byte(base+"Ciphers aes256-gcm@openssh.com,rot13\n"), "gateway.conf", "/dir"); err == nil {
		t.Fatal("unknown cipher: got nil error, want one")
	}
}
