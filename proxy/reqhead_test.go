package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strings"
	"testing"
)

// headLines writes req with write and returns its request line, its
// other lines sorted by name (the order of different names carries no
// meaning) and what follows the head, or the error.
func headLines(t testing.TB, req *http.Request, write func(*bufio.Writer, *http.Request) error) (string, []string, string, error) {
	t.Helper()
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	if err := write(bw, req); err != nil {
		return "", nil, "", err
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	head, rest, ok := strings.Cut(buf.String(), "\r\n\r\n")
	if !ok {
		t.Fatalf("no end of head in %q", buf.String())
	}
	lines := strings.Split(head, "\r\n")
	// Lines of one name keep their order: sort stably by name only.
	fields := lines[1:]
	slices.SortStableFunc(fields, func(a, b string) int {
		an, _, _ := strings.Cut(a, ":")
		bn, _, _ := strings.Cut(b, ":")
		return strings.Compare(an, bn)
	})
	return lines[0], fields, rest, nil
}

func requestWrite(bw *bufio.Writer, req *http.Request) error { return req.Write(bw) }

// checkSameHead: writeRequest writes what Request.Write writes, bar the
// order of lines of different names.
func checkSameHead(t testing.TB, mk func() *http.Request) {
	t.Helper()
	wantLine, wantFields, wantRest, wantErr := headLines(t, mk(), requestWrite)
	gotLine, gotFields, gotRest, gotErr := headLines(t, mk(), writeRequest)
	if (wantErr != nil) != (gotErr != nil) {
		t.Fatalf("Request.Write error %v, writeRequest error %v", wantErr, gotErr)
	}
	if gotLine != wantLine || !slices.Equal(gotFields, wantFields) || gotRest != wantRest {
		t.Fatalf("writeRequest wrote\n%q\n%q\n%q\nRequest.Write\n%q\n%q\n%q", gotLine, gotFields, gotRest, wantLine, wantFields, wantRest)
	}
}

func TestWriteRequestAsRequestWrite(t *testing.T) {
	const token = "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
	tests := []struct {
		name   string
		method string
		url    string
		edit   func(*http.Request)
		simple bool // written by hand, not by Request.Write
	}{
		{name: "proxied GET", method: "GET", url: "http://127.0.0.1:8081/api/v4/clients?limit=10", simple: true, edit: func(r *http.Request) {
			r.Header.Set("Authorization", token)
			r.Header.Set("User-Agent", "")
			r.Header.Add("Accept", "application/json")
			r.Header.Add("Accept", "text/plain")
			r.Header.Set("X-Empty", "")
			r.Header.Set("X-Tab", "a\tb")
		}},
		{name: "caller's user agent", method: "GET", url: "http://h/x", simple: true, edit: func(r *http.Request) {
			r.Header["User-Agent"] = []string{"curl/8.5.0", "second"}
		}},
		{name: "no user agent at all: Go's", method: "GET", url: "http://h/x", simple: true},
		{name: "user agent key without values", method: "GET", url: "http://h/x", simple: true, edit: func(r *http.Request) {
			r.Header["User-Agent"] = nil
		}},
		{name: "non-canonical user agent key", method: "GET", url: "http://h/x", edit: func(r *http.Request) {
			r.Header["user-agent"] = []string{"lower"}
		}},
		{name: "HEAD", method: "HEAD", url: "http://h/x", simple: true},
		{name: "DELETE: no length", method: "DELETE", url: "http://h/api/v4/clients/c1", simple: true},
		{name: "POST without a body: a zero length", method: "POST", url: "http://h/x", simple: true},
		{name: "PUT without a body", method: "PUT", url: "http://h/x", simple: true},
		{name: "OPTIONS", method: "OPTIONS", url: "http://h/x", simple: true},
		{name: "Host field over URL", method: "GET", url: "http://h/x", simple: true, edit: func(r *http.Request) {
			r.Host = "[::1]:8081"
		}},
		{name: "escaped path and query", method: "GET", url: "http://h/a%20b/c?q=%2F&x", simple: true},
		{name: "framing keys in the header are not copied", method: "GET", url: "http://h/x", simple: true, edit: func(r *http.Request) {
			r.Header.Set("Content-Length", "5")
			r.Header.Set("Transfer-Encoding", "chunked")
			r.Header.Set("Trailer", "X")
			r.Header.Set("Host", "evil")
		}},
		{name: "value to trim", method: "GET", url: "http://h/x", edit: func(r *http.Request) {
			r.Header.Set("X", " padded ")
		}},
		{name: "newline in a value", method: "GET", url: "http://h/x", edit: func(r *http.Request) {
			r.Header.Set("X", "a\r\nInjected: 1")
		}},
		{name: "newline in the user agent", method: "GET", url: "http://h/x", edit: func(r *http.Request) {
			r.Header.Set("User-Agent", "a\nb")
		}},
		{name: "invalid name", method: "GET", url: "http://h/x", edit: func(r *http.Request) {
			r.Header["Bad Name"] = []string{"v"}
		}},
		{name: "unicode host", method: "GET", url: "http://h/x", edit: func(r *http.Request) {
			r.Host = "bücher.example"
		}},
		{name: "host with a zone", method: "GET", url: "http://h/x", edit: func(r *http.Request) {
			r.Host = "[fe80::1%25eth0]:80"
		}},
		{name: "body", method: "POST", url: "http://h/x", edit: func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader("abc"))
			r.ContentLength = 3
		}},
		{name: "empty body of unknown length", method: "POST", url: "http://h/x", edit: func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(""))
			r.ContentLength = -1
		}},
		{name: "close", method: "GET", url: "http://h/x", edit: func(r *http.Request) { r.Close = true }},
		{name: "other method", method: "PROPFIND", url: "http://h/x"},
		{name: "traced", method: "GET", url: "http://h/x", edit: func(r *http.Request) {
			*r = *r.WithContext(httptrace.WithClientTrace(r.Context(), &httptrace.ClientTrace{}))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mk := func() *http.Request {
				r, err := http.NewRequest(tt.method, tt.url, nil)
				if err != nil {
					t.Fatal(err)
				}
				if tt.edit != nil {
					tt.edit(r)
				}
				return r
			}
			if _, _, simple := simpleHead(mk()); simple != tt.simple {
				t.Errorf("written by hand: %v, want %v", simple, tt.simple)
			}
			checkSameHead(t, mk)
		})
	}
}

// FuzzWriteRequest: for any request head net/http parses, rewritten as the
// proxy rewrites it, writeRequest writes what Request.Write writes, bar
// the order of lines of different names.
func FuzzWriteRequest(f *testing.F) {
	for _, s := range []string{
		"GET /api/v4/nodes HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
		"DELETE /a?b=c HTTP/1.1\r\nHost: x\r\nUser-Agent: curl\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
		"GET /a HTTP/1.1\r\nHost: x\r\nX: a \t\r\nY: \xff\r\n\r\n",
		"PUT /a%2Fb HTTP/1.1\r\nHost: x\r\nTe: trailers\r\nUser-Agent:\r\n\r\n",
	} {
		f.Add([]byte(s), "127.0.0.1:8081")
	}
	f.Fuzz(func(t *testing.T, head []byte, host string) {
		mk := func() *http.Request {
			req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
			if err != nil {
				return nil
			}
			removeHopByHop(req.Header)
			req.RequestURI = ""
			req.Close = false // as forward does: the caller's Connection: close is not the tunnel's
			rewrite(req, "127.0.0.1:8081", "Bearer a.b.c")
			if host != "" {
				req.Host = host
			}
			return req
		}
		if mk() == nil {
			return
		}
		checkSameHead(t, mk)
	})
}

// Lines whose names differ only in case are one field (RFC 9110 5.1), whose
// values' order is the field's meaning: Request.Write writes them in the
// sorted order of the header's keys, every time, and so must writeRequest
// (or leave such a request to Request.Write).
func TestWriteRequestCaseVariantKeysKeepOrder(t *testing.T) {
	mk := func() *http.Request {
		r, err := http.NewRequest("GET", "http://h/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header["Accept"] = []string{"application/json"}
		r.Header["accept"] = []string{"text/html"}
		return r
	}
	order := func(write func(*bufio.Writer, *http.Request) error) string {
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		if err := write(bw, mk()); err != nil {
			t.Fatal(err)
		}
		bw.Flush()
		var vs []string
		for _, line := range strings.Split(buf.String(), "\r\n") {
			if k, v, ok := strings.Cut(line, ": "); ok && strings.EqualFold(k, "Accept") {
				vs = append(vs, v)
			}
		}
		return strings.Join(vs, ", ")
	}
	want := order(requestWrite)
	for range 64 {
		if got := order(writeRequest); got != want {
			t.Fatalf("writeRequest sent Accept as %q; Request.Write as %q", got, want)
		}
	}
}
