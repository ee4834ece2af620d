// Package standin is a stand-in for NanoMQ 0.25's admin REST API (port 8081)
// for the demo, the integration tests and the README. It is never shipped as
// a product feature.
//
// Its point is to check credentials as NanoMQ does and refuse them with
// NanoMQ's answers, so that a credential the stand-in accepts is one NanoMQ
// accepts. A refused credential gets HTTP 401 and a JSON body {"code":N},
// N one of NanoMQ's result codes; [API.Accepted] and [API.Refusals] count
// the answers for tests, and [API.Log] says why each refusal happened.
//
// Basic mode (the zero Mode; NanoMQ's default, admin / public):
//   - the header must read "Basic " (case-sensitive, one space) and a
//     credential; a missing or differently shaped header is 104;
//   - a credential that is not base64("user:password") exactly is 103.
//
// JWT mode (http_server.auth_type = jwt):
//   - the header must read "Bearer " (case-sensitive, one space) and a token
//     without spaces; "bearer x", "Bearer" with no token, extra spaces or a
//     missing header are 104. (net/http trims a header's trailing spaces, so
//     "Bearer " arrives as "Bearer": 104, as NanoMQ answers it.)
//   - the signature is verified as RS256 with the configured public key,
//     and only RS256 is accepted: alg "none", HS256 keyed with the public
//     key's bytes, RS384 or PS256, or another key are all 103;
//   - iss must equal the basename of the public key file, else 103;
//   - exp must be present and a JSON number, else 103. Like NanoMQ it is
//     read with C's atoll (1.8e9 reads as 1) and compared in whole seconds:
//     a token more than the leeway (200 s) past exp is 116, but only when
//     everything else is valid (expired and wrong iss is 103);
//   - aud, iat, nbf and sub are ignored: a future nbf or iat is accepted;
//   - a numeric bodyEncode claim switches NanoMQ into an encrypted-body mode
//     that no loopgate client speaks: the stand-in answers 400 {"code":110}
//     so that a test notices any minted token that carries one. A string
//     bodyEncode is ignored.
//
// Transport rules:
//   - the request line plus headers must fit in 8 KiB ([MaxHeaderBytes]);
//     larger requests get 431. The handler checks this itself, because
//     net/http, even with http.Server.MaxHeaderBytes = 8192 as [API.Serve]
//     sets it, only answers 431 on its own beyond about 12 KiB (it allows
//     4 KiB of buffer slack);
//   - bodies are read by Content-Length only: a chunked request gets 400
//     {"code":101}, before any credential check.
//
// Where NanoMQ is more lenient the stand-in is the stricter of the two, so
// it can fail a test that NanoMQ would pass but never the reverse: NanoMQ
// reads the header with sscanf("Bearer %s"), so it also takes extra spaces
// or a trailing word; it ignores the token's alg and always verifies RS256,
// so it also takes an RS256 signature under another alg name; it compares
// iss as a prefix; and it reads exp with atoll even from a string. A
// missing exp is 103 here, as observed on NanoMQ 0.25.
//
// Endpoints, after the credential check: GET /api/v4 (endpoint list), GET
// /api/v4/brokers, GET /api/v4/nodes, POST /api/v4/reload (a JSON body; the
// answer says how many bytes were read). Another path is 404 and another
// method 405, both {"code":102}.
package standin
