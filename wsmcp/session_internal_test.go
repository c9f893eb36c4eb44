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
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
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
		waitUntil(t, "the socket to be forgotten", func() bool { return h.Connections() == 0 })
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

// A notification fanned out to every subscriber never waits for a resume
// of one of them to queue its replay (attaching), which a client that does
// not read can hold up for the write timeout: it is kept, to go out right
// after the replay, and the writer moves on to the next subscriber.
func TestFanOutDuringAttachDoesNotWait(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	h := NewHandler(func(*http.Request) *mcp.Server { return srv }, &HandlerOptions{Resumption: &ResumptionOptions{GracePeriod: time.Hour}})
	ts := httptest.NewServer(h)
	defer ts.Close()
	defer h.Shutdown(context.Background())
	ctx := context.Background()
	ws, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http"), &websocket.DialOptions{Subprotocols: []string{"mcp"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = ws.Write(ctx, websocket.MessageText, []byte(`{"jsonrpc":"2.0","id":"i","method":"initialize","params":{"_meta":{"io.mcpws/resume":{}},"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`))
	if _, d, err := ws.Read(ctx); err != nil || !strings.Contains(string(d), "secret") {
		t.Fatalf("no grant: %s %v", d, err)
	}
	_ = ws.CloseNow()
	id := resp.Header.Get(SessionIDHeader)
	var s *session
	waitUntil(t, "the session to park", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		s = h.sessions[id]
		return s != nil && h.parked == 1
	})
	// A resume is queueing its replay on a socket that does not drain.
	s.mu.Lock()
	s.attaching = true
	s.mu.Unlock()
	written := make(chan error, 1)
	go func() {
		written <- s.Write(ctx, &jsonrpc.Request{Method: "notifications/resources/updated", Params: []byte(`{"uri":"test://r"}`)})
	}()
	select {
	case err := <-written:
		if err != nil {
			t.Fatalf("Write = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a fanned-out notification waited for the resume of one subscriber")
	}
	s.mu.Lock()
	kept := len(s.deferred)
	s.attaching = false
	s.notifyLocked()
	s.mu.Unlock()
	if kept != 1 {
		t.Errorf("%d notifications kept for after the replay, want 1", kept)
	}
}
