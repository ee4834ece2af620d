package keys

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// keygenIdentity creates a key with ssh-keygen in a fresh directory and
// returns its path; args choose the type and format.
func keygenIdentity(tb testing.TB, passphrase string, args ...string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "id")
	if passphrase != "" {
		args = append(args, "-a", "2") // few KDF rounds keep the tests fast
	}
	runKeygen(tb, append(args, "-q", "-N", passphrase, "-C", "op@laptop", "-f", path)...)
	return path
}

// passphrase returns a prompt that answers pass and records the question and
// the slice it returned.
func passphrase(pass string, question *string, returned *[]byte) func(string) ([]byte, error) {
	return func(q string) ([]byte, error) {
		*question = q
		*returned = []byte(pass)
		return *returned, nil
	}
}

func TestLoadIdentity(t *testing.T) {
	sshKeygen(t)
	const secret = "secret"
	tests := []struct {
		name     string
		args     []string
		keyPass  string
		answer   string
		noPrompt bool   // pass a nil prompt
		want     string // "" for success, else a substring of the error
	}{
		{name: "unencrypted ed25519", args: []string{"-t", "ed25519"}},
		{name: "unencrypted rsa", args: []string{"-t", "rsa", "-b", "2048"}},
		{name: "unencrypted pem ecdsa", args: []string{"-t", "ecdsa", "-m", "PEM"}},
		{name: "encrypted ed25519", args: []string{"-t", "ed25519"}, keyPass: secret, answer: secret},
		{name: "encrypted pem ecdsa", args: []string{"-t", "ecdsa", "-m", "PEM"}, keyPass: secret, answer: secret},
		{name: "wrong passphrase", args: []string{"-t", "ed25519"}, keyPass: secret, answer: "hunter2", want: ": wrong passphrase"},
		{name: "wrong pem passphrase", args: []string{"-t", "ecdsa", "-m", "PEM"}, keyPass: secret, answer: "hunter2", want: ": wrong passphrase"},
		{name: "empty passphrase", args: []string{"-t", "ed25519"}, keyPass: secret, answer: "", want: ": wrong passphrase"},
		{name: "no prompt", args: []string{"-t", "ed25519"}, keyPass: secret, noPrompt: true,
			want: " is passphrase-protected and no terminal is available to ask for the passphrase (load it into ssh-agent instead)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := keygenIdentity(t, tt.keyPass, tt.args...)
			var question string
			var returned []byte
			prompt := passphrase(tt.answer, &question, &returned)
			if tt.noPrompt {
				prompt = nil
			}
			signer, err := LoadIdentity(path, prompt)
			checkIdentityResult(t, path, signer, err, tt.want)
			if tt.keyPass == "" || prompt == nil {
				if question != "" {
					t.Errorf("got question %q for a key without passphrase, want none", question)
				}
				return
			}
			if want := "Enter passphrase for key '" + path + "': "; question != want {
				t.Errorf("got question %q, want %q", question, want)
			}
			if strings.Trim(string(returned), "\x00") != "" {
				t.Errorf("got passphrase bytes %q after use, want them zeroed", returned)
			}
			for _, s := range []string{secret, "hunter2"} {
				if err != nil && strings.Contains(err.Error(), s) {
					t.Errorf("error %q holds the passphrase", err)
				}
			}
		})
	}
}

func checkIdentityResult(t *testing.T, path string, signer ssh.Signer, err error, want string) {
	t.Helper()
	if want != "" {
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "key "+path) {
			t.Errorf("got %v, want an error %q naming %s", err, want, path)
		}
		return
	}
	if err != nil {
		t.Fatalf("load identity: %v", err)
	}
	pub, _, err := ReadPublicKeyFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if !keysEqual(signer.PublicKey(), pub) {
		t.Errorf("got key %s, want %s", describe(signer.PublicKey()), describe(pub))
	}
}

func TestLoadIdentityPromptError(t *testing.T) {
	path := keygenIdentity(t, "secret", "-t", "ed25519")
	errTTY := errors.New("no tty")
	_, err := LoadIdentity(path, func(string) ([]byte, error) { return nil, errTTY })
	if !errors.Is(err, errTTY) || !strings.Contains(err.Error(), path) {
		t.Errorf("got %v, want an error naming %s and wrapping the prompt's", err, path)
	}
}

func TestLoadIdentityRefused(t *testing.T) {
	skipWithoutUnixPermissions(t)
	path := keygenIdentity(t, "", "-t", "ed25519")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	called := false
	_, err := LoadIdentity(path, func(string) ([]byte, error) { called = true; return nil, nil })
	if !errors.Is(err, ErrBadPermissions) || called {
		t.Errorf("got %v (prompt called: %v), want ErrBadPermissions without a prompt", err, called)
	}
	if _, err := LoadIdentity(filepath.Join(t.TempDir(), "missing"), nil); err == nil {
		t.Error("missing file: got nil error, want an error")
	}
	garbage := writeTestFile(t, "id", []byte("not a key"), 0o600)
	if _, err := LoadIdentity(garbage, nil); err == nil || !strings.Contains(err.Error(), garbage) {
		t.Errorf("garbage: got %v, want an error naming %s", err, garbage)
	}
}

func TestReadIdentityPublicKey(t *testing.T) {
	sshKeygen(t)
	tests := []struct {
		name      string
		keyPass   string
		args      []string
		removePub bool
		want      string // "" for success, else a substring of the error
	}{
		{name: "pub file", keyPass: "secret", args: []string{"-t", "ed25519"}},
		{name: "embedded in encrypted openssh key", keyPass: "secret", args: []string{"-t", "ed25519"}, removePub: true},
		{name: "unencrypted key without pub", args: []string{"-t", "ecdsa"}, removePub: true},
		{name: "encrypted pem without pub", keyPass: "secret", args: []string{"-t", "ecdsa", "-m", "PEM"}, removePub: true,
			want: "is passphrase-protected and carries no public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := keygenIdentity(t, tt.keyPass, tt.args...)
			want, _, err := ReadPublicKeyFile(path + ".pub")
			if err != nil {
				t.Fatal(err)
			}
			if tt.removePub {
				if err := os.Remove(path + ".pub"); err != nil {
					t.Fatal(err)
				}
			}
			got, err := ReadIdentityPublicKey(path)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("got %v, want an error %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !keysEqual(got, want) {
				t.Errorf("got %s, want %s", describe(got), describe(want))
			}
		})
	}
	if _, err := ReadIdentityPublicKey(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing: got nil error, want an error")
	}
}
