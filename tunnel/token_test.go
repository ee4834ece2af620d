package tunnel

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/loopgate/loopgate/keys"
)

func newTokenKey(t testing.TB) *keys.TokenKey {
	t.Helper()
	path := filepath.Join(t.TempDir(), keys.DefaultTokenKeyName)
	if err := keys.GenerateTokenKey(path); err != nil {
		t.Fatal(err)
	}
	k, err := keys.LoadTokenKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestTokenRequest(t *testing.T) {
	up, _ := echoServer(t)
	other, _ := echoServer(t)
	alice := newSigner(t)
	tg := startGateway(t, map[string]string{"nanomq": up, "other": other, "plain": "127.0.0.1:9"},
		map[string][]string{"alice": {"nanomq", "plain"}},
		[]keys.AuthorizedKey{entry(alice, "alice", keys.Options{})})
	key := newTokenKey(t)
	rules, err := tg.gw.rules.Load().WithTokens(key, map[string]keys.TokenProfile{
		"nanomq": {Kind: "nanomq", TTL: 2 * time.Minute},
		"other":  {Kind: "nanomq"},
		"plain":  {Kind: "none"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tg.gw.SetRules(rules)
	c, _ := newTestClient(t, tg.addr, tg.hostKey.PublicKey(), alice, nil)
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	tok, err := c.RequestToken(ctx, "nanomq")
	if err != nil {
		t.Fatalf("RequestToken(nanomq): %v", err)
	}
	if tok.Lifetime != 2*time.Minute {
		t.Errorf("lifetime: got %s, want 2m", tok.Lifetime)
	}
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(tok.Value, claims, func(*jwt.Token) (any, error) { return key.Signer.Public(), nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer("jwtRS256.key.pub"), jwt.WithSubject("alice"))
	if err != nil {
		t.Fatalf("minted token does not verify: %v", err)
	}
	if claims["jti"] != tok.ID {
		t.Errorf("jti: got %v, want %s", claims["jti"], tok.ID)
	}

	for _, svc := range []string{"other", "plain", "nope"} {
		if _, err := c.RequestToken(ctx, svc); !errors.Is(err, ErrNoToken) {
			t.Errorf("RequestToken(%s): got %v, want ErrNoToken", svc, err)
		}
	}
	tg.log.waitFor(t, "token issued", "jti="+tok.ID, "sub=alice", "token denied", "service not granted", "no token profile")

	// The burst is 5; one was used above.
	var limited error
	for range 5 {
		if _, limited = c.RequestToken(ctx, "nanomq"); limited != nil {
			break
		}
	}
	if !errors.Is(limited, ErrNoToken) {
		t.Fatalf("6th token request in a burst: got %v, want ErrNoToken", limited)
	}
	tg.log.waitFor(t, "rate-limited")
	if strings.Contains(tg.log.String(), tok.Value) {
		t.Fatal("the audit log contains a token")
	}
}

func TestBucket(t *testing.T) {
	var b bucket
	now := time.Unix(0, 0)
	for i := range tokenBurst {
		if !b.allow(now) {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	if b.allow(now) {
		t.Fatal("request past the burst allowed")
	}
	if !b.allow(now.Add(tokenInterval)) {
		t.Fatal("request one interval later refused")
	}
	if b.allow(now.Add(tokenInterval)) {
		t.Fatal("second request one interval later allowed")
	}
}
