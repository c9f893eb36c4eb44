package integration

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

const (
	testSecret   = "integration-test-secret-0123456789abcdef"
	testAudience = "https://mcp.example.test/mcp"
)

// testToken signs an HS256 token for sub, issued for aud, with scope.
func testToken(t *testing.T, sub, aud, scope string) string {
	t.Helper()
	tok, err := jwt.NewBuilder().Subject(sub).Audience([]string{aud}).
		Expiration(time.Now().Add(time.Hour)).Claim("scope", scope).Build()
	if err != nil {
		t.Fatal(err)
	}
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, []byte(testSecret)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// examples/everything with its flags on: a token for this server reaches
// the tool as the caller's identity; everything else is refused with its
// exact status before the upgrade.
func TestSecureEverything(t *testing.T) {
	p := startEverything(t, "-jwt-secret", testSecret, "-audience", testAudience, "-scopes", "mcp",
		"-origins", "https://app.example.test", "-max-conns-per-user", "2", "-rate", "50")
	url := "ws://" + p.addr + "/mcp"
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

	t.Run("whoami", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		res := callWhoami(ctx, t, url, testToken(t, "bob", testAudience, "mcp tools"))
		got, _ := res.StructuredContent.(map[string]any)
		if got["sub"] != "bob" || len(got["scopes"].([]any)) != 2 {
			t.Errorf("whoami = %v, want sub bob with scopes [mcp tools]", res.StructuredContent)
		}
		// Streamable HTTP at the same path is behind the same check, and
		// its calls see the same identity.
		resp, err := http.Post("http://"+p.addr+"/mcp", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "resource_metadata=") {
			t.Errorf("HTTP without a token: %d %q, want 401 naming the metadata", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		client := mcp.NewClient(&mcp.Implementation{Name: "http", Version: "1"}, nil)
		hc := &http.Client{Transport: bearerRoundTripper(testToken(t, "bob", testAudience, "mcp tools"))}
		cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: "http://" + p.addr + "/mcp", HTTPClient: hc}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := res.StructuredContent.(map[string]any); got["sub"] != "bob" {
			t.Errorf("whoami over HTTP = %v, want sub bob", res.StructuredContent)
		}
	})

	tests := []struct {
		name   string
		header http.Header
		want   int
	}{
		{"no token", nil, http.StatusUnauthorized},
		{"token for another audience", bearer(testToken(t, "bob", "https://other.example.test/mcp", "mcp")), http.StatusUnauthorized},
		{"token without the scope", bearer(testToken(t, "bob", testAudience, "read")), http.StatusForbidden},
		{"foreign origin", http.Header{"Origin": {"https://evil.example.test"}}, http.StatusForbidden},
		{"oversized headers", http.Header{"X-Padding": {strings.Repeat("a", 128<<10)}}, http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := (&wsmcp.ClientTransport{URL: url, Header: tt.header}).Connect(ctx)
			var de *wsmcp.DialError
			if !errors.As(err, &de) || de.StatusCode != tt.want {
				t.Fatalf("dial: %v, want status %d", err, tt.want)
			}
		})
	}

	// The process is still healthy after all that.
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

// examples/servemux: REST routes, readiness, the metadata document and an
// authenticated MCP endpoint on one http.ServeMux.
func TestServeMuxExample(t *testing.T) {
	resource := "http://mcp.example.test/mcp"
	p := startExample(t, "servemux", []string{"MCP_JWT_SECRET=" + testSecret}, "-resource", resource)
	base := "http://" + p.addr
	for path, want := range map[string]int{
		"/api/notes": http.StatusOK,
		"/readyz":    http.StatusOK,
		"/.well-known/oauth-protected-resource/mcp": http.StatusOK,
		"/mcp": http.StatusUnauthorized,
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res := callWhoami(ctx, t, "ws://"+p.addr+"/mcp", testToken(t, "carol", resource, ""))
	if got := res.Content[0].(*mcp.TextContent).Text; got != "carol" {
		t.Errorf("whoami = %q, want carol", got)
	}
}

// callWhoami connects with a bearer token and calls whoami.
func callWhoami(ctx context.Context, t *testing.T, url, token string) *mcp.CallToolResult {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "go", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &wsmcp.ClientTransport{URL: url, Header: http.Header{"Authorization": {"Bearer " + token}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// bearerRoundTripper sends every request with a bearer token.
type bearerRoundTripper string

func (tok bearerRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(tok))
	return http.DefaultTransport.RoundTrip(r)
}
