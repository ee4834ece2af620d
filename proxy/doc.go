// Package proxy is the loopgate client's injecting hop: a local HTTP
// endpoint that sends each request through the SSH tunnel to a device's
// admin API (first NanoMQ's REST API) with the operator's credential set.
//
// Handler's Serve reads each connection's requests itself and forwards
// the plain ones (HTTP/1.1, no body, no upgrade or expectation, a head that
// net/http's ReadRequest accepts and that fits 4 KiB) on the connection's
// goroutine, writing the response back with its own framing. A
// connection's first request that is not plain hands the connection, with
// the bytes read and not yet used, to an http.Server running ServeHTTP,
// built on net/http/httputil.ReverseProxy, which serves it from then on.
// The commonest heads (a plain request, a response with one length, a
// bodiless request to send) are read and written by hand, to what
// ReadRequest, ReadResponse and Request.Write give for the same bytes
// (heads.go, reqhead.go; each held to that by a differential fuzz test);
// anything else goes through those.
// Both paths remove hop-by-hop headers before the credential is set, so a
// caller's "Connection: Authorization" cannot strip the injected header.
// Every Authorization, Proxy-Authorization, Forwarded and X-Forwarded-*
// header the caller sent is dropped and the Credential's value is set in
// its place.
//
// A loopback port is reachable by every program on the machine and by any
// web page the browser opens, so Handler refuses requests whose Host is not
// its own address (421, a DNS rebinding defence) and cross-site browser
// requests (403, by Origin and Sec-Fetch-Site). Request bodies of unknown
// length are buffered, up to Config.MaxBodyBytes, and sent with
// Content-Length because NanoMQ cannot read chunked bodies. Redirects are
// never followed, so the credential only ever goes to the service.
//
// Requests reach the API through directTransport: requests with no body
// or a small one are written and answered on the handler's goroutine over
// tunnels kept for directIdleReuse between requests (an idempotent request
// that finds its kept tunnel closed by the API is sent once more on a fresh
// one); larger bodies and upgrades go through an http.Transport that opens
// a tunnel per request. Framing on both paths is net/http's.
//
// Tunnel failures become honest statuses (see StatusFor): 403 refused by
// the gateway's policy, 502 the API refused the connection, 503 tunnel down,
// 504 timeout. Do sends a single request with the same rewriting.
//
// Static credentials (BearerFromFile, BasicFromFile, BearerFromEnv,
// BasicFromEnv) are read once; they print as "[redacted]" and their errors
// name the file or variable but never the content. Nothing here logs a
// header value.
package proxy
