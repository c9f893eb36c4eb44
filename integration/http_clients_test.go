package integration

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// startLocalAudience runs examples/everything with authentication on,
// logging, and its own URL as the audience: the resource that its 401
// challenge and protected resource metadata name, from which a client that
// goes on to OAuth discovery derives where to look. With testAudience (a
// name that does not resolve) such a client would look it up in DNS; here it
// stays on the server under test. It returns the server and its HTTP URL.
func startLocalAudience(t *testing.T) (*proc, string) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	url := "http://" + addr + "/mcp"
	return startBinary(t, "everything", nil, "-addr", addr, "-v", "-jwt-secret", testSecret, "-audience", url), url
}

// The TypeScript SDK's Client over its own StreamableHTTPClientTransport
// (integration/node/ts-http.mjs) reaches the mount with a bearer token in
// requestInit's headers, as any HTTP host configures it: it negotiates a
// 2025 session, lists the tools, sees the token's subject in whoami and
// ends the session with DELETE. Without a token it gets the 401 as a
// StreamableHTTPError.
func TestTypeScriptHTTP(t *testing.T) {
	p, url := startLocalAudience(t)

	out, err := runNodeEnv(t, 30*time.Second, []string{"MCP_TOKEN=" + testToken(t, "grace", url, "")}, "ts-http.mjs", url)
	if err != nil {
		t.Fatalf("ts-http.mjs: %v\n%s", err, out)
	}
	var got struct {
		ServerName      string   `json:"serverName"`
		ProtocolVersion string   `json:"protocolVersion"`
		Session         bool     `json:"session"`
		Terminated      bool     `json:"terminated"`
		Tools           []string `json:"tools"`
		Sub             string   `json:"sub"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("ts-http.mjs printed %q: %v", out, err)
	}
	if got.ServerName != "mcpws-everything" || got.Sub != "grace" {
		t.Errorf("ts-http.mjs = %+v, want server mcpws-everything and sub grace", got)
	}
	if !strings.HasPrefix(got.ProtocolVersion, "2025-") || !got.Session || !got.Terminated {
		t.Errorf("ts-http.mjs = %+v, want a 2025 session with an id, ended by DELETE", got)
	}
	for _, want := range []string{"whoami", "echo", "increment"} {
		if !slices.Contains(got.Tools, want) {
			t.Errorf("tools/list over HTTP lacks %s: %v", want, got.Tools)
		}
	}

	out, err = runNode(t, 30*time.Second, "ts-http.mjs", url)
	var refused struct {
		Error string `json:"error"`
		Code  int    `json:"code"`
	}
	if err == nil || json.Unmarshal([]byte(out), &refused) != nil || refused.Error != "StreamableHTTPError" || refused.Code != 401 {
		t.Errorf("without a token: err = %v, stdout %q; want a StreamableHTTPError with code 401", err, out)
	}
	waitLogs(t, p, "status=401 reason=auth.no_token")
}
