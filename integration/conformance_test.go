package integration

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"
)

// httpOnly are the server scenarios of the suite that test behaviour of
// the Streamable HTTP transport itself (SSE streams, Host header checks);
// they have no meaning over WebSocket, and run over HTTP
// (TestConformanceHTTP, TestConformanceHTTPRebinding).
var httpOnly = []string{"server-sse-polling", "server-sse-multiple-streams", "dns-rebinding-protection"}

// conformanceScenarios are the server scenarios of the pinned suite
// (@modelcontextprotocol/conformance 0.1.16) that must pass over ws://.
var conformanceScenarios = []string{
	"server-initialize", "logging-set-level", "ping", "completion-complete",
	"tools-list", "tools-call-simple-text", "tools-call-image", "tools-call-audio",
	"tools-call-embedded-resource", "tools-call-mixed-content", "tools-call-with-logging",
	"tools-call-error", "tools-call-with-progress", "tools-call-sampling", "tools-call-elicitation",
	"json-schema-2020-12", "elicitation-sep1034-defaults", "elicitation-sep1330-enums",
	"resources-list", "resources-read-text", "resources-read-binary", "resources-templates-read",
	"resources-subscribe", "resources-unsubscribe",
	"prompts-list", "prompts-get-simple", "prompts-get-with-args", "prompts-get-embedded-resource",
	"prompts-get-with-image",
}

// summaryLine matches the suite's per-scenario summary, e.g.
// "✓ tools-list: 1 passed, 0 failed".
var summaryLine = regexp.MustCompile(`(?m)^[✓✗] ([a-z0-9-]+): (\d+) passed, (\d+) failed`)

// scenarioLine matches the summary of a run of one scenario, e.g.
// "Passed: 2/2, 0 failed".
var scenarioLine = regexp.MustCompile(`(?m)^Passed: (\d+)/\d+, (\d+) failed`)

// TestConformance runs every server scenario of the official MCP
// conformance suite over ws:// against examples/everything. The suite's
// client is made to use the TypeScript SDK's WebSocketClientTransport by
// the resolve hook in node/ws-hook.mjs. The CLI's exit code is not trusted
// (it can exit 0 without connecting): each scenario is judged by its
// printed summary.
func TestConformance(t *testing.T) {
	if len(conformanceScenarios) != 29 {
		t.Fatalf("expected 29 scenarios, listed %d", len(conformanceScenarios))
	}
	p := startEverything(t)
	runConformance(t, "ws://"+p.addr+"/mcp")
}

// TestConformanceHTTP runs the same suite over Streamable HTTP at the same
// path, with authentication on, as a host that speaks only HTTP reaches the
// endpoint: every scenario passes through the stack of mcpws.New (Origin,
// token with audience binding, rates, caps). The suite's client takes no
// token: node/bearer-hook.mjs adds one to its requests. One identity opens a
// session per scenario, 32 in a few seconds.
func TestConformanceHTTP(t *testing.T) {
	p := startEverything(t, "-jwt-secret", testSecret, "-audience", testAudience, "-upgrades-per-user", "100")
	env := []string{"MCP_TOKEN=" + testToken(t, "conformance", testAudience, "")}
	// server-sse-polling runs but makes no check of its own here.
	judged := slices.Concat(conformanceScenarios, []string{"server-sse-multiple-streams"})
	runConformanceEnv(t, "http://"+p.addr+"/mcp", env, judged, []string{"--import", "./bearer-hook.mjs"}, "--suite", "all")
}

// TestConformanceHTTPRebinding runs the suite's DNS rebinding scenario
// against a local endpoint whose Host and Origin allow-lists name its own
// address, as the spec asks of local servers: a foreign Host is refused, a
// local one served. The scenario sends its requests without the fetch the
// bearer hook patches, so the endpoint runs without authentication (with
// it, the foreign Host would get 401 before the Host check, a pass for the
// wrong reason).
func TestConformanceHTTPRebinding(t *testing.T) {
	port := freePort(t)
	p := startBinary(t, "everything", nil, "-addr", fmt.Sprintf("127.0.0.1:%d", port),
		"-hosts", fmt.Sprintf("localhost:%d,127.0.0.1:%d", port, port),
		"-origins", fmt.Sprintf("http://localhost:%d,http://127.0.0.1:%d", port, port))
	runConformanceEnv(t, "http://"+p.addr+"/mcp", nil, []string{"dns-rebinding-protection"}, nil, "--scenario", "dns-rebinding-protection")
}

// runConformance runs the suite's server scenarios against url and judges
// each of conformanceScenarios.
func runConformance(t *testing.T, url string) {
	t.Helper()
	runConformanceEnv(t, url, nil, conformanceScenarios, []string{"--import", "./ws-hook.mjs"}, "--suite", "all")
}

// runConformanceEnv runs the suite's CLI with node flags, environment env
// and cli arguments against url, and judges each scenario of judged by its
// printed summary; every scenario that ran must be a known one.
func runConformanceEnv(t *testing.T, url string, env, judged, nodeFlags []string, cli ...string) {
	t.Helper()
	args := slices.Concat(nodeFlags, []string{"node_modules/@modelcontextprotocol/conformance/dist/index.js", "server", "--url", url}, cli)
	out, _ := runNodeEnv(t, 8*time.Minute, env, args...)
	results := map[string][2]int{}
	for _, m := range summaryLine.FindAllStringSubmatch(out, -1) {
		passed, _ := strconv.Atoi(m[2])
		failed, _ := strconv.Atoi(m[3])
		results[m[1]] = [2]int{passed, failed}
	}
	if m := scenarioLine.FindStringSubmatch(out); m != nil && len(judged) == 1 {
		passed, _ := strconv.Atoi(m[1])
		failed, _ := strconv.Atoi(m[2])
		results[judged[0]] = [2]int{passed, failed}
	}
	for _, name := range judged {
		r, ok := results[name]
		switch {
		case !ok:
			t.Errorf("%s: no result in the suite's output", name)
		case r[1] > 0 || r[0] == 0:
			t.Errorf("%s: %d passed, %d failed", name, r[0], r[1])
		default:
			t.Logf("%s: %d checks passed", name, r[0])
		}
	}
	for name := range results {
		if !slices.Contains(conformanceScenarios, name) && !slices.Contains(httpOnly, name) {
			t.Errorf("the suite ran scenario %s, which this test does not judge", name)
		}
	}
	if t.Failed() {
		t.Logf("suite output:\n%s", out)
	}
}

// freePort returns a loopback port that was free a moment ago, for a server
// whose allow-lists must name its address before it starts.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
