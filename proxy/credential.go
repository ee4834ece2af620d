package proxy

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/loopgate/loopgate/keys"
)

// Credential supplies the Authorization header value to inject, e.g.
// "Bearer eyJ..." or "Basic YWRt...". Implementations must never log or put
// the secret in an error.
type Credential interface {
	Authorization(ctx context.Context) (string, error)
}

// maxCredentialFile bounds a credential file; a token or a user:password
// pair is far smaller.
const maxCredentialFile = 64 << 10

const redacted = "[redacted]"

// static is a credential read once. Every way of printing or encoding it
// yields "[redacted]".
type static struct{ header string }

func (s static) Authorization(context.Context) (string, error) { return s.header, nil }

func (static) String() string               { return redacted }
func (static) GoString() string             { return redacted }
func (static) Format(f fmt.State, _ rune)   { io.WriteString(f, redacted) }
func (static) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (static) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// scheme turns a checked secret into an Authorization header value.
type scheme struct {
	name   string // "bearer" or "basic", for errors
	header func(secret string) (string, error)
}

var (
	bearer = scheme{name: "bearer", header: bearerHeader}
	basic  = scheme{name: "basic", header: basicHeader}
)

// BearerFromFile reads a bearer token from path, which must be a private
// file (see keys.CheckPrivateFile). One trailing newline is trimmed.
func BearerFromFile(path string) (Credential, error) { return fromFile(path, bearer) }

// BasicFromFile reads "user:password" from path, which must be a private
// file (see keys.CheckPrivateFile). One trailing newline is trimmed.
func BasicFromFile(path string) (Credential, error) { return fromFile(path, basic) }

// BearerFromEnv reads a bearer token from the environment variable name.
func BearerFromEnv(name string) (Credential, error) { return fromEnv(name, bearer) }

// BasicFromEnv reads "user:password" from the environment variable name.
func BasicFromEnv(name string) (Credential, error) { return fromEnv(name, basic) }

func fromFile(path string, s scheme) (Credential, error) {
	raw, err := readCredentialFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s credential file %q: %w", s.name, path, err)
	}
	c, err := parseCredential(raw, s)
	if err != nil {
		return nil, fmt.Errorf("%s credential file %q: %w", s.name, path, err)
	}
	return c, nil
}

func readCredentialFile(path string) (string, error) {
	if err := keys.CheckPrivateFile(path); err != nil {
		return "", err
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCredentialFile+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxCredentialFile {
		return "", fmt.Errorf("larger than %d bytes", maxCredentialFile)
	}
	return string(b), nil
}

func fromEnv(name string, s scheme) (Credential, error) {
	if name == "" {
		return nil, fmt.Errorf("%s credential: no environment variable named", s.name)
	}
	raw := os.Getenv(name)
	if raw == "" {
		return nil, fmt.Errorf("%s credential: environment variable %s is unset or empty", s.name, name)
	}
	c, err := parseCredential(raw, s)
	if err != nil {
		return nil, fmt.Errorf("%s credential in environment variable %s: %w", s.name, name, err)
	}
	return c, nil
}

// parseCredential trims one trailing newline, checks what is left and
// builds the header. Its errors never include the secret.
func parseCredential(raw string, s scheme) (Credential, error) {
	secret := trimNewline(raw)
	if err := checkSecret(secret); err != nil {
		return nil, err
	}
	h, err := s.header(secret)
	if err != nil {
		return nil, err
	}
	return static{header: h}, nil
}

func trimNewline(s string) string {
	if t, ok := strings.CutSuffix(s, "\r\n"); ok {
		return t
	}
	return strings.TrimSuffix(s, "\n")
}

func checkSecret(s string) error {
	switch {
	case s == "":
		return errors.New("is empty")
	case !utf8.ValidString(s):
		return errors.New("is not valid UTF-8")
	case strings.ContainsFunc(s, unicode.IsControl):
		return errors.New("contains a control character (only one trailing newline is allowed)")
	case strings.TrimSpace(s) != s:
		return errors.New("has leading or trailing white space")
	}
	return nil
}

// bearerHeader refuses white space inside the token: RFC 6750 tokens have
// none, and a space would make the header ambiguous.
func bearerHeader(token string) (string, error) {
	if strings.ContainsFunc(token, unicode.IsSpace) {
		return "", errors.New("contains white space; a bearer token has none")
	}
	return "Bearer " + token, nil
}

// basicHeader wants "user:password" (RFC 7617): the user is everything
// before the first ':' and must not be empty; the password may be.
func basicHeader(pair string) (string, error) {
	user, _, ok := strings.Cut(pair, ":")
	if !ok {
		return "", errors.New("is not user:password (no ':')")
	}
	if user == "" {
		return "", errors.New("has an empty user name (want user:password)")
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(pair)), nil
}
