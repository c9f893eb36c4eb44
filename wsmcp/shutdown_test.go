package wsmcp_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

// gatedServer has a tool "gate" that reports when it starts and then
// waits until release is closed, or until cancelled.
func gatedServer(started chan<- struct{}, release <-chan struct{}) *mcp.Server {
	s := newMCPServer()
	mcp.AddTool(s, &mcp.Tool{Name: "gate"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		started <- struct{}{}
		select {
		case <-release:
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "finished"}}}, nil, nil
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	})
	return s
}

func upgradeStatus(t *testing.T, url string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"mcp"}})
	if err == nil {
		ws.CloseNow()
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	return resp.StatusCode
}

// Shutdown lets running calls finish, refuses new work, then closes 1001.
func TestShutdownDrains(t *testing.T) {
	started, release := make(chan struct{}, 1), make(chan struct{})
	ts := newTestServer(t, gatedServer(started, release), nil)
	c := dialRaw(t, ts.url)
	c.initialize()
	c.send(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"gate"}}`)
	<-started

	done := make(chan error, 1)
	go func() { done <- ts.h.Shutdown(context.Background()) }()
	waitFor(t, "new upgrades to be refused", func() bool { return upgradeStatus(t, ts.url) == http.StatusServiceUnavailable })

	c.send(`{"jsonrpc":"2.0","id":2,"method":"ping"}`)
	if m := c.recv(); m["id"] != float64(2) || errorCode(m) != wsmcp.CodeShuttingDown {
		t.Fatalf("request during drain: %v, want code %d", m, wsmcp.CodeShuttingDown)
	}
	close(release)
	m := c.recv()
	if m["id"] != float64(1) || m["result"] == nil || !strings.Contains(m["result"].(map[string]any)["content"].([]any)[0].(map[string]any)["text"].(string), "finished") {
		t.Fatalf("in-flight call's reply = %v", m)
	}
	if code := c.closeCode(); code != websocket.StatusGoingAway {
		t.Errorf("close code = %d, want 1001", code)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if n := ts.h.Sessions(); n != 0 {
		t.Errorf("sessions after shutdown = %d", n)
	}
}

// When the deadline passes first, Shutdown still closes every socket with
// 1001 and reports the deadline.
func TestShutdownDeadline(t *testing.T) {
	started := make(chan struct{}, 1)
	ts := newTestServer(t, gatedServer(started, nil), nil)
	c := dialRaw(t, ts.url)
	c.initialize()
	c.send(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"gate"}}`)
	<-started
	// The client reads, as a live client does, so the close handshake completes.
	codes := make(chan websocket.StatusCode, 1)
	go func() { codes <- c.closeCode() }()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := ts.h.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v with a 100ms deadline and a responsive client", d)
	}
	if code := <-codes; code != websocket.StatusGoingAway {
		t.Errorf("close code = %d, want 1001", code)
	}
}

// A client that never reads cannot grow server memory: once the bounded
// queue stays full past the write timeout the socket is dropped and the
// writing handler gets an error.
func TestSlowConsumerDropped(t *testing.T) {
	server := newMCPServer()
	handlerErr := make(chan error, 1)
	mcp.AddTool(server, &mcp.Tool{Name: "flood"}, func(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		chunk := strings.Repeat("x", 64<<10)
		for i := 0; ; i++ {
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: "f", Progress: float64(i), Message: chunk}); err != nil {
				handlerErr <- err
				return nil, nil, err
			}
			if i > 100000 {
				handlerErr <- errors.New("wrote 6 GB to a client that does not read")
				return nil, nil, nil
			}
		}
	})
	ts := newTestServer(t, server, &wsmcp.HandlerOptions{MaxQueueBytes: 256 << 10, WriteTimeout: 200 * time.Millisecond})
	c := dialRaw(t, ts.url)
	c.initialize()
	c.send(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"flood","_meta":{"progressToken":"f"}}}`)
	// The raw client now reads nothing.
	select {
	case err := <-handlerErr:
		if !errors.Is(err, wsmcp.ErrSlowConsumer) && !errors.Is(err, wsmcp.ErrClosed) && !strings.Contains(err.Error(), "closed") {
			t.Fatalf("handler error = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the flooding handler never saw an error")
	}
	waitFor(t, "the slow consumer to be dropped", func() bool { return ts.h.Sessions() == 0 })
	if log := ts.log.String(); !strings.Contains(log, "reason=\"slow consumer\"") {
		t.Errorf("drop not logged as slow consumer:\n%s", log)
	}
}
