package integration

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

// examples/prometheus: a session and a refusal show up on /metrics, and in
// the JSON log.
func TestPrometheusExample(t *testing.T) {
	p := startExample(t, "prometheus", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "go", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &wsmcp.ClientTransport{URL: "ws://" + p.addr + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}}); err != nil {
		t.Fatal(err)
	}
	// A browser page from any origin is refused: no origins are allowed.
	_, err = (&wsmcp.ClientTransport{URL: "ws://" + p.addr + "/mcp", Header: http.Header{"Origin": {"https://evil.example"}}}).Connect(ctx)
	if err == nil {
		t.Fatal("foreign origin accepted")
	}

	resp, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metrics := string(body)
	for _, want := range []string{
		`mcpws_sessions_active{mcpws_transport="websocket",otel_scope_name="github.com/mcpws/mcpws/otelmcpws"`,
		`mcpws_messages_total{mcp_method_name="tools/call",mcpws_direction="in"`,
		`mcpws_upgrades_total{http_response_status_code="403",mcpws_outcome="refused",mcpws_reason="origin"`,
		`mcpws_request_duration_seconds_bucket{mcp_method_name="tools/call"`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", metrics)
	}
	cs.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Logs(), `"msg":"wsmcp: connection closed"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no close event in the log:\n%s", p.Logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range []string{`"msg":"wsmcp: connection opened"`, `"msg":"mcpws: request refused"`, `"reason":"origin"`, `"messages_in":`} {
		if !strings.Contains(p.Logs(), want) {
			t.Errorf("log lacks %s:\n%s", want, p.Logs())
		}
	}
}
