package standin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func TestLoadPublicKey(t *testing.T) {
	device, _ := testKeys(t)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate ec key: %v", err)
	}
	ecDER, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	if err != nil {
		t.Fatalf("marshal ec: %v", err)
	}
	notPEM := filepath.Join(t.TempDir(), "garbage.pub")
	if err := os.WriteFile(notPEM, []byte("ssh-rsa AAAA"), 0o644); err != nil {
		t.Fatalf("write: %v", err)
	}
	tests := []struct {
		name    string
		path    string
		wantErr bool
	}{
		{"pkix", writePEM(t, testIssuer, "PUBLIC KEY", mustPKIX(t)), false},
		{"pkcs1", writePEM(t, testIssuer, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&device.PublicKey)), false},
		{"ec key", writePEM(t, testIssuer, "PUBLIC KEY", ecDER), true},
		{"private key block", writePEM(t, testIssuer, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(device)), true},
		{"corrupt der", writePEM(t, testIssuer, "PUBLIC KEY", []byte("x")), true},
		{"not pem", notPEM, true},
		{"missing file", filepath.Join(t.TempDir(), "none.pub"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, iss, err := LoadPublicKey(tt.path)
			if tt.wantErr {
				if err == nil {
					t.Errorf("got no error, want one")
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			if !key.Equal(&device.PublicKey) || iss != testIssuer {
				t.Errorf("got issuer %q and a key equal to the device's: %v, want %q and true", iss, key.Equal(&device.PublicKey), testIssuer)
			}
		})
	}
}

// TestLoadedKeyVerifies: a key and issuer from LoadPublicKey accept a token
// signed by its private half with iss = the file's basename.
func TestLoadedKeyVerifies(t *testing.T) {
	path := writePEM(t, "nanomq.pub", "PUBLIC KEY", mustPKIX(t))
	key, iss, err := LoadPublicKey(path)
	if err != nil {
		t.Fatalf("LoadPublicKey: %v", err)
	}
	a := &API{Mode: JWTMode, PublicKey: key, Issuer: iss, Now: jwtAPI(t).Now}
	tok := signRS256(t, claims(func(c jwt.MapClaims) { c["iss"] = "nanomq.pub" }))
	if got := call(t, a.Handler(), "GET", "/api/v4", "Bearer "+tok, ""); got.status != 200 {
		t.Errorf("status: got %d {code:%d}, want 200", got.status, got.code)
	}
}

func mustPKIX(t testing.TB) []byte {
	t.Helper()
	device, _ := testKeys(t)
	der, err := x509.MarshalPKIXPublicKey(&device.PublicKey)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return der
}
