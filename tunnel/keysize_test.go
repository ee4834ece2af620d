package tunnel

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"math/big"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loopgate/loopgate/keys"
)

// TestSmallRSAKeyRefusedEvenIfListed: a 1024-bit RSA key that reached the
// rules without the authorized_keys parser's check is still refused at
// authentication, before any lookup.
func TestSmallRSAKeyRefusedEvenIfListed(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	small, err := ssh.NewSignerFromKey(rk)
	if err != nil {
		t.Fatal(err)
	}
	tg := startGateway(t, map[string]string{"svc": "127.0.0.1:9"}, map[string][]string{"alice": {"svc"}},
		[]keys.AuthorizedKey{entry(small, "alice", keys.Options{})})
	if _, err := tg.dial(t, small); err == nil {
		t.Fatal("1024-bit RSA key: got logged in, want refused")
	}
	tg.log.waitFor(t, "auth rejected", "rsa key has 1024 bits; 2048 to 16384 are accepted")
}

// TestOversizeRSAKeyRefusedQuickly offers a 16400-bit RSA public key: it
// is refused while being parsed, before any signature check could spend
// CPU on it, and the connection can go on to try another key.
func TestOversizeRSAKeyRefusedQuickly(t *testing.T) {
	good := newSigner(t)
	tg := startGateway(t, map[string]string{"svc": "127.0.0.1:9"}, map[string][]string{"alice": {"svc"}},
		[]keys.AuthorizedKey{entry(good, "alice", keys.Options{})})
	huge := hugeRSASigner(t, 16400)
	if _, err := ssh.ParsePublicKey(huge.pub.blob); err == nil {
		t.Fatal("a 16400-bit RSA key parses; want the parser to refuse it")
	}
	start := time.Now()
	c, err := ssh.Dial("tcp", tg.addr, &ssh.ClientConfig{
		User:            "op",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(huge, good)},
		HostKeyCallback: ssh.FixedHostKey(tg.hostKey.PublicKey()),
		Timeout:         5 * time.Second,
	})
	if err != nil {
		t.Fatalf("huge key then a good one: got %v, want logged in with the good one", err)
	}
	c.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("login took %v, want the huge key refused quickly (< 2s)", d)
	}
	if !huge.offered {
		t.Fatal("the client never offered the huge key; the test proves nothing")
	}
	tg.log.waitFor(t, "auth accepted", "name=alice")
}

// hugeRSA is a signer whose public key is an RSA key of the given size
// that no one holds; it can be offered but never sign.
type hugeRSA struct {
	pub     rawKey
	offered bool
}

func hugeRSASigner(t testing.TB, bits int) *hugeRSA {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits)))
	if err != nil {
		t.Fatal(err)
	}
	n.SetBit(n, bits-1, 1).SetBit(n, 0, 1)
	blob := ssh.Marshal(struct {
		Name string
		E, N *big.Int
	}{ssh.KeyAlgoRSA, big.NewInt(65537), n})
	return &hugeRSA{pub: rawKey{typ: ssh.KeyAlgoRSA, blob: blob}}
}

func (h *hugeRSA) PublicKey() ssh.PublicKey { h.offered = true; return h.pub }
func (h *hugeRSA) Sign(io.Reader, []byte) (*ssh.Signature, error) {
	return nil, errors.New("no private key")
}
func (h *hugeRSA) SignWithAlgorithm(io.Reader, []byte, string) (*ssh.Signature, error) {
	return nil, errors.New("no private key")
}

// rawKey is a public key given as its wire bytes.
type rawKey struct {
	typ  string
	blob []byte
}

func (k rawKey) Type() string                        { return k.typ }
func (k rawKey) Marshal() []byte                     { return k.blob }
func (k rawKey) Verify([]byte, *ssh.Signature) error { return errors.New("cannot verify") }
