package mcpws_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/policy"
	"github.com/mcpws/mcpws/wsmcp"
)

// Options.Policy holds over both transports: the policy's middleware is on
// every server, its scopes are in the metadata, and a Streamable HTTP call
// it refuses for want of scopes gets the step-up challenge of the MCP
// authorization spec (403, insufficient_scope, the scopes a new token
// needs), while over WebSocket the same call gets the policy's JSON-RPC
// error; with the scope, both pass.
func TestPolicyStepUp(t *testing.T) {
	p, err := policy.Parse([]byte(`{"default":"allow","rules":[{"tools":["whoami"],"scopes":["admin"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	audited := make(chan mcpws.AuditRecord, 16)
	s := newStack(t, func(o *mcpws.Options) {
		o.Policy = p
		o.Audit = &mcpws.AuditOptions{Sink: func(_ context.Context, r mcpws.AuditRecord) { audited <- r }}
	})
	tok := s.token(t, nil) // scope "mcp read"
	admin := s.token(t, func(tk jwt.Token) { _ = tk.Set("scope", "mcp admin") })

	h := bearer(tok)
	resp, _ := post(t, s.httpURL(), h, initialize)
	h.Set("Mcp-Session-Id", resp.Header.Get("Mcp-Session-Id"))
	h.Set("Mcp-Protocol-Version", "2025-11-25")
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami"}}`
	resp, body := post(t, s.httpURL(), h, call)
	want := `Bearer error="insufficient_scope", scope="admin mcp read", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"`
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("WWW-Authenticate") != want {
		t.Errorf("HTTP call without the scope: %d %q, challenge %q; want 403 with %q", resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"), want)
	}
	// Its body is the policy's JSON-RPC error, with the request's id.
	if !strings.HasPrefix(body, `{"jsonrpc":"2.0","id":2,"error":{"code":-32015,`) || !strings.Contains(body, `"scope":"admin"`) {
		t.Errorf("403 body %s", body)
	}
	// And it is audited, as a refusal over WebSocket is.
	if r := <-audited; r.Transport != "http" || r.Outcome != mcpws.AuditRefused || r.Name != "whoami" || r.Subject != "alice" || r.Session == "" {
		t.Errorf("audit record of the 403: %+v", r)
	}
	// The refused request left the session as it was: it still serves.
	if resp, body := post(t, s.httpURL(), h, `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`); resp.StatusCode != http.StatusOK || strings.Contains(body, "whoami") {
		t.Errorf("tools/list after the refusal: %d %s; want 200 without whoami", resp.StatusCode, body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws := func(tok string) *mcp.ClientSession {
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "ws", Version: "1"}, nil).Connect(ctx, &wsmcp.ClientTransport{URL: s.url, Header: bearer(tok)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.Close() })
		return cs
	}
	_, err = ws(tok).CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	var je *jsonrpc.Error
	if !errors.As(err, &je) || je.Code != policy.CodeInsufficientScope || !strings.Contains(string(je.Data), `"scope":"admin"`) {
		t.Errorf("WebSocket call without the scope: %v", err)
	}
	if got := whoami(t, ws(admin)); got != "alice mcp,admin" {
		t.Errorf("WebSocket call with the scope: %q", got)
	}
	ha := bearer(admin)
	resp, _ = post(t, s.httpURL(), ha, initialize)
	ha.Set("Mcp-Session-Id", resp.Header.Get("Mcp-Session-Id"))
	ha.Set("Mcp-Protocol-Version", "2025-11-25")
	if resp, body := post(t, s.httpURL(), ha, call); resp.StatusCode != http.StatusOK || !strings.Contains(body, "alice mcp,admin") {
		t.Errorf("HTTP call with the scope: %d %s", resp.StatusCode, body)
	}

	// The metadata lists the policy's scopes beside the endpoint's.
	rec := httptest.NewRecorder()
	s.srv.Metadata().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/oauth-protected-resource/mcp", nil))
	var md struct {
		Scopes []string `json:"scopes_supported"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &md); err != nil || !slices.Equal(md.Scopes, []string{"admin", "mcp"}) {
		t.Errorf("scopes_supported = %v (%v), want [admin mcp]", md.Scopes, err)
	}
}

// A relay's messages are not an mcp.Server's: NewConnEndpoint says so
// rather than serve a policy it does not enforce.
func TestNewConnEndpointRefusesPolicy(t *testing.T) {
	p, err := policy.Compile(policy.Config{Default: policy.Deny})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "does not enforce Options.Policy") {
			t.Errorf("recover() = %v", r)
		}
	}()
	mcpws.NewConnEndpoint(func(*http.Request) (wsmcp.ServeConnFunc, error) { return nil, nil }, &mcpws.Options{Policy: p})
}
