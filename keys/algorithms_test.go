package keys

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"slices"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestCheckAlgorithms(t *testing.T) {
	tests := []struct {
		name     string
		kind     AlgorithmKind
		list     []string
		insecure bool
		wantErr  error // nil: accepted; errAny: any error
	}{
		{"default kex", KexAlgorithms, DefaultAlgorithms(KexAlgorithms), false, nil},
		{"sha1 kex refused", KexAlgorithms, []string{"curve25519-sha256", "diffie-hellman-group14-sha1"}, false, ErrInsecureAlgorithm},
		{"nist kex refused", KexAlgorithms, []string{"ecdh-sha2-nistp256"}, false, ErrInsecureAlgorithm},
		{"sha1 kex with opt-in", KexAlgorithms, []string{"diffie-hellman-group14-sha1"}, true, nil},
		{"unknown kex", KexAlgorithms, []string{"sntrup761x25519-sha512@openssh.com"}, true, errAny},
		{"ctr allowed", Ciphers, []string{"aes256-ctr"}, false, nil},
		{"cbc refused", Ciphers, []string{"aes128-cbc"}, false, ErrInsecureAlgorithm},
		{"non-etm mac refused", MACs, []string{"hmac-sha2-256"}, false, ErrInsecureAlgorithm},
		{"sha1 mac refused", MACs, []string{"hmac-sha1"}, false, ErrInsecureAlgorithm},
		{"ssh-rsa refused", PubkeyAcceptedAlgorithms, []string{"rsa-sha2-256", "ssh-rsa"}, false, ErrInsecureAlgorithm},
		{"dss never", PubkeyAcceptedAlgorithms, []string{"ssh-dss"}, true, errAny},
		{"duplicate", Ciphers, []string{"aes256-ctr", "aes256-ctr"}, false, errAny},
		{"empty", Ciphers, nil, false, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckAlgorithms(tt.kind, tt.list, tt.insecure)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("got %v, want accepted", err)
			case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestDefaultsAreStrongAndOrdered(t *testing.T) {
	kex := DefaultAlgorithms(KexAlgorithms)
	if kex[0] != ssh.KeyExchangeMLKEM768X25519 || !slices.Contains(kex, ssh.KeyExchangeCurve25519) {
		t.Fatalf("kex: got %v, want mlkem768x25519-sha256 first and curve25519-sha256", kex)
	}
	for _, k := range AlgorithmKinds {
		if err := CheckAlgorithms(k, DefaultAlgorithms(k), false); err != nil {
			t.Errorf("%s defaults: %v", k, err)
		}
	}
	if slices.Contains(DefaultAlgorithms(PubkeyAcceptedAlgorithms), ssh.KeyAlgoRSA) {
		t.Fatal("user key algorithms include ssh-rsa (SHA-1)")
	}
}

func TestCheckUserKey(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckUserKey(mustPub(t, &small.PublicKey)); err == nil {
		t.Fatal("rsa 1024: got accepted, want refused")
	}
	if err := CheckUserKey(mustPub(t, &ok.PublicKey)); err != nil {
		t.Fatalf("rsa 2048: got %v, want accepted", err)
	}
}

func TestHardenHostKey(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(rk)
	if err != nil {
		t.Fatal(err)
	}
	h, err := HardenHostKey(s, false)
	if err != nil {
		t.Fatal(err)
	}
	algs := h.(ssh.MultiAlgorithmSigner).Algorithms()
	if slices.Contains(algs, ssh.KeyAlgoRSA) || len(algs) != 2 {
		t.Fatalf("rsa host key algorithms: got %v, want rsa-sha2-512 and rsa-sha2-256 only", algs)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	es, err := ssh.NewSignerFromKey(ek)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := HardenHostKey(es, false); !errors.Is(err, ErrInsecureAlgorithm) {
		t.Fatalf("ecdsa host key: got %v, want ErrInsecureAlgorithm", err)
	}
	if _, err := HardenHostKey(es, true); err != nil {
		t.Fatalf("ecdsa host key with opt-in: got %v, want accepted", err)
	}
}

func mustPub(t testing.TB, k any) ssh.PublicKey {
	t.Helper()
	p, err := ssh.NewPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
