package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
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

// inspectorCLI returns the path of the MCP Inspector's launcher pinned in
// integration/node/package-lock.json.
func inspectorCLI(t *testing.T) string {
	t.Helper()
	p, _ := filepath.Abs(filepath.Join(nodeDir, "node_modules", "@modelcontextprotocol", "inspector", "clients", "launcher", "build", "index.js"))
	requireInstalled(t, p, "the MCP Inspector", "make node-deps")
	return p
}

// runInspector runs the Inspector's CLI mode on the pinned Node with
// --format json and a HOME of its own (its catalog, storage and secrets go
// under ~/.mcp-inspector), and returns stdout, stderr and the exit code.
func runInspector(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	inspector := inspectorCLI(t)
	// Its own flags first: after "--" the rest is a stdio server's command.
	args = slices.Concat([]string{inspector, "--cli", "--format", "json"}, args)
	out, err := runNodeEnv(t, time.Minute, []string{"HOME=" + t.TempDir()}, args...)
	if err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("inspector %s: %v", strings.Join(args[1:], " "), err)
		}
		code = exit.ExitCode()
		_, stderr, _ = strings.Cut(err.Error(), "\nstderr:\n")
	}
	return out, stderr, code
}

// The Inspector's CLI starts `mcpws connect` as a stdio server, as
// docs/connect.md gives it, and calls whoami through it as the token's
// subject.
func TestInspectorBridge(t *testing.T) {
	inspectorCLI(t)
	bridge := bridgeBin(t)
	p := startEverything(t, "-v", "-jwt-secret", testSecret, "-audience", testAudience)
	out, stderr, code := runInspector(t, "-e", "MCP_TOKEN="+testToken(t, "ines", testAudience, ""),
		"--method", "tools/call", "--tool-name", "whoami",
		"--", bridge, "connect", "--token-env", "MCP_TOKEN", "ws://"+p.addr+"/mcp")
	var got struct {
		Result struct {
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"result"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || len(got.Result.Content) != 1 || got.Result.Content[0].Text != "ines []" {
		t.Fatalf("whoami through the bridge: exit %d, stdout %q, want the text \"ines []\"\nstderr:\n%s", code, out, stderr)
	}
	waitLogs(t, p, "subject=ines")
}

// inspectorEcho calls the echo tool at url with the Inspector's CLI and
// checks that text comes back.
func inspectorEcho(t *testing.T, url, header, text string) {
	t.Helper()
	out, stderr, code := runInspector(t, url, "--transport", "http", "--header", header,
		"--method", "tools/call", "--tool-name", "echo", "--tool-arg", "text="+text)
	var echo struct {
		Result struct {
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"result"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &echo) != nil || len(echo.Result.Content) != 1 || echo.Result.Content[0].Text != text {
		t.Errorf("echo: exit %d, stdout %q, want the text back\nstderr:\n%s", code, out, stderr)
	}
}

// The MCP Inspector's CLI (`mcp-inspector --cli URL --transport http
// --header "Authorization: Bearer ..."`) lists the tools of the mount and
// calls two of them, one with an argument; without the header it stops at
// the 401 with its exit code for auth_required (3), not connecting.
func TestInspectorCLI(t *testing.T) {
	inspectorCLI(t)
	p, url := startLocalAudience(t)
	header := "Authorization: Bearer " + testToken(t, "linus", url, "")

	t.Run("tools/list", func(t *testing.T) {
		out, stderr, code := runInspector(t, url, "--transport", "http", "--header", header, "--method", "tools/list")
		var got struct {
			Result struct {
				Tools []struct {
					Name string `json:"name"`
				} `json:"tools"`
			} `json:"result"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &got) != nil {
			t.Fatalf("tools/list: exit %d, stdout %q\nstderr:\n%s", code, out, stderr)
		}
		var names []string
		for _, tool := range got.Result.Tools {
			names = append(names, tool.Name)
		}
		for _, want := range []string{"whoami", "echo", "increment"} {
			if !slices.Contains(names, want) {
				t.Errorf("tools/list lacks %s: %v", want, names)
			}
		}
	})

	t.Run("tools/call", func(t *testing.T) {
		out, stderr, code := runInspector(t, url, "--transport", "http", "--header", header,
			"--method", "tools/call", "--tool-name", "whoami")
		var who struct {
			Result struct {
				StructuredContent struct {
					Sub string `json:"sub"`
				} `json:"structuredContent"`
			} `json:"result"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &who) != nil || who.Result.StructuredContent.Sub != "linus" {
			t.Errorf("whoami: exit %d, stdout %q, want sub linus\nstderr:\n%s", code, out, stderr)
		}

		inspectorEcho(t, url, header, "over HTTP")
	})

	// --protocol-era modern speaks 2026-07-28, which the mount hands to its
	// stateless handler: the result carries the server's identity in _meta
	// (a 2025 session's does not), and the token is checked all the same.
	t.Run("modern era", func(t *testing.T) {
		out, stderr, code := runInspector(t, url, "--transport", "http", "--header", header, "--protocol-era", "modern",
			"--method", "tools/call", "--tool-name", "whoami")
		var who struct {
			Result struct {
				Meta struct {
					ServerInfo struct {
						Name string `json:"name"`
					} `json:"io.modelcontextprotocol/serverInfo"`
				} `json:"_meta"`
				StructuredContent struct {
					Sub string `json:"sub"`
				} `json:"structuredContent"`
			} `json:"result"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &who) != nil || who.Result.StructuredContent.Sub != "linus" ||
			who.Result.Meta.ServerInfo.Name != "mcpws-everything" {
			t.Errorf("whoami in the modern era: exit %d, stdout %q, want sub linus and the server's identity in _meta\nstderr:\n%s", code, out, stderr)
		}
		_, stderr, code = runInspector(t, url, "--transport", "http", "--stored-auth-only", "--protocol-era", "modern",
			"--method", "tools/list")
		if code != 3 || !strings.Contains(stderr, `"auth_required"`) {
			t.Errorf("modern era without a token: exit %d, stderr %q; want exit 3 and auth_required", code, stderr)
		}
	})

	t.Run("no token", func(t *testing.T) {
		// --stored-auth-only: no interactive OAuth, the 401 is the answer.
		out, stderr, code := runInspector(t, url, "--transport", "http", "--stored-auth-only", "--method", "tools/list")
		var got struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if code != 3 || json.Unmarshal([]byte(stderr), &got) != nil || got.Error.Code != "auth_required" ||
			!strings.Contains(got.Error.Message, "Unauthorized") {
			t.Errorf("without a token: exit %d, stdout %q, stderr %q; want exit 3 and auth_required for the 401", code, out, stderr)
		}
		waitLogs(t, p, "status=401 reason=auth.no_token")
	})
}
