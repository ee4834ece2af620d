package standin

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testIssuer = "jwtRS256.key.pub"

// testNow is the fixed clock of JWT-mode tests.
var testNow = time.Unix(1_800_000_000, 0)

var (
	keysOnce sync.Once
	keys     [2]*rsa.PrivateKey
	keysErr  error
)

// testKeys returns two RSA 2048 keys, generated once per test binary: the
// API's and a stranger's.
func testKeys(t testing.TB) (device, other *rsa.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		for i := range keys {
			if keys[i], keysErr = rsa.GenerateKey(rand.Reader, 2048); keysErr != nil {
				return
			}
		}
	})
	if keysErr != nil {
		t.Fatalf("generate rsa key: %v", keysErr)
	}
	return keys[0], keys[1]
}

// jwtAPI returns a JWT-mode API that trusts the device key, at testNow.
func jwtAPI(t testing.TB) *API {
	device, _ := testKeys(t)
	return &API{Mode: JWTMode, PublicKey: &device.PublicKey, Issuer: testIssuer, Now: func() time.Time { return testNow }}
}

// claims returns a valid claim set at testNow, changed by edit.
func claims(edit func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{"iss": testIssuer, "sub": "alice", "exp": testNow.Add(time.Minute).Unix(), "iat": testNow.Unix()}
	if edit != nil {
		edit(c)
	}
	return c
}

// sign signs c with method and key.
func sign(t testing.TB, method jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatalf("sign token: %v", err)
	}
	return s
}

// signRS256 signs c with the device key.
func signRS256(t testing.TB, c jwt.MapClaims) string {
	device, _ := testKeys(t)
	return sign(t, jwt.SigningMethodRS256, device, c)
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// result is what a request got: the HTTP status, the NanoMQ code and the
// decoded JSON body.
type result struct {
	status int
	code   int
	body   map[string]any
}

// call sends one request with the given Authorization (none if empty)
// straight to h.
func call(t testing.TB, h http.Handler, method, path, auth, body string) result {
	t.Helper()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, path, nil)
	} else {
		r = httptest.NewRequest(method, path, strings.NewReader(body))
	}
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return decode(t, w.Code, w.Body.Bytes())
}

func decode(t testing.TB, status int, body []byte) result {
	t.Helper()
	res := result{status: status, code: -1}
	if err := json.Unmarshal(body, &res.body); err != nil {
		return res
	}
	if c, ok := res.body["code"].(float64); ok {
		res.code = int(c)
	}
	return res
}

// serve runs a on a loopback listener until the test ends and returns its
// address.
func serve(t testing.TB, a *API) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ln) }()
	t.Cleanup(func() {
		a.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: got %v, want http.ErrServerClosed", err)
		}
	})
	return ln.Addr().String()
}

// writePEM writes a PEM block to dir/name and returns its path.
func writePEM(t testing.TB, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}

// publicPEM returns the device public key as PEM "PUBLIC KEY" bytes.
func publicPEM(t testing.TB) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustPKIX(t)})
}
