package standin

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzAuthorization: any Authorization header, in either mode, gets one of
// NanoMQ's answers and never panics.
func FuzzAuthorization(f *testing.F) {
	f.Add(basic("admin", "public"), false)
	f.Add("Basic ", false)
	f.Add("Bearer "+signRS256(f, claims(nil)), true)
	f.Add("Bearer eyJhbGciOiJub25lIn0.e30.", true)
	f.Add("Bearer a.b.c", true)
	f.Fuzz(func(t *testing.T, auth string, jwtMode bool) {
		a := jwtAPI(t)
		a.User, a.Password = "admin", "public"
		if !jwtMode {
			a.Mode = BasicMode
		}
		got := call(t, a.Handler(), "GET", "/api/v4/brokers", auth, "")
		switch {
		case got.status == http.StatusOK && got.code == CodeOK:
			if !jwtMode && auth != basic("admin", "public") {
				t.Errorf("basic mode accepted %q", auth)
			}
		case got.status == http.StatusUnauthorized && (got.code == CodeNoCredential || got.code == CodeWrongCredential || got.code == CodeTokenExpired):
		case got.status == http.StatusBadRequest && got.code == CodeBodyEncode && jwtMode:
		default:
			t.Errorf("auth %q: got %d {code:%d}, want a NanoMQ answer", auth, got.status, got.code)
		}
	})
}

// FuzzClaims: any claim set of a validly signed token is accepted only with
// the right iss, a numeric unexpired exp and no numeric bodyEncode. It
// decodes the payload as golang-jwt does (numbers as json.Number) and skips
// the RSA signature, which would make each run a thousand times slower;
// TestSignedPayloads sends the seeds through the handler as signed tokens.
func FuzzClaims(f *testing.F) {
	for _, seed := range payloadSeeds {
		f.Add([]byte(seed.payload))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var c jwt.MapClaims
		d := json.NewDecoder(bytes.NewReader(payload))
		d.UseNumber()
		if err := d.Decode(&c); err != nil {
			return
		}
		ref := jwtAPI(t).checkClaims(c)
		if ref != nil {
			if ref.status != http.StatusUnauthorized && ref.code != CodeBodyEncode {
				t.Errorf("%q: got %d {code:%d}, want 401 or 400 {code:110}", payload, ref.status, ref.code)
			}
			return
		}
		if want := acceptable(c); want != "" {
			t.Errorf("accepted %q: want %s", payload, want)
		}
	})
}

// payloadSeeds are claim sets and whether a token carrying them is accepted.
var payloadSeeds = []struct {
	payload string
	ok      bool
}{
	{`{"iss":"jwtRS256.key.pub","exp":1800000060}`, true},
	{`{"iss":"jwtRS256.key.pub","exp":1800000060,"bodyEncode":1}`, false},
	{`{"iss":"jwtRS256.key.pub","exp":1e999}`, false}, // atoll reads 1
	{`{"iss":"jwtRS256.key.pub","exp":99999999999999999999}`, true},
	{`{"iss":"jwtRS256.key.pub","exp":-99999999999999999999}`, false},
	{`{"iss":"jwtRS256.key.pub","exp":1799999800.9}`, true},
	{`{"iss":"jwtRS256.key.pub","exp":"1800000060","nbf":"x"}`, false},
	{`{"iss":"jwtRS256.key.pub","iss":"x","exp":1800000060}`, false},
	{`{"iss":"x","iss":"jwtRS256.key.pub","exp":1800000060}`, true},
	{`{"iss":"jwtRS256.key.pub","exp":1799999700000e-3}`, true}, // atoll reads 1799999700000
	{`[]`, false},
	{`null`, false},
}

// acceptable says what is wrong with claims that the stand-in accepted, or
// "" if nothing is.
func acceptable(c jwt.MapClaims) string {
	exp, numeric := c["exp"].(json.Number)
	if c["iss"] != testIssuer || !numeric {
		return "iss " + testIssuer + " and a numeric exp"
	}
	if atoll(string(exp)) < testNow.Unix()-200 {
		return "an exp within the leeway"
	}
	if _, numeric := c["bodyEncode"].(json.Number); numeric {
		return "no numeric bodyEncode"
	}
	return ""
}

// atoll reads the leading integer of a JSON number as C's atoll does.
func atoll(s string) int64 {
	n, _ := strconv.ParseInt(leadingInt.FindString(s), 10, 64) // saturates on overflow
	return n
}

var leadingInt = regexp.MustCompile(`^-?[0-9]+`)

// TestSignedPayloads sends the fuzz seeds through the handler as signed
// tokens.
func TestSignedPayloads(t *testing.T) {
	device, _ := testKeys(t)
	for _, tt := range payloadSeeds {
		t.Run(tt.payload, func(t *testing.T) {
			got := call(t, jwtAPI(t).Handler(), "GET", "/api/v4/brokers", "Bearer "+signRaw(t, device, []byte(tt.payload)), "")
			if (got.status == http.StatusOK) != tt.ok {
				t.Errorf("got %d {code:%d}, want accepted: %v", got.status, got.code, tt.ok)
			}
		})
	}
}

// signRaw signs an arbitrary payload as an RS256 JWT.
func signRaw(t testing.TB, key *rsa.PrivateKey, payload []byte) string {
	t.Helper()
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString(payload)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return input + "." + enc.EncodeToString(sig)
}
