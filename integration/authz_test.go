package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

// examplePolicy is the three-role policy that docs/authorization.md walks
// through.
const examplePolicy = "../examples/everything/policy.example.json"

// readerTools are the tools the example policy allows to mcp:read.
var readerTools = []string{
	"ask_name", "echo", "json_schema_2020_12_tool", "sleep",
	"test_audio_content", "test_elicitation", "test_elicitation_sep1034_defaults", "test_elicitation_sep1330_enums",
	"test_embedded_resource", "test_error_handling", "test_image_content", "test_multiple_content_types",
	"test_sampling", "test_simple_text", "test_tool_with_logging", "test_tool_with_progress", "whoami",
}

// examples/everything with -policy policy.example.json and -audit, and
// the three tokens of docs/authorization.md minted by examples/mint: over
// WebSocket and over Streamable HTTP, each role lists exactly its tools,
// calls one of them, and is refused one outside its role (over HTTP, a
// refusal that a wider scope would lift is the 403 step-up challenge);
// each call and refusal has its audit line.
func TestPolicyRoles(t *testing.T) {
	p := startEverything(t, "-jwt-secret", testSecret, "-audience", testAudience, "-policy", examplePolicy, "-audit")
	mint := func(args ...string) string {
		cmd := exec.Command(filepath.Join(binDir, "mint"), append([]string{"-aud", testAudience}, args...)...)
		cmd.Env = append(os.Environ(), "JWT_SECRET="+testSecret)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("mint %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	editorTools := append(slices.Clone(readerTools), "increment")
	adminTools := append(slices.Clone(editorTools), "notify_resource_updated")
	const metadata = "https://mcp.example.test/.well-known/oauth-protected-resource/mcp"

	roles := []struct {
		role, sub, token string
		tools            []string
		// An allowed call and the text it returns; its arguments name
		// the transport (%s), so that a counter starts at 1 on each.
		call, args, want string
		// A refused call, its error data over both transports, and over
		// HTTP the 403 challenge when scopes would lift the refusal.
		refused, data, challenge string
	}{
		{
			role: "reader", sub: "rita", token: mint("-sub", "rita", "-scope", "mcp:read"), tools: readerTools,
			call: "echo", args: `{"text":"hello %s"}`, want: "hello %s",
			refused: "increment", data: `{"error":"insufficient_scope","scope":"mcp:write"}`,
			challenge: `Bearer error="insufficient_scope", scope="mcp:read mcp:write", resource_metadata="` + metadata + `"`,
		},
		{
			role: "editor", sub: "ed", token: mint("-sub", "ed", "-scope", "mcp:read mcp:write"), tools: editorTools,
			call: "increment", args: `{"key":"%s"}`, want: "1",
			refused: "notify_resource_updated", data: `{"error":"access_denied"}`,
		},
		{
			role: "admin", sub: "ada", token: mint("-sub", "ada", "-claim", "roles=admin"), tools: adminTools,
			call: "notify_resource_updated", args: `{"uri":"test://watched-resource"}`, want: "notified",
		},
	}
	for _, r := range roles {
		for _, transport := range []string{"websocket", "http"} {
			t.Run(r.role+"/"+transport, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				rt := &recorder{token: r.token}
				var tr mcp.Transport = &wsmcp.ClientTransport{URL: "ws://" + p.addr + "/mcp", Header: http.Header{"Authorization": {"Bearer " + r.token}}}
				if transport == "http" {
					tr = &mcp.StreamableClientTransport{Endpoint: "http://" + p.addr + "/mcp", HTTPClient: &http.Client{Transport: rt}}
				}
				cs, err := mcp.NewClient(&mcp.Implementation{Name: "authz", Version: "1"}, nil).Connect(ctx, tr, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer cs.Close()

				if got := toolNames(ctx, t, cs); !slices.Equal(got, sorted(r.tools)) {
					t.Errorf("tools/list = %v\nwant %v", got, sorted(r.tools))
				}
				// Every role may read every resource and get every prompt.
				if got := catalog(ctx, t, cs); got != allCatalog {
					t.Errorf("resources, templates and prompts: %s, want %s", got, allCatalog)
				}

				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: r.call, Arguments: json.RawMessage(strings.ReplaceAll(r.args, "%s", transport))})
				if err != nil || res.IsError || len(res.Content) == 0 {
					t.Fatalf("%s: %v, %+v", r.call, err, res)
				}
				if got, want := res.Content[0].(*mcp.TextContent).Text, strings.ReplaceAll(r.want, "%s", transport); got != want {
					t.Errorf("%s = %q, want %q", r.call, got, want)
				}
				waitAudit(t, p, "subject="+r.sub, "transport="+transport, "method=tools/call", "name="+r.call, "outcome=ok", "code=0")

				if r.refused == "" {
					return
				}
				_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: r.refused})
				if transport == "http" && r.challenge != "" {
					// The step-up challenge of the MCP authorization spec,
					// before the go-sdk reads the request.
					if got := rt.refusals(); err == nil || len(got) != 1 || got[0] != "403 "+r.challenge {
						t.Errorf("%s over HTTP: %v, refusals %q; want one 403 with %s", r.refused, err, got, r.challenge)
					}
					return
				}
				var je *jsonrpc.Error
				if !errors.As(err, &je) || je.Code != -32015 || string(je.Data) != r.data {
					t.Errorf("%s: %v, want -32015 with data %s", r.refused, err, r.data)
				}
				waitAudit(t, p, "subject="+r.sub, "transport="+transport, "method=tools/call", "name="+r.refused, "outcome=refused", "code=-32015")
			})
		}
	}

	t.Run("no role", func(t *testing.T) {
		// Every tool and prompt is named by a rule (the admin's "*"), and
		// a token with neither scope nor role satisfies none.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "authz", Version: "1"}, nil).Connect(ctx,
			&wsmcp.ClientTransport{URL: "ws://" + p.addr + "/mcp", Header: http.Header{"Authorization": {"Bearer " + mint("-sub", "nobody")}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		if got := toolNames(ctx, t, cs); len(got) != 0 {
			t.Errorf("tools/list = %v, want none", got)
		}
		if got := catalog(ctx, t, cs); got != "resources [] templates [] prompts []" {
			t.Errorf("resources, templates and prompts: %s, want none", got)
		}
	})

	t.Run("roles as an array", func(t *testing.T) {
		// Identity providers write roles as an array of strings.
		tok, err := jwt.NewBuilder().Subject("ann").Audience([]string{testAudience}).
			Expiration(time.Now().Add(time.Hour)).Claim("roles", []string{"staff", "admin"}).Build()
		if err != nil {
			t.Fatal(err)
		}
		signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, []byte(testSecret)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "authz", Version: "1"}, nil).Connect(ctx,
			&wsmcp.ClientTransport{URL: "ws://" + p.addr + "/mcp", Header: http.Header{"Authorization": {"Bearer " + string(signed)}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		if got := toolNames(ctx, t, cs); !slices.Equal(got, sorted(adminTools)) {
			t.Errorf("tools/list = %v, want the admin's", got)
		}
	})

	t.Run("metadata", func(t *testing.T) {
		// The policy's scopes are those a client can ask for.
		resp, err := http.Get("http://" + p.addr + "/.well-known/oauth-protected-resource/mcp")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var md struct {
			Scopes []string `json:"scopes_supported"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&md); err != nil || !slices.Equal(md.Scopes, []string{"mcp:read", "mcp:write"}) {
			t.Errorf("scopes_supported = %v (%v), want [mcp:read mcp:write]", md.Scopes, err)
		}
	})

	// The shipped policy names only what the server has: no warning at
	// startup, which the log holds before any audit line.
	waitLogs(t, p, `msg="mcpws: audit"`)
	if logs := p.Logs(); strings.Contains(logs, "names nothing") {
		t.Errorf("startup warnings for the shipped policy:\n%s", logs)
	}
}

// A policy file that cannot be a policy stops the example with exit
// status 2 and the reason; one that names what the server lacks starts it
// with a warning per name.
func TestPolicyFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	typo := filepath.Join(dir, "typo.json")
	for path, body := range map[string]string{
		bad:  `{"default":"deny","rules":[{"tools":["echo"],"scope":["mcp:read"]}]}`,
		typo: `{"default":"allow","rules":[{"tools":["incremnt"],"scopes":["mcp:write"]},{"prompts":["test_*"],"resources":["file:///"]}]}`,
	} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(filepath.Join(binDir, "everything"), "-addr", "127.0.0.1:0", "-policy", bad).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), `unknown field "scope"`) {
		t.Errorf("a misspelt field: %v\n%s\nwant exit status 2 naming the field", err, out)
	}

	p := startEverything(t, "-policy", typo)
	waitLogs(t, p, `everything: rule 0: tool \"incremnt\" names nothing that exists`,
		`everything: rule 1: resource \"file:///\" names nothing that exists`)
	if strings.Contains(p.Logs(), `prompt \"test_*\"`) {
		t.Errorf("a pattern that matches was reported:\n%s", p.Logs())
	}
}

// recorder sends every request with a bearer token and keeps the status
// and challenge of each refused one.
type recorder struct {
	token string
	mu    sync.Mutex
	seen  []string
}

func (rt *recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+rt.token)
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
		rt.mu.Lock()
		rt.seen = append(rt.seen, resp.Status[:3]+" "+resp.Header.Get("WWW-Authenticate"))
		rt.mu.Unlock()
	}
	return resp, err
}

func (rt *recorder) refusals() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return slices.Clone(rt.seen)
}

// toolNames lists the session's tools, sorted.
func toolNames(ctx context.Context, t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	var names []string
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tool.Name)
	}
	return sorted(names)
}

// allCatalog is what catalog prints for a caller that may use every
// resource, template and prompt of examples/everything.
const allCatalog = "resources [test://static-binary test://static-text test://watched-resource] templates [test://template/{id}/data] " +
	"prompts [test_prompt_with_arguments test_prompt_with_embedded_resource test_prompt_with_image test_simple_prompt]"

// catalog lists the session's resources, templates and prompts, sorted.
func catalog(ctx context.Context, t *testing.T, cs *mcp.ClientSession) string {
	t.Helper()
	var resources, templates, prompts []string
	for r, err := range cs.Resources(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		resources = append(resources, r.URI)
	}
	for r, err := range cs.ResourceTemplates(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		templates = append(templates, r.URITemplate)
	}
	for p, err := range cs.Prompts(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		prompts = append(prompts, p.Name)
	}
	return fmt.Sprintf("resources %v templates %v prompts %v", sorted(resources), sorted(templates), sorted(prompts))
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

// waitAudit waits (up to 10 s) for an audit line that holds every one of
// fields ("outcome=ok").
func waitAudit(t *testing.T, p *proc, fields ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for line := range strings.Lines(p.Logs()) {
			if strings.Contains(line, `msg="mcpws: audit"`) && !slices.ContainsFunc(fields, func(f string) bool { return !strings.Contains(line, " "+f+" ") }) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit line with %v:\n%s", fields, p.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
