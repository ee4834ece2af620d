package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is an io.Writer safe for the server goroutine and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs the server with args until the test ends and returns its
// address and stderr.
func start(t testing.TB, args ...string) (addr string, stderr *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, w := io.Pipe()
	stderr = &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, w, stderr); w.Close() }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: got %v, want nil", err)
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	go io.Copy(io.Discard, out)
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		t.Fatalf("first line: got %q (%v), want \"listening ADDR\"; stderr:\n%s", line, err, stderr)
	}
	return addr, stderr
}

func get(t testing.TB, addr, auth string) int {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+addr+"/api/v4/brokers", nil)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

func TestBasicMode(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatalf("write password: %v", err)
	}
	tests := []struct {
		name string
		args []string
		good string
	}{
		{"defaults", nil, basic("admin", "public")},
		{"password file", []string{"-mode", "basic", "-user", "op", "-password-file", pw}, basic("op", "s3cret")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, _ := start(t, tt.args...)
			if got := get(t, addr, tt.good); got != http.StatusOK {
				t.Errorf("good credentials: got %d, want 200", got)
			}
			if got := get(t, addr, basic("admin", "wrong")); got != http.StatusUnauthorized {
				t.Errorf("wrong credentials: got %d, want 401", got)
			}
		})
	}
}

func TestJWTModeLogsAndCounts(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	pub := filepath.Join(t.TempDir(), "jwtRS256.key.pub")
	if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatalf("write key: %v", err)
	}
	var stderr *lockedBuffer
	t.Run("serve", func(t *testing.T) {
		var addr string
		addr, stderr = start(t, "-mode", "jwt", "-pubkey", pub)
		if got := get(t, addr, "Bearer x.y.z"); got != http.StatusUnauthorized {
			t.Errorf("garbage token: got %d, want 401", got)
		}
	})
	for _, want := range []string{"code=103", "refusals map[103:1]"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr: got %q, want it to contain %q", stderr, want)
		}
	}
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown mode", []string{"-mode", "oauth"}, "want basic or jwt"},
		{"jwt without key", []string{"-mode", "jwt"}, "needs -pubkey"},
		{"missing key file", []string{"-mode", "jwt", "-pubkey", filepath.Join(t.TempDir(), "none.pub")}, "load public key"},
		{"missing password file", []string{"-password-file", filepath.Join(t.TempDir(), "none")}, "read password"},
		{"not loopback", []string{"-listen", "0.0.0.0:0"}, "want a loopback address"},
		{"host name", []string{"-listen", "example.com:0"}, "want a loopback address"},
		{"no port", []string{"-listen", "127.0.0.1"}, "-listen"},
		{"extra argument", []string{"serve"}, "unexpected argument"},
		{"unknown flag", []string{"-port", "1"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			err := run(context.Background(), tt.args, io.Discard, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
