package integration

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// get fetches url with an optional Host header and returns status and body.
func get(t *testing.T, url, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// examples/everything serves pprof and expvar only on its loopback
// -debug-addr listener, never on the MCP one, and expvar there never shows
// the command line (with a secret passed as a flag, as scripts may).
func TestDebugListener(t *testing.T) {
	p := startEverything(t, "-audience", testAudience, "-debug-addr", "127.0.0.1:0", "-jwt-secret", testSecret)
	debug := p.printed(t, "debug on")
	if debug == p.addr {
		t.Fatalf("the debug listener is the MCP listener (%s)", debug)
	}
	for _, path := range []string{"/debug/vars", "/debug/pprof/", "/debug/pprof/heap"} {
		if code, _ := get(t, "http://"+p.addr+path, ""); code != http.StatusNotFound {
			t.Errorf("GET %s on the MCP listener: %d, want 404", path, code)
		}
	}
	code, body := get(t, "http://"+debug+"/debug/vars", "")
	if code != http.StatusOK || !strings.Contains(body, `"mcpws"`) || !strings.Contains(body, `"memstats"`) {
		t.Errorf("GET /debug/vars on the debug listener: %d %.200s", code, body)
	}
	if strings.Contains(body, "cmdline") || strings.Contains(body, testSecret) {
		t.Errorf("/debug/vars shows the command line or the secret: %.300s", body)
	}
	if code, _ := get(t, "http://"+debug+"/debug/pprof/heap", ""); code != http.StatusOK {
		t.Errorf("GET /debug/pprof/heap on the debug listener: %d, want 200", code)
	}
	// A DNS-rebinding page reaches the loopback port under its own name.
	if code, _ := get(t, "http://"+debug+"/debug/vars", "rebind.example:80"); code != http.StatusForbidden {
		t.Errorf("/debug/vars with a foreign Host: %d, want 403", code)
	}
}

// With no flag, the secret comes from JWT_SECRET.
func TestSecretFromEnvironment(t *testing.T) {
	p := startExample(t, "everything", []string{"JWT_SECRET=" + testSecret}, "-audience", testAudience)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res := callWhoami(ctx, t, "ws://"+p.addr+"/mcp", testToken(t, "erin", testAudience, ""))
	if got := res.Content[0].(*mcp.TextContent).Text; !strings.HasPrefix(got, "erin") {
		t.Errorf("whoami = %q, want erin", got)
	}
	if code, _ := get(t, "http://"+p.addr+"/mcp", ""); code != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401", code)
	}
}

// A debug address that is not loopback is refused at start.
func TestDebugAddrMustBeLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:6060", "example.com:6060"} {
		t.Run(addr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(binDir, "everything"), "-addr", "127.0.0.1:0", "-debug-addr", addr)
			cmd.Env = os.Environ()
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "not a loopback address") {
				t.Errorf("-debug-addr %s: %v\n%s", addr, err, out)
			}
			if strings.Contains(string(out), "listening on") {
				t.Errorf("-debug-addr %s: the server started before refusing it:\n%s", addr, out)
			}
		})
	}
}
