package proxy

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

var credentialSeeds = []string{
	"", "\n", "\r\n", "admin:public", "admin:public\n", "admin:public\r\n", "admin:public\n\n",
	":x", "admin", " admin:x", "admin:x ", "admin:p w", "a\x00:b", "a:\x1b[0m", "a:\u0085", "a:\xff",
	"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln", "tok en", "\u00a0tok", "a:\u2028",
}

// checkHeader asserts what every accepted credential must satisfy.
func checkHeader(t *testing.T, c Credential, prefix string) string {
	t.Helper()
	h, err := c.Authorization(context.Background())
	if err != nil {
		t.Fatalf("Authorization: %v", err)
	}
	if !strings.HasPrefix(h, prefix) {
		t.Fatalf("header %q: want prefix %q", h, prefix)
	}
	if !utf8.ValidString(h) || strings.ContainsFunc(h, unicode.IsControl) {
		t.Fatalf("header %q holds a control character or bad UTF-8", h)
	}
	for i := 0; i < len(h); i++ {
		if h[i] < 0x20 || h[i] == 0x7f {
			t.Fatalf("header %q holds byte %#x", h, h[i])
		}
	}
	return strings.TrimPrefix(h, prefix)
}

// checkNoLeak fails if an error message holds a secret long enough to
// matter; the path is removed first, since the error names it.
func checkNoLeak(t *testing.T, err error, where, secret string) {
	t.Helper()
	secret = strings.TrimSpace(secret)
	if len(secret) >= 16 && strings.Contains(strings.ReplaceAll(err.Error(), where, ""), secret) {
		t.Fatalf("error %q holds the secret", err)
	}
}

// The fuzz targets call the parser behind BasicFromFile and friends
// directly: going through a file on every input made the fuzzer stall on
// file-system noise, and the file handling has its own tests.

func FuzzBasicCredential(f *testing.F) {
	for _, s := range credentialSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := parseCredential(raw, basic)
		if err != nil {
			checkNoLeak(t, err, "", raw)
			return
		}
		dec, err := base64.StdEncoding.DecodeString(checkHeader(t, c, "Basic "))
		if err != nil {
			t.Fatalf("header is not base64: %v", err)
		}
		if want := trimNewline(raw); string(dec) != want {
			t.Fatalf("decoded %q, want %q", dec, want)
		}
		if user, _, ok := strings.Cut(string(dec), ":"); !ok || user == "" {
			t.Fatalf("decoded %q is not user:password", dec)
		}
	})
}

func FuzzBearerCredential(f *testing.F) {
	for _, s := range credentialSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := parseCredential(raw, bearer)
		if err != nil {
			checkNoLeak(t, err, "", raw)
			return
		}
		tok := checkHeader(t, c, "Bearer ")
		if tok == "" || strings.ContainsFunc(tok, unicode.IsSpace) {
			t.Fatalf("token %q is empty or holds white space", tok)
		}
		if tok != trimNewline(raw) {
			t.Fatalf("token %q, want %q", tok, trimNewline(raw))
		}
	})
}
