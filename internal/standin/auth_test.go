package standin

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestBearer(t *testing.T) {
	device, other := testKeys(t)
	valid := signRS256(t, claims(nil))
	at := func(edit func(jwt.MapClaims)) string { return "Bearer " + signRS256(t, claims(edit)) }
	expired := func(ago time.Duration) func(jwt.MapClaims) {
		return func(c jwt.MapClaims) { c["exp"] = testNow.Add(-ago).Unix() }
	}
	tests := []struct {
		name   string
		auth   string
		status int
		code   int
	}{
		{"valid", "Bearer " + valid, http.StatusOK, CodeOK},

		// The header: scheme case-sensitive, one space, one token.
		{"missing header", "", http.StatusUnauthorized, CodeNoCredential},
		{"lowercase scheme", "bearer " + valid, http.StatusUnauthorized, CodeNoCredential},
		{"uppercase scheme", "BEARER " + valid, http.StatusUnauthorized, CodeNoCredential},
		{"scheme without token", "Bearer ", http.StatusUnauthorized, CodeNoCredential},
		{"scheme only", "Bearer", http.StatusUnauthorized, CodeNoCredential},
		{"no space", "Bearer" + valid, http.StatusUnauthorized, CodeNoCredential},
		{"two spaces", "Bearer  " + valid, http.StatusUnauthorized, CodeNoCredential},
		{"trailing word", "Bearer " + valid + " x", http.StatusUnauthorized, CodeNoCredential},
		{"basic scheme", basic("admin", "public"), http.StatusUnauthorized, CodeNoCredential},

		// The signature: always RS256 with the device key.
		{"garbage token", "Bearer garbage", http.StatusUnauthorized, CodeWrongCredential},
		{"two segments", "Bearer a.b", http.StatusUnauthorized, CodeWrongCredential},
		{"wrong key", "Bearer " + sign(t, jwt.SigningMethodRS256, other, claims(nil)), http.StatusUnauthorized, CodeWrongCredential},
		{"alg none", "Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil)), http.StatusUnauthorized, CodeWrongCredential},
		{"hs256 keyed with the public key", "Bearer " + sign(t, jwt.SigningMethodHS256, publicPEM(t), claims(nil)), http.StatusUnauthorized, CodeWrongCredential},
		{"rs384 with the device key", "Bearer " + sign(t, jwt.SigningMethodRS384, device, claims(nil)), http.StatusUnauthorized, CodeWrongCredential},
		{"ps256 with the device key", "Bearer " + sign(t, jwt.SigningMethodPS256, device, claims(nil)), http.StatusUnauthorized, CodeWrongCredential},
		{"tampered payload", "Bearer " + tamper(t, valid), http.StatusUnauthorized, CodeWrongCredential},

		// iss: the key file's basename, exactly.
		{"wrong iss", at(func(c jwt.MapClaims) { c["iss"] = "nanomq.pub" }), http.StatusUnauthorized, CodeWrongCredential},
		{"iss with suffix", at(func(c jwt.MapClaims) { c["iss"] = testIssuer + ".x" }), http.StatusUnauthorized, CodeWrongCredential},
		{"missing iss", at(func(c jwt.MapClaims) { delete(c, "iss") }), http.StatusUnauthorized, CodeWrongCredential},
		{"numeric iss", at(func(c jwt.MapClaims) { c["iss"] = 1 }), http.StatusUnauthorized, CodeWrongCredential},

		// exp: required, 200 s of leeway.
		{"missing exp", at(func(c jwt.MapClaims) { delete(c, "exp") }), http.StatusUnauthorized, CodeWrongCredential},
		{"string exp", at(func(c jwt.MapClaims) { c["exp"] = "1800000060" }), http.StatusUnauthorized, CodeWrongCredential},
		{"expired 150 s ago", at(expired(150 * time.Second)), http.StatusOK, CodeOK},
		{"expired 200 s ago", at(expired(200 * time.Second)), http.StatusOK, CodeOK},
		{"expired 201 s ago", at(expired(201 * time.Second)), http.StatusUnauthorized, CodeTokenExpired},
		{"expired 250 s ago", at(expired(250 * time.Second)), http.StatusUnauthorized, CodeTokenExpired},
		{"fractional exp", at(func(c jwt.MapClaims) { c["exp"] = float64(testNow.Unix()) + 0.5 }), http.StatusOK, CodeOK},
		{"exp beyond int64", at(func(c jwt.MapClaims) { c["exp"] = json.Number("99999999999999999999") }), http.StatusOK, CodeOK},
		{"exp in exponent notation", at(func(c jwt.MapClaims) { c["exp"] = json.Number("1.8000001e9") }), http.StatusUnauthorized, CodeTokenExpired},
		{"expired and wrong iss", at(func(c jwt.MapClaims) { expired(time.Hour)(c); c["iss"] = "x" }), http.StatusUnauthorized, CodeWrongCredential},
		{"expired and wrong key", "Bearer " + sign(t, jwt.SigningMethodRS256, other, claims(expired(time.Hour))), http.StatusUnauthorized, CodeWrongCredential},

		// Ignored claims.
		{"future nbf", at(func(c jwt.MapClaims) { c["nbf"] = testNow.Add(time.Hour).Unix() }), http.StatusOK, CodeOK},
		{"future iat", at(func(c jwt.MapClaims) { c["iat"] = testNow.Add(time.Hour).Unix() }), http.StatusOK, CodeOK},
		{"garbage nbf", at(func(c jwt.MapClaims) { c["nbf"] = "soon" }), http.StatusOK, CodeOK},
		{"other aud", at(func(c jwt.MapClaims) { c["aud"] = []string{"someone-else"} }), http.StatusOK, CodeOK},
		{"no sub", at(func(c jwt.MapClaims) { delete(c, "sub") }), http.StatusOK, CodeOK},

		// bodyEncode: numeric switches NanoMQ to encrypted bodies.
		{"numeric bodyEncode", at(func(c jwt.MapClaims) { c["bodyEncode"] = 1 }), http.StatusBadRequest, CodeBodyEncode},
		{"zero bodyEncode", at(func(c jwt.MapClaims) { c["bodyEncode"] = 0 }), http.StatusBadRequest, CodeBodyEncode},
		{"fractional bodyEncode", at(func(c jwt.MapClaims) { c["bodyEncode"] = 1.5 }), http.StatusBadRequest, CodeBodyEncode},
		{"string bodyEncode", at(func(c jwt.MapClaims) { c["bodyEncode"] = "1" }), http.StatusOK, CodeOK},
		{"bool bodyEncode", at(func(c jwt.MapClaims) { c["bodyEncode"] = true }), http.StatusOK, CodeOK},
		{"numeric bodyEncode but expired", at(func(c jwt.MapClaims) { c["bodyEncode"] = 1; expired(time.Hour)(c) }), http.StatusUnauthorized, CodeTokenExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := call(t, jwtAPI(t).Handler(), "GET", "/api/v4/brokers", tt.auth, "")
			if got.status != tt.status || got.code != tt.code {
				t.Errorf("got %d {code:%d}, want %d {code:%d}", got.status, got.code, tt.status, tt.code)
			}
		})
	}
}

// tamper swaps the payload of token for one with a later exp, keeping the
// signature.
func tamper(t testing.TB, token string) string {
	t.Helper()
	forged := signRS256(t, claims(func(c jwt.MapClaims) { c["exp"] = testNow.Add(time.Hour).Unix() }))
	orig, fake := strings.Split(token, "."), strings.Split(forged, ".")
	if len(orig) != 3 || len(fake) != 3 {
		t.Fatalf("tamper: tokens are not three segments")
	}
	return orig[0] + "." + fake[1] + "." + orig[2]
}

func TestBearerConfig(t *testing.T) {
	_, other := testKeys(t)
	live := claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(time.Minute).Unix() })
	tests := []struct {
		name   string
		edit   func(*API)
		token  jwt.MapClaims
		status int
		code   int
	}{
		{"nil public key", func(a *API) { a.PublicKey = nil }, claims(nil), http.StatusUnauthorized, CodeWrongCredential},
		{"other public key", func(a *API) { a.PublicKey = &other.PublicKey }, claims(nil), http.StatusUnauthorized, CodeWrongCredential},
		{"empty issuer", func(a *API) { a.Issuer = "" }, claims(func(c jwt.MapClaims) { c["iss"] = "" }), http.StatusUnauthorized, CodeWrongCredential},
		{"short leeway", func(a *API) { a.Leeway = 10 * time.Second },
			claims(func(c jwt.MapClaims) { c["exp"] = testNow.Add(-11 * time.Second).Unix() }), http.StatusUnauthorized, CodeTokenExpired},
		{"nil clock is time.Now", func(a *API) { a.Now = nil }, live, http.StatusOK, CodeOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := jwtAPI(t)
			tt.edit(a)
			got := call(t, a.Handler(), "GET", "/api/v4/brokers", "Bearer "+signRS256(t, tt.token), "")
			if got.status != tt.status || got.code != tt.code {
				t.Errorf("got %d {code:%d}, want %d {code:%d}", got.status, got.code, tt.status, tt.code)
			}
		})
	}
}

func TestBasic(t *testing.T) {
	tests := []struct {
		name   string
		api    *API
		auth   string
		status int
		code   int
	}{
		{"good", &API{User: "admin", Password: "public"}, basic("admin", "public"), http.StatusOK, CodeOK},
		{"empty password configured", &API{User: "admin"}, basic("admin", ""), http.StatusOK, CodeOK},
		{"wrong password", &API{User: "admin", Password: "public"}, basic("admin", "private"), http.StatusUnauthorized, CodeWrongCredential},
		{"wrong user", &API{User: "admin", Password: "public"}, basic("root", "public"), http.StatusUnauthorized, CodeWrongCredential},
		{"password with suffix", &API{User: "admin", Password: "public"}, basic("admin", "public\n"), http.StatusUnauthorized, CodeWrongCredential},
		{"not base64", &API{User: "admin", Password: "public"}, "Basic !!!", http.StatusUnauthorized, CodeWrongCredential},
		{"no user configured", &API{}, basic("", ""), http.StatusUnauthorized, CodeWrongCredential},
		{"missing header", &API{User: "admin", Password: "public"}, "", http.StatusUnauthorized, CodeNoCredential},
		{"lowercase scheme", &API{User: "admin", Password: "public"}, "basic YWRtaW46cHVibGlj", http.StatusUnauthorized, CodeNoCredential},
		{"scheme only", &API{User: "admin", Password: "public"}, "Basic ", http.StatusUnauthorized, CodeNoCredential},
		{"bearer scheme", &API{User: "admin", Password: "public"}, "Bearer YWRtaW46cHVibGlj", http.StatusUnauthorized, CodeNoCredential},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := call(t, tt.api.Handler(), "GET", "/api/v4/brokers", tt.auth, "")
			if got.status != tt.status || got.code != tt.code {
				t.Errorf("got %d {code:%d}, want %d {code:%d}", got.status, got.code, tt.status, tt.code)
			}
		})
	}
}

// TestBasicIsZeroMode keeps the demo's use working: the zero Mode is Basic.
func TestBasicIsZeroMode(t *testing.T) {
	a := &API{User: "admin", Password: "public"}
	if a.Mode != BasicMode {
		t.Fatalf("zero Mode: got %d, want BasicMode", a.Mode)
	}
	if got := call(t, a.Handler(), "GET", "/api/v4/brokers", basic("admin", "public"), ""); got.status != http.StatusOK {
		t.Errorf("status: got %d, want 200", got.status)
	}
}
