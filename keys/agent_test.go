package keys

import (
	"crypto/rand"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// lookTool returns the path of an OpenSSH tool, skipping the test when it is
// missing unless CI=true, where it must be installed.
func lookTool(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is required when CI=true: %v", name, err)
		}
		tb.Skipf("%s not on PATH: %v", name, err)
	}
	return path
}

// startAgent runs ssh-agent in the foreground on a fresh socket, stops it at
// cleanup, and returns the socket path.
func startAgent(tb testing.TB) string {
	tb.Helper()
	bin := lookTool(tb, "ssh-agent")
	dir, err := os.MkdirTemp("", "ag") // unix socket paths must stay short
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s")
	cmd := exec.Command(bin, "-D", "-a", sock)
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start ssh-agent: %v", err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return sock
		}
		if time.Now().After(deadline) {
			tb.Fatalf("ssh-agent did not listen on %s", sock)
		}
	}
}

func agentAdd(tb testing.TB, sock, keyPath string) {
	tb.Helper()
	cmd := exec.Command(lookTool(tb, "ssh-add"), keyPath)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("ssh-add %s: %v\n%s", keyPath, err, out)
	}
}

func dialAgent(tb testing.TB, sock string) *Agent {
	tb.Helper()
	a, err := DialAgent(sock)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.Close() })
	return a
}

func TestAgent(t *testing.T) {
	sshKeygen(t)
	sock := startAgent(t)
	ed := keygenIdentity(t, "", "-t", "ed25519")
	rsaPath := keygenIdentity(t, "", "-t", "rsa", "-b", "2048")
	third := keygenIdentity(t, "", "-t", "ed25519")
	agentAdd(t, sock, ed)
	agentAdd(t, sock, rsaPath)

	a := dialAgent(t, sock)
	signers, err := a.Signers()
	if err != nil {
		t.Fatal(err)
	}
	if len(signers) != 2 {
		t.Fatalf("got %d agent keys, want 2", len(signers))
	}
	tests := []struct {
		name string
		path string
		want bool
	}{
		{name: "ed25519", path: ed, want: true},
		{name: "rsa", path: rsaPath, want: true},
		{name: "not in the agent", path: third, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, err := ReadIdentityPublicKey(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			s, ok, err := a.SignerFor(pub)
			if err != nil || ok != tt.want {
				t.Fatalf("got %v, %v, want %v, nil", ok, err, tt.want)
			}
			if !ok {
				if s != nil {
					t.Errorf("got signer %s for a key the agent lacks, want nil", describe(s.PublicKey()))
				}
				return
			}
			if !keysEqual(s.PublicKey(), pub) {
				t.Errorf("got signer %s, want %s", describe(s.PublicKey()), describe(pub))
			}
			sig, err := s.Sign(rand.Reader, []byte("data"))
			if err != nil {
				t.Fatal(err)
			}
			if err := pub.Verify([]byte("data"), sig); err != nil {
				t.Errorf("agent signature does not verify: %v", err)
			}
		})
	}
}

// TestAgentHandshake authenticates to an x/crypto server with an agent RSA key
// picked by SignerFor: the server only accepts rsa-sha2 signatures.
func TestAgentHandshake(t *testing.T) {
	sshKeygen(t)
	sock := startAgent(t)
	rsaPath := keygenIdentity(t, "", "-t", "rsa", "-b", "2048")
	agentAdd(t, sock, keygenIdentity(t, "", "-t", "ed25519"))
	agentAdd(t, sock, rsaPath)
	pub, err := ReadIdentityPublicKey(rsaPath)
	if err != nil {
		t.Fatal(err)
	}
	signer, ok, err := dialAgent(t, sock).SignerFor(pub)
	if err != nil || !ok {
		t.Fatalf("got %v, %v, want the rsa key", ok, err)
	}
	addr := startTestServer(t, []ssh.Signer{testSigner(t, 1)}, pub)
	client, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User:            "op",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(testKey(t, 1)),
		Timeout:         10 * time.Second,
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	client.Close()
}

func TestDialAgentErrors(t *testing.T) {
	if _, err := DialAgent(""); !errors.Is(err, ErrNoAgent) {
		t.Errorf("empty socket: got %v, want ErrNoAgent", err)
	}
	if _, err := DialAgent(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("missing socket: got nil error, want an error")
	}
}
