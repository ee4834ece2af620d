package standin

import (
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Mode selects how the API checks credentials, like NanoMQ's
// http_server.auth_type.
type Mode int

const (
	// BasicMode checks "Authorization: Basic ..." against User and Password.
	BasicMode Mode = iota
	// JWTMode checks "Authorization: Bearer <jwt>" against PublicKey and
	// Issuer.
	JWTMode
)

// DefaultLeeway is how long after exp NanoMQ still accepts a token.
const DefaultLeeway = 200 * time.Second

// NanoMQ result codes that the stand-in answers with.
const (
	CodeOK              = 0   // SUCCEED
	CodeRPCError        = 101 // RPC_ERROR: the body could not be read
	CodeUnknown         = 102 // UNKNOWN_MISTAKE: no such endpoint or method
	CodeWrongCredential = 103 // WRONG_USERNAME_OR_PASSWORD
	CodeNoCredential    = 104 // EMPTY_USERNAME_OR_PASSWORD: missing or malformed header
	CodeBadJSON         = 109 // REQ_PARAMS_JSON_FORMAT_ILLEGAL
	CodeBodyEncode      = 110 // stand-in: token asks for NanoMQ's encrypted-body mode
	CodeTokenExpired    = 116 // TOKEN_EXPIRED
)

// API serves a few NanoMQ-style endpoints behind NanoMQ's credential checks.
// Configure it before the first request and do not copy it afterwards.
type API struct {
	// Mode selects the credential check; the zero value is BasicMode.
	Mode Mode

	// User and Password are the accepted Basic credentials (NanoMQ's
	// defaults are admin / public). An empty User refuses every request.
	User, Password string

	// PublicKey verifies JWTs (RS256 only). Nil refuses every token.
	PublicKey *rsa.PublicKey
	// Issuer is the iss every token must carry: NanoMQ uses the basename of
	// the public key file (see LoadPublicKey). Empty refuses every token.
	Issuer string
	// Leeway is how long after exp a token is still accepted; zero means
	// DefaultLeeway.
	Leeway time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	// Log receives one event per refusal with the specific reason (the
	// client only sees the code); nil means no logging.
	Log *slog.Logger

	mu       sync.Mutex
	accepted int
	refusals map[int]int
	srv      *http.Server
}

// Handler returns the API's HTTP handler. All handlers of one API share its
// counters.
func (a *API) Handler() http.Handler {
	return http.HandlerFunc(a.serveHTTP)
}

// Accepted returns how many requests were answered with code 0.
func (a *API) Accepted() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.accepted
}

// Refusals returns how many requests were answered with each non-zero
// NanoMQ code, e.g. map[int]int{116: 1}. Requests refused with 431 for their
// size carry no NanoMQ code and are not counted.
func (a *API) Refusals() map[int]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[int]int, len(a.refusals))
	for code, n := range a.refusals {
		m[code] = n
	}
	return m
}

func (a *API) count(code int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if code == CodeOK {
		a.accepted++
		return
	}
	if a.refusals == nil {
		a.refusals = make(map[int]int)
	}
	a.refusals[code]++
}

// refusal is one refused request: what the client is told (status, code) and
// what the log says (reason).
type refusal struct {
	status int
	code   int
	reason string
}

func (a *API) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if n := headerSize(r); n > MaxHeaderBytes {
		a.event("request refused", "status", http.StatusRequestHeaderFieldsTooLarge, "header_bytes", n)
		http.Error(w, "431 request header fields too large", http.StatusRequestHeaderFieldsTooLarge)
		return
	}
	if ref := a.check(r); ref != nil {
		a.refuse(w, r, ref)
		return
	}
	a.route(w, r)
}

// check applies the chunked-body rule, then the credential check.
func (a *API) check(r *http.Request) *refusal {
	if isChunked(r) {
		return &refusal{http.StatusBadRequest, CodeRPCError, "chunked body: only Content-Length bodies are read"}
	}
	h := r.Header.Get("Authorization")
	if a.Mode == JWTMode {
		return a.checkBearer(h)
	}
	return a.checkBasic(h)
}

func (a *API) refuse(w http.ResponseWriter, r *http.Request, ref *refusal) {
	a.event("request refused", "method", r.Method, "path", r.URL.Path,
		"status", ref.status, "code", ref.code, "reason", ref.reason)
	if ref.code == CodeRPCError {
		// The unread chunked body would be taken for the next request.
		w.Header().Set("Connection", "close")
	}
	a.reply(w, ref.status, map[string]any{"code": ref.code})
}

// reply writes v as JSON and counts its code.
func (a *API) reply(w http.ResponseWriter, status int, v map[string]any) {
	code, _ := v["code"].(int)
	a.count(code)
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"code":102}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// event logs msg with args to a.Log, if set.
func (a *API) event(msg string, args ...any) {
	if a.Log != nil {
		a.Log.Info(msg, args...)
	}
}

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *API) leeway() time.Duration {
	if a.Leeway == 0 {
		return DefaultLeeway
	}
	return a.Leeway
}
