package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// claudeCode returns the path of the Claude Code CLI pinned in
// integration/node/package-lock.json.
func claudeCode(t *testing.T) string {
	t.Helper()
	p, _ := filepath.Abs(filepath.Join(nodeDir, "node_modules", ".bin", "claude"))
	requireInstalled(t, p, "the Claude Code CLI", "make node-deps")
	return p
}

// claudeEnv is the whole environment the CLI runs with: a HOME of its own
// (its configuration, caches and logs land there, never in the user's), and
// no update check, telemetry or error reports, so that it opens no
// connection but to the MCP server under test. Nothing from the caller's
// environment (an API key, CLAUDE_CONFIG_DIR, XDG_*) leaks in.
func claudeEnv(home string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"DISABLE_AUTOUPDATER=1",
		"DISABLE_TELEMETRY=1",
		"DISABLE_ERROR_REPORTING=1",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
	}
}

// runClaude runs the CLI with args in home, bounded in time, and returns
// what it printed.
func runClaude(t *testing.T, bin, home string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = claudeEnv(home)
	cmd.Dir = home // no .mcp.json or project settings from the checkout
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("claude %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// claudeList runs `claude mcp list` in home and returns each server's
// line, by name, with the whole output.
func claudeList(t *testing.T, claude, home string) (map[string]string, string) {
	t.Helper()
	out := runClaude(t, claude, home, "mcp", "list")
	lines := map[string]string{}
	for line := range strings.Lines(out) {
		if name, rest, ok := strings.Cut(line, ": "); ok {
			lines[name] = strings.TrimSpace(rest)
		}
	}
	return lines, out
}

// Claude Code connects to examples/everything with the configuration the
// README gives: a "ws" server with an Authorization header, or with a
// headersHelper command that prints it. `claude mcp list` connects and
// initializes each server without any login: with a token minted by
// examples/mint it reports Connected, without one it reports the server's
// 401.
func TestClaudeCode(t *testing.T) {
	claude := claudeCode(t)
	const secret = "0123456789abcdef0123456789abcdef"
	p := startEverything(t, "-v", "-jwt-secret", secret, "-audience", "http://127.0.0.1:8080/mcp")
	token, err := exec.Command(filepath.Join(binDir, "mint"), "-secret", secret,
		"-aud", "http://127.0.0.1:8080/mcp", "-sub", "claude-user").Output()
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	url := "ws://" + p.addr + "/mcp"

	home := t.TempDir()
	runClaude(t, claude, home, "mcp", "add-json", "--scope", "user", "authorized",
		`{"type":"ws","url":"`+url+`","headers":{"Authorization":"Bearer `+strings.TrimSpace(string(token))+`"}}`)
	runClaude(t, claude, home, "mcp", "add-json", "--scope", "user", "anonymous",
		`{"type":"ws","url":"`+url+`"}`)
	// headersHelper: a command whose output (a JSON object) gives the
	// headers at each connection, so that no token is kept in the
	// configuration.
	helperToken, err := exec.Command(filepath.Join(binDir, "mint"), "-secret", secret,
		"-aud", "http://127.0.0.1:8080/mcp", "-sub", "claude-helper").Output()
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	headers := filepath.Join(t.TempDir(), "headers.json")
	if err := os.WriteFile(headers, []byte(`{"Authorization":"Bearer `+strings.TrimSpace(string(helperToken))+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	runClaude(t, claude, home, "mcp", "add-json", "--scope", "user", "helper",
		`{"type":"ws","url":"`+url+`","headersHelper":"cat `+headers+`"}`)
	lines, out := claudeList(t, claude, home)
	if got, want := lines["authorized"], url+" (WS) - ✔ Connected"; got != want {
		t.Errorf("with a token, claude mcp list printed %q, want %q\n%s", got, want, out)
	}
	if got, want := lines["helper"], url+" (WS) - ✔ Connected"; got != want {
		t.Errorf("with headersHelper, claude mcp list printed %q, want %q\n%s", got, want, out)
	}
	got := lines["anonymous"]
	for _, want := range []string{url + " (WS) - ✘ Failed to connect", "Expected 101 status code: 401"} {
		if !strings.Contains(got, want) {
			t.Errorf("without a token, claude mcp list printed %q, want it to contain %q\n%s", got, want, out)
		}
	}

	// The server saw the same three: sessions as the tokens' subjects, one
	// refusal for want of a token.
	waitLogs(t, p, "subject=claude-user", "subject=claude-helper", "status=401 reason=auth.no_token")
}

// Claude Code's "http" server type reaches the same mount over Streamable
// HTTP, added as its docs give it (`claude mcp add --transport http NAME
// URL --header "Authorization: Bearer ..."`): with a token `claude mcp
// list` reports Connected. Without one the 401's challenge sends it to the
// protected resource metadata, which names no authorization server (the
// example verifies HS256 tokens it did not issue); it then falls back to
// OAuth at the origin of the resource, where dynamic client registration is
// not found, and reports that. The resource (the audience) is the server's
// own URL, so that this fallback stays on the server under test.
func TestClaudeCodeHTTP(t *testing.T) {
	claude := claudeCode(t)
	p, url := startLocalAudience(t)

	home := t.TempDir()
	runClaude(t, claude, home, "mcp", "add", "--scope", "user", "--transport", "http", "authorized", url,
		"--header", "Authorization: Bearer "+testToken(t, "claude-http", url, ""))
	runClaude(t, claude, home, "mcp", "add", "--scope", "user", "--transport", "http", "anonymous", url)
	lines, out := claudeList(t, claude, home)
	if got, want := lines["authorized"], url+" (HTTP) - ✔ Connected"; got != want {
		t.Errorf("with a token, claude mcp list printed %q, want %q\n%s", got, want, out)
	}
	if got, want := lines["anonymous"], url+" (HTTP) - ✘ Failed to connect — Dynamic Client Registration rejected (HTTP 404): 404 page not found"; got != want {
		t.Errorf("without a token, claude mcp list printed %q, want %q\n%s", got, want, out)
	}
	waitLogs(t, p, "status=401 reason=auth.no_token")
}

// Claude Code starts `mcpws connect` as a stdio server, added as
// docs/connect.md gives it: `claude mcp add NAME -e MCP_TOKEN=… -- mcpws
// connect --token-env MCP_TOKEN URL`, or with --token-cmd. `claude mcp
// list` reports both Connected, and the server saw both subjects. `claude
// mcp get` prints the environment, token included, and not the token
// --token-cmd fetches (why the docs recommend it). The bridge is silent on
// stderr under a host (Claude Code records each line as an error in its
// MCP log), unless --log-level asks for more.
func TestClaudeCodeBridge(t *testing.T) {
	claude := claudeCode(t)
	bridge := bridgeBin(t)
	p := startEverything(t, "-v", "-jwt-secret", testSecret, "-audience", testAudience)
	url := "ws://" + p.addr + "/mcp"
	home := t.TempDir()
	envToken := testToken(t, "claude-env", testAudience, "")
	cmdToken := testToken(t, "claude-cmd", testAudience, "")
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(cmdToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	runClaude(t, claude, home, "mcp", "add", "--scope", "user", "env", "-e", "MCP_TOKEN="+envToken,
		"--", bridge, "connect", "--token-env", "MCP_TOKEN", url)
	runClaude(t, claude, home, "mcp", "add", "--scope", "user", "cmd",
		"--", bridge, "connect", "--token-cmd", "cat "+tokenFile, url)
	runClaude(t, claude, home, "mcp", "add", "--scope", "user", "verbose", "-e", "MCP_TOKEN="+envToken,
		"--", bridge, "connect", "--log-level", "info", "--token-env", "MCP_TOKEN", url)
	out := runClaude(t, claude, home, "mcp", "list")
	for _, name := range []string{"env", "cmd", "verbose"} {
		if !strings.Contains(out, "\n"+name+": "+bridge+" connect ") || !regexp.MustCompile(`(?m)^`+name+`: .* - ✔ Connected$`).MatchString(out) {
			t.Errorf("claude mcp list does not show %s connected:\n%s", name, out)
		}
	}
	waitLogs(t, p, "subject=claude-env", "subject=claude-cmd")

	if got := runClaude(t, claude, home, "mcp", "get", "env"); !strings.Contains(got, "MCP_TOKEN="+envToken) {
		t.Errorf("claude mcp get env no longer shows the token (docs/connect.md says it does):\n%s", got)
	}
	if got := runClaude(t, claude, home, "mcp", "get", "cmd"); strings.Contains(got, cmdToken) {
		t.Errorf("claude mcp get cmd shows the token:\n%s", got)
	}

	// Claude Code's MCP log of each server (seen on Linux): a JSON line per
	// event, {"error": "Server stderr: …"} for each line of stderr.
	for name, wantStderr := range map[string]bool{"env": false, "cmd": false, "verbose": true} {
		logs, _ := filepath.Glob(filepath.Join(home, ".cache", "claude-cli-nodejs", "*", "mcp-logs-"+name, "*.jsonl"))
		var all strings.Builder
		for _, f := range logs {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			all.Write(b)
		}
		if !strings.Contains(all.String(), "Successfully connected") {
			t.Errorf("%s: no Claude Code MCP log with the connection in %v:\n%s", name, logs, &all)
			continue
		}
		if got := strings.Contains(all.String(), `"error":"Server stderr: `); got != wantStderr {
			t.Errorf("%s: stderr lines in Claude Code's log: %v, want %v:\n%s", name, got, wantStderr, &all)
		}
	}
}
