package wsmcp_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcpws/mcpws/wsmcp"
)

// A refused handshake surfaces the server's status and headers.
func TestClientDialError(t *testing.T) {
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	defer refuse.Close()
	redirect := httptest.NewServer(http.RedirectHandler("http://example.invalid/mcp", http.StatusFound))
	defer redirect.Close()

	tests := []struct {
		name   string
		url    string
		status int
	}{
		{"401 with WWW-Authenticate", refuse.URL, http.StatusUnauthorized},
		{"redirect not followed", redirect.URL, http.StatusFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := (&wsmcp.ClientTransport{URL: "ws" + strings.TrimPrefix(tt.url, "http")}).Connect(ctx)
			var de *wsmcp.DialError
			if !errors.As(err, &de) || de.StatusCode != tt.status {
				t.Fatalf("Connect error = %v, want DialError with status %d", err, tt.status)
			}
			if tt.status == http.StatusUnauthorized && de.Header.Get("WWW-Authenticate") == "" {
				t.Error("WWW-Authenticate not surfaced")
			}
		})
	}
}

// The client's subprotocol offer leads with "mcp" and keeps extra entries.
func TestClientSubprotocols(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Sec-WebSocket-Protocol")
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer srv.Close()
	_, err := (&wsmcp.ClientTransport{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Subprotocols: []string{"mcp.version.2025-11-25"}}).Connect(context.Background())
	if err == nil {
		t.Fatal("Connect succeeded against a refusing server")
	}
	if p := <-got; p != "mcp,mcp.version.2025-11-25" {
		t.Errorf("offered %q", p)
	}
}
