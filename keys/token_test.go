package keys

import (
	"bytes"
	"crypto/ed25519"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// goldenNow is the fixed minting time of the golden tokens; the
// sub-second part must not show in the claims.
var goldenNow = time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC)

// tokenCase is one key and profile whose token is compared with a golden file.
type tokenCase struct {
	name      string
	keyFile   string // in testdata
	keyName   string // file name of the copy; its ".pub" names the nanomq issuer
	profile   TokenProfile
	golden    string
	wantNames []string // claim names, sorted
}

var (
	nanomqClaims = []string{"exp", "iat", "iss", "jti", "sub"}
	jwtClaims    = []string{"aud", "exp", "iat", "iss", "jti", "nbf", "sub"}
)

var tokenCases = []tokenCase{
	{name: "nanomq RSA", keyFile: "test_token_key.pem", keyName: DefaultTokenKeyName,
		profile: TokenProfile{Kind: "nanomq"}, golden: "token_nanomq.golden", wantNames: nanomqClaims},
	{name: "jwt RSA", keyFile: "test_token_key.pem", keyName: DefaultTokenKeyName,
		profile: TokenProfile{Kind: "jwt"}, golden: "token_jwt_rs256.golden", wantNames: jwtClaims},
	{name: "jwt P-256", keyFile: "test_token_key_p256.pem", keyName: "jwtES256.key",
		profile: TokenProfile{Kind: "jwt"}, golden: "token_jwt_es256.golden", wantNames: jwtClaims},
	{name: "jwt Ed25519", keyFile: "test_token_key_ed25519.pem", keyName: "jwtEdDSA.key",
		profile: TokenProfile{Kind: "jwt"}, golden: "token_jwt_eddsa.golden", wantNames: jwtClaims},
}

// mint loads the case's key and mints a token for service "nanomq" and
// subject "alice" at goldenNow.
func (c tokenCase) mint(tb testing.TB) (*TokenKey, Token) {
	tb.Helper()
	k := loadTestTokenKey(tb, c.keyFile, c.keyName)
	tok, err := k.Mint(c.profile, "nanomq", "alice", goldenNow)
	if err != nil {
		tb.Fatal(err)
	}
	return k, tok
}

// jwtParts splits and decodes a compact JWS.
type jwtParts struct {
	header, claims []byte
	signingInput   string
	signature      []byte
}

func splitToken(tb testing.TB, value string) jwtParts {
	tb.Helper()
	segs := strings.Split(value, ".")
	if len(segs) != 3 {
		tb.Fatalf("got %d segments, want 3", len(segs))
	}
	var dec [3][]byte
	for i, s := range segs {
		b, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if err != nil {
			tb.Fatalf("segment %d: %v", i, err)
		}
		dec[i] = b
	}
	return jwtParts{header: dec[0], claims: dec[1], signingInput: segs[0] + "." + segs[1], signature: dec[2]}
}

// decodeJSON decodes an object keeping numbers as written.
func decodeJSON(tb testing.TB, data []byte) map[string]any {
	tb.Helper()
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		tb.Fatalf("decode %s: %v", data, err)
	}
	return m
}

// intClaim returns claim name, failing unless it is a JSON integer.
func intClaim(tb testing.TB, m map[string]any, name string) int64 {
	tb.Helper()
	n, ok := m[name].(json.Number)
	if !ok || strings.ContainsAny(n.String(), ".eE") {
		tb.Fatalf("got %s = %#v, want a JSON integer", name, m[name])
	}
	v, err := n.Int64()
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return v
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func checkGolden(tb testing.TB, name string, got []byte) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		tb.Errorf("%s: got\n%s\nwant\n%s", name, got, want)
	}
}

func TestMintGolden(t *testing.T) {
	for _, c := range tokenCases {
		t.Run(c.name, func(t *testing.T) {
			k, tok := c.mint(t)
			p := splitToken(t, tok.Value)
			jti := `"jti":"` + tok.ID + `"`
			if strings.Count(string(p.claims), jti) != 1 {
				t.Fatalf("got claims %s, want %s once", p.claims, jti)
			}
			claims := strings.Replace(string(p.claims), jti, `"jti":"<jti>"`, 1)
			checkGolden(t, c.golden, []byte("header: "+string(p.header)+"\nclaims: "+claims+"\n"))
			checkHeader(t, k, c, decodeJSON(t, p.header))
			checkClaims(t, k, c, tok, decodeJSON(t, p.claims))
		})
	}
}

func checkHeader(tb testing.TB, k *TokenKey, c tokenCase, h map[string]any) {
	tb.Helper()
	want := map[string]any{"alg": k.Alg, "typ": "JWT"}
	if c.profile.Kind == "jwt" {
		want["kid"] = k.KeyID
	}
	if len(h) != len(want) {
		tb.Errorf("got header fields %q, want %q", sortedKeys(h), sortedKeys(want))
	}
	for name, v := range want {
		if h[name] != v {
			tb.Errorf("got header %s = %#v, want %q", name, h[name], v)
		}
	}
}

func checkClaims(tb testing.TB, k *TokenKey, c tokenCase, tok Token, m map[string]any) {
	tb.Helper()
	if got := sortedKeys(m); !slices.Equal(got, c.wantNames) {
		tb.Errorf("got claims %q, want %q", got, c.wantNames)
	}
	if _, ok := m["bodyEncode"]; ok {
		tb.Error("got a bodyEncode claim, want none")
	}
	iat, exp := intClaim(tb, m, "iat"), intClaim(tb, m, "exp")
	if iat != goldenNow.Unix() || exp-iat != int64(DefaultTokenTTL/time.Second) {
		tb.Errorf("got iat %d exp %d, want %d and iat+300", iat, exp, goldenNow.Unix())
	}
	wantIss := "loopgate"
	if c.profile.Kind == "nanomq" {
		wantIss = filepath.Base(k.PublicPath)
		if wantIss != c.keyName+".pub" {
			tb.Errorf("got public key file %s, want %s", wantIss, c.keyName+".pub")
		}
	}
	if m["iss"] != wantIss || m["sub"] != "alice" || m["jti"] != tok.ID {
		tb.Errorf("got iss %#v sub %#v jti %#v, want %q alice %q", m["iss"], m["sub"], m["jti"], wantIss, tok.ID)
	}
	if c.profile.Kind == "jwt" {
		if nbf := intClaim(tb, m, "nbf"); nbf != iat-30 {
			tb.Errorf("got nbf %d, want iat-30 = %d", nbf, iat-30)
		}
		if aud, ok := m["aud"].(string); !ok || aud != "nanomq" {
			tb.Errorf("got aud %#v, want the JSON string \"nanomq\"", m["aud"])
		}
	}
	checkTokenFields(tb, c, tok)
}

func checkTokenFields(tb testing.TB, c tokenCase, tok Token) {
	tb.Helper()
	wantAud := ""
	if c.profile.Kind == "jwt" {
		wantAud = "nanomq"
	}
	iat := goldenNow.Truncate(time.Second)
	if !tok.IssuedAt.Equal(iat) || !tok.Expiry.Equal(iat.Add(DefaultTokenTTL)) || tok.Subject != "alice" || tok.Audience != wantAud {
		tb.Errorf("got Token{IssuedAt %v Expiry %v Subject %q Audience %q}, want %v %v alice %q",
			tok.IssuedAt, tok.Expiry, tok.Subject, tok.Audience, iat, iat.Add(DefaultTokenTTL), wantAud)
	}
	if id, err := base64.RawURLEncoding.Strict().DecodeString(tok.ID); err != nil || len(id) != 16 {
		tb.Errorf("got jti %q, want 16 bytes in base64url", tok.ID)
	}
}

func TestMintVerifiesWithJWT(t *testing.T) {
	for _, c := range tokenCases {
		t.Run(c.name, func(t *testing.T) {
			k, tok := c.mint(t)
			pub := readPKIXFile(t, k.PublicPath)
			keyFunc := func(*jwt.Token) (any, error) { return pub, nil }
			opts := []jwt.ParserOption{
				jwt.WithValidMethods([]string{k.Alg}),
				jwt.WithTimeFunc(func() time.Time { return goldenNow }),
				jwt.WithExpirationRequired(),
				jwt.WithSubject("alice"),
			}
			if c.profile.Kind == "jwt" {
				opts = append(opts, jwt.WithAudience("nanomq"), jwt.WithIssuer("loopgate"), jwt.WithNotBeforeRequired())
			} else {
				opts = append(opts, jwt.WithIssuer(DefaultTokenKeyName+".pub"))
			}
			if _, err := jwt.Parse(tok.Value, keyFunc, opts...); err != nil {
				t.Fatalf("got %v, want the token to verify", err)
			}
			other := "ES256"
			if k.Alg == "ES256" {
				other = "RS256"
			}
			if _, err := jwt.Parse(tok.Value, keyFunc, jwt.WithValidMethods([]string{other})); err == nil {
				t.Errorf("got a token accepted when pinned to %s, want it refused", other)
			}
			p := splitToken(t, tok.Value)
			forged := strings.Replace(string(p.claims), `"alice"`, `"admin"`, 1)
			tampered := base64.RawURLEncoding.EncodeToString(p.header) + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) +
				"." + base64.RawURLEncoding.EncodeToString(p.signature)
			if _, err := jwt.Parse(tampered, keyFunc, opts[0]); err == nil {
				t.Error("got a tampered token accepted, want it refused")
			}
		})
	}
}

// TestMintVerifiesWithOpenSSL checks the signatures with an implementation
// that shares no code with the package.
func TestMintVerifiesWithOpenSSL(t *testing.T) {
	opensslBin(t)
	for _, c := range tokenCases {
		t.Run(c.name, func(t *testing.T) {
			k, tok := c.mint(t)
			p := splitToken(t, tok.Value)
			dir := t.TempDir()
			input, sigPath := filepath.Join(dir, "input"), filepath.Join(dir, "sig")
			writeFile(t, input, []byte(p.signingInput))
			writeFile(t, sigPath, opensslSignature(t, k.Alg, p.signature))
			var out, want string
			if k.Alg == "EdDSA" {
				out = runOpenSSL(t, "pkeyutl", "-verify", "-pubin", "-inkey", k.PublicPath, "-rawin", "-in", input, "-sigfile", sigPath)
				want = "Signature Verified Successfully"
			} else {
				out = runOpenSSL(t, "dgst", "-sha256", "-verify", k.PublicPath, "-signature", sigPath, input)
				want = "Verified OK"
			}
			if strings.TrimSpace(out) != want {
				t.Errorf("got %q, want %q", out, want)
			}
		})
	}
}

// opensslSignature converts a JWS signature to the form openssl reads: ES256
// signatures are r||s in the JWS and ASN.1 DER for openssl.
func opensslSignature(tb testing.TB, alg string, sig []byte) []byte {
	tb.Helper()
	if alg != "ES256" {
		return sig
	}
	if len(sig) != 64 {
		tb.Fatalf("got ES256 signature of %d bytes, want 64", len(sig))
	}
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])})
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

func writeFile(tb testing.TB, path string, data []byte) {
	tb.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
}

func TestMintHeaderSize(t *testing.T) {
	k := loadTestTokenKey(t, "test_token_key.pem", DefaultTokenKeyName)
	for _, kind := range []string{"nanomq", "jwt"} {
		tok, err := k.Mint(TokenProfile{Kind: kind}, "nanomq", "alice", goldenNow)
		if err != nil {
			t.Fatal(err)
		}
		if n := len("Authorization: Bearer ") + len(tok.Value); n > 850 {
			t.Errorf("%s: got an Authorization header of %d bytes, want at most 850", kind, n)
		}
	}
	tests := []struct {
		name    string
		subject string
		wantErr string
	}{
		{name: "2000 byte subject", subject: strings.Repeat("a", 2000), wantErr: "subject is 2000 bytes"},
		{name: "600 byte subject", subject: strings.Repeat("a", 600), wantErr: "authorization header would be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := k.Mint(TokenProfile{Kind: "nanomq"}, "nanomq", tt.subject, goldenNow)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), tt.subject) {
				t.Errorf("got the subject in the error, want only its length")
			}
		})
	}
}

func TestMintTTL(t *testing.T) {
	k := loadTestTokenKey(t, "test_token_key_ed25519.pem", "jwtEdDSA.key")
	tests := []struct {
		name string
		ttl  time.Duration
		want time.Duration
	}{
		{name: "default", ttl: 0, want: 5 * time.Minute},
		{name: "90s", ttl: 90 * time.Second, want: 90 * time.Second},
		{name: "maximum", ttl: time.Hour, want: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := k.Mint(TokenProfile{Kind: "jwt", TTL: tt.ttl}, "api", "alice", goldenNow)
			if err != nil {
				t.Fatal(err)
			}
			m := decodeJSON(t, splitToken(t, tok.Value).claims)
			if got := intClaim(t, m, "exp") - intClaim(t, m, "iat"); got != int64(tt.want/time.Second) {
				t.Errorf("got exp-iat %d, want %d", got, int64(tt.want/time.Second))
			}
			if got := tok.Expiry.Sub(tok.IssuedAt); got != tt.want {
				t.Errorf("got Expiry-IssuedAt %v, want %v", got, tt.want)
			}
		})
	}
}

func TestValidateProfile(t *testing.T) {
	rsaKey := loadTestTokenKey(t, "test_token_key.pem", DefaultTokenKeyName)
	ecKey := loadTestTokenKey(t, "test_token_key_p256.pem", "jwtES256.key")
	edKey := loadTestTokenKey(t, "test_token_key_ed25519.pem", "jwtEdDSA.key")
	noPub, err := LoadTokenKey(copyTestTokenKey(t, "test_token_key.pem", DefaultTokenKeyName, false))
	if err != nil {
		t.Fatal(err)
	}
	wrongAlg := *rsaKey
	wrongAlg.Alg = "ES256"
	noKeyID := *edKey
	noKeyID.KeyID = ""
	tests := []struct {
		name    string
		key     *TokenKey
		profile TokenProfile
		wantErr string // "" = valid
	}{
		{name: "nanomq RSA", key: rsaKey, profile: TokenProfile{Kind: "nanomq"}},
		{name: "nanomq issuer set", key: rsaKey, profile: TokenProfile{Kind: "nanomq", Issuer: "nanomq.pub"}},
		{name: "nanomq P-256", key: ecKey, profile: TokenProfile{Kind: "nanomq"}, wantErr: "only RS256"},
		{name: "nanomq Ed25519", key: edKey, profile: TokenProfile{Kind: "nanomq"}, wantErr: "only RS256"},
		{name: "nanomq without public file", key: noPub, profile: TokenProfile{Kind: "nanomq"}, wantErr: "no public key file"},
		{name: "nanomq without public file, issuer set", key: noPub, profile: TokenProfile{Kind: "nanomq", Issuer: "jwtRS256.key.pub"}},
		{name: "nanomq no key", key: nil, profile: TokenProfile{Kind: "nanomq"}, wantErr: "no token signing key"},
		{name: "jwt RSA", key: rsaKey, profile: TokenProfile{Kind: "jwt"}},
		{name: "jwt P-256", key: ecKey, profile: TokenProfile{Kind: "jwt"}},
		{name: "jwt Ed25519", key: edKey, profile: TokenProfile{Kind: "jwt", TTL: time.Hour}},
		{name: "jwt no key", key: nil, profile: TokenProfile{Kind: "jwt"}, wantErr: "no token signing key"},
		{name: "jwt no key ID", key: &noKeyID, profile: TokenProfile{Kind: "jwt"}, wantErr: "no key ID"},
		{name: "Alg mismatch", key: &wrongAlg, profile: TokenProfile{Kind: "jwt"}, wantErr: `Alg is "ES256"`},
		{name: "no signer", key: &TokenKey{Alg: "RS256"}, profile: TokenProfile{Kind: "jwt"}, wantErr: "no signing key"},
		{name: "none without key", key: nil, profile: TokenProfile{Kind: "none"}},
		{name: "empty kind without key", key: nil, profile: TokenProfile{}},
		{name: "none with bad ttl", key: nil, profile: TokenProfile{Kind: "none", TTL: 2 * time.Hour}, wantErr: "exceeds the maximum"},
		{name: "unknown kind", key: rsaKey, profile: TokenProfile{Kind: "oauth"}, wantErr: `kind "oauth"`},
		{name: "kind is case-sensitive", key: rsaKey, profile: TokenProfile{Kind: "NanoMQ"}, wantErr: `kind "NanoMQ"`},
		{name: "ttl 2h", key: rsaKey, profile: TokenProfile{Kind: "jwt", TTL: 2 * time.Hour}, wantErr: "exceeds the maximum 1h0m0s"},
		{name: "ttl 1h1s", key: rsaKey, profile: TokenProfile{Kind: "jwt", TTL: time.Hour + time.Second}, wantErr: "exceeds the maximum"},
		{name: "ttl negative", key: rsaKey, profile: TokenProfile{Kind: "jwt", TTL: -time.Second}, wantErr: "negative"},
		{name: "ttl fraction", key: rsaKey, profile: TokenProfile{Kind: "jwt", TTL: 1500 * time.Millisecond}, wantErr: "whole number of seconds"},
		{name: "issuer 128", key: rsaKey, profile: TokenProfile{Kind: "jwt", Issuer: strings.Repeat("i", 128)}},
		{name: "issuer 129", key: rsaKey, profile: TokenProfile{Kind: "jwt", Issuer: strings.Repeat("i", 129)}, wantErr: "129 bytes"},
		{name: "issuer with space", key: rsaKey, profile: TokenProfile{Kind: "jwt", Issuer: "loop gate"}, wantErr: "printable ASCII"},
		{name: "issuer non-ASCII", key: rsaKey, profile: TokenProfile{Kind: "jwt", Issuer: "lööpgate"}, wantErr: "printable ASCII"},
		{name: "issuer DEL", key: rsaKey, profile: TokenProfile{Kind: "nanomq", Issuer: "a\x7f"}, wantErr: "printable ASCII"},
		{name: "issuer newline", key: nil, profile: TokenProfile{Kind: "none", Issuer: "a\n"}, wantErr: "printable ASCII"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.key.ValidateProfile(tt.profile)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}

func TestMintRefuses(t *testing.T) {
	k := loadTestTokenKey(t, "test_token_key_p256.pem", "jwtES256.key")
	tests := []struct {
		name    string
		key     *TokenKey
		kind    string
		service string
		subject string
		now     time.Time
		wantErr string
		wantIs  error
	}{
		{name: "kind none", key: k, kind: "none", wantIs: ErrNoTokenProfile},
		{name: "empty kind", key: k, kind: "", wantIs: ErrNoTokenProfile},
		{name: "none without key", key: nil, kind: "none", wantIs: ErrNoTokenProfile},
		{name: "invalid profile", key: k, kind: "nanomq", wantErr: "only RS256"},
		{name: "no key", key: nil, kind: "jwt", wantErr: "no token signing key"},
		{name: "empty subject", key: k, kind: "jwt", subject: "-", wantErr: "empty subject"},
		{name: "empty service", key: k, kind: "jwt", service: "-", wantErr: "empty service"},
		{name: "newline in subject", key: k, kind: "jwt", subject: "alice\nadmin", wantErr: "subject holds control character U+000A"},
		{name: "NUL in subject", key: k, kind: "jwt", subject: "alice\x00", wantErr: "control character U+0000"},
		{name: "DEL in subject", key: k, kind: "jwt", subject: "alice\x7f", wantErr: "control character U+007F"},
		{name: "C1 in subject", key: k, kind: "jwt", subject: "alice\u0085", wantErr: "control character U+0085"},
		{name: "invalid UTF-8 subject", key: k, kind: "jwt", subject: "al\xffice", wantErr: "not valid UTF-8"},
		{name: "tab in service", key: k, kind: "jwt", service: "nano\tmq", wantErr: "service holds control character"},
		{name: "escape in service", key: k, kind: "jwt", service: "\x1b[31mnanomq", wantErr: "service holds control character"},
		{name: "zero time", key: k, kind: "jwt", now: time.Time{}, wantErr: "before 1970"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			service, subject, now := or(tt.service, "nanomq"), or(tt.subject, "alice"), tt.now
			if tt.wantErr != "before 1970" {
				now = goldenNow
			}
			tok, err := tt.key.Mint(TokenProfile{Kind: tt.kind}, service, subject, now)
			if tok != (Token{}) {
				t.Errorf("got token %+v, want the zero Token", tok)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Fatalf("got %v, want %v", err, tt.wantIs)
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}

// or returns def for "", "" for "-" and s otherwise.
func or(s, def string) string {
	switch s {
	case "":
		return def
	case "-":
		return ""
	}
	return s
}

func TestMintUnicodeSubject(t *testing.T) {
	k := loadTestTokenKey(t, "test_token_key_ed25519.pem", "jwtEdDSA.key")
	tok, err := k.Mint(TokenProfile{Kind: "jwt"}, "api", "josé <ops>", goldenNow)
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeJSON(t, splitToken(t, tok.Value).claims)["sub"]; got != "josé <ops>" {
		t.Errorf("got sub %#v, want %q", got, "josé <ops>")
	}
}

func TestMintUniqueIDs(t *testing.T) {
	k := loadTestTokenKey(t, "test_token_key_ed25519.pem", "jwtEdDSA.key")
	seen := map[string]bool{}
	for range 50 {
		tok, err := k.Mint(TokenProfile{Kind: "jwt"}, "api", "alice", goldenNow)
		if err != nil {
			t.Fatal(err)
		}
		if seen[tok.ID] {
			t.Fatalf("got jti %s twice, want a fresh one per token", tok.ID)
		}
		seen[tok.ID] = true
	}
}

// TestMintHandBuiltKey mints with a TokenKey built in code rather than
// loaded, as a caller with its own key store would.
func TestMintHandBuiltKey(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	k := &TokenKey{Signer: priv, Alg: "EdDSA", KeyID: wantKeyID(t, priv.Public())}
	tok, err := k.Mint(TokenProfile{Kind: "jwt", Issuer: "device-42"}, "api", "alice", goldenNow)
	if err != nil {
		t.Fatal(err)
	}
	_, err = jwt.Parse(tok.Value, func(*jwt.Token) (any, error) { return priv.Public(), nil },
		jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer("device-42"), jwt.WithTimeFunc(func() time.Time { return goldenNow }))
	if err != nil {
		t.Fatalf("got %v, want the token to verify", err)
	}
}

func TestIssuer(t *testing.T) {
	rsaKey := loadTestTokenKey(t, "test_token_key.pem", DefaultTokenKeyName)
	for _, tc := range []struct {
		name    string
		profile TokenProfile
		want    string
	}{
		{name: "nanomq default: the public key file's name", profile: TokenProfile{Kind: "nanomq"}, want: DefaultTokenKeyName + ".pub"},
		{name: "nanomq set", profile: TokenProfile{Kind: "nanomq", Issuer: "nanomq.pub"}, want: "nanomq.pub"},
		{name: "jwt default", profile: TokenProfile{Kind: "jwt"}, want: "loopgate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rsaKey.Issuer(tc.profile)
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := rsaKey.Issuer(TokenProfile{Kind: "oauth"}); err == nil {
		t.Error("unknown kind: got no error")
	}
}
