// Package standin is a small stand-in for a device's admin HTTP API, shaped
// like NanoMQ's REST API on port 8081, for the demo and the tests. It is
// never shipped as a product feature.
package standin

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
)

// API serves a few NanoMQ-style endpoints behind HTTP Basic credentials.
type API struct {
	// User and Password are the accepted Basic credentials (NanoMQ's
	// defaults are admin / public).
	User, Password string
}

// Handler returns the API's HTTP handler.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v4/brokers", a.auth(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"code": 0, "data": []map[string]any{{
			"datetime": "2026-11-25 00:00:00", "node_status": "Running", "sysdescr": "NanoMQ Broker (stand-in)",
			"uptime": "1 hours, 2 minutes, 3 seconds", "version": "0.25.0",
		}}})
	}))
	mux.HandleFunc("GET /api/v4", a.auth(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"code": 0, "data": []string{"/api/v4/brokers"}})
	}))
	return mux
}

// auth checks Basic credentials; NanoMQ answers a missing or wrong header
// with 401 and {"code":104}.
func (a *API) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(a.User))&subtle.ConstantTimeCompare([]byte(p), []byte(a.Password)) != 1 {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 104})
			return
		}
		next(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
