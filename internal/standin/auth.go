package standin

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// checkBasic checks "Basic base64(user:password)" as NanoMQ does: the
// scheme is case-sensitive and the credentials must match exactly.
func (a *API) checkBasic(h string) *refusal {
	enc, ok := strings.CutPrefix(h, "Basic ")
	if !ok || enc == "" {
		return unauthorized(CodeNoCredential, `authorization header is not "Basic <credentials>"`)
	}
	if a.User == "" {
		return unauthorized(CodeWrongCredential, "no Basic user configured")
	}
	got, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return unauthorized(CodeWrongCredential, "basic credentials: "+err.Error())
	}
	want := []byte(a.User + ":" + a.Password)
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return unauthorized(CodeWrongCredential, "wrong Basic user or password")
	}
	return nil
}

// checkBearer checks "Bearer <jwt>" as NanoMQ does (see the package doc).
func (a *API) checkBearer(h string) *refusal {
	raw, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || raw == "" || strings.ContainsAny(raw, " \t") {
		return unauthorized(CodeNoCredential, `authorization header is not "Bearer <token>"`)
	}
	claims, err := a.parseToken(raw)
	if err != nil {
		return unauthorized(CodeWrongCredential, "token: "+err.Error())
	}
	return a.checkClaims(claims)
}

// parseToken verifies the signature, always as RS256 with a.PublicKey, and
// returns the claims with numbers kept as json.Number. It validates no
// claim: NanoMQ ignores nbf and iat, which golang-jwt would otherwise check.
func (a *API) parseToken(raw string) (jwt.MapClaims, error) {
	if a.PublicKey == nil {
		return nil, errors.New("no public key configured")
	}
	p := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation(), jwt.WithJSONNumber())
	claims := jwt.MapClaims{}
	_, err := p.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return a.PublicKey, nil })
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// checkClaims checks iss, exp and bodyEncode of a token whose signature is
// valid. An expired token is 116 only because every other check passed.
func (a *API) checkClaims(claims jwt.MapClaims) *refusal {
	iss, _ := claims["iss"].(string)
	if a.Issuer == "" || iss != a.Issuer {
		return unauthorized(CodeWrongCredential, "token iss "+strconv.Quote(iss)+" is not "+strconv.Quote(a.Issuer))
	}
	exp, ok := seconds(claims["exp"])
	if !ok {
		return unauthorized(CodeWrongCredential, "token has no numeric exp")
	}
	if a.now().Unix()-int64(a.leeway().Seconds()) > exp {
		return unauthorized(CodeTokenExpired, "token expired beyond the leeway")
	}
	if _, ok := claims["bodyEncode"].(json.Number); ok {
		return &refusal{http.StatusBadRequest, CodeBodyEncode, "token has a numeric bodyEncode claim (encrypted-body mode)"}
	}
	return nil
}

// seconds reads a NumericDate claim as NanoMQ does, with C's atoll on the
// number's text: the leading integer, so 1.8e9 is 1 and 99.9 is 99,
// saturating at the int64 range like glibc.
func seconds(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	s := string(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var x int64
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			break
		}
		d := int64(c - '0')
		if x > (math.MaxInt64-d)/10 {
			return saturate(neg), true
		}
		x = x*10 + d
	}
	if neg {
		return -x, true
	}
	return x, true
}

func saturate(neg bool) int64 {
	if neg {
		return math.MinInt64
	}
	return math.MaxInt64
}

func unauthorized(code int, reason string) *refusal {
	return &refusal{http.StatusUnauthorized, code, reason}
}
