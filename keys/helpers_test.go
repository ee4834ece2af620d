package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// testSigner returns a deterministic ed25519 signer derived from seed.
func testSigner(tb testing.TB, seed byte) ssh.Signer {
	tb.Helper()
	s, err := ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize)))
	if err != nil {
		tb.Fatalf("new signer: %v", err)
	}
	return s
}

// testKey returns a deterministic ed25519 public key derived from seed.
func testKey(tb testing.TB, seed byte) ssh.PublicKey {
	tb.Helper()
	return testSigner(tb, seed).PublicKey()
}

// keyText returns "type base64" for k.
func keyText(k ssh.PublicKey) string {
	return strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(k)), "\n")
}

// testCert returns a user certificate for key seed signed by CA seed+1.
func testCert(tb testing.TB, seed byte) *ssh.Certificate {
	tb.Helper()
	cert := &ssh.Certificate{
		Key:             testKey(tb, seed),
		CertType:        ssh.UserCert,
		ValidPrincipals: []string{"alice"},
		ValidBefore:     ssh.CertTimeInfinity,
	}
	if err := cert.SignCert(rand.Reader, testSigner(tb, seed+1)); err != nil {
		tb.Fatalf("sign cert: %v", err)
	}
	return cert
}

// writeTestFile writes data to name in a fresh directory with mode perm
// (umask notwithstanding) and returns its path.
func writeTestFile(tb testing.TB, name string, data []byte, perm os.FileMode) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, data, perm); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		tb.Fatal(err)
	}
	return path
}

// dirNames lists the names in dir.
func dirNames(tb testing.TB, dir string) []string {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// skipWithoutUnixPermissions skips tests of mode bits and owners where the
// package does not check them.
func skipWithoutUnixPermissions(tb testing.TB) {
	tb.Helper()
	if !unixPermissions {
		tb.Skipf("no unix permissions on %s", runtime.GOOS)
	}
}

// fileMode returns the permission bits of path.
func fileMode(tb testing.TB, path string) os.FileMode {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Mode().Perm()
}
