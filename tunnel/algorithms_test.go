package tunnel

import (
	"bufio"
	"cmp"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loopgate/loopgate/keys"
)

var rsa2048 = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

func rsaSigner(t testing.TB, algos ...string) ssh.Signer {
	t.Helper()
	k, err := rsa2048()
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if len(algos) == 0 {
		return s
	}
	as, err := ssh.NewSignerWithAlgorithms(s.(ssh.AlgorithmSigner), algos)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

func TestNewGatewayRefusesWeakAlgorithms(t *testing.T) {
	ed := newSigner(t)
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ssh.NewSignerFromKey(ek)
	if err != nil {
		t.Fatal(err)
	}
	sha1Kex := []string{ssh.InsecureKeyExchangeDH14SHA1}
	tests := []struct {
		name    string
		cfg     GatewayConfig
		wantErr error
	}{
		{"sha1 kex", GatewayConfig{HostKeys: []ssh.Signer{ed}, Algorithms: Algorithms{KeyExchanges: sha1Kex}}, keys.ErrInsecureAlgorithm},
		{"sha1 kex allowed", GatewayConfig{HostKeys: []ssh.Signer{ed}, Algorithms: Algorithms{KeyExchanges: sha1Kex, AllowInsecure: true}}, nil},
		{"ecdsa host key", GatewayConfig{HostKeys: []ssh.Signer{ec}}, keys.ErrInsecureAlgorithm},
		{"ecdsa host key allowed", GatewayConfig{HostKeys: []ssh.Signer{ec}, Algorithms: Algorithms{AllowInsecure: true}}, nil},
		{"rsa-2048 host key", GatewayConfig{HostKeys: []ssh.Signer{rsaSigner(t)}}, keys.ErrInsecureAlgorithm},
		{"ssh-rsa user signatures", GatewayConfig{HostKeys: []ssh.Signer{ed}, Algorithms: Algorithms{PublicKeyAuth: []string{ssh.KeyAlgoRSA}}}, keys.ErrInsecureAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewGateway(tt.cfg)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("NewGateway: got %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestGatewayAlgorithmsAgainstClients(t *testing.T) {
	tg := startGateway(t, nil, nil, []keys.AuthorizedKey{entry(rsaSigner(t), "rsa", keys.Options{})})
	tests := []struct {
		name    string
		signer  ssh.Signer
		kex     []string
		wantErr string // "" means logged in
	}{
		{"rsa-sha2-256 signatures", rsaSigner(t, ssh.KeyAlgoRSASHA256), nil, ""},
		{"ssh-rsa (SHA-1) signatures only", rsaSigner(t, ssh.KeyAlgoRSA), nil, "unable to authenticate"},
		{"ecdh-sha2-nistp256 kex only", rsaSigner(t, ssh.KeyAlgoRSASHA256), []string{ssh.KeyExchangeECDHP256},
			"no common algorithm for key exchange"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tg.clientConfig(tt.signer)
			cfg.KeyExchanges = tt.kex
			c, err := ssh.Dial("tcp", tg.addr, cfg)
			if err != nil {
				if tt.wantErr == "" || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("log in: got %v, want %q", err, cmp.Or(tt.wantErr, "logged in"))
				}
				return
			}
			defer c.Close()
			if tt.wantErr != "" {
				t.Fatalf("log in: got logged in, want %q", tt.wantErr)
			}
			if got := string(c.ServerVersion()); got != "SSH-2.0-loopgate" {
				t.Errorf("server version: got %q, want %q", got, "SSH-2.0-loopgate")
			}
		})
	}
}

// readKexInit reads the server's first binary packet, which must be its
// KEXINIT, and returns its first six name-lists (RFC 4253 7.1): kex, host
// key, and the ciphers and MACs each way.
func readKexInit(t testing.TB, r io.Reader) [][]string {
	t.Helper()
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		t.Fatalf("read packet header: %v", err)
	}
	n, pad := binary.BigEndian.Uint32(hdr[:4]), int(hdr[4])
	if n > 35000 || pad+2 > int(n) {
		t.Fatalf("packet length %d, padding %d: want a plausible KEXINIT", n, pad)
	}
	body := make([]byte, n-1)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatalf("read packet: %v", err)
	}
	p := body[:len(body)-pad]
	if len(p) < 17 || p[0] != 20 { // SSH_MSG_KEXINIT, cookie
		t.Fatalf("first packet: got message %d, want KEXINIT (20)", p[0])
	}
	p = p[17:]
	var lists [][]string
	for range 6 {
		if len(p) < 4 || int(binary.BigEndian.Uint32(p)) > len(p)-4 {
			t.Fatalf("KEXINIT: truncated name-list %d", len(lists)+1)
		}
		l := int(binary.BigEndian.Uint32(p))
		lists = append(lists, strings.Split(string(p[4:4+l]), ","))
		p = p[4+l:]
	}
	return lists
}

func TestServerBannerAndKexInit(t *testing.T) {
	tg := startGateway(t, nil, nil, nil)
	conn := tg.rawFrom(t, "127.0.0.1")
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "SSH-2.0-probe\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	if line, err := br.ReadString('\n'); err != nil || line != "SSH-2.0-loopgate\r\n" {
		t.Fatalf("version line: got %q (%v), want %q", line, err, "SSH-2.0-loopgate\r\n")
	}
	lists := readKexInit(t, br)
	kex := lists[0]
	if kex[0] != ssh.KeyExchangeMLKEM768X25519 {
		t.Errorf("first kex: got %q, want %q (in %v)", kex[0], ssh.KeyExchangeMLKEM768X25519, kex)
	}
	if !slices.Contains(kex, "kex-strict-s-v00@openssh.com") {
		t.Errorf("kex list: got %v, want kex-strict-s-v00@openssh.com in it", kex)
	}
	for _, tt := range []struct {
		name string
		got  []string
		want []string
	}{
		{"host key algorithms", lists[1], []string{ssh.KeyAlgoED25519}},
		{"ciphers client to server", lists[2], keys.DefaultAlgorithms(keys.Ciphers)},
		{"ciphers server to client", lists[3], keys.DefaultAlgorithms(keys.Ciphers)},
		{"macs client to server", lists[4], keys.DefaultAlgorithms(keys.MACs)},
	} {
		if !slices.Equal(tt.got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}
