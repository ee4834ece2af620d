package proxy

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net"
	"strings"
	"testing"
	"time"
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

// FuzzHeadEnd checks the front end's search for the end of a request head
// against a plain restatement: the first line break followed by an empty
// line ("\n\n" or "\n\r\n").
func FuzzHeadEnd(f *testing.F) {
	for _, s := range []string{"", "\n\n", "GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nA: b\r\n\r\nbody",
		"GET / HTTP/1.1\r\nA: b\n\r\n", "\r\n\r\n", "a\r\r\n\r\n", "a\n\r\r\n\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		want := 0
		i1, i2 := bytes.Index(p, []byte("\n\n")), bytes.Index(p, []byte("\n\r\n"))
		switch {
		case i1 >= 0 && (i2 < 0 || i1 < i2):
			want = i1 + 2
		case i2 >= 0:
			want = i2 + 3
		}
		if got := headEnd(p); got != want {
			t.Fatalf("headEnd(%q): got %d, want %d", p, got, want)
		}
	})
}

// FuzzFront sends arbitrary bytes to the proxy as one caller's connection
// ("{host}" stands for the proxy's address, so that inputs reach the
// front end's own path). Whatever they are, the proxy must not panic, must
// end the connection once the caller has finished sending, and every
// request that reaches the API must carry the injected credential and
// nothing of the caller's.
func FuzzFront(f *testing.F) {
	for _, s := range []string{
		"GET /api/v4/brokers HTTP/1.1\r\nHost: {host}\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic eDp5\r\n\r\nHEAD /b HTTP/1.1\r\nHost: {host}\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: {host}\r\nConnection: Authorization\r\nAuthorization: x\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\n\r\nabcGET /q HTTP/1.1\r\nHost: {host}\r\n\r\n",
		"PUT /p HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"GET /p HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET /p HTTP/1.0\r\nHost: {host}\r\n\r\n",
		"GET /p HTTP/1.1\nHost: {host}\n\n",
		"GET /p HTTP/1.1\r\nHost: {host}\r\nHost: {host}\r\n\r\n",
		"GET /p HTTP/1.1\r\nHost: {host}\r\nExpect: 100-continue\r\n\r\n",
		"GET http://{host}/p HTTP/1.1\r\nHost: other\r\n\r\n",
		"GET /p HTTP/1.1\r\nHost: {host}\r\n X-Folded: y\r\n\r\n",
		"GET /p HTTP/1.1\r\nHost: {host}\r\nX: " + strings.Repeat("y", 5000) + "\r\n\r\n",
		"GET /p HTTP/1.1\r\nHost: {host}\r\n",
		"\r\n\r\nGET /p HTTP/1.1\r\nHost: {host}\r\n\r\n",
		"GET /p?a=1;b=2 HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	up := newUpstream(f, nil)
	_, addr := startProxy(f, testConfig(up))
	f.Fuzz(func(t *testing.T, in []byte) {
		in = bytes.ReplaceAll(in, []byte("{host}"), []byte(addr))
		before := len(up.requests())
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		conn.Write(in) // the proxy may close first; what it read is what counts
		conn.(*net.TCPConn).CloseWrite()
		if _, err := io.Copy(io.Discard, conn); isTimeout(err) {
			t.Fatalf("the proxy kept the connection open 5 s after the caller finished: %q", in)
		}
		for _, r := range up.requests()[before:] {
			if got := r.Header.Values("Authorization"); len(got) != 1 || got[0] != injected {
				t.Fatalf("the API got Authorization %q for %q", got, in)
			}
			if r.Host != testService {
				t.Fatalf("the API got Host %q for %q", r.Host, in)
			}
		}
	})
}
