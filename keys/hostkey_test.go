package keys

import (
	"bytes"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestGenerateHostKeyRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "host_ed25519_key")
	signer, err := GenerateHostKey(path, "loopgate@device")
	if err != nil {
		t.Fatal(err)
	}
	if got := signer.PublicKey().Type(); got != ssh.KeyAlgoED25519 {
		t.Errorf("got key type %s, want %s", got, ssh.KeyAlgoED25519)
	}
	loaded, err := LoadHostKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(loaded.PublicKey().Marshal(), signer.PublicKey().Marshal()) {
		t.Error("got a different key from LoadHostKey, want the generated one")
	}
	pub, comment, err := ReadPublicKeyFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if Fingerprint(pub) != Fingerprint(signer.PublicKey()) || comment != "loopgate@device" {
		t.Errorf("got %s %q, want %s %q", Fingerprint(pub), comment, Fingerprint(signer.PublicKey()), "loopgate@device")
	}
	data, _ := os.ReadFile(path)
	if block, _ := pem.Decode(data); block == nil || block.Type != "OPENSSH PRIVATE KEY" {
		t.Errorf("got %.40q, want an OPENSSH PRIVATE KEY PEM block", data)
	}
	if unixPermissions {
		if got := fileMode(t, path); got != 0o600 {
			t.Errorf("got private key mode %04o, want 0600", got)
		}
		if got := fileMode(t, path+".pub"); got != 0o644 {
			t.Errorf("got public key mode %04o, want 0644", got)
		}
	}
}

func TestGenerateHostKeyRefusesOverwrite(t *testing.T) {
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
			_, err := GenerateHostKey(path, "c")
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

func TestGenerateHostKeyBadComment(t *testing.T) {
	dir := t.TempDir()
	if _, err := GenerateHostKey(filepath.Join(dir, "k"), "a\nb"); err == nil {
		t.Fatal("got nil error for a comment with a newline, want an error")
	}
	if got := dirNames(t, dir); len(got) != 0 {
		t.Errorf("got directory %q, want it empty", got)
	}
}

func TestLoadHostKeyErrors(t *testing.T) {
	good := func(tb testing.TB) []byte {
		_, priv := ed25519Key(tb)
		block, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			tb.Fatal(err)
		}
		return pem.EncodeToMemory(block)
	}
	encrypted := func(tb testing.TB) []byte {
		_, priv := ed25519Key(tb)
		block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("secret"))
		if err != nil {
			tb.Fatal(err)
		}
		return pem.EncodeToMemory(block)
	}
	type test struct {
		name string
		data func(testing.TB) []byte
		perm os.FileMode
		want string // substring of the error; %s is the path
	}
	tests := []test{
		{name: "empty", data: func(testing.TB) []byte { return nil }, perm: 0o600, want: "load host key %s: ssh: no key found"},
		{name: "garbage", data: func(testing.TB) []byte { return []byte("not a key\n") }, perm: 0o600, want: "load host key %s: ssh: no key found"},
		{name: "truncated", data: func(tb testing.TB) []byte { d := encrypted(tb); return d[:len(d)/2] }, perm: 0o600, want: "load host key %s:"},
		{name: "public key", data: func(tb testing.TB) []byte { return ssh.MarshalAuthorizedKey(testKey(tb, 1)) }, perm: 0o600, want: "load host key %s:"},
		{name: "encrypted", data: encrypted, perm: 0o600, want: "host key %s is passphrase-protected; the gateway needs an unencrypted key"},
		{name: "too large", data: func(testing.TB) []byte { return bytes.Repeat([]byte("a"), maxKeyFileSize+1) }, perm: 0o600, want: "larger than 64 KiB"},
	}
	if unixPermissions {
		tests = append(tests, test{name: "mode 0644", data: good, perm: 0o644, want: `bad permissions: "%s" is mode 0644`})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTestFile(t, "host_key", tt.data(t), tt.perm)
			_, err := LoadHostKey(path)
			want := strings.ReplaceAll(tt.want, "%s", path)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("got %v, want an error containing %q", err, want)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		_, err := LoadHostKey(filepath.Join(t.TempDir(), "none"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("got %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("good", func(t *testing.T) {
		if _, err := LoadHostKey(writeTestFile(t, "host_key", good(t), 0o600)); err != nil {
			t.Errorf("got %v, want nil", err)
		}
	})
}

func TestReadPublicKeyFile(t *testing.T) {
	key := testKey(t, 1)
	tests := []struct {
		name        string
		data        string
		wantComment string
		wantErr     string
	}{
		{name: "with comment", data: keyText(key) + " alice@laptop\n", wantComment: "alice@laptop"},
		{name: "without comment", data: keyText(key) + "\n"},
		{name: "no newline", data: keyText(key) + " alice", wantComment: "alice"},
		{name: "crlf and comment lines", data: "# mine\r\n\r\n" + keyText(key) + " alice\r\n", wantComment: "alice"},
		{name: "empty", data: "", wantErr: "no public key found"},
		{name: "two keys", data: keyText(key) + "\n" + keyText(testKey(t, 2)) + "\n", wantErr: "holds 2 keys"},
		{name: "options", data: "restrict " + keyText(key) + "\n", wantErr: "options are not allowed"},
		{name: "certificate", data: keyText(testCert(t, 1)) + "\n", wantErr: "certificates are not supported"},
		{name: "garbage", data: "ssh-ed25519 !!!!\n", wantErr: "line 1: malformed key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTestFile(t, "id.pub", []byte(tt.data), 0o644)
			got, comment, err := ReadPublicKeyFile(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("got %v, want an error naming %s and containing %q", err, path, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Marshal(), key.Marshal()) || comment != tt.wantComment {
				t.Errorf("got %s %q, want %s %q", Fingerprint(got), comment, Fingerprint(key), tt.wantComment)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	k := testKey(t, 1)
	got, want := Fingerprint(k), ssh.FingerprintSHA256(k)
	if got != want || !strings.HasPrefix(got, "SHA256:") {
		t.Errorf("got %s, want %s", got, want)
	}
}

func ed25519Key(tb testing.TB) (ssh.PublicKey, any) {
	tb.Helper()
	signer, pemBytes, err := newHostKey("")
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := ssh.ParseRawPrivateKey(pemBytes)
	if err != nil {
		tb.Fatal(err)
	}
	return signer.PublicKey(), raw
}
