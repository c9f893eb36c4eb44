//go:build linux

package integration

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/policy"
	"github.com/mcpws/mcpws/wsmcp"
)

// `mcpws serve -policy FILE` enforces the policy on the messages it relays
// to a stdio server it does not own, over WebSocket and Streamable HTTP:
// each caller lists only its tools, a call outside the policy is answered
// by the gateway with the missing scopes (the process never sees it), a
// name that differs by case is not the allowed one, and a rule's rate
// bounds each caller's calls.
func TestGatewayPolicy(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(file, []byte(`{"default": "deny", "claim": "roles", "rules": [
		{"tools": ["echo", "whoami"], "scopes": ["read"]},
		{"tools": ["increment"], "scopes": ["read", "write"], "rate": {"calls": 2, "per": "1m"}},
		{"tools": ["increment"], "values": ["admin"]}
	]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startGateway(t, []string{"JWT_SECRET=" + testSecret}, append([]string{"-audience", testAudience, "-policy", file, "-audit"}, everythingChild()...)...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	connect := func(t *testing.T, transport, tok string) *mcp.ClientSession {
		var tr mcp.Transport = &wsmcp.ClientTransport{URL: "ws://" + p.addr + "/mcp", Header: http.Header{"Authorization": {"Bearer " + tok}}}
		if transport == "http" {
			tr = &mcp.StreamableClientTransport{Endpoint: "http://" + p.addr + "/mcp", MaxRetries: -1,
				HTTPClient: &http.Client{Transport: headerRoundTripper{"Authorization": "Bearer " + tok}}}
		}
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx, tr, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.Close() })
		return cs
	}
	code := func(err error) int64 {
		var je *jsonrpc.Error
		if errors.As(err, &je) {
			return je.Code
		}
		return 0
	}
	for _, transport := range []string{"ws", "http"} {
		t.Run(transport, func(t *testing.T) {
			reader := connect(t, transport, testToken(t, "reader-"+transport, testAudience, "read"))
			var names []string
			for tool, err := range reader.Tools(ctx, nil) {
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, tool.Name)
			}
			slices.Sort(names)
			if !slices.Equal(names, []string{"echo", "whoami"}) {
				t.Errorf("reader lists %v, want [echo whoami]", names)
			}
			if res, err := reader.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}}); err != nil || res.IsError {
				t.Errorf("reader's echo: %v %v", res, err)
			}
			for _, name := range []string{"increment", "Echo"} {
				if _, err := reader.CallTool(ctx, &mcp.CallToolParams{Name: name}); code(err) != policy.CodeInsufficientScope {
					t.Errorf("reader's %s: %v, want code %d", name, err, policy.CodeInsufficientScope)
				}
			}
			writer := connect(t, transport, testToken(t, "writer-"+transport, testAudience, "read write"))
			for i := range 2 {
				if _, err := writer.CallTool(ctx, &mcp.CallToolParams{Name: "increment"}); err != nil {
					t.Fatalf("writer's increment %d: %v", i, err)
				}
			}
			if _, err := writer.CallTool(ctx, &mcp.CallToolParams{Name: "increment"}); code(err) != policy.CodeRateLimited {
				t.Errorf("writer's third increment: %v, want code %d", err, policy.CodeRateLimited)
			}
			// A role in the token's roles claim, which the gateway's verifier
			// passes on for the policy, allows without any scope.
			tok, _ := jwt.NewBuilder().Subject("admin-"+transport).Audience([]string{testAudience}).
				Expiration(time.Now().Add(time.Hour)).Claim("roles", []string{"admin"}).Build()
			signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, []byte(testSecret)))
			if err != nil {
				t.Fatal(err)
			}
			if res, err := connect(t, transport, string(signed)).CallTool(ctx, &mcp.CallToolParams{Name: "increment", Arguments: map[string]any{"key": "k"}}); err != nil || res.IsError {
				t.Errorf("admin's increment: %v %v", res, err)
			}
			// -audit: one record per call, refusals included, matched to
			// the process's answers.
			transportName := map[string]string{"ws": "websocket", "http": "http"}[transport]
			waitLogLine(t, p, `msg="mcpws: audit"`, "subject=reader-"+transport, "transport="+transportName, "name=echo", "outcome=ok")
			waitLogLine(t, p, `msg="mcpws: audit"`, "subject=reader-"+transport, "name=increment", "outcome=refused", "code=-32015")
			waitLogLine(t, p, `msg="mcpws: audit"`, "subject=writer-"+transport, "name=increment", "outcome=refused", "code=-32011")
			waitLogLine(t, p, `msg="mcpws: audit"`, "subject=admin-"+transport, "name=increment", "outcome=ok")
		})
	}
}

// waitLogLine waits for a line of p's log that has every one of parts.
func waitLogLine(t *testing.T, p *proc, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for line := range strings.Lines(p.Logs()) {
			if !slices.ContainsFunc(parts, func(part string) bool { return !strings.Contains(line, part) }) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with all of %q:\n%s", parts, p.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// headerRoundTripper sets headers on every request.
type headerRoundTripper map[string]string

func (h headerRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}
