package keys

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sshKeygen returns the path of ssh-keygen, skipping the test when it is
// missing unless CI=true, where it must be installed.
func sshKeygen(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("ssh-keygen")
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("ssh-keygen is required when CI=true: %v", err)
		}
		tb.Skipf("ssh-keygen not on PATH: %v", err)
	}
	return path
}

func runKeygen(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := exec.Command(sshKeygen(tb), args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("ssh-keygen %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestInteropGeneratedHostKey(t *testing.T) {
	sshKeygen(t)
	path := filepath.Join(t.TempDir(), "host_ed25519_key")
	signer, err := GenerateHostKey(path, "loopgate@device")
	if err != nil {
		t.Fatal(err)
	}
	want := Fingerprint(signer.PublicKey())
	for _, p := range []string{path, path + ".pub"} {
		out := runKeygen(t, "-l", "-E", "sha256", "-f", p)
		if fields := strings.Fields(out); len(fields) < 2 || fields[1] != want {
			t.Errorf("ssh-keygen -l -f %s: got %q, want fingerprint %s", filepath.Base(p), out, want)
		}
	}
	// ssh-keygen -y derives the public key from the private key file.
	derived := strings.Fields(runKeygen(t, "-y", "-f", path))
	if len(derived) < 2 || derived[0]+" "+derived[1] != keyText(signer.PublicKey()) {
		t.Errorf("ssh-keygen -y: got %q, want %q", derived, keyText(signer.PublicKey()))
	}
}

func TestInteropKeygenKeys(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{name: "ed25519", args: []string{"-t", "ed25519"}},
		{name: "rsa 3072", args: []string{"-t", "rsa", "-b", "3072"}},
		{name: "ecdsa", args: []string{"-t", "ecdsa"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "id")
			runKeygen(t, append(tt.args, "-q", "-N", "", "-C", "op@laptop", "-f", path)...)
			key, comment, err := ReadPublicKeyFile(path + ".pub")
			if err != nil {
				t.Fatal(err)
			}
			if comment != "op@laptop" {
				t.Errorf("got comment %q, want op@laptop", comment)
			}
			out := runKeygen(t, "-l", "-E", "sha256", "-f", path+".pub")
			if fields := strings.Fields(out); len(fields) < 2 || fields[1] != Fingerprint(key) {
				t.Errorf("got ssh-keygen %q, want fingerprint %s", out, Fingerprint(key))
			}
			signer, err := LoadHostKey(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(signer.PublicKey().Marshal(), key.Marshal()) {
				t.Error("got a private key that does not match its .pub, want a match")
			}
			pub, _ := os.ReadFile(path + ".pub")
			data := append([]byte(`restrict,port-forwarding,permitopen="127.0.0.1:8081" `), pub...)
			keys, err := ParseAuthorizedKeys(data, "authorized_keys")
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 1 || !bytes.Equal(keys[0].Key.Marshal(), key.Marshal()) || keys[0].Comment != "op@laptop" {
				t.Errorf("got %+v, want the ssh-keygen key with comment op@laptop", keys)
			}
		})
	}
}

func TestInteropKeygenReadsFormattedLines(t *testing.T) {
	sshKeygen(t)
	data, err := os.ReadFile(filepath.Join("testdata", "authorized_keys"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParseAuthorizedKeys(data, "testdata/authorized_keys")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, k := range keys {
		out.WriteString(FormatAuthorizedKey(k) + "\n")
	}
	path := writeTestFile(t, "authorized_keys", out.Bytes(), 0o600)
	got := strings.Split(strings.TrimSpace(runKeygen(t, "-l", "-E", "sha256", "-f", path)), "\n")
	if len(got) != len(keys) {
		t.Fatalf("got %d lines from ssh-keygen, want %d:\n%s", len(got), len(keys), strings.Join(got, "\n"))
	}
	for i, k := range keys {
		if fields := strings.Fields(got[i]); len(fields) < 2 || fields[1] != Fingerprint(k.Key) {
			t.Errorf("line %d: got %q, want fingerprint %s", i+1, got[i], Fingerprint(k.Key))
		}
	}
}
