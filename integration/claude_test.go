package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
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
// README gives: a "ws" server with an Authorization header. `claude mcp
// list` connects and initializes each server without any login: with a
// token minted by examples/mint it reports Connected, without one it
// reports the server's 401.
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
	lines, out := claudeList(t, claude, home)
	if got, want := lines["authorized"], url+" (WS) - ✔ Connected"; got != want {
		t.Errorf("with a token, claude mcp list printed %q, want %q\n%s", got, want, out)
	}
	got := lines["anonymous"]
	for _, want := range []string{url + " (WS) - ✘ Failed to connect", "Expected 101 status code: 401"} {
		if !strings.Contains(got, want) {
			t.Errorf("without a token, claude mcp list printed %q, want it to contain %q\n%s", got, want, out)
		}
	}

	// The server saw the same two: one session as the token's subject, one
	// refusal for want of a token.
	waitLogs(t, p, "subject=claude-user", "status=401 reason=auth.no_token")
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
