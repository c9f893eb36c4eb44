package integration

import (
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"
)

// httpOnly are the server scenarios of the suite that test behaviour of
// the Streamable HTTP transport itself (SSE streams, Host header checks);
// they have no meaning over WebSocket. The Origin and Host checks are the
// middleware package's, tested there.
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

// runConformance runs the suite's server scenarios against url and judges
// each of conformanceScenarios.
func runConformance(t *testing.T, url string) {
	t.Helper()
	out, _ := runNode(t, 8*time.Minute, "--import", "./ws-hook.mjs", "node_modules/@modelcontextprotocol/conformance/dist/index.js",
		"server", "--suite", "all", "--url", url)
	results := map[string][2]int{}
	for _, m := range summaryLine.FindAllStringSubmatch(out, -1) {
		passed, _ := strconv.Atoi(m[2])
		failed, _ := strconv.Atoi(m[3])
		results[m[1]] = [2]int{passed, failed}
	}
	for _, name := range conformanceScenarios {
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
