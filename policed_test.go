package mcpws_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/audit"
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
	p, err := policy.Parse([]byte(`{"default":"allow","rules":[{"tools":["whoami"],"scopes":["admin"]},{"prompts":["secret"],"scopes":["admin"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	audited := make(chan audit.Record, 16)
	s := newStack(t, func(o *mcpws.Options) {
		o.Policy = p
		o.Audit = &audit.Options{Sink: func(_ context.Context, r audit.Record) { audited <- r }}
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
	if r := <-audited; r.Transport != "http" || r.Outcome != audit.Refused || r.Name != "whoami" || r.Subject != "alice" || r.Session == "" {
		t.Errorf("audit record of the 403: %+v", r)
	}
	// A completion of a prompt the caller may not get is refused the same
	// way; it is not a call, read or get, so it is not audited.
	complete := `{"jsonrpc":"2.0","id":4,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"secret"},"argument":{"name":"a","value":"b"}}}`
	if resp, body := post(t, s.httpURL(), h, complete); resp.StatusCode != http.StatusForbidden || resp.Header.Get("WWW-Authenticate") != want ||
		!strings.HasPrefix(body, `{"jsonrpc":"2.0","id":4,"error":{"code":-32015,`) {
		t.Errorf("HTTP completion without the scope: %d %q, challenge %q; want 403 with %q", resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"), want)
	}
	// The next record is that of the next refused call, not the completion's.
	if resp, _ := post(t, s.httpURL(), h, strings.Replace(call, `"id":2`, `"id":5`, 1)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("second HTTP call without the scope: %d", resp.StatusCode)
	}
	if r := <-audited; r.Method != "tools/call" || r.Name != "whoami" {
		t.Errorf("record after the completion: %+v; want the second call's", r)
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

// policedServer has a tool and a resource that need the admin scope, one
// resource anyone may read, and counts the runs of the tool.
func policedServer(runs *atomic.Int32) (*mcp.Server, *policy.Policy) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "secret_tool"}, func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
		runs.Add(1)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ran"}}}, nil, nil
	})
	read := func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "x"}}}, nil
	}
	srv.AddResource(&mcp.Resource{URI: "test://secret", Name: "secret"}, read)
	srv.AddResource(&mcp.Resource{URI: "test://open", Name: "open"}, read)
	p, err := policy.Parse([]byte(`{"default": "deny", "rules": [
		{"tools": ["secret_tool"], "resources": ["test://secret"], "scopes": ["admin"]},
		{"resources": ["test://open"]}
	]}`))
	if err != nil {
		panic(err)
	}
	return srv, p
}

// swappableBearer sends whichever token it holds now: a client whose
// token changes within its session, as after a refresh or a step-up.
type swappableBearer struct{ tok atomic.Value }

func (b *swappableBearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.tok.Load().(string))
	return http.DefaultTransport.RoundTrip(r)
}

// The ways around a policy that a caller without the scope might try, each
// on the path where it could work; none reaches the tool or learns what
// the policy hides.
func TestPolicyBypasses(t *testing.T) {
	var runs atomic.Int32
	srv, p := policedServer(&runs)
	s := newStackServer(t, srv, func(o *mcpws.Options) { o.Policy = p })
	reader := s.token(t, nil) // mcp read
	admin := s.token(t, func(tk jwt.Token) { _ = tk.Set("scope", "mcp admin") })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("batch", func(t *testing.T) {
		// 2025-03-26 sessions take batches: each message meets the policy.
		h := bearer(reader)
		resp, _ := post(t, s.httpURL(), h, strings.Replace(initialize, "2025-11-25", "2025-03-26", 1))
		h.Set("Mcp-Session-Id", resp.Header.Get("Mcp-Session-Id"))
		h.Set("Mcp-Protocol-Version", "2025-03-26")
		resp, body := post(t, s.httpURL(), h, `[{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"secret_tool"}},{"jsonrpc":"2.0","id":3,"method":"tools/list"}]`)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"id":2,"error":{"code":-32015`) || !strings.Contains(body, `"id":3,"result"`) || strings.Contains(body, `"name":"secret_tool"`) {
			t.Errorf("batch: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("cancel and retry", func(t *testing.T) {
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "ws", Version: "1"}, nil).Connect(ctx, &wsmcp.ClientTransport{URL: s.url, Header: bearer(reader)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		for i := range 20 {
			cctx, ccancel := context.WithCancel(ctx)
			if i%2 == 0 {
				go ccancel() // races the call
			}
			_, err := cs.CallTool(cctx, &mcp.CallToolParams{Name: "secret_tool"})
			ccancel()
			var je *jsonrpc.Error
			if err == nil || errors.As(err, &je) && je.Code != policy.CodeInsufficientScope {
				t.Errorf("call %d: %v", i, err)
			}
		}
	})

	t.Run("name variants", func(t *testing.T) {
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "ws", Version: "1"}, nil).Connect(ctx, &wsmcp.ClientTransport{URL: s.url, Header: bearer(admin)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		// With a default of deny, a name the policy does not name is
		// refused, whether or not a tool has it.
		for _, name := range []string{"Secret_tool", "secret_tool ", " secret_tool", "secret_tооl", "secret_tool\u200b"} {
			_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name})
			var je *jsonrpc.Error
			if !errors.As(err, &je) || je.Code != policy.CodeInsufficientScope {
				t.Errorf("%q: %v", name, err)
			}
		}
	})

	t.Run("token changes within an HTTP session", func(t *testing.T) {
		var b swappableBearer
		b.tok.Store(admin)
		updated := make(chan string, 8)
		client := mcp.NewClient(&mcp.Implementation{Name: "http", Version: "1"}, &mcp.ClientOptions{
			ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) { updated <- req.Params.URI },
		})
		cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: s.httpURL(), HTTPClient: &http.Client{Transport: &b}, MaxRetries: -1},
			&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		for _, uri := range []string{"test://secret", "test://open"} {
			if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri}); err != nil {
				t.Fatalf("admin subscribes to %s: %v", uri, err)
			}
		}
		before := runs.Load()
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "secret_tool"}); err != nil || runs.Load() != before+1 {
			t.Fatalf("admin's call: %v", err)
		}
		// The same session, now with a narrower token: each request is
		// judged by its own token, and so are the notifications that
		// follow it.
		b.tok.Store(reader)
		if _, err := cs.ListTools(ctx, nil); err != nil {
			t.Fatal(err)
		}
		srv.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "test://secret"})
		srv.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "test://open"})
		if got := <-updated; got != "test://open" {
			t.Errorf("the reader was sent the update of %s", got)
		}
		b.tok.Store(admin)
		if runs.Load() != before+1 {
			t.Errorf("the tool ran for the narrower token")
		}
	})
	if n := runs.Load(); n != 1 {
		t.Errorf("the tool ran %d times, want once (for the admin)", n)
	}
}
