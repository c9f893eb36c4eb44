package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

// The latency that mcpws connect adds to a call: the same go-sdk client
// calls echo on examples/everything directly over WebSocket and through
// the bridge (CommandTransport launching mcpws connect), alternating call
// by call so that both see the same machine. Opt-in:
//
//	MCPWS_BRIDGE_LATENCY=2000 go test -run TestBridgeLatency -v ./integration/
func TestBridgeLatency(t *testing.T) {
	n := 0
	if v := os.Getenv("MCPWS_BRIDGE_LATENCY"); v != "" {
		if _, err := fmt.Sscan(v, &n); err != nil || n <= 0 || n > 100000 {
			t.Fatalf("MCPWS_BRIDGE_LATENCY=%q: want a number of calls, 1 to 100000", v)
		}
	}
	if n == 0 {
		t.Skip("set MCPWS_BRIDGE_LATENCY=N to measure N calls each way")
	}
	p := startEverything(t, "-rate", "-1")
	url := "ws://" + p.addr + "/mcp"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	connect := func(tr mcp.Transport) *mcp.ClientSession {
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "latency", Version: "1"}, nil).Connect(ctx, tr, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.Close() })
		return cs
	}
	direct := connect(&wsmcp.ClientTransport{URL: url})
	bridged := connect(&mcp.CommandTransport{Command: exec.Command(bridgeBin(t), "connect", "--log-level", "warn", url)})

	params := &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "ping"}}
	call := func(cs *mcp.ClientSession) time.Duration {
		start := time.Now()
		if _, err := cs.CallTool(ctx, params); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	for range 200 { // warm up both paths
		call(direct)
		call(bridged)
	}
	var d, b []time.Duration
	for i := range n {
		if i%2 == 0 {
			d = append(d, call(direct))
			b = append(b, call(bridged))
		} else {
			b = append(b, call(bridged))
			d = append(d, call(direct))
		}
	}
	slices.Sort(d)
	slices.Sort(b)
	q := func(s []time.Duration, f float64) time.Duration { return s[int(f*float64(len(s)-1))] }
	t.Logf("%d echo calls each way, alternating", n)
	t.Logf("direct:  p50 %v  p99 %v", q(d, 0.50), q(d, 0.99))
	t.Logf("bridged: p50 %v  p99 %v", q(b, 0.50), q(b, 0.99))
	t.Logf("added:   p50 %v  p99 %v", q(b, 0.50)-q(d, 0.50), q(b, 0.99)-q(d, 0.99))
}
