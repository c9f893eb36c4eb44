//go:build linux

package integration

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// The gateway serves Streamable HTTP clients as it serves WebSocket ones:
// one process per session, behind the same stack. TestGatewayServerEverything
// drives the reference server over both with the TypeScript SDK.

// TestGatewayConformanceHTTP runs the official suite over Streamable HTTP
// through the gateway, with authentication on, against examples/everything
// on stdio: the same scenarios as over the mount. Its clients end no
// session (no DELETE), so each leaves a process until the idle timeout:
// the caps are raised to the suite's size.
func TestGatewayConformanceHTTP(t *testing.T) {
	p := startGateway(t, []string{"JWT_SECRET=" + testSecret}, append([]string{"-audience", testAudience, "-upgrades-per-user", "100",
		"-max-children-per-user", "64", "-max-conns-per-user", "64"}, everythingChild()...)...)
	env := []string{"MCP_TOKEN=" + testToken(t, "conformance", testAudience, "")}
	judged := slices.Concat(conformanceScenarios, []string{"server-sse-multiple-streams"})
	runConformanceEnv(t, "http://"+p.addr+"/mcp", env, judged, []string{"--import", "./bearer-hook.mjs"}, "--suite", "all")
}

// TestGatewayConformanceHTTPRebinding runs the suite's DNS rebinding
// scenario against a local gateway whose Host and Origin allow-lists name
// its own address (see TestConformanceHTTPRebinding).
func TestGatewayConformanceHTTPRebinding(t *testing.T) {
	port := freePort(t)
	p := startBinary(t, "mcpws", nil, slices.Concat([]string{"serve", "-addr", fmt.Sprintf("127.0.0.1:%d", port),
		"-hosts", fmt.Sprintf("localhost:%d,127.0.0.1:%d", port, port),
		"-origins", fmt.Sprintf("http://localhost:%d,http://127.0.0.1:%d", port, port)}, everythingChild())...)
	runConformanceEnv(t, "http://"+p.addr+"/mcp", nil, []string{"dns-rebinding-protection"}, nil, "--scenario", "dns-rebinding-protection")
}

// startGatewayLocalAudience runs the gateway with authentication on and its
// own URL as the audience (see startLocalAudience), and returns it with
// that URL.
func startGatewayLocalAudience(t *testing.T) (*proc, string) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	url := "http://" + addr + "/mcp"
	return startBinary(t, "mcpws", []string{"JWT_SECRET=" + testSecret},
		slices.Concat([]string{"serve", "-addr", addr, "-audience", url, "-env-from-claim", "MCP_USER=sub"}, everythingChild())...), url
}

// The TypeScript SDK's Streamable HTTP client, the MCP Inspector's CLI
// and Claude Code's `http` server type reach a stdio server through the
// gateway, authenticated, with nothing installed beside them: tools listed
// and called with a bearer header, the token's subject reaching the
// process (-env-from-claim), the session ended by DELETE; refused without
// a token.
func TestGatewayHTTPClients(t *testing.T) {
	inspectorCLI(t)
	claude := claudeCode(t)
	p, url := startGatewayLocalAudience(t)
	tok := testToken(t, "ada", url, "")
	header := "Authorization: Bearer " + tok

	t.Run("typescript", func(t *testing.T) {
		out, err := runNodeEnv(t, 30*time.Second, []string{"MCP_TOKEN=" + tok}, "ts-http.mjs", url)
		var got struct {
			ProtocolVersion string   `json:"protocolVersion"`
			Session         bool     `json:"session"`
			Terminated      bool     `json:"terminated"`
			Tools           []string `json:"tools"`
			Sub             string   `json:"sub"`
		}
		if err != nil || json.Unmarshal([]byte(out), &got) != nil {
			t.Fatalf("ts-http.mjs: %v, stdout %q", err, out)
		}
		if got.Sub != "ada" || !strings.HasPrefix(got.ProtocolVersion, "2025-") || !got.Session || !got.Terminated || !slices.Contains(got.Tools, "echo") {
			t.Errorf("ts-http.mjs through the gateway = %+v, want sub ada, a 2025 session ended by DELETE, and echo among the tools", got)
		}
		waitLogs(t, p, "reason=\"deleted by the client\"")
	})

	t.Run("inspector", func(t *testing.T) {
		out, stderr, code := runInspector(t, url, "--transport", "http", "--header", header, "--method", "tools/list")
		var list struct {
			Result struct {
				Tools []struct {
					Name string `json:"name"`
				} `json:"tools"`
			} `json:"result"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list.Result.Tools) == 0 {
			t.Fatalf("tools/list: exit %d, stdout %q\nstderr:\n%s", code, out, stderr)
		}
		inspectorEcho(t, url, header, "through the gateway")
		_, stderr, code = runInspector(t, url, "--transport", "http", "--stored-auth-only", "--method", "tools/list")
		if code != 3 || !strings.Contains(stderr, `"auth_required"`) {
			t.Errorf("without a token: exit %d, stderr %q; want exit 3 and auth_required", code, stderr)
		}
	})

	t.Run("claude code", func(t *testing.T) {
		home := t.TempDir()
		runClaude(t, claude, home, "mcp", "add", "--scope", "user", "--transport", "http", "authorized", url, "--header", header)
		runClaude(t, claude, home, "mcp", "add", "--scope", "user", "--transport", "http", "anonymous", url)
		lines, out := claudeList(t, claude, home)
		if got, want := lines["authorized"], url+" (HTTP) - ✔ Connected"; got != want {
			t.Errorf("with a token, claude mcp list printed %q, want %q\n%s", got, want, out)
		}
		if got := lines["anonymous"]; !strings.Contains(got, "Failed to connect") {
			t.Errorf("without a token, claude mcp list printed %q, want a failure\n%s", got, out)
		}
	})
	waitLogs(t, p, "status=401 reason=auth.no_token")
	waitLogs(t, p, `msg="gateway: process started"`)
}
