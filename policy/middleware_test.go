package policy_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws"
	"github.com/mcpws/mcpws/middleware"
	"github.com/mcpws/mcpws/policy"
	"github.com/mcpws/mcpws/wsmcp"
)

const (
	secret   = "policy-test-secret-0123456789abcdef"
	audience = "https://mcp.example.com/mcp"
)

// docsServer has the tools, resources and prompts that threeRoles names,
// and one it does not.
func docsServer(p *policy.Policy, rates middleware.RateCounter) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "docs", Version: "1"}, nil)
	for _, name := range []string{"search", "read_doc", "write_doc", "admin_reset", "other"} {
		mcp.AddTool(s, &mcp.Tool{Name: name}, func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + " ran"}}}, nil, nil
		})
	}
	read := func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "x"}}}, nil
	}
	s.AddResource(&mcp.Resource{URI: "docs://guide", Name: "guide"}, read)
	s.AddResource(&mcp.Resource{URI: "db://users/rows", Name: "users"}, read)
	s.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "db://{table}/rows", Name: "rows"}, read)
	s.AddPrompt(&mcp.Prompt{Name: "summarize"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "sum"}}}}, nil
	})
	s.AddReceivingMiddleware(p.Middleware(rates))
	return s
}

func token(t *testing.T, scope string, roles ...string) string {
	t.Helper()
	return tokenFor(t, "u", scope, roles...)
}

func tokenFor(t *testing.T, sub, scope string, roles ...string) string {
	t.Helper()
	b := jwt.NewBuilder().Audience([]string{audience}).Subject(sub).Expiration(time.Now().Add(time.Hour)).Claim("scope", "mcp "+scope)
	if roles != nil {
		b = b.Claim("roles", roles)
	}
	tok, _ := b.Build()
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, []byte(secret)))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

// serve mounts srv behind mcpws.New with a verifier that passes the
// roles claim on, and returns its URL.
func serve(t *testing.T, srv *mcp.Server) string {
	t.Helper()
	v, err := middleware.NewJWTVerifier(t.Context(), middleware.JWTOptions{Audience: audience, Algorithm: jwa.HS256, Key: []byte(secret), Claims: []string{"roles"}})
	if err != nil {
		t.Fatal(err)
	}
	endpoint := mcpws.New(func(*http.Request) *mcp.Server { return srv }, &mcpws.Options{Verifier: v, Resource: audience, AuthorizationServers: []string{"https://idp.example"}})
	ts := httptest.NewServer(endpoint)
	t.Cleanup(func() { _ = endpoint.Shutdown(context.Background()); ts.Close() })
	return ts.URL
}

// connectTo opens a session at url over "ws" or "http" with tok.
func connectTo(t *testing.T, url, transport, tok string) *mcp.ClientSession {
	t.Helper()
	var tr mcp.Transport = &wsmcp.ClientTransport{URL: "ws" + strings.TrimPrefix(url, "http"), Header: http.Header{"Authorization": {"Bearer " + tok}}}
	if transport == "http" {
		tr = &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: bearerTransport(tok)}, MaxRetries: -1}
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(t.Context(), tr, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

type bearerTransport string

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

// The policy holds on every path into the server, over WebSocket and
// Streamable HTTP alike: each caller lists only what it may use, and
// whatever it may not use is refused before any handler runs, naming the
// scopes that would allow it; a name that differs from an allowed one by
// case, a trailing space or a look-alike letter is not that name.
func TestMiddlewareEnforces(t *testing.T) {
	p, err := policy.Parse([]byte(threeRoles))
	if err != nil {
		t.Fatal(err)
	}
	srv := docsServer(p, nil)
	url := serve(t, srv)
	connect := func(t *testing.T, transport, tok string) *mcp.ClientSession { return connectTo(t, url, transport, tok) }
	refusedWith := func(t *testing.T, err error, scope string) {
		t.Helper()
		var je *jsonrpc.Error
		if !errors.As(err, &je) || je.Code != policy.CodeInsufficientScope {
			t.Fatalf("error %v, want code %d", err, policy.CodeInsufficientScope)
		}
		want := `"error":"access_denied"`
		if scope != "" {
			want = `"scope":"` + scope + `"`
		}
		if !strings.Contains(string(je.Data), want) {
			t.Errorf("error data %s, want %s", je.Data, want)
		}
	}
	for _, transport := range []string{"ws", "http"} {
		t.Run(transport, func(t *testing.T) {
			ctx := t.Context()
			reader := connect(t, transport, token(t, "docs:read"))
			editor := connect(t, transport, token(t, "docs:read docs:write"))
			admin := connect(t, transport, token(t, "", "admin"))

			// One after another: a filtering that changed the server's own
			// list would show in the next caller's.
			for _, tt := range []struct {
				name string
				cs   *mcp.ClientSession
				want []string
			}{
				{"reader", reader, []string{"read_doc", "search"}},
				{"editor", editor, []string{"read_doc", "search", "write_doc"}},
				{"admin", admin, []string{"admin_reset"}},
			} {
				var names []string
				for tool, err := range tt.cs.Tools(ctx, nil) {
					if err != nil {
						t.Fatal(err)
					}
					names = append(names, tool.Name)
				}
				slices.Sort(names)
				if !slices.Equal(names, tt.want) {
					t.Errorf("%s lists tools %v, want %v", tt.name, names, tt.want)
				}
			}

			if res, err := reader.CallTool(ctx, &mcp.CallToolParams{Name: "search"}); err != nil || res.Content[0].(*mcp.TextContent).Text != "search ran" {
				t.Errorf("reader's search: %v", err)
			}
			_, err := reader.CallTool(ctx, &mcp.CallToolParams{Name: "write_doc"})
			refusedWith(t, err, "docs:write")
			_, err = editor.CallTool(ctx, &mcp.CallToolParams{Name: "admin_reset"})
			refusedWith(t, err, "")
			for _, variant := range []string{"Search", "search ", "seаrch", "other"} {
				_, err = reader.CallTool(ctx, &mcp.CallToolParams{Name: variant})
				refusedWith(t, err, "")
			}

			res, err := reader.ListResources(ctx, nil)
			if err != nil || len(res.Resources) != 1 || res.Resources[0].URI != "docs://guide" {
				t.Errorf("reader's resources: %v %v", res, err)
			}
			_, err = reader.ReadResource(ctx, &mcp.ReadResourceParams{URI: "db://users/rows"})
			refusedWith(t, err, "docs:write")
			err = reader.Subscribe(ctx, &mcp.SubscribeParams{URI: "db://users/rows"})
			refusedWith(t, err, "docs:write")
			if _, err := editor.ReadResource(ctx, &mcp.ReadResourceParams{URI: "db://orders/rows"}); err != nil {
				t.Errorf("editor reads through the template: %v", err)
			}
			tmpl, err := reader.ListResourceTemplates(ctx, nil)
			if err != nil || len(tmpl.ResourceTemplates) != 0 {
				t.Errorf("reader's templates: %v %v", tmpl, err)
			}
			prompts, err := admin.ListPrompts(ctx, nil)
			if err != nil || len(prompts.Prompts) != 0 {
				t.Errorf("admin's prompts: %v %v", prompts, err)
			}
			_, err = admin.GetPrompt(ctx, &mcp.GetPromptParams{Name: "summarize"})
			refusedWith(t, err, "docs:read")
			_, err = admin.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/prompt", Name: "summarize"}, Argument: mcp.CompleteParamsArgument{Name: "topic"}})
			refusedWith(t, err, "docs:read")
		})
	}
}
