package standin

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// raw sends a raw HTTP/1.1 request to addr and returns the response.
func raw(t testing.TB, addr, req string) result {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatalf("write request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return decode(t, resp.StatusCode, body)
}

func TestHeaderLimit(t *testing.T) {
	addr := serve(t, &API{User: "admin", Password: "public"})
	tests := []struct {
		name   string
		pad    int // bytes of an extra header value
		status int
	}{
		{"small", 100, http.StatusOK},
		{"just under 8 KiB", 7900, http.StatusOK},
		{"just over 8 KiB", 8200, http.StatusRequestHeaderFieldsTooLarge},
		{"12 KiB, refused by net/http itself", 12 << 10, http.StatusRequestHeaderFieldsTooLarge},
		{"64 KiB", 64 << 10, http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := fmt.Sprintf("GET /api/v4/brokers HTTP/1.1\r\nHost: standin\r\nAuthorization: %s\r\nX-Pad: %s\r\nConnection: close\r\n\r\n",
				basic("admin", "public"), strings.Repeat("a", tt.pad))
			if got := raw(t, addr, req); got.status != tt.status {
				t.Errorf("%d-byte request: got %d, want %d", len(req), got.status, tt.status)
			}
		})
	}
}

func TestHeaderSizeBoundary(t *testing.T) {
	a := &API{User: "admin", Password: "public"}
	addr := serve(t, a)
	head := "GET /api/v4/brokers HTTP/1.1\r\nHost: standin\r\nAuthorization: " + basic("admin", "public") + "\r\nX-Pad: "
	tail := "\r\n\r\n"
	pad := MaxHeaderBytes - len(head) - len(tail)
	if got := raw(t, addr, head+strings.Repeat("a", pad)+tail); got.status != http.StatusOK {
		t.Errorf("%d bytes: got %d, want 200", MaxHeaderBytes, got.status)
	}
	if got := raw(t, addr, head+strings.Repeat("a", pad+1)+tail); got.status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("%d bytes: got %d, want 431", MaxHeaderBytes+1, got.status)
	}
}

func TestChunkedBody(t *testing.T) {
	a := &API{User: "admin", Password: "public"}
	addr := serve(t, a)
	auth := basic("admin", "public")
	tests := []struct {
		name   string
		req    string
		status int
		code   int
	}{
		{"content-length", "POST /api/v4/reload HTTP/1.1\r\nHost: s\r\nAuthorization: " + auth +
			"\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", http.StatusOK, CodeOK},
		{"chunked", "POST /api/v4/reload HTTP/1.1\r\nHost: s\r\nAuthorization: " + auth +
			"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", http.StatusBadRequest, CodeRPCError},
		{"chunked without credentials", "POST /api/v4/reload HTTP/1.1\r\nHost: s\r\n" +
			"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", http.StatusBadRequest, CodeRPCError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := raw(t, addr, tt.req); got.status != tt.status || got.code != tt.code {
				t.Errorf("got %d {code:%d}, want %d {code:%d}", got.status, got.code, tt.status, tt.code)
			}
		})
	}
}

// TestChunkedFromGoClient: Go's client sends a body of unknown length
// chunked, and the stand-in refuses it.
func TestChunkedFromGoClient(t *testing.T) {
	addr := serve(t, &API{User: "admin", Password: "public"})
	req, err := http.NewRequest("POST", "http://"+addr+"/api/v4/reload", io.MultiReader(strings.NewReader("{}")))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Authorization", basic("admin", "public"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if got := decode(t, resp.StatusCode, body); got.status != http.StatusBadRequest || got.code != CodeRPCError {
		t.Errorf("got %d {code:%d}, want 400 {code:101}", got.status, got.code)
	}
}

func TestCloseBeforeServe(t *testing.T) {
	a := &API{User: "admin", Password: "public"}
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	if err := a.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve after Close: got %v, want http.ErrServerClosed", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Errorf("dial after Serve returned: got a connection, want the listener closed")
	}
}
