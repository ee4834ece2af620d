package standin

import (
	"maps"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestCounters(t *testing.T) {
	a := jwtAPI(t)
	h := a.Handler()
	good := "Bearer " + signRS256(t, claims(nil))
	requests := []struct{ method, path, auth, body string }{
		{"GET", "/api/v4/brokers", good, ""},
		{"GET", "/api/v4/nodes", good, ""},
		{"POST", "/api/v4/reload", good, "{}"},
		{"GET", "/api/v4/brokers", "", ""},
		{"GET", "/api/v4/brokers", "bearer x", ""},
		{"GET", "/api/v4/brokers", "Bearer x", ""},
		{"GET", "/api/v4/brokers", "Bearer " + signRS256(t, claims(func(c jwt.MapClaims) { c["exp"] = testNow.Add(-time.Hour).Unix() })), ""},
		{"GET", "/api/v4/brokers", "Bearer " + signRS256(t, claims(func(c jwt.MapClaims) { c["bodyEncode"] = 1 })), ""},
		{"GET", "/api/v4/missing", good, ""},
	}
	for _, r := range requests {
		call(t, h, r.method, r.path, r.auth, r.body)
	}
	if got := a.Accepted(); got != 3 {
		t.Errorf("Accepted: got %d, want 3", got)
	}
	want := map[int]int{CodeNoCredential: 2, CodeWrongCredential: 1, CodeTokenExpired: 1, CodeBodyEncode: 1, CodeUnknown: 1}
	if got := a.Refusals(); !maps.Equal(got, want) {
		t.Errorf("Refusals: got %v, want %v", got, want)
	}
}

func TestCountersStartEmpty(t *testing.T) {
	a := &API{}
	if got := a.Accepted(); got != 0 {
		t.Errorf("Accepted: got %d, want 0", got)
	}
	if got := a.Refusals(); len(got) != 0 {
		t.Errorf("Refusals: got %v, want empty", got)
	}
}

// TestRefusalsIsACopy: changing the returned map changes nothing.
func TestRefusalsIsACopy(t *testing.T) {
	a := &API{User: "admin", Password: "public"}
	call(t, a.Handler(), "GET", "/api/v4", "", "")
	a.Refusals()[CodeNoCredential] = 99
	if got := a.Refusals()[CodeNoCredential]; got != 1 {
		t.Errorf("Refusals()[104]: got %d, want 1", got)
	}
}
