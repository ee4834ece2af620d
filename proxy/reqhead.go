package proxy

import (
	"bufio"
	"net/http"
	"net/http/httptrace"
	"slices"
)

// writeRequest writes req to bw as req.Write does. Most of what the proxy
// sends is a request without a body whose head is all plain lines; for
// those it writes the head itself, without Request.Write's sorting,
// sanitising and formatting, which under load cost the proxy's process
// about 7 % of its CPU (docs/PERFORMANCE.md, change 22). Anything else,
// a request traced with httptrace, and anything the hand-written head
// might not write as Request.Write would (a value to trim, a byte outside the plain
// set), goes through req.Write.
func writeRequest(bw *bufio.Writer, req *http.Request) error {
	host, ruri, ok := simpleHead(req)
	if !ok {
		return req.Write(bw)
	}
	bw.WriteString(req.Method)
	bw.WriteByte(' ')
	bw.WriteString(ruri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	// Request.Write's User-Agent: the header's first value, none if that
	// is empty, Go's own if the header has none.
	if ua, ok := req.Header["User-Agent"]; !ok {
		bw.WriteString("User-Agent: Go-http-client/1.1\r\n")
	} else if len(ua) > 0 && ua[0] != "" {
		bw.WriteString("User-Agent: ")
		bw.WriteString(ua[0])
		bw.WriteString("\r\n")
	}
	// Request.Write sends a zero length for these, as servers expect one.
	if req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch {
		bw.WriteString("Content-Length: 0\r\n")
	}
	for k, vs := range req.Header {
		if excludedKey(k) {
			continue
		}
		for _, v := range vs {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	_, err := bw.WriteString("\r\n")
	return err
}

// simpleHead reports whether writeRequest may write req's head itself,
// and the Host and request target if so: no body and nothing about one, a method
// Request.Write sends as it is, a plain target and Host, and header lines
// Request.Write would write unchanged (bar their order, which carries no
// meaning between different names; RFC 9110 5.3), under canonical names.
func simpleHead(req *http.Request) (host, ruri string, ok bool) {
	if req.Body != nil && req.Body != http.NoBody || req.ContentLength != 0 ||
		len(req.TransferEncoding) > 0 || len(req.Trailer) > 0 || req.Close ||
		req.URL == nil || req.URL.Opaque != "" || !simpleMethod(req.Method) ||
		httptrace.ContextClientTrace(req.Context()) != nil {
		return "", "", false
	}
	if host = req.Host; host == "" {
		host = req.URL.Host
	}
	if !simpleHost(host) {
		return "", "", false
	}
	ruri = req.URL.RequestURI()
	if ruri == "" || ruri[0] != '/' || !visibleASCII(ruri) {
		return "", "", false
	}
	for k, vs := range req.Header {
		// Canonical names only: two keys that differ in case name one
		// field, whose lines Request.Write writes in its sorted order.
		if !canonicalToken(k) {
			return "", "", false
		}
		if k == "User-Agent" && len(vs) > 0 && !plainValue(vs[0]) {
			return "", "", false
		}
		if excludedKey(k) {
			continue
		}
		for _, v := range vs {
			if !plainValue(v) {
				return "", "", false
			}
		}
	}
	return host, ruri, true
}

// excludedKey: the header names Request.Write does not copy from the
// header (it writes Host and User-Agent from their own rules, and the
// framing from the body).
func excludedKey(k string) bool {
	switch k {
	case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
		return true
	}
	return false
}

func simpleMethod(m string) bool { return slices.Contains(simpleMethods, m) }

// simpleHost: a name or address and port in the characters that
// Request.Write passes through untouched (no IDNA, no zone).
func simpleHost(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}
