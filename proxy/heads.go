package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// readSimpleResponse reads the response at the start of br, to req, by
// hand if it is one of the kind an admin API sends nearly always: its head
// already whole in br's buffer, HTTP/1.1, a final status with a body of a
// length given once, and header lines with nothing to fold, trim, merge or
// fix. It returns what http.ReadResponse returns for those bytes (the
// differential fuzz test holds it to that), having consumed the head.
// For anything else it returns nil and consumes nothing, and the caller
// uses http.ReadResponse. Under load ReadResponse's header parsing was
// about 7 % of the proxy's CPU (docs/PERFORMANCE.md, change 22).
func readSimpleResponse(br *bufio.Reader, req *http.Request) *http.Response {
	if req.Method == http.MethodHead {
		return nil // a length but no body: ReadResponse's rules
	}
	buf, _ := br.Peek(br.Buffered())
	line, rest, ok := crlfLine(buf)
	if !ok || len(line) < len("HTTP/1.1 200") || string(line[:len("HTTP/1.1 ")]) != "HTTP/1.1 " {
		return nil
	}
	code, ok := simpleStatus(line[len("HTTP/1.1 "):])
	if !ok {
		return nil
	}
	end := bytes.Index(rest, []byte("\r\n\r\n"))
	if end < 0 || bytes.HasPrefix(rest, []byte("\r\n")) {
		return nil // not whole yet; or no header lines, so no length
	}
	head := string(buf[:len(buf)-len(rest)+end+2])
	header, ok := simpleHeader(head[len(line)+2:])
	if !ok || declines(header, responseDeclines) {
		return nil // framing, closing and fixes: ReadResponse's rules
	}
	cl := header["Content-Length"]
	if len(cl) != 1 {
		return nil // none: a body until the connection closes; more: ReadResponse's rules
	}
	length, ok := simpleLength(cl[0])
	if !ok {
		return nil
	}
	br.Discard(len(head) + 2)
	resp := &http.Response{
		Status:        head[len("HTTP/1.1 "):len(line)],
		StatusCode:    code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		Body:          http.NoBody,
		ContentLength: length,
		Request:       req,
	}
	if length > 0 {
		resp.Body = &lengthBody{br: br, n: length}
	}
	return resp
}

// crlfLine splits p after its first CRLF; not ok if p has none, or a CR or
// LF alone before it.
func crlfLine(p []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(p, '\n')
	if i < 1 || p[i-1] != '\r' || bytes.IndexByte(p[:i-1], '\r') >= 0 {
		return nil, nil, false
	}
	return p[:i-1], p[i+1:], true
}

// simpleStatus: "DDD" or "DDD reason", a final status other than 204 and
// 304 (no body) and a reason of plain text.
func simpleStatus(s []byte) (int, bool) {
	if len(s) < 3 || len(s) > 3 && (s[3] != ' ' || !validValue(string(s[4:]))) {
		return 0, false
	}
	code := 0
	for _, c := range s[:3] {
		if c < '0' || c > '9' {
			return 0, false
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code > 599 || code == http.StatusNoContent || code == http.StatusNotModified {
		return 0, false
	}
	return code, true
}

// simpleHeader parses header lines, each ending in CRLF, if every one is
// simpleField's kind. One array holds the values, as in textproto.
func simpleHeader(fields string) (http.Header, bool) {
	n := strings.Count(fields, "\r\n")
	header := make(http.Header, n)
	values := make([]string, n)
	for fields != "" {
		var line string
		line, fields, _ = strings.Cut(fields, "\r\n")
		k, v, ok := simpleField(line)
		if !ok {
			return nil, false
		}
		if vs := header[k]; vs != nil {
			header[k] = append(vs, v)
		} else {
			values[0] = v
			header[k], values = values[:1:1], values[1:]
		}
	}
	return header, true
}

// simpleField splits a header line "Name: value" whose name is already in
// canonical form, whose value has no space or tab to trim at its end, and
// in which nothing is a CR or LF alone or another control byte.
func simpleField(line string) (string, string, bool) {
	name, value, ok := strings.Cut(line, ":")
	if !ok || name == "" {
		return "", "", false
	}
	value = strings.TrimLeft(value, " \t")
	if !canonicalToken(name) || !plainValue(value) {
		return "", "", false
	}
	return name, value, true
}

// simpleLength: digits only, as net/http's parseContentLength reads them.
func simpleLength(v string) (int64, bool) {
	n, err := strconv.ParseUint(v, 10, 63)
	return int64(n), err == nil
}

// lengthBody is a body of n bytes read from br; a connection that ends
// before them is io.ErrUnexpectedEOF, as in net/http's own body.
type lengthBody struct {
	br *bufio.Reader
	n  int64
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	k, err := b.br.Read(p)
	b.n -= int64(k)
	switch {
	case b.n == 0:
		return k, io.EOF
	case err == io.EOF:
		return k, io.ErrUnexpectedEOF
	}
	return k, err
}

func (b *lengthBody) Close() error { return nil }

// readSimpleRequest parses a request head (through its empty line) by
// hand if it is one of the kind callers send nearly always: an origin-form
// target, HTTP/1.1, one Host, header lines with nothing to fold, trim or
// fix, and nothing about a body or the connection. It returns what
// http.ReadRequest returns for those bytes (the differential fuzz test
// holds it to that), or nil for the caller to use http.ReadRequest.
func readSimpleRequest(head []byte) *http.Request {
	line, rest, ok := crlfLine(head)
	if !ok || !bytes.HasSuffix(rest, []byte("\r\n\r\n")) || bytes.HasPrefix(rest, []byte("\r\n")) {
		return nil
	}
	method, rawLine, ok := bytes.Cut(line, []byte(" "))
	target, proto, ok2 := bytes.Cut(rawLine, []byte(" "))
	if !ok || !ok2 || string(proto) != "HTTP/1.1" || len(target) == 0 || target[0] != '/' {
		return nil
	}
	m := simpleMethodName(method)
	if m == "" {
		return nil
	}
	s := string(head[:len(head)-2])
	uri := s[len(method)+1 : len(method)+1+len(target)]
	if !visibleASCII(uri) {
		return nil
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil
	}
	header, ok := simpleHeader(s[len(line)+2:])
	if !ok || len(header["Host"]) != 1 {
		return nil // none, or more than one: ReadRequest's rules
	}
	if declines(header, requestDeclines) {
		return nil // the connection, fixes, a body: ReadRequest's rules
	}
	host := header["Host"][0]
	delete(header, "Host") // as ReadRequest does: it is in req.Host
	return &http.Request{
		Method:     m,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     header,
		Body:       http.NoBody,
		Host:       host,
		RequestURI: uri,
	}
}

// simpleMethods: the methods the proxy forwards most, which the
// hand-written heads read and write (others go through net/http).
var simpleMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// simpleMethodName returns m as one of simpleMethods' constants, or "".
func simpleMethodName(m []byte) string {
	for _, s := range simpleMethods {
		if string(m) == s {
			return s
		}
	}
	return ""
}

// declines reports whether h has any of names: the fields whose rules
// (framing, the connection, caching fixes) the hand-written readers leave
// to net/http.
func declines(h http.Header, names []string) bool {
	return slices.ContainsFunc(names, func(k string) bool { return h[k] != nil })
}

var (
	responseDeclines = []string{"Transfer-Encoding", "Connection", "Trailer", "Pragma"}
	requestDeclines  = []string{"Connection", "Pragma", "Content-Length", "Transfer-Encoding", "Trailer", "Upgrade", "Expect"}
)

// The characters the hand-written heads take, in one place.

// tokenString: a non-empty RFC 9110 token.
func tokenString(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			switch c {
			case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
			default:
				return false
			}
		}
	}
	return true
}

// canonicalToken: a header name (RFC 9110 token) already in the form
// textproto's canonicalisation gives it: upper case at the start and after
// each '-', lower case elsewhere.
func canonicalToken(name string) bool {
	if !tokenString(name) {
		return false
	}
	upper := true
	for _, c := range []byte(name) {
		switch {
		case upper && 'a' <= c && c <= 'z', !upper && 'A' <= c && c <= 'Z':
			return false
		}
		upper = c == '-'
	}
	return true
}

// validValue: no control characters but tab (RFC 9110 5.5), the rule
// net/http's parsers hold a value to: the hand-written readers take no
// other, and the heads written here are guarded by it.
func validValue(v string) bool {
	// Eight bytes at a time while none is below a space or DEL (the
	// injected token alone is some 750 bytes, checked on every request);
	// a word with one, a tab perhaps, is looked at byte by byte.
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(v); i += 8 {
		x := uint64(v[i]) | uint64(v[i+1])<<8 | uint64(v[i+2])<<16 | uint64(v[i+3])<<24 |
			uint64(v[i+4])<<32 | uint64(v[i+5])<<40 | uint64(v[i+6])<<48 | uint64(v[i+7])<<56
		del := x ^ 0x7f*ones
		if (x-0x20*ones)&^x&highs != 0 || (del-ones)&^del&highs != 0 {
			break
		}
	}
	for ; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// plainValue: a valid value with nothing to trim at either end, which
// textproto reads and Request.Write writes as it is. (Bytes above 0x7f
// are passed through by both.)
func plainValue(v string) bool {
	if v != "" && (v[0] == ' ' || v[0] == '\t' || v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		return false
	}
	return validValue(v)
}

// visibleASCII: printable ASCII, no space.
func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
