package keys

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
)

// AlgorithmKind names one of the algorithm lists an SSH server offers.
type AlgorithmKind string

// The algorithm lists, named by their sshd_config keywords.
const (
	KexAlgorithms            AlgorithmKind = "KexAlgorithms"
	Ciphers                  AlgorithmKind = "Ciphers"
	MACs                     AlgorithmKind = "MACs"
	PubkeyAcceptedAlgorithms AlgorithmKind = "PubkeyAcceptedAlgorithms"
)

// AlgorithmKinds lists every kind, in the order the config documents them.
var AlgorithmKinds = []AlgorithmKind{KexAlgorithms, Ciphers, MACs, PubkeyAcceptedAlgorithms}

// algorithmSet is what the gateway offers for one kind by default, what it
// accepts in a config without question, and what it accepts only when the
// config opts in with AllowInsecureAlgorithms.
type algorithmSet struct {
	defaults []string
	strong   []string // includes defaults
	weak     []string
}

var algorithmSets = map[AlgorithmKind]algorithmSet{
	KexAlgorithms: {
		// mlkem768x25519 is post-quantum hybrid; curve25519 is the fallback
		// OpenSSH 9.x before 9.9 needs.
		defaults: []string{ssh.KeyExchangeMLKEM768X25519, ssh.KeyExchangeCurve25519},
		strong:   []string{ssh.KeyExchangeMLKEM768X25519, ssh.KeyExchangeCurve25519},
		weak: []string{ssh.KeyExchangeDH16SHA512, ssh.KeyExchangeDHGEXSHA256, ssh.KeyExchangeDH14SHA256,
			ssh.KeyExchangeECDHP256, ssh.KeyExchangeECDHP384, ssh.KeyExchangeECDHP521,
			ssh.InsecureKeyExchangeDH14SHA1, ssh.InsecureKeyExchangeDH1SHA1, ssh.InsecureKeyExchangeDHGEXSHA1},
	},
	Ciphers: {
		defaults: []string{ssh.CipherAES256GCM, ssh.CipherAES128GCM},
		strong: []string{ssh.CipherAES256GCM, ssh.CipherAES128GCM, ssh.CipherChaCha20Poly1305,
			ssh.CipherAES256CTR, ssh.CipherAES192CTR, ssh.CipherAES128CTR},
		weak: []string{ssh.InsecureCipherAES128CBC, ssh.InsecureCipherTripleDESCBC,
			ssh.InsecureCipherRC4256, ssh.InsecureCipherRC4128, ssh.InsecureCipherRC4},
	},
	MACs: {
		// Only used with CTR ciphers; encrypt-then-MAC only.
		defaults: []string{ssh.HMACSHA256ETM, ssh.HMACSHA512ETM},
		strong:   []string{ssh.HMACSHA256ETM, ssh.HMACSHA512ETM},
		weak:     []string{ssh.HMACSHA256, ssh.HMACSHA512, ssh.HMACSHA1, ssh.InsecureHMACSHA196},
	},
	PubkeyAcceptedAlgorithms: {
		defaults: userKeyAlgorithms,
		strong:   userKeyAlgorithms,
		weak:     []string{ssh.KeyAlgoRSA},
	},
}

// userKeyAlgorithms are the signature algorithms the gateway accepts from
// users: never ssh-rsa (SHA-1) or DSA.
var userKeyAlgorithms = []string{
	ssh.KeyAlgoED25519, ssh.KeyAlgoSKED25519,
	ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoSKECDSA256,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
}

// DefaultAlgorithms returns the gateway's default list for kind.
func DefaultAlgorithms(kind AlgorithmKind) []string {
	return slices.Clone(algorithmSets[kind].defaults)
}

// ErrInsecureAlgorithm marks a configured algorithm that is supported but
// weak; it is accepted only with AllowInsecureAlgorithms.
var ErrInsecureAlgorithm = errors.New("insecure algorithm")

// CheckAlgorithms checks a configured list of kind: every name must be
// known, none repeated, and none weak unless allowInsecure.
func CheckAlgorithms(kind AlgorithmKind, names []string, allowInsecure bool) error {
	set, ok := algorithmSets[kind]
	if !ok {
		return fmt.Errorf("unknown algorithm kind %q", kind)
	}
	if len(names) == 0 {
		return errors.New("empty algorithm list")
	}
	for i, n := range names {
		switch {
		case slices.Contains(names[:i], n):
			return fmt.Errorf("%q listed twice", n)
		case slices.Contains(set.strong, n):
		case slices.Contains(set.weak, n) && allowInsecure:
		case slices.Contains(set.weak, n):
			return fmt.Errorf("%q: %w; set AllowInsecureAlgorithms yes to use it anyway", n, ErrInsecureAlgorithm)
		default:
			return fmt.Errorf("unsupported algorithm %q (supported: %s)", n, strings.Join(slices.Concat(set.strong, set.weak), ","))
		}
	}
	return nil
}

// Bounds on the RSA keys the gateway accepts, as host or user keys.
const (
	MinRSABits     = 2048
	MaxRSABits     = 16384 // the most ssh-keygen makes
	MinHostRSABits = 3072
)

// CheckUserKey refuses user keys the gateway never accepts: DSA, RSA under
// MinRSABits or over MaxRSABits, and certificates. It is cheap, so it runs
// before any lookup or signature check.
func CheckUserKey(key ssh.PublicKey) error {
	switch key.Type() {
	case ssh.InsecureKeyAlgoDSA:
		return errors.New("dsa keys are not accepted")
	}
	if _, ok := key.(*ssh.Certificate); ok {
		return errors.New("certificates are not supported")
	}
	if bits, ok := rsaBits(key); ok && (bits < MinRSABits || bits > MaxRSABits) {
		return fmt.Errorf("rsa key has %d bits; %d to %d are accepted", bits, MinRSABits, MaxRSABits)
	}
	return nil
}

func rsaBits(key ssh.PublicKey) (int, bool) {
	ck, ok := key.(ssh.CryptoPublicKey)
	if !ok {
		return 0, false
	}
	rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey)
	if !ok {
		return 0, false
	}
	return rk.N.BitLen(), true
}

// HardenHostKey checks a host key and returns the signer to serve it with:
// ed25519 as is; RSA of at least MinHostRSABits restricted to rsa-sha2-512
// and rsa-sha2-256 (never SHA-1). ECDSA and smaller RSA keys need
// allowInsecure.
func HardenHostKey(s ssh.Signer, allowInsecure bool) (ssh.Signer, error) {
	pub := s.PublicKey()
	switch pub.Type() {
	case ssh.KeyAlgoED25519:
		return s, nil
	case ssh.KeyAlgoRSA:
		bits, _ := rsaBits(pub)
		if bits < MinHostRSABits && !allowInsecure {
			return nil, fmt.Errorf("rsa host key has %d bits; at least %d are required: %w", bits, MinHostRSABits, ErrInsecureAlgorithm)
		}
		as, ok := s.(ssh.AlgorithmSigner)
		if !ok {
			return nil, errors.New("rsa host key cannot choose its signature algorithm")
		}
		return ssh.NewSignerWithAlgorithms(as, []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256})
	case ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521:
		if !allowInsecure {
			return nil, fmt.Errorf("%s host key: NIST curves fail ssh-audit; use ed25519: %w", pub.Type(), ErrInsecureAlgorithm)
		}
		return s, nil
	default:
		return nil, fmt.Errorf("%s host keys are not supported", pub.Type())
	}
}
