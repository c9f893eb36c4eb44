package wsmcp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

// A message that does not finish arriving in time (a slow loris) gets a
// close frame, 1008 with a fixed reason, not a silent drop.
func TestMessageTimeoutCloses1008(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, newMCPServer(), &wsmcp.HandlerOptions{MessageTimeout: 200 * time.Millisecond})
	c := dialRaw(t, ts.url)
	c.initialize()
	w, err := c.ws.Writer(context.Background(), websocket.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	// More than the writer buffers, so that a first frame goes out; the
	// message never ends.
	if _, err := w.Write([]byte(`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("x", 64<<10))); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.ws.Read(context.Background())
	if code := websocket.CloseStatus(err); code != websocket.StatusPolicyViolation {
		t.Fatalf("read error = %v, want close 1008", err)
	}
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Reason != "message did not arrive in time" {
		t.Errorf("close reason = %q, want %q", ce.Reason, "message did not arrive in time")
	}
}

// A slow consumer is dropped without a close frame: it is recorded as the
// peer sees it, 1006, with the reason for the server's own log.
func TestSlowConsumerRecorded1006(t *testing.T) {
	t.Parallel()
	server := newMCPServer()
	mcp.AddTool(server, &mcp.Tool{Name: "flood"}, func(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		chunk := strings.Repeat("x", 64<<10)
		for i := 0; ; i++ {
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: "f", Progress: float64(i), Message: chunk}); err != nil {
				return nil, nil, err
			}
		}
	})
	closed := make(chan wsmcp.CloseInfo, 1)
	ts := newTestServer(t, server, &wsmcp.HandlerOptions{
		ConnOptions: wsmcp.ConnOptions{MaxQueueBytes: 256 << 10, WriteTimeout: 200 * time.Millisecond},
		Hooks:       &wsmcp.Hooks{Closed: func(_ context.Context, _ wsmcp.ConnInfo, s wsmcp.CloseInfo) { closed <- s }},
	})
	c := dialRaw(t, ts.url)
	c.initialize()
	c.send(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"flood","_meta":{"progressToken":"f"}}}`)
	select {
	case s := <-closed:
		if s.Code != websocket.StatusAbnormalClosure || s.Reason != "slow consumer" {
			t.Errorf("recorded close = %d %q, want 1006 %q", s.Code, s.Reason, "slow consumer")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the slow consumer was never dropped")
	}
}

// A limit that fires on every message is logged once per connection, and
// counted in the close line.
func TestLimitHitsLoggedOnce(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, newMCPServer(), &wsmcp.HandlerOptions{MaxInFlight: 1})
	c := dialRaw(t, ts.url)
	c.initialize()
	c.send(`{"jsonrpc":"2.0","id":"long","method":"tools/call","params":{"name":"sleep","arguments":{"ms":60000}}}`)
	const n = 500
	for i := range n {
		c.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"ping"}`, i))
		if m := c.recv(); errorCode(m) != wsmcp.CodeTooManyInFlight {
			t.Fatalf("ping %d = %v", i, m)
		}
	}
	_ = c.ws.Close(websocket.StatusNormalClosure, "")
	waitFor(t, "the close line", func() bool { return strings.Contains(ts.log.String(), "connection closed") })
	log := ts.log.String()
	if got := strings.Count(log, "limit hit"); got != 1 {
		t.Errorf("limit hit logged %d times, want once", got)
	}
	if !strings.Contains(log, fmt.Sprintf("limit_hits=%d", n)) {
		t.Errorf("close line lacks limit_hits=%d:\n%s", n, log)
	}
}
