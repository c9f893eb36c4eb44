package integration

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The hello client works against what `make run` serves (examples/everything)
// as well as against its own server: the README sends a new user from one to
// the other.
func TestHelloClientAgainstEverything(t *testing.T) {
	p := startEverything(t)
	out, err := exec.Command(filepath.Join(binDir, "hello-client"), "-url", "ws://"+p.addr+"/mcp", "-name", "mcpws").CombinedOutput()
	if err != nil {
		t.Fatalf("hello client against examples/everything: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "Hello, mcpws!" {
		t.Errorf("hello client printed %q, want %q", got, "Hello, mcpws!")
	}
}

// The README's TypeScript transport (integration/node/ts-token.mjs) passes a
// token as the subprotocol entry mcp.auth.<token>: the tool sees the token's
// subject, the server selects only "mcp", and without a token the client
// gets no session: Node's WebSocket, like a browser's, does not say why, but
// the server logged the 401.
func TestTypeScriptTokenTransport(t *testing.T) {
	p := startEverything(t, "-v", "-jwt-secret", testSecret, "-audience", testAudience)
	url := "ws://" + p.addr + "/mcp"

	out, err := runNodeEnv(t, 30*time.Second, []string{"MCP_TOKEN=" + testToken(t, "ada", testAudience, "")}, "ts-token.mjs", url)
	if err != nil {
		t.Fatalf("ts-token.mjs: %v\n%s", err, out)
	}
	var got struct {
		Protocol string `json:"protocol"`
		Sub      string `json:"sub"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("ts-token.mjs printed %q: %v", out, err)
	}
	if got.Protocol != "mcp" || got.Sub != "ada" {
		t.Errorf("ts-token.mjs = %+v, want protocol mcp and sub ada", got)
	}

	out, err = runNode(t, 30*time.Second, "ts-token.mjs", url)
	if err == nil || !strings.Contains(err.Error(), "Received network error or non-101 status code") {
		t.Errorf("without a token: err = %v, stdout %q; want the failed handshake", err, out)
	}
	waitLogs(t, p, "status=401 reason=auth.no_token")
}

// waitLogs waits (up to 10 s) until the process's log holds every one of
// want: stderr is read on its own goroutine, so a line may land a moment
// after the client that caused it has finished.
func waitLogs(t *testing.T, p *proc, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		logs, missing := p.Logs(), ""
		for _, w := range want {
			if !strings.Contains(logs, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server log lacks %q:\n%s", missing, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
