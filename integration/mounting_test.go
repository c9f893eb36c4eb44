package integration

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

// docs/mounting.md opens with examples/chi/main.go, word for word, so that
// the program a reader copies is the one that builds here.
func TestMountingDocIsTheChiExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/mounting.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../examples/chi/main.go")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```go\n")
	block, _, ok2 := strings.Cut(rest, "```\n")
	if !ok || !ok2 {
		t.Fatal("docs/mounting.md has no Go block")
	}
	if block != string(src) {
		t.Fatal("the first Go block of docs/mounting.md differs from examples/chi/main.go: copy the file into the doc")
	}
}

// The complete chi program of docs/mounting.md serves what it promises:
// REST beside MCP, authentication with audience binding, the Origin
// allow-list, readiness, the caller's identity in the tool, and a drain
// that turns readiness off first.
func TestChiExample(t *testing.T) {
	const resource = "https://mcp.example.com/mcp"
	p := startExample(t, "chi", []string{"JWT_SECRET=" + testSecret})
	base := "http://" + p.addr
	get := func(path string, h http.Header) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, c := range []struct {
		name, path string
		header     http.Header
		want       int
	}{
		{"REST route", "/api/notes", nil, http.StatusOK},
		{"ready", "/readyz", nil, http.StatusOK},
		{"metadata", "/.well-known/oauth-protected-resource/mcp", nil, http.StatusOK},
		{"no token", "/mcp", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-WebSocket-Version": {"13"}, "Sec-WebSocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}, http.StatusUnauthorized},
		{"other origin", "/mcp", http.Header{"Origin": {"https://evil.example"}, "Authorization": {"Bearer " + testToken(t, "ada", resource, "")}}, http.StatusForbidden},
		{"other audience", "/mcp", http.Header{"Authorization": {"Bearer " + testToken(t, "ada", "https://other.example/mcp", "")}}, http.StatusUnauthorized},
	} {
		if got := get(c.path, c.header).StatusCode; got != c.want {
			t.Errorf("%s: GET %s = %d, want %d", c.name, c.path, got, c.want)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "go", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &wsmcp.ClientTransport{URL: "ws://" + p.addr + "/mcp",
		Header: http.Header{"Authorization": {"Bearer " + testToken(t, "ada", resource, "")}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "Bob"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; got != "Hello, Bob, from ada" {
		t.Errorf("greet = %q", got)
	}

	// SIGTERM: readiness turns 503 during the drain delay, while the
	// session still works.
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(4 * time.Second)
	for get("/readyz", nil).StatusCode != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not turn 503 after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "Bob"}}); err != nil {
		t.Errorf("a call during the drain delay: %v", err)
	}
}
