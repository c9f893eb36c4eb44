package wsmcp_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcpws/mcpws/wsmcp"
)

// A refused handshake surfaces the server's status, headers and reason,
// in an error message a user can act on.
func TestClientDialError(t *testing.T) {
	t.Parallel()
	serve := func(status int, challenge, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if challenge != "" {
				w.Header().Set("WWW-Authenticate", challenge)
			}
			http.Error(w, body, status)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	redirect := httptest.NewServer(http.RedirectHandler("http://example.invalid/mcp", http.StatusFound))
	defer redirect.Close()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }))
	defer ok.Close()

	tests := []struct {
		name   string
		url    string
		status int
		want   []string
	}{
		{"401 with a challenge", serve(401, `Bearer resource_metadata="https://x/.well-known/oauth-protected-resource", error="invalid_token", error_description="the access token is invalid"`, "Unauthorized"),
			401, []string{"refused the connection: 401 Unauthorized", "(invalid_token: the access token is invalid)"}},
		{"403 with a reason", serve(403, "", "Forbidden: origin not allowed\nsecond line"), 403, []string{"403 Forbidden: origin not allowed"}},
		{"403 insufficient scope", serve(403, `Bearer error="insufficient_scope", scope="mcp"`, "Forbidden"), 403, []string{"(insufficient_scope)"}},
		{"429", serve(429, "", "Too Many Requests: upgrade rate exceeded"), 429, []string{"429 Too Many Requests: upgrade rate exceeded"}},
		{"404", serve(404, "", "404 page not found"), 404, []string{"no MCP WebSocket endpoint at this URL", "404"}},
		{"200", ok.URL, 200, []string{"no MCP WebSocket endpoint at this URL", "200"}},
		{"redirect not followed", redirect.URL, http.StatusFound, []string{"redirected (302)", "example.invalid", "not followed"}},
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
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, "expected handshake response") || strings.Contains(msg, "second line") {
				t.Errorf("error %q repeats the library's status line or the body's rest", msg)
			}
		})
	}
}

// The client's subprotocol offer leads with "mcp" and keeps extra entries.
func TestClientSubprotocols(t *testing.T) {
	t.Parallel()
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

// DialTimeout bounds the handshake, apart from the write timeout: against
// a server that accepts the connection and never answers the upgrade,
// Connect fails with a DialError once it passes, however long the caller's
// context and the write timeout.
func TestClientDialTimeout(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			held <- c // never answered
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		select {
		case c := <-held:
			c.Close()
		default:
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := (&wsmcp.ClientTransport{ConnOptions: wsmcp.ConnOptions{WriteTimeout: time.Minute}, URL: "ws://" + ln.Addr().String(), DialTimeout: 100 * time.Millisecond}).Connect(ctx)
		done <- err
	}()
	select {
	case err := <-done:
		var de *wsmcp.DialError
		if !errors.As(err, &de) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Connect = %v; want a DialError for the deadline", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the handshake was not bounded by DialTimeout")
	}
}
