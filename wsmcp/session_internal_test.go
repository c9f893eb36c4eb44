package wsmcp

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A session that the server closes just as its client vanishes is never
// parked: an ended session would hold a parked slot for good.
func TestParkedCountAfterCloseRace(t *testing.T) {
	s := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	h := NewHandler(func(*http.Request) *mcp.Server { return s }, &HandlerOptions{Resumption: &ResumptionOptions{GracePeriod: time.Hour}})
	ts := httptest.NewServer(h)
	defer ts.Close()
	url := "ws" + strings.TrimPrefix(ts.URL, "http")
	ctx := context.Background()
	const rounds = 100
	for range rounds {
		ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"mcp"}})
		if err != nil {
			t.Fatal(err)
		}
		_ = ws.Write(ctx, websocket.MessageText, []byte(`{"jsonrpc":"2.0","id":"i","method":"initialize","params":{"_meta":{"io.mcpws/resume":{"window":1000000}},"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`))
		if _, d, err := ws.Read(ctx); err != nil || !strings.Contains(string(d), "secret") {
			t.Fatalf("no grant: %s %v", d, err)
		}
		var ss *mcp.ServerSession
		for x := range s.Sessions() {
			ss = x
		}
		var wg sync.WaitGroup
		wg.Go(func() { _ = ws.CloseNow() })
		wg.Go(func() { _ = ss.Close() })
		wg.Wait()
		waitUntil(t, "the socket to be forgotten", func() bool { return h.Sessions() == 0 })
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = h.Shutdown(sctx)
	h.mu.Lock()
	parked := h.parked
	h.mu.Unlock()
	if parked != 0 {
		t.Errorf("after Shutdown h.parked = %d: leaked; grace timers still armed", parked)
	}
}
