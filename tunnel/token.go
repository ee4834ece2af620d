package tunnel

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/loopgate/loopgate/keys"
)

// TokenRequest is the global request a client sends for a short-lived
// token for one service. The request payload is an SSH string, the service
// name; a granted request is answered with tokenReply, a refused one with
// a bare failure (the reason goes to the audit log, not to the peer).
const TokenRequest = "token@loopgate"

type tokenRequestMsg struct {
	Service string
}

type tokenReply struct {
	Token    string
	ID       string
	Expiry   uint64 // Unix seconds, on the gateway's clock
	Lifetime uint64 // seconds from issue to expiry, whatever the clocks say
}

// Token rate limit per connection: a burst, then one per interval.
const (
	tokenBurst    = 5
	tokenInterval = 6 * time.Second
)

// WithTokens returns a copy of r that mints tokens with key for the
// services that have a profile. Each profile is checked against the key.
func (r *Rules) WithTokens(key *keys.TokenKey, profiles map[string]keys.TokenProfile) (*Rules, error) {
	out := *r
	out.tokenKey, out.profiles = key, map[string]keys.TokenProfile{}
	for svc, p := range profiles {
		if p.Kind == "none" {
			continue
		}
		if key == nil {
			return nil, fmt.Errorf("service %q has token profile %s but no TokenKey is set", svc, p.Kind)
		}
		if err := key.ValidateProfile(p); err != nil {
			return nil, fmt.Errorf("service %q token profile: %w", svc, err)
		}
		out.profiles[svc] = p
	}
	return &out, nil
}

// bucket is a small token-bucket rate limiter; its zero value is full.
type bucket struct {
	mu    sync.Mutex
	used  float64
	since time.Time
}

func (b *bucket) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.since.IsZero() {
		b.used = max(0, b.used-float64(now.Sub(b.since))/float64(tokenInterval))
	}
	b.since = now
	if b.used+1 > tokenBurst {
		return false
	}
	b.used++
	return true
}

var (
	errRateLimited = errors.New("token requests rate-limited")
	errNoProfile   = errors.New("service has no token profile")
)

// parseTokenRequest decodes a token request payload: the service name.
func parseTokenRequest(payload []byte) (string, error) {
	var req tokenRequestMsg
	if err := ssh.Unmarshal(payload, &req); err != nil {
		return "", fmt.Errorf("token request payload: %w", err)
	}
	return req.Service, nil
}

// answerToken mints a token for a service this connection's key may open
// now, and audits it by jti, subject, service and expiry, never its value.
func (c *gwConn) answerToken(r *ssh.Request) {
	tok, svc, err := keys.Token{}, "", error(nil)
	if svc, err = parseTokenRequest(r.Payload); err == nil {
		tok, err = c.mintToken(svc)
	}
	if err != nil {
		c.log.Info("token denied", "service", clean(svc), "reason", clean(err.Error()))
		r.Reply(false, nil)
		return
	}
	c.log.Info("token issued", "service", svc, "sub", tok.Subject, "jti", tok.ID,
		"expires", tok.Expiry.UTC().Format(time.RFC3339))
	r.Reply(true, ssh.Marshal(tokenReply{Token: tok.Value, ID: tok.ID, Expiry: uint64(tok.Expiry.Unix()),
		Lifetime: uint64(tok.Expiry.Sub(tok.IssuedAt) / time.Second)}))
}

func (c *gwConn) mintToken(service string) (keys.Token, error) {
	rules := c.g.rules.Load()
	if err := c.admitted(rules); err != nil {
		return keys.Token{}, err
	}
	k, _ := rules.lookup(c.who.Load().pub)
	s, ok := rules.Policy.Service(service)
	if !ok {
		return keys.Token{}, fmt.Errorf("no such service %q", service)
	}
	if _, err := rules.Policy.Check(k, s.Name, uint32(s.Addr.Port())); err != nil {
		return keys.Token{}, err
	}
	prof, ok := rules.profiles[s.Name]
	if !ok {
		return keys.Token{}, errNoProfile
	}
	if !c.tokens.allow(c.g.now()) {
		return keys.Token{}, errRateLimited
	}
	return rules.tokenKey.Mint(prof, s.Name, k.Name, c.g.now())
}

// Token is what a client gets back: the value to send as a Bearer token,
// its id and its expiry.
type Token struct {
	Value    string
	ID       string
	Expiry   time.Time     // on the gateway's clock
	Lifetime time.Duration // from issue to expiry
}

// ErrNoToken means the gateway refused to mint: the service is not granted
// to this key, has no token profile, or requests were rate-limited. The
// gateway's audit log says which.
var ErrNoToken = errors.New("the gateway refused to issue a token (service not granted, no token profile, or rate-limited; see the gateway's audit log)")

// RequestToken asks the gateway for a token for service.
func (c *Client) RequestToken(ctx context.Context, service string) (Token, error) {
	conn, err := c.SSH(ctx)
	if err != nil {
		return Token{}, err
	}
	type result struct {
		ok      bool
		payload []byte
		err     error
	}
	done := make(chan result, 1)
	go func() { // ends when the reply arrives or the connection closes
		ok, p, err := conn.SendRequest(TokenRequest, true, ssh.Marshal(tokenRequestMsg{Service: service}))
		done <- result{ok, p, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		return Token{}, ctx.Err()
	}
	switch {
	case res.err != nil:
		return Token{}, fmt.Errorf("%w: %w", ErrDown, res.err)
	case !res.ok:
		return Token{}, fmt.Errorf("token for %s: %w", service, ErrNoToken)
	}
	var reply tokenReply
	if err := ssh.Unmarshal(res.payload, &reply); err != nil || reply.Token == "" || reply.Lifetime == 0 || reply.Lifetime > 1<<31 {
		return Token{}, fmt.Errorf("token for %s: malformed reply", service)
	}
	return Token{Value: reply.Token, ID: reply.ID, Expiry: time.Unix(int64(reply.Expiry), 0),
		Lifetime: time.Duration(reply.Lifetime) * time.Second}, nil
}
