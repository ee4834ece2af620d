package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// DefaultTokenKeyName is the file name of the gateway's token signing key.
//
// Token key files: the private key is PKCS#8 PEM ("PRIVATE KEY"), mode 0600;
// the public key PATH+".pub" is PKIX PEM ("PUBLIC KEY"), mode 0644, the format
// that NanoMQ's http_server.jwt.public.keyfile expects. NanoMQ requires the
// iss claim to equal the base name of that file, so the name matters.
const DefaultTokenKeyName = "jwtRS256.key"

const (
	tokenKeyBits    = 3072 // size of generated RSA token keys
	minTokenRSABits = 2048
	maxTokenRSABits = 4096 // a larger signature leaves no room under MaxTokenHeader
)

// JWS algorithm names, chosen by the key type.
const (
	algRS256 = "RS256"
	algES256 = "ES256"
	algEdDSA = "EdDSA"
)

// TokenKey is a loaded signing key. Its methods do not modify it and are safe
// for concurrent use.
type TokenKey struct {
	// Signer signs tokens: *rsa.PrivateKey, *ecdsa.PrivateKey (P-256 only)
	// or ed25519.PrivateKey.
	Signer crypto.Signer
	// Alg is the JWS algorithm of Signer: "RS256", "ES256" or "EdDSA".
	Alg string
	// KeyID is the base64url (no padding) encoding of the first 12 bytes of
	// SHA-256 over the PKIX DER of the public key.
	KeyID string
	// PublicPath is the private key's path plus ".pub" when that file exists
	// (it must then hold the matching public key); "" when it does not.
	PublicPath string
}

// GenerateTokenKey creates an RSA 3072 token key pair: the private key at
// path (PKCS#8 PEM, mode 0600) and the public key at path+".pub" (PKIX PEM,
// mode 0644). It never overwrites: if either file exists the error wraps
// [fs.ErrExist] and nothing is written.
func GenerateTokenKey(path string) error {
	pubPath := path + ".pub"
	for _, p := range []string{pubPath, path} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("generate token key: %w", existError(p))
		}
	}
	_, privPEM, pubPEM, err := newTokenKey()
	if err != nil {
		return fmt.Errorf("generate token key %s: %w", path, err)
	}
	if err := CreateFileExclusive(path, privPEM, 0o600); err != nil {
		return fmt.Errorf("generate token key: %w", err)
	}
	if err := CreateFileExclusive(pubPath, pubPEM, 0o644); err != nil {
		os.Remove(path)
		return fmt.Errorf("generate token key: %w", err)
	}
	return nil
}

// RotateTokenKey replaces the token key pair at path and path+".pub" with a
// new RSA 3072 pair and returns the new key's KeyID. The private key file must
// pass [CheckPrivateFile]; its content is not parsed, so a weak or damaged key
// can be rotated away. The old pair is first copied to path+".old" (mode 0600)
// and path+".pub.old" (mode 0644), replacing older copies; when path+".pub" is
// missing, a stale path+".pub.old" is removed. All files are written with
// [WriteFileAtomic]. Whatever reads the public key (NanoMQ) must be reloaded
// to trust the new key.
func RotateTokenKey(path string) (string, error) {
	oldPriv, oldPub, err := readTokenKeyPair(path)
	if err != nil {
		return "", fmt.Errorf("rotate token key: %w", err)
	}
	key, privPEM, pubPEM, err := newTokenKey()
	if err != nil {
		return "", fmt.Errorf("rotate token key %s: %w", path, err)
	}
	id, err := keyID(key.Public())
	if err != nil {
		return "", fmt.Errorf("rotate token key %s: %w", path, err)
	}
	if err := backUpTokenKeyPair(path, oldPriv, oldPub); err != nil {
		return "", fmt.Errorf("rotate token key: %w", err)
	}
	if err := WriteFileAtomic(path, privPEM, 0o600); err != nil {
		return "", fmt.Errorf("rotate token key: %w", err)
	}
	if err := WriteFileAtomic(path+".pub", pubPEM, 0o644); err != nil {
		return "", fmt.Errorf("rotate token key: %w", err)
	}
	return id, nil
}

// readTokenKeyPair reads the private key file (checked as private) and the
// public key file, which may be missing (nil).
func readTokenKeyPair(path string) (priv, pub []byte, err error) {
	priv, err = readKeyFile(path, checkPrivate)
	if err != nil {
		return nil, nil, err
	}
	pub, err = readKeyFile(path+".pub", checkRegular)
	if errors.Is(err, fs.ErrNotExist) {
		return priv, nil, nil
	}
	return priv, pub, err
}

func backUpTokenKeyPair(path string, priv, pub []byte) error {
	if err := WriteFileAtomic(path+".old", priv, 0o600); err != nil {
		return err
	}
	if pub != nil {
		return WriteFileAtomic(path+".pub.old", pub, 0o644)
	}
	if err := os.Remove(path + ".pub.old"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// readKeyFile reads a key file of at most maxKeyFileSize bytes after check
// accepts it.
func readKeyFile(path string, check func(string, fs.FileInfo) error) ([]byte, error) {
	data, err := readChecked(path, check, maxKeyFileSize)
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("%s: file is larger than 64 KiB", path)
	}
	return data, nil
}

// newTokenKey returns a new RSA token key with its PKCS#8 and PKIX PEM files.
func newTokenKey() (key *rsa.PrivateKey, privPEM, pubPEM []byte, err error) {
	key, err = rsa.GenerateKey(rand.Reader, tokenKeyBits)
	if err != nil {
		return nil, nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	pubPEM, err = marshalPublicPEM(key.Public())
	if err != nil {
		return nil, nil, nil, err
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), pubPEM, nil
}

func marshalPublicPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// LoadTokenKey reads the token signing key at path after [CheckPrivateFile]
// accepts it. The file holds one PEM private key: PKCS#8 ("PRIVATE KEY"),
// PKCS#1 ("RSA PRIVATE KEY") or SEC1 ("EC PRIVATE KEY", optionally after an
// "EC PARAMETERS" block). RSA keys must have 2048 to 4096 bits, EC keys must be
// on P-256; Ed25519 keys are accepted too. If path+".pub" exists it must hold
// the matching public key (PKIX or PKCS#1 PEM), and it becomes PublicPath.
// Errors name the file and never hold key material.
func LoadTokenKey(path string) (*TokenKey, error) {
	data, err := readKeyFile(path, checkPrivate)
	if err != nil {
		return nil, fmt.Errorf("load token key: %w", err)
	}
	signer, err := parseTokenPrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("load token key %s: %w", path, err)
	}
	k, err := newTokenKeyFromSigner(signer)
	if err != nil {
		return nil, fmt.Errorf("load token key %s: %w", path, err)
	}
	if k.PublicPath, err = matchingPublicFile(path+".pub", signer.Public()); err != nil {
		return nil, fmt.Errorf("load token key %s: %w", path, err)
	}
	return k, nil
}

func newTokenKeyFromSigner(signer crypto.Signer) (*TokenKey, error) {
	alg, err := signerAlg(signer)
	if err != nil {
		return nil, err
	}
	id, err := keyID(signer.Public())
	if err != nil {
		return nil, err
	}
	return &TokenKey{Signer: signer, Alg: alg, KeyID: id}, nil
}

// parseTokenPrivateKey decodes the first PEM private key in data.
func parseTokenPrivateKey(data []byte) (crypto.Signer, error) {
	block, rest := pem.Decode(data)
	for block != nil && block.Type == "EC PARAMETERS" {
		block, rest = pem.Decode(rest)
	}
	if block == nil {
		return nil, errors.New("no PEM private key found")
	}
	if _, ok := block.Headers["DEK-Info"]; ok || block.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, errors.New("key is passphrase-protected; the gateway needs an unencrypted key")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a supported private key (want PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T", key)
	}
	return signer, nil
}

// signerAlg returns the JWS algorithm for a supported key, or an error saying
// why the key is not supported.
func signerAlg(signer crypto.Signer) (string, error) {
	switch k := signer.(type) {
	case *rsa.PrivateKey:
		if k == nil || k.N == nil {
			return "", errors.New("empty RSA key")
		}
		if bits := k.N.BitLen(); bits < minTokenRSABits || bits > maxTokenRSABits {
			return "", fmt.Errorf("RSA key has %d bits; want %d to %d", bits, minTokenRSABits, maxTokenRSABits)
		}
		return algRS256, nil
	case *ecdsa.PrivateKey:
		if k == nil || k.Curve == nil {
			return "", errors.New("empty ECDSA key")
		}
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("ECDSA key is on curve %s; only P-256 (ES256) is supported", k.Curve.Params().Name)
		}
		return algES256, nil
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return "", errors.New("malformed Ed25519 key")
		}
		return algEdDSA, nil
	case nil:
		return "", errors.New("no signing key")
	default:
		return "", fmt.Errorf("unsupported key type %T", signer)
	}
}

// keyID is the KeyID of pub: base64url of the first 12 bytes of SHA-256 over
// its PKIX DER.
func keyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:12]), nil
}

// matchingPublicFile returns pubPath if it exists and holds want, "" if it
// does not exist, and an error otherwise: a public key file that disagrees
// with the private key (say, after an interrupted rotation) would make every
// token fail at the service.
func matchingPublicFile(pubPath string, want crypto.PublicKey) (string, error) {
	data, err := readKeyFile(pubPath, checkRegular)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	pub, err := parsePublicPEM(data)
	if err != nil {
		return "", fmt.Errorf("public key %s: %w", pubPath, err)
	}
	eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !eq.Equal(want) {
		return "", fmt.Errorf("public key %s does not match the private key; restore the pair or rotate the key", pubPath)
	}
	return pubPath, nil
}

func parsePublicPEM(data []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM public key found")
	}
	switch block.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a public key (want PUBLIC KEY)", block.Type)
	}
}
