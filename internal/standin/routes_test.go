package standin

import (
	"net/http"
	"testing"
)

func TestRoutes(t *testing.T) {
	good := basic("admin", "public")
	tests := []struct {
		name   string
		method string
		path   string
		auth   string
		body   string
		status int
		code   int
	}{
		{"endpoint list", "GET", "/api/v4", good, "", http.StatusOK, CodeOK},
		{"brokers", "GET", "/api/v4/brokers", good, "", http.StatusOK, CodeOK},
		{"brokers trailing slash", "GET", "/api/v4/brokers/", good, "", http.StatusOK, CodeOK},
		{"brokers with query", "GET", "/api/v4/brokers?limit=1", good, "", http.StatusOK, CodeOK},
		{"nodes", "GET", "/api/v4/nodes", good, "", http.StatusOK, CodeOK},
		{"lowercase method", "get", "/api/v4/nodes", good, "", http.StatusOK, CodeOK},
		{"reload", "POST", "/api/v4/reload", good, `{"log":{"level":"debug"}}`, http.StatusOK, CodeOK},
		{"reload not json", "POST", "/api/v4/reload", good, `level=debug`, http.StatusBadRequest, CodeBadJSON},
		{"reload no body", "POST", "/api/v4/reload", good, "", http.StatusBadRequest, CodeBadJSON},
		{"unknown get", "GET", "/api/v4/clients", good, "", http.StatusNotFound, CodeUnknown},
		{"root slash", "GET", "/api/v4/", good, "", http.StatusNotFound, CodeUnknown},
		{"nested", "GET", "/api/v4/brokers/x", good, "", http.StatusNotFound, CodeUnknown},
		{"outside api", "GET", "/", good, "", http.StatusNotFound, CodeUnknown},
		{"unknown post", "POST", "/api/v4/ctrl/stop", good, "{}", http.StatusNotFound, CodeUnknown},
		{"get reload", "GET", "/api/v4/reload", good, "", http.StatusNotFound, CodeUnknown},
		{"delete", "DELETE", "/api/v4/brokers", good, "", http.StatusMethodNotAllowed, CodeUnknown},
		{"credentials before routing", "GET", "/api/v4/clients", "", "", http.StatusUnauthorized, CodeNoCredential},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &API{User: "admin", Password: "public"}
			got := call(t, a.Handler(), tt.method, tt.path, tt.auth, tt.body)
			if got.status != tt.status || got.code != tt.code {
				t.Errorf("got %d {code:%d}, want %d {code:%d}", got.status, got.code, tt.status, tt.code)
			}
		})
	}
}

func TestBrokersBody(t *testing.T) {
	a := &API{User: "admin", Password: "public"}
	got := call(t, a.Handler(), "GET", "/api/v4/brokers", basic("admin", "public"), "")
	data, _ := got.body["data"].([]any)
	if len(data) != 1 {
		t.Fatalf("data: got %v, want one broker", got.body["data"])
	}
	broker, _ := data[0].(map[string]any)
	if broker["node_status"] != "Running" || broker["version"] != Version {
		t.Errorf("broker: got %v, want node_status Running and version %s", broker, Version)
	}
}

func TestReloadEchoesLength(t *testing.T) {
	a := &API{User: "admin", Password: "public"}
	body := `{"log":{"level":"debug"}}`
	got := call(t, a.Handler(), "POST", "/api/v4/reload", basic("admin", "public"), body)
	data, _ := got.body["data"].(map[string]any)
	if n, _ := data["length"].(float64); int(n) != len(body) {
		t.Errorf("length: got %v, want %d", data["length"], len(body))
	}
}
