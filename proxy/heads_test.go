package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// readBoth reads raw as a response to a request of method, by
// readSimpleResponse and by http.ReadResponse, each from its own reader,
// and fails t if readSimpleResponse took it and read anything different:
// the response's fields, its body and how the body ended, and the bytes
// left after it. It reports whether readSimpleResponse took it. Each
// reader is first filled as the transport fills it (a Peek), and one
// read at a time of chunk bytes models a response arriving in pieces.
func readBoth(t testing.TB, method string, raw []byte, chunk int) bool {
	t.Helper()
	newReader := func() *bufio.Reader {
		var r io.Reader = bytes.NewReader(raw)
		if chunk > 0 {
			r = &chunkReader{r: r, n: chunk}
		}
		br := bufio.NewReader(r)
		br.Peek(1)
		return br
	}
	req := &http.Request{Method: method}
	sbr := newReader()
	before := sbr.Buffered()
	got := readSimpleResponse(sbr, req)
	if got == nil {
		if sbr.Buffered() != before {
			t.Fatalf("declined %q but consumed %d bytes", raw, before-sbr.Buffered())
		}
		return false
	}
	wbr := newReader()
	want, err := http.ReadResponse(wbr, req)
	if err != nil {
		t.Fatalf("readSimpleResponse took %q, ReadResponse refused it: %v", raw, err)
	}
	type fields struct {
		Status              string
		StatusCode          int
		Proto               string
		ProtoMajor, Minor   int
		Header, Trailer     http.Header
		ContentLength       int64
		TransferEncoding    []string
		Close, Uncompressed bool
		Request             *http.Request
		NoBody              bool
	}
	of := func(r *http.Response) fields {
		return fields{r.Status, r.StatusCode, r.Proto, r.ProtoMajor, r.ProtoMinor, r.Header, r.Trailer,
			r.ContentLength, r.TransferEncoding, r.Close, r.Uncompressed, r.Request, r.Body == http.NoBody}
	}
	if g, w := of(got), of(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("for %q\nreadSimpleResponse: %+v\nReadResponse:       %+v", raw, g, w)
	}
	gb, gerr := io.ReadAll(iotest.OneByteReader(got.Body))
	wb, werr := io.ReadAll(iotest.OneByteReader(want.Body))
	if !bytes.Equal(gb, wb) || errors.Is(gerr, io.ErrUnexpectedEOF) != errors.Is(werr, io.ErrUnexpectedEOF) ||
		(gerr == nil) != (werr == nil) {
		t.Fatalf("for %q body %q, %v; ReadResponse's %q, %v", raw, gb, gerr, wb, werr)
	}
	gl, _ := io.ReadAll(sbr)
	wl, _ := io.ReadAll(wbr)
	if !bytes.Equal(gl, wl) {
		t.Fatalf("for %q left %q; ReadResponse left %q", raw, gl, wl)
	}
	return true
}

// chunkReader returns at most n bytes a Read.
type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	return c.r.Read(p[:min(len(p), c.n)])
}

func TestReadSimpleResponse(t *testing.T) {
	const ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nDate: Fri, 27 Nov 2026 09:00:00 GMT\r\n\r\n{\"code\":0}\n"
	tests := []struct {
		name, method, raw string
		chunk             int
		simple            bool
	}{
		{name: "NanoMQ JSON", method: "GET", raw: ok, simple: true},
		{name: "pipelined bytes after it", method: "GET", raw: ok + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", simple: true},
		{name: "body still arriving", method: "GET", raw: ok, chunk: 112, simple: true},
		{name: "head in pieces", method: "GET", raw: ok, chunk: 20},
		{name: "short body", method: "GET", raw: "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nshort", simple: true},
		{name: "zero length", method: "DELETE", raw: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", simple: true},
		{name: "no reason", method: "GET", raw: "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", simple: true},
		{name: "empty reason", method: "GET", raw: "HTTP/1.1 401 \r\nContent-Length: 2\r\n\r\n{}", simple: true},
		{name: "error status", method: "POST", raw: "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 3\r\nX-Custom-Header: a\r\nX-Custom-Header: b\r\n\r\nerr", simple: true},
		{name: "empty and tab values", method: "GET", raw: "HTTP/1.1 200 OK\r\nX-A:\r\nX-B:\t a\tb\r\nContent-Length: 0\r\n\r\n", simple: true},
		{name: "leading zeros in the length", method: "GET", raw: "HTTP/1.1 200 OK\r\nContent-Length: 002\r\n\r\nab", simple: true},
		{name: "HEAD", method: "HEAD", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"},
		{name: "chunked", method: "GET", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{name: "no length", method: "GET", raw: "HTTP/1.1 200 OK\r\n\r\nuntil close"},
		{name: "two lengths", method: "GET", raw: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na"},
		{name: "signed length", method: "GET", raw: "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\na"},
		{name: "Connection: close", method: "GET", raw: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"},
		{name: "Pragma", method: "GET", raw: "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 0\r\n\r\n"},
		{name: "Trailer", method: "GET", raw: "HTTP/1.1 200 OK\r\nTrailer: X\r\nContent-Length: 0\r\n\r\n"},
		{name: "HTTP/1.0", method: "GET", raw: "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"},
		{name: "interim", method: "GET", raw: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
		{name: "switching", method: "GET", raw: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"},
		{name: "204", method: "GET", raw: "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"},
		{name: "304", method: "GET", raw: "HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\n"},
		{name: "bare LF", method: "GET", raw: "HTTP/1.1 200 OK\nContent-Length: 0\n\n"},
		{name: "bare CR in a value", method: "GET", raw: "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n"},
		{name: "folded line", method: "GET", raw: "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n"},
		{name: "name to canonicalise", method: "GET", raw: "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"},
		{name: "upper case to canonicalise", method: "GET", raw: "HTTP/1.1 200 OK\r\nX-CUSTOM: a\r\nContent-Length: 0\r\n\r\n"},
		{name: "no header lines", method: "GET", raw: "HTTP/1.1 200 OK\r\n\r\nX: 1\r\nContent-Length: 0\r\n\r\n"},
		{name: "space before the colon", method: "GET", raw: "HTTP/1.1 200 OK\r\nX : a\r\nContent-Length: 0\r\n\r\n"},
		{name: "value to trim", method: "GET", raw: "HTTP/1.1 200 OK\r\nX: a \r\nContent-Length: 0\r\n\r\n"},
		{name: "control byte", method: "GET", raw: "HTTP/1.1 200 OK\r\nX: a\x01\r\nContent-Length: 0\r\n\r\n"},
		{name: "status not a number", method: "GET", raw: "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readBoth(t, tt.method, []byte(tt.raw), tt.chunk); got != tt.simple {
				t.Errorf("read by hand: %v, want %v", got, tt.simple)
			}
		})
	}
}

// FuzzReadSimpleResponse: whatever the API sends, a response that
// readSimpleResponse takes is the response ReadResponse reads from the
// same bytes; one it declines is left whole for ReadResponse.
func FuzzReadSimpleResponse(f *testing.F) {
	f.Add("GET", []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"), 0)
	f.Add("GET", []byte("HTTP/1.1 404 Not Found\r\nX-A: 1\r\nx-b: 2\r\nContent-Length: 3\r\n\r\nab"), 7)
	f.Add("HEAD", []byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), 0)
	f.Add("GET", []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"), 0)
	f.Fuzz(func(t *testing.T, method string, raw []byte, chunk int) {
		if method != "HEAD" {
			method = "GET"
		}
		if chunk < 0 || chunk > 4096 {
			chunk = 0
		}
		readBoth(t, method, raw, chunk)
	})
}

func BenchmarkReadResponse(b *testing.B) {
	raw := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 84\r\nDate: Fri, 27 Nov 2026 09:00:00 GMT\r\n\r\n" +
		strings.Repeat("x", 84))
	req := &http.Request{Method: "GET"}
	for _, bc := range []struct {
		name string
		read func(*bufio.Reader) (*http.Response, error)
	}{
		{"ReadResponse", func(br *bufio.Reader) (*http.Response, error) { return http.ReadResponse(br, req) }},
		{"readSimpleResponse", func(br *bufio.Reader) (*http.Response, error) { return readSimpleResponse(br, req), nil }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := bytes.NewReader(raw)
			br := bufio.NewReader(r)
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(raw)
				br.Reset(r)
				br.Peek(1)
				resp, err := bc.read(br)
				if err != nil || resp == nil {
					b.Fatal("not read")
				}
				io.Copy(io.Discard, resp.Body)
			}
		})
	}
}

// parseBoth parses head by readSimpleRequest and by http.ReadRequest and
// fails t if readSimpleRequest took it and read anything different. It
// reports whether readSimpleRequest took it.
func parseBoth(t testing.TB, head []byte) bool {
	t.Helper()
	got := readSimpleRequest(head)
	if got == nil {
		return false
	}
	want, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		t.Fatalf("readSimpleRequest took %q, ReadRequest refused it: %v", head, err)
	}
	type fields struct {
		Method, Proto, Host, RequestURI string
		ProtoMajor, ProtoMinor          int
		URL                             *url.URL
		Header, Trailer                 http.Header
		ContentLength                   int64
		TransferEncoding                []string
		Close, NoBody                   bool
		Context                         context.Context
	}
	of := func(r *http.Request) fields {
		return fields{r.Method, r.Proto, r.Host, r.RequestURI, r.ProtoMajor, r.ProtoMinor, r.URL, r.Header,
			r.Trailer, r.ContentLength, r.TransferEncoding, r.Close, r.Body == http.NoBody, r.Context()}
	}
	if g, w := of(got), of(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("for %q\nreadSimpleRequest: %+v\nReadRequest:       %+v", head, g, w)
	}
	return true
}

func TestReadSimpleRequest(t *testing.T) {
	tests := []struct {
		name, head string
		simple     bool
	}{
		{name: "curl", head: "GET /api/v4/nodes HTTP/1.1\r\nHost: 127.0.0.1:8081\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n", simple: true},
		{name: "query and escapes", head: "GET /api/v4/clients?limit=10&x=%2F%20 HTTP/1.1\r\nHost: h\r\n\r\n", simple: true},
		{name: "escaped path", head: "DELETE /api/v4/clients/a%2Fb HTTP/1.1\r\nHost: h\r\n\r\n", simple: true},
		{name: "repeated name, empty and tab values", head: "GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\nAccept: b\r\nX-E:\r\nX-T:\ta\tb\r\n\r\n", simple: true},
		{name: "caller's credential (dropped later)", head: "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Basic YTpi\r\n\r\n", simple: true},
		{name: "bodiless POST", head: "POST /x HTTP/1.1\r\nHost: h\r\n\r\n", simple: true},
		{name: "no Host", head: "GET / HTTP/1.1\r\nAccept: a\r\n\r\n"},
		{name: "two Hosts", head: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
		{name: "absolute form", head: "GET http://h/x HTTP/1.1\r\nHost: h\r\n\r\n"},
		{name: "asterisk", head: "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"},
		{name: "HTTP/1.0", head: "GET / HTTP/1.0\r\nHost: h\r\n\r\n"},
		{name: "Connection", head: "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"},
		{name: "Pragma", head: "GET / HTTP/1.1\r\nHost: h\r\nPragma: no-cache\r\n\r\n"},
		{name: "a body", head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n"},
		{name: "chunked", head: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{name: "Upgrade", head: "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n"},
		{name: "Expect", head: "GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n"},
		{name: "other method", head: "PROPFIND / HTTP/1.1\r\nHost: h\r\n\r\n"},
		{name: "lower-case method", head: "get / HTTP/1.1\r\nHost: h\r\n\r\n"},
		{name: "two spaces", head: "GET  / HTTP/1.1\r\nHost: h\r\n\r\n"},
		{name: "bare LF", head: "GET / HTTP/1.1\nHost: h\n\n"},
		{name: "folded line", head: "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"},
		{name: "name to canonicalise", head: "GET / HTTP/1.1\r\nhost: h\r\n\r\n"},
		{name: "value to trim", head: "GET / HTTP/1.1\r\nHost: h \r\n\r\n"},
		{name: "control byte", head: "GET / HTTP/1.1\r\nHost: h\r\nX: \x00\r\n\r\n"},
		{name: "control byte in the target", head: "GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n"},
		{name: "fragment (as ReadRequest: in the path)", head: "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", simple: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseBoth(t, []byte(tt.head)); got != tt.simple {
				t.Errorf("read by hand: %v, want %v", got, tt.simple)
			}
		})
	}
}

// FuzzReadSimpleRequest: a request head readSimpleRequest takes is the
// request ReadRequest reads from the same bytes.
func FuzzReadSimpleRequest(f *testing.F) {
	f.Add([]byte("GET /api/v4/nodes?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8081\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"))
	f.Add([]byte("DELETE /a%2Fb HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-A: 2\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"))
	f.Fuzz(func(t *testing.T, head []byte) {
		// The front end hands over whole heads only.
		if end := headEnd(head); end > 0 {
			parseBoth(t, head[:end])
		}
	})
}
