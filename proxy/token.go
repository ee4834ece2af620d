package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Refresher is a Credential whose value can go stale, such as a cached
// short-lived token: Invalidate drops the value that was sent as stale, so
// the next Authorization gets a fresh one.
type Refresher interface {
	Credential
	Invalidate(stale string)
}

// MintFunc obtains a new bearer token and its lifetime.
type MintFunc func(ctx context.Context) (token string, lifetime time.Duration, err error)

// TokenCache is a Credential for short-lived bearer tokens. It mints on
// first use, reuses the token until less than a third of its lifetime is
// left, then mints again. The lifetime is measured on this machine's clock
// from when the token arrived, so clock skew with the device does not
// matter.
type TokenCache struct {
	mint MintFunc
	now  func() time.Time

	mu        sync.Mutex
	value     string
	refreshAt time.Time
}

// NewTokenCache returns a cache around mint. now may be nil (time.Now).
func NewTokenCache(mint MintFunc, now func() time.Time) *TokenCache {
	if now == nil {
		now = time.Now
	}
	return &TokenCache{mint: mint, now: now}
}

// Authorization returns "Bearer <token>", minting when needed.
func (c *TokenCache) Authorization(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.value != "" && c.now().Before(c.refreshAt) {
		return "Bearer " + c.value, nil
	}
	tok, life, err := c.mint(ctx)
	if err != nil {
		return "", err
	}
	if tok == "" || life <= 0 {
		return "", errors.New("minted token is empty or already expired")
	}
	c.value, c.refreshAt = tok, c.now().Add(life*2/3)
	return "Bearer " + c.value, nil
}

// Invalidate forgets the cached token if it is the one that was sent.
func (c *TokenCache) Invalidate(stale string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if stale == "Bearer "+c.value {
		c.value = ""
	}
}

// String, Format and LogValue never show the token, whatever the verb
// (%#v and %+v would otherwise print the struct's fields; fmt asks Format
// before GoString or String).
func (c *TokenCache) String() string             { return tokenCacheRedacted }
func (c *TokenCache) Format(f fmt.State, _ rune) { io.WriteString(f, tokenCacheRedacted) }
func (c *TokenCache) LogValue() slog.Value       { return slog.StringValue(tokenCacheRedacted) }

const tokenCacheRedacted = "TokenCache[redacted]"

// nanoMQExpired is NanoMQ's error code for a valid but expired token.
const nanoMQExpired = 116

// remint wraps a transport: when the API answers 401 with NanoMQ's
// "expired" code to an idempotent request whose body can be replayed, it
// drops the cached token, mints a new one and retries exactly once.
type remint struct {
	base http.RoundTripper
	cred Credential
	log  *slog.Logger
}

func (t *remint) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	ref, ok := t.cred.(Refresher)
	if err != nil || !ok || resp.StatusCode != http.StatusUnauthorized || !replayable(req) {
		return resp, err
	}
	expired, err := peekExpired(resp)
	if err != nil {
		return nil, err // peekExpired closed the body
	}
	if !expired {
		return resp, nil
	}
	stale := req.Header.Get("Authorization")
	ref.Invalidate(stale)
	auth, err := t.cred.Authorization(req.Context())
	if err != nil {
		resp.Body.Close()
		return nil, fmt.Errorf("re-mint after an expired token: %w", err)
	}
	retry := req.Clone(req.Context())
	retry.Header.Set("Authorization", auth)
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			resp.Body.Close()
			return nil, err
		}
	}
	resp.Body.Close()
	t.log.LogAttrs(req.Context(), slog.LevelInfo, "token expired at the API; retrying once with a new one",
		slog.String("method", req.Method), slog.String("path", req.URL.Path))
	return t.base.RoundTrip(retry)
}

// replayable: an idempotent method, and no body or one we can send again.
func replayable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
	default:
		return false
	}
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// peekExpired reads the start of a 401 body to see NanoMQ's code, and puts
// what it read back in front of the rest.
func peekExpired(resp *http.Response) (bool, error) {
	head := make([]byte, 256)
	n, err := io.ReadFull(resp.Body, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		resp.Body.Close()
		return false, err
	}
	head = head[:n]
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	var body struct {
		Code int `json:"code"`
	}
	return json.Unmarshal(bytes.TrimSpace(head), &body) == nil && body.Code == nanoMQExpired, nil
}
