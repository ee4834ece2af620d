package keys

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// Token profile kinds.
const (
	tokenKindNanoMQ = "nanomq"
	tokenKindJWT    = "jwt"
	tokenKindNone   = "none"
)

const (
	defaultJWTIssuer = "loopgate"
	maxIssuerLen     = 128
	authHeaderPrefix = "Authorization: Bearer "
)

// TokenProfile is how a service wants its tokens.
type TokenProfile struct {
	// Kind selects the claim set: "nanomq" (what NanoMQ's admin API checks,
	// RS256 only), "jwt" (a generic JWT with aud, nbf and kid) or "none".
	// "" means "none": the service gets no tokens.
	Kind string
	// Issuer is the iss claim: printable ASCII without spaces, at most 128
	// bytes. "" means the default: for nanomq the base name of the key's
	// public key file (NanoMQ requires exactly that), for jwt "loopgate".
	Issuer string
	// TTL is the token lifetime in whole seconds, at most MaxTokenTTL.
	// 0 means DefaultTokenTTL.
	TTL time.Duration
}

const (
	// DefaultTokenTTL is the lifetime of a token whose profile sets none.
	DefaultTokenTTL = 5 * time.Minute
	// MaxTokenTTL is the longest lifetime a profile may set.
	MaxTokenTTL = time.Hour
	// JWTClockSkew is how far the jwt profile back-dates nbf, so that a
	// consumer whose clock runs slightly behind accepts a fresh token.
	JWTClockSkew = 30 * time.Second
	// MaxTokenHeader bounds len("Authorization: Bearer ")+len(token);
	// NanoMQ refuses requests whose request line and headers exceed about
	// 8 KiB, and a token must leave room for the rest.
	MaxTokenHeader = 1024
)

// ErrNoTokenProfile is returned by [TokenKey.Mint] for a service whose
// profile kind is "none".
var ErrNoTokenProfile = errors.New("service has no token profile")

// Token is a minted token. Value is the secret: never log it; ID and Expiry
// are what an audit event records.
type Token struct {
	Value    string    // the compact JWS, as sent after "Bearer "
	ID       string    // jti: 16 random bytes, base64url without padding
	Subject  string    // sub: the operator's identity
	Audience string    // aud: the service name; "" for nanomq
	IssuedAt time.Time // iat, whole seconds
	Expiry   time.Time // exp, whole seconds
}

// mintSpec is a validated profile with its defaults filled in.
type mintSpec struct {
	kind   string
	issuer string
	ttl    time.Duration
}

// ValidateProfile checks p against k: Kind is "nanomq", "jwt", "none" or "";
// TTL is whole seconds between 0 and MaxTokenTTL; the issuer, given or
// default, is printable ASCII without spaces and at most 128 bytes. nanomq
// needs an RSA key (RS256), and a public key file or an explicit Issuer. A
// profile of kind "none" needs no key, so k may be nil for it.
func (k *TokenKey) ValidateProfile(p TokenProfile) error {
	_, err := k.resolve(p)
	return err
}

// Issuer is the iss claim tokens minted with p carry: p.Issuer, or the
// profile kind's default for k. The error is ValidateProfile's.
func (k *TokenKey) Issuer(p TokenProfile) (string, error) {
	spec, err := k.resolve(p)
	if err != nil {
		return "", err
	}
	return spec.issuer, nil
}

func (k *TokenKey) resolve(p TokenProfile) (mintSpec, error) {
	spec := mintSpec{kind: p.Kind, issuer: p.Issuer, ttl: p.TTL}
	if spec.kind == "" {
		spec.kind = tokenKindNone
	}
	if err := checkTTL(p.TTL); err != nil {
		return spec, fmt.Errorf("token profile %s: %w", spec.kind, err)
	}
	if spec.ttl == 0 {
		spec.ttl = DefaultTokenTTL
	}
	switch spec.kind {
	case tokenKindNone:
		return spec, checkIssuerIfSet(p.Issuer)
	case tokenKindNanoMQ, tokenKindJWT:
	default:
		return spec, fmt.Errorf("token profile kind %q: want nanomq, jwt or none", p.Kind)
	}
	if err := k.check(spec.kind); err != nil {
		return spec, fmt.Errorf("token profile %s: %w", spec.kind, err)
	}
	if spec.issuer == "" {
		spec.issuer = k.defaultIssuer(spec.kind)
	}
	if err := checkIssuer(spec.issuer); err != nil {
		return spec, fmt.Errorf("token profile %s: %w", spec.kind, err)
	}
	return spec, nil
}

// check makes sure k can sign tokens of kind.
func (k *TokenKey) check(kind string) error {
	if k == nil {
		return errors.New("no token signing key is loaded")
	}
	alg, err := signerAlg(k.Signer)
	if err != nil {
		return fmt.Errorf("token key: %w", err)
	}
	if alg != k.Alg {
		return fmt.Errorf("token key: Alg is %q but the key signs %s", k.Alg, alg)
	}
	if kind == tokenKindNanoMQ && alg != algRS256 {
		return fmt.Errorf("NanoMQ verifies only RS256 but the token key is %s; use an RSA key", alg)
	}
	if kind == tokenKindJWT && k.KeyID == "" {
		return errors.New("token key has no key ID")
	}
	return nil
}

func (k *TokenKey) defaultIssuer(kind string) string {
	switch {
	case kind == tokenKindJWT:
		return defaultJWTIssuer
	case k.PublicPath == "":
		return "" // checkIssuer says what is missing
	default:
		return filepath.Base(k.PublicPath)
	}
}

func checkTTL(ttl time.Duration) error {
	switch {
	case ttl < 0:
		return fmt.Errorf("ttl %v is negative", ttl)
	case ttl > MaxTokenTTL:
		return fmt.Errorf("ttl %v exceeds the maximum %v", ttl, MaxTokenTTL)
	case ttl%time.Second != 0:
		return fmt.Errorf("ttl %v is not a whole number of seconds", ttl)
	}
	return nil
}

func checkIssuerIfSet(iss string) error {
	if iss == "" {
		return nil
	}
	if err := checkIssuer(iss); err != nil {
		return fmt.Errorf("token profile none: %w", err)
	}
	return nil
}

func checkIssuer(iss string) error {
	if iss == "" {
		return errors.New("no issuer: the token key has no public key file to name it; create KEY.pub or set the issuer")
	}
	if len(iss) > maxIssuerLen {
		return fmt.Errorf("issuer is %d bytes; want at most %d", len(iss), maxIssuerLen)
	}
	for i := 0; i < len(iss); i++ {
		if iss[i] <= ' ' || iss[i] > '~' {
			return fmt.Errorf("issuer %q: want printable ASCII without spaces", iss)
		}
	}
	return nil
}

// checkClaimText refuses a subject or service name that is empty, too long
// to fit a token, not UTF-8 or holds control characters.
func checkClaimText(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty %s", what)
	case len(s) > MaxTokenHeader:
		return fmt.Errorf("%s is %d bytes; a token must fit in %d", what, len(s), MaxTokenHeader)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%s holds control character %U", what, r)
		}
	}
	return nil
}

// Mint signs a token for service with the operator identity subject as sub,
// issued at now, as profile p says:
//
//   - nanomq: header {"alg":"RS256","typ":"JWT"}; claims exactly iss, sub,
//     iat, exp and jti. Never aud, nbf or bodyEncode (a numeric bodyEncode
//     switches NanoMQ into an encrypted-body mode).
//   - jwt: header alg from the key, kid and typ; claims iss, sub, aud (service,
//     as a JSON string), iat, nbf (iat minus JWTClockSkew), exp and jti.
//   - none (or ""): an error wrapping [ErrNoTokenProfile].
//
// Times are whole seconds. It fails if the profile is invalid for k, if
// subject or service is empty or holds control characters, or if the
// Authorization header would exceed MaxTokenHeader.
func (k *TokenKey) Mint(p TokenProfile, service, subject string, now time.Time) (Token, error) {
	if p.Kind == "" || p.Kind == tokenKindNone {
		return Token{}, fmt.Errorf("mint token for %q: %w", service, ErrNoTokenProfile)
	}
	spec, err := k.resolve(p)
	if err != nil {
		return Token{}, fmt.Errorf("mint token for %q: %w", service, err)
	}
	if err := checkMintInput(service, subject, now); err != nil {
		return Token{}, fmt.Errorf("mint token for %q: %w", service, err)
	}
	tok, err := k.sign(spec, service, subject, now)
	if err != nil {
		return Token{}, fmt.Errorf("mint token for %q: %w", service, err)
	}
	return tok, nil
}

func checkMintInput(service, subject string, now time.Time) error {
	if err := checkClaimText("service", service); err != nil {
		return err
	}
	if err := checkClaimText("subject", subject); err != nil {
		return err
	}
	if now.Unix() < 0 {
		return fmt.Errorf("time %v is before 1970", now)
	}
	return nil
}

func (k *TokenKey) sign(spec mintSpec, service, subject string, now time.Time) (Token, error) {
	tok := Token{ID: newTokenID(), Subject: subject}
	iat := now.Unix()
	exp := iat + int64(spec.ttl/time.Second)
	claims := jwt.MapClaims{"iss": spec.issuer, "sub": subject, "iat": iat, "exp": exp, "jti": tok.ID}
	t := jwt.NewWithClaims(jwt.GetSigningMethod(k.Alg), claims)
	if spec.kind == tokenKindJWT {
		tok.Audience = service
		claims["aud"] = service
		claims["nbf"] = iat - int64(JWTClockSkew/time.Second)
		t.Header["kid"] = k.KeyID
	}
	value, err := t.SignedString(k.Signer)
	if err != nil {
		return Token{}, fmt.Errorf("sign %s: %w", k.Alg, err)
	}
	if n := len(authHeaderPrefix) + len(value); n > MaxTokenHeader {
		return Token{}, fmt.Errorf("authorization header would be %d bytes; the limit is %d (shorten the subject or issuer)", n, MaxTokenHeader)
	}
	tok.Value = value
	tok.IssuedAt = time.Unix(iat, 0)
	tok.Expiry = time.Unix(exp, 0)
	return tok, nil
}

// newTokenID returns 16 random bytes, base64url without padding.
func newTokenID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}
