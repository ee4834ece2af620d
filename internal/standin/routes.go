package standin

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// Version is the NanoMQ version the stand-in reports.
const Version = "0.25.0"

// MaxBodyBytes bounds the body POST /api/v4/reload reads.
const MaxBodyBytes = 1 << 20

// endpoints is the list GET /api/v4 answers, shaped like NanoMQ's.
var endpoints = []map[string]string{
	{"path": "/brokers/", "name": "list_brokers", "method": "GET", "descr": "A list of brokers in the cluster"},
	{"path": "/nodes/", "name": "list_nodes", "method": "GET", "descr": "A list of nodes in the cluster"},
	{"path": "/reload/", "name": "set_hot_updatable_configuration", "method": "POST", "descr": "set the configuration that can be hot updated"},
}

// route dispatches an authorised request. Like NanoMQ it matches the method
// case-insensitively and allows one trailing slash after an endpoint name.
func (a *API) route(w http.ResponseWriter, r *http.Request) {
	name := endpoint(r.URL.Path)
	switch method := strings.ToUpper(r.Method); {
	case method == http.MethodGet && name == "/":
		a.reply(w, http.StatusOK, map[string]any{"code": CodeOK, "data": endpoints})
	case method == http.MethodGet && name == "brokers":
		a.reply(w, http.StatusOK, map[string]any{"code": CodeOK, "data": []map[string]any{brokerInfo(a.now())}})
	case method == http.MethodGet && name == "nodes":
		a.reply(w, http.StatusOK, map[string]any{"code": CodeOK, "data": []map[string]any{nodeInfo()}})
	case method == http.MethodPost && name == "reload":
		a.reload(w, r)
	case method == http.MethodGet || method == http.MethodPost:
		a.refuse(w, r, &refusal{http.StatusNotFound, CodeUnknown, "no such endpoint"})
	default:
		a.refuse(w, r, &refusal{http.StatusMethodNotAllowed, CodeUnknown, "method not allowed"})
	}
}

// endpoint returns "/" for /api/v4 itself, "brokers" for /api/v4/brokers
// or /api/v4/brokers/, and "" for any other path.
func endpoint(path string) string {
	if path == "/api/v4" {
		return "/"
	}
	rest, ok := strings.CutPrefix(path, "/api/v4/")
	rest = strings.TrimSuffix(rest, "/")
	if !ok || strings.Contains(rest, "/") {
		return ""
	}
	return rest
}

// reload reads a JSON body by Content-Length and says how long it was.
func (a *API) reload(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > MaxBodyBytes {
		a.refuse(w, r, &refusal{http.StatusRequestEntityTooLarge, CodeRPCError, "body over MaxBodyBytes"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes))
	if err != nil {
		a.refuse(w, r, &refusal{http.StatusBadRequest, CodeRPCError, "read body: " + err.Error()})
		return
	}
	if !json.Valid(body) {
		a.refuse(w, r, &refusal{http.StatusBadRequest, CodeBadJSON, "body is not JSON"})
		return
	}
	a.reply(w, http.StatusOK, map[string]any{"code": CodeOK, "data": map[string]any{"length": len(body)}})
}

func brokerInfo(now time.Time) map[string]any {
	return map[string]any{
		"datetime": now.Format(time.DateTime), "node_status": "Running", "sysdescr": "NanoMQ Broker (stand-in)",
		"uptime": "1 Hours, 2 minutes, 3 seconds", "version": Version,
	}
}

func nodeInfo() map[string]any {
	return map[string]any{"connections": 0, "node_status": "Running", "uptime": "1 Hours, 2 minutes, 3 seconds", "version": Version}
}
