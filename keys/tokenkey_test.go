package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
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
	"io/fs"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// opensslBin returns the path of openssl, skipping the test when it is
// missing unless CI=true, where it must be installed.
func opensslBin(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("openssl is required when CI=true: %v", err)
		}
		tb.Skipf("openssl not on PATH: %v", err)
	}
	return path
}

func runOpenSSL(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := exec.Command(opensslBin(tb), args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// copyTestTokenKey copies testdata/name to a fresh directory as file name as
// with mode 0600 (git does not keep modes) and, when withPub, writes the
// matching PKIX public key to as+".pub". It returns the private key's path.
func copyTestTokenKey(tb testing.TB, name, as string, withPub bool) string {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	path := writeTestFile(tb, as, data, 0o600)
	if withPub {
		signer, err := parseTokenPrivateKey(data)
		if err != nil {
			tb.Fatal(err)
		}
		writePublicPEM(tb, path+".pub", signer.Public())
	}
	return path
}

func writePublicPEM(tb testing.TB, path string, pub crypto.PublicKey) {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// loadTestTokenKey loads a copy of testdata/name (see copyTestTokenKey).
func loadTestTokenKey(tb testing.TB, name, as string) *TokenKey {
	tb.Helper()
	k, err := LoadTokenKey(copyTestTokenKey(tb, name, as, true))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// readPKIXFile parses a PKIX "PUBLIC KEY" PEM file with the standard library
// only, as an independent reader of what the package wrote.
func readPKIXFile(tb testing.TB, path string) crypto.PublicKey {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" || len(bytes.TrimSpace(rest)) != 0 {
		tb.Fatalf("%s: got %.40q, want exactly one PUBLIC KEY PEM block", path, data)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return pub
}

// wantKeyID computes the KeyID of pub as the API documents it.
func wantKeyID(tb testing.TB, pub crypto.PublicKey) string {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

func pemFile(blockType string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
}

func mustPKCS8(tb testing.TB, key any) []byte {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return pemFile("PRIVATE KEY", der)
}

func TestGenerateTokenKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultTokenKeyName)
	if err := GenerateTokenKey(path); err != nil {
		t.Fatal(err)
	}
	if unixPermissions {
		if got := fileMode(t, path); got != 0o600 {
			t.Errorf("got private key mode %04o, want 0600", got)
		}
		if got := fileMode(t, path+".pub"); got != 0o644 {
			t.Errorf("got public key mode %04o, want 0644", got)
		}
	}
	data, _ := os.ReadFile(path)
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("got %.30q, want a PRIVATE KEY (PKCS#8) PEM block", data)
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, ok := priv.(*rsa.PrivateKey)
	if !ok || rsaKey.N.BitLen() != 3072 {
		t.Fatalf("got %T, want a 3072-bit RSA key", priv)
	}
	pub := readPKIXFile(t, path+".pub")
	if !rsaKey.PublicKey.Equal(pub) {
		t.Error("got a public key file that does not match the private key")
	}
	k, err := LoadTokenKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if k.Alg != "RS256" || k.PublicPath != path+".pub" || k.KeyID != wantKeyID(t, pub) {
		t.Errorf("got Alg %q PublicPath %q KeyID %q, want RS256 %q %q", k.Alg, k.PublicPath, k.KeyID, path+".pub", wantKeyID(t, pub))
	}
	if len(k.KeyID) != 16 {
		t.Errorf("got KeyID length %d, want 16", len(k.KeyID))
	}
}

func TestGenerateTokenKeyOpenSSL(t *testing.T) {
	opensslBin(t)
	path := filepath.Join(t.TempDir(), DefaultTokenKeyName)
	if err := GenerateTokenKey(path); err != nil {
		t.Fatal(err)
	}
	runOpenSSL(t, "pkey", "-pubin", "-in", path+".pub", "-noout")
	// openssl derives the same public key from the private key file.
	derived := runOpenSSL(t, "pkey", "-in", path, "-pubout")
	if want, _ := os.ReadFile(path + ".pub"); derived != string(want) {
		t.Errorf("openssl pkey -pubout: got\n%s\nwant\n%s", derived, want)
	}
}

func TestGenerateTokenKeyRefusesOverwrite(t *testing.T) {
	tests := []struct {
		name     string
		existing string // suffix of the file that already exists
	}{
		{name: "private key exists", existing: ""},
		{name: "public key exists", existing: ".pub"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "k")
			if err := os.WriteFile(path+tt.existing, []byte("keep"), 0o600); err != nil {
				t.Fatal(err)
			}
			err := GenerateTokenKey(path)
			if !errors.Is(err, fs.ErrExist) {
				t.Fatalf("got %v, want fs.ErrExist", err)
			}
			if got := dirNames(t, dir); !slices.Equal(got, []string{"k" + tt.existing}) {
				t.Errorf("got directory %q, want only the existing file", got)
			}
			if got, _ := os.ReadFile(path + tt.existing); string(got) != "keep" {
				t.Errorf("got %q, want the existing file unchanged", got)
			}
		})
	}
}

func TestRotateTokenKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DefaultTokenKeyName)
	if err := GenerateTokenKey(path); err != nil {
		t.Fatal(err)
	}
	old, err := LoadTokenKey(path)
	if err != nil {
		t.Fatal(err)
	}
	oldPriv, _ := os.ReadFile(path)
	oldPub, _ := os.ReadFile(path + ".pub")

	id, err := RotateTokenKey(path)
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, path+".old", oldPriv, 0o600)
	checkFile(t, path+".pub.old", oldPub, 0o644)
	if got, _ := os.ReadFile(path); bytes.Equal(got, oldPriv) {
		t.Error("got the old private key after rotation, want a new one")
	}
	k, err := LoadTokenKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if k.KeyID == old.KeyID {
		t.Errorf("got KeyID %s after rotation, want a new one", k.KeyID)
	}
	if id != k.KeyID {
		t.Errorf("got returned KeyID %s, want the new key's %s", id, k.KeyID)
	}
	if unixPermissions {
		if got := fileMode(t, path); got != 0o600 {
			t.Errorf("got private key mode %04o, want 0600", got)
		}
		if got := fileMode(t, path+".pub"); got != 0o644 {
			t.Errorf("got public key mode %04o, want 0644", got)
		}
	}
	if _, err := LoadTokenKey(path + ".old"); err != nil {
		t.Errorf("got %v loading the backed-up pair, want it to load", err)
	}
	want := []string{DefaultTokenKeyName, DefaultTokenKeyName + ".old", DefaultTokenKeyName + ".pub", DefaultTokenKeyName + ".pub.old"}
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Errorf("got directory %q, want %q", got, want)
	}
}

// checkFile fails unless path holds want with mode perm (where modes apply).
func checkFile(tb testing.TB, path string, want []byte, perm os.FileMode) {
	tb.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		tb.Errorf("%s: got %.30q, want %.30q", filepath.Base(path), got, want)
	}
	if unixPermissions {
		if got := fileMode(tb, path); got != perm {
			tb.Errorf("%s: got mode %04o, want %04o", filepath.Base(path), got, perm)
		}
	}
}

// TestRotateTokenKeyBackups rotates a pair whose content is not even a key:
// rotation copies bytes, replaces older backups and drops a stale .pub.old.
func TestRotateTokenKeyBackups(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k")
	for name, data := range map[string]string{"k": "old private", "k.old": "older private", "k.pub.old": "older public"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := RotateTokenKey(path); err != nil {
		t.Fatal(err)
	}
	checkFile(t, path+".old", []byte("old private"), 0o600)
	if want := []string{"k", "k.old", "k.pub"}; !slices.Equal(dirNames(t, dir), want) {
		t.Errorf("got directory %q, want %q (no stale k.pub.old)", dirNames(t, dir), want)
	}
}

func TestRotateTokenKeyRefuses(t *testing.T) {
	tests := []struct {
		name    string
		perm    os.FileMode // mode of the private key; 0 = no file
		wantErr error
	}{
		{name: "missing", wantErr: fs.ErrNotExist},
		{name: "readable by others", perm: 0o644, wantErr: ErrBadPermissions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantErr == ErrBadPermissions {
				skipWithoutUnixPermissions(t)
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "k")
			if tt.perm != 0 {
				path = writeTestFile(t, "k", []byte("old"), tt.perm)
				dir = filepath.Dir(path)
			}
			before := dirNames(t, dir)
			_, err := RotateTokenKey(path)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			if got := dirNames(t, dir); !slices.Equal(got, before) {
				t.Errorf("got directory %q, want %q unchanged", got, before)
			}
		})
	}
}

func TestLoadTokenKeyFormats(t *testing.T) {
	rsaKey := parseTestKey(t, "test_token_key.pem").(*rsa.PrivateKey)
	ecKey := parseTestKey(t, "test_token_key_p256.pem").(*ecdsa.PrivateKey)
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	params := pemFile("EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07})
	tests := []struct {
		name    string
		data    []byte
		wantAlg string
		wantPub crypto.PublicKey
	}{
		{name: "PKCS#8 RSA", data: readTestdata(t, "test_token_key.pem"), wantAlg: "RS256", wantPub: rsaKey.Public()},
		{name: "PKCS#1 RSA", data: pemFile("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), wantAlg: "RS256", wantPub: rsaKey.Public()},
		{name: "PKCS#8 P-256", data: readTestdata(t, "test_token_key_p256.pem"), wantAlg: "ES256", wantPub: ecKey.Public()},
		{name: "SEC1 P-256", data: pemFile("EC PRIVATE KEY", sec1), wantAlg: "ES256", wantPub: ecKey.Public()},
		{name: "SEC1 after EC PARAMETERS", data: append(params, pemFile("EC PRIVATE KEY", sec1)...), wantAlg: "ES256", wantPub: ecKey.Public()},
		{name: "PKCS#8 Ed25519", data: readTestdata(t, "test_token_key_ed25519.pem"), wantAlg: "EdDSA",
			wantPub: parseTestKey(t, "test_token_key_ed25519.pem").(ed25519.PrivateKey).Public()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTestFile(t, "key.pem", tt.data, 0o600)
			k, err := LoadTokenKey(path)
			if err != nil {
				t.Fatal(err)
			}
			pub := k.Signer.Public().(interface{ Equal(crypto.PublicKey) bool })
			if k.Alg != tt.wantAlg || !pub.Equal(tt.wantPub) {
				t.Errorf("got %s key %T, want %s with the test key", k.Alg, k.Signer, tt.wantAlg)
			}
			if k.KeyID != wantKeyID(t, tt.wantPub) || k.PublicPath != "" {
				t.Errorf("got KeyID %q PublicPath %q, want %q and no public path", k.KeyID, k.PublicPath, wantKeyID(t, tt.wantPub))
			}
		})
	}
}

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func parseTestKey(tb testing.TB, name string) crypto.Signer {
	tb.Helper()
	s, err := parseTokenPrivateKey(readTestdata(tb, name))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestLoadTokenKeyPublicFile(t *testing.T) {
	other := parseTestKey(t, "test_token_key_p256.pem")
	tests := []struct {
		name    string
		pub     func(path string) // writes path+".pub"; nil: none
		wantErr string            // "" = success
	}{
		{name: "matching", pub: func(path string) { writePublicPEM(t, path+".pub", parseTestKey(t, "test_token_key.pem").Public()) }},
		{name: "missing"},
		{name: "other key", pub: func(path string) { writePublicPEM(t, path+".pub", other.Public()) }, wantErr: "does not match"},
		{name: "garbage", pub: func(path string) { os.WriteFile(path+".pub", []byte("ssh-rsa AAAA"), 0o644) }, wantErr: "no PEM public key"},
		{name: "directory", pub: func(path string) { os.Mkdir(path+".pub", 0o755) }, wantErr: "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := copyTestTokenKey(t, "test_token_key.pem", DefaultTokenKeyName, false)
			if tt.pub != nil {
				tt.pub(path)
			}
			k, err := LoadTokenKey(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path+".pub") {
					t.Fatalf("got %v, want an error naming %s with %q", err, path+".pub", tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := ""
			if tt.pub != nil {
				want = path + ".pub"
			}
			if k.PublicPath != want {
				t.Errorf("got PublicPath %q, want %q", k.PublicPath, want)
			}
		})
	}
}

func TestLoadTokenKeyRefuses(t *testing.T) {
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	testKey := readTestdata(t, "test_token_key.pem")
	tests := []struct {
		name    string
		data    []byte
		perm    os.FileMode
		wantErr string
		wantIs  error
	}{
		{name: "readable by others", data: testKey, perm: 0o644, wantErr: "must not be accessible", wantIs: ErrBadPermissions},
		{name: "RSA 1024", data: mustPKCS8(t, rsa1024), wantErr: "1024 bits"},
		{name: "P-384", data: mustPKCS8(t, p384), wantErr: "P-384"},
		{name: "X25519", data: mustPKCS8(t, x25519), wantErr: "unsupported key type"},
		{name: "garbage", data: []byte("not a key\n"), wantErr: "no PEM private key"},
		{name: "garbage PEM body", data: pemFile("PRIVATE KEY", bytes.Repeat([]byte("secret material!"), 8)), wantErr: "parse PRIVATE KEY"},
		{name: "truncated key", data: pemFile("PRIVATE KEY", pemBody(t, testKey)[:600]), wantErr: "parse PRIVATE KEY"},
		{name: "encrypted PKCS#8", data: pemFile("ENCRYPTED PRIVATE KEY", []byte("x")), wantErr: "passphrase-protected"},
		{name: "OpenSSH format", data: pemFile("OPENSSH PRIVATE KEY", []byte("x")), wantErr: `"OPENSSH PRIVATE KEY"`},
		{name: "public key", data: pemFile("PUBLIC KEY", []byte("x")), wantErr: `"PUBLIC KEY"`},
		{name: "too large", data: bytes.Repeat([]byte("#"), maxKeyFileSize+1), wantErr: "larger than 64 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.perm != 0 {
				skipWithoutUnixPermissions(t)
			} else {
				tt.perm = 0o600
			}
			path := writeTestFile(t, "key.pem", tt.data, tt.perm)
			_, err := LoadTokenKey(path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("got %q, want the error to name %s", err, path)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("got %v, want it to wrap %v", err, tt.wantIs)
			}
			checkNoKeyMaterial(t, err, tt.data)
		})
	}
	t.Run("missing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "key.pem")
		if _, err := LoadTokenKey(path); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
			t.Errorf("got %v, want fs.ErrNotExist naming %s", err, path)
		}
	})
}

func pemBody(tb testing.TB, data []byte) []byte {
	tb.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		tb.Fatal("no PEM block")
	}
	return block.Bytes
}

// checkNoKeyMaterial fails if err holds any line of a key file's PEM body or
// any 8 consecutive bytes of its DER.
func checkNoKeyMaterial(tb testing.TB, err error, data []byte) {
	tb.Helper()
	msg := err.Error()
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") && strings.Contains(msg, line[:16]) {
			tb.Errorf("got %q, want no key material in the error", msg)
			return
		}
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return
	}
	for i := 0; i+8 <= len(block.Bytes); i++ {
		if strings.Contains(msg, string(block.Bytes[i:i+8])) {
			tb.Errorf("got %q, want no key bytes in the error", msg)
			return
		}
	}
}

func TestLoadTokenKeyOpenSSLKeys(t *testing.T) {
	opensslBin(t)
	tests := []struct {
		name    string
		args    []string
		wantAlg string
	}{
		{name: "genpkey RSA 2048", args: []string{"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"}, wantAlg: "RS256"},
		{name: "genrsa traditional", args: []string{"genrsa", "-traditional", "2048"}, wantAlg: "RS256"},
		{name: "ecparam P-256", args: []string{"ecparam", "-genkey", "-name", "prime256v1"}, wantAlg: "ES256"},
		{name: "genpkey Ed25519", args: []string{"genpkey", "-algorithm", "ED25519"}, wantAlg: "EdDSA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "key.pem")
			runOpenSSL(t, append([]string{tt.args[0], "-out", path}, tt.args[1:]...)...)
			if err := os.Chmod(path, 0o600); err != nil {
				t.Fatal(err)
			}
			runOpenSSL(t, "pkey", "-in", path, "-pubout", "-out", path+".pub")
			k, err := LoadTokenKey(path)
			if err != nil {
				t.Fatal(err)
			}
			if k.Alg != tt.wantAlg || k.PublicPath != path+".pub" {
				t.Errorf("got %s with public path %q, want %s with %q", k.Alg, k.PublicPath, tt.wantAlg, path+".pub")
			}
		})
	}
}

func TestSignerAlg(t *testing.T) {
	big5000 := new(big.Int).Lsh(big.NewInt(1), 4999)
	tests := []struct {
		name    string
		signer  crypto.Signer
		wantAlg string
		wantErr string
	}{
		{name: "nil", signer: nil, wantErr: "no signing key"},
		{name: "nil RSA", signer: (*rsa.PrivateKey)(nil), wantErr: "empty RSA key"},
		{name: "RSA without modulus", signer: &rsa.PrivateKey{}, wantErr: "empty RSA key"},
		{name: "RSA 5000", signer: &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: big5000, E: 65537}}, wantErr: "5000 bits"},
		{name: "nil ECDSA", signer: (*ecdsa.PrivateKey)(nil), wantErr: "empty ECDSA key"},
		{name: "ECDSA without curve", signer: &ecdsa.PrivateKey{}, wantErr: "empty ECDSA key"},
		{name: "short Ed25519", signer: ed25519.PrivateKey{1, 2, 3}, wantErr: "malformed Ed25519"},
		{name: "Ed25519", signer: ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)), wantAlg: "EdDSA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alg, err := signerAlg(tt.signer)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v, want an error with %q", alg, err, tt.wantErr)
				}
				return
			}
			if err != nil || alg != tt.wantAlg {
				t.Errorf("got %q, %v, want %q", alg, err, tt.wantAlg)
			}
		})
	}
}
