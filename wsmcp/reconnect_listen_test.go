package wsmcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/chaos"
	"github.com/mcpws/mcpws/wsmcp"
)

// listenWatch wraps a client transport and records every error response
// to a subscriptions/listen request that reaches the SDK, which drops them
// without a word: a listen that failed would go unnoticed.
type listenWatch struct {
	mcp.Transport

	mu      sync.Mutex
	listen  map[any]bool // ids of the listen requests open
	errs    []string
	cancels int // notifications/cancelled written
}

func (w *listenWatch) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := w.Transport.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &watchedConn{Connection: c, w: w}, nil
}

func (w *listenWatch) cancelled() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cancels
}

func (w *listenWatch) errors() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.errs...)
}

type watchedConn struct {
	mcp.Connection
	w *listenWatch
}

func (c *watchedConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	if req, ok := msg.(*jsonrpc.Request); ok && req.Method == "subscriptions/listen" {
		c.w.mu.Lock()
		c.w.listen[req.ID.Raw()] = true
		c.w.mu.Unlock()
	}
	err := c.Connection.Write(ctx, msg)
	if req, ok := msg.(*jsonrpc.Request); ok && req.Method == "notifications/cancelled" && err == nil {
		// The SDK has given up the call: what it is answered with no longer
		// matters.
		var p struct {
			RequestID float64 `json:"requestId"`
		}
		_ = json.Unmarshal(req.Params, &p)
		c.w.mu.Lock()
		c.w.cancels++
		delete(c.w.listen, int64(p.RequestID))
		c.w.mu.Unlock()
	}
	return err
}

func (c *watchedConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	msg, err := c.Connection.Read(ctx)
	if resp, ok := msg.(*jsonrpc.Response); ok && resp.Error != nil {
		c.w.mu.Lock()
		if c.w.listen[resp.ID.Raw()] {
			c.w.errs = append(c.w.errs, fmt.Sprintf("listen %v: %v", resp.ID.Raw(), resp.Error))
		}
		c.w.mu.Unlock()
	}
	return msg, err
}

// A 2026-07-28 client keeps receiving what it subscribed to after its
// socket is cut: the transport sends its subscriptions/listen requests
// again on the new socket, instead of failing them with CodeConnectionLost
// (which the SDK ignores, leaving the client deaf without a sign). A
// subscription cancelled before the cut is not sent again, whether the
// server saw the cancellation or it was lost with the socket.
func TestReconnectKeepsSubscriptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// lostCancel: the cancellation is written into a stalled socket
		// that is then cut, so the server never answers it.
		lostCancel bool
	}{
		{name: "cancellation answered"},
		{name: "cancellation lost", lostCancel: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { testKeepsSubscriptions(t, tc.lostCancel) })
	}
}

func testKeepsSubscriptions(t *testing.T, lostCancel bool) {
	const uri, dropped = "test://watched", "test://dropped"
	var unsubscribed atomic.Int64
	server := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler: func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(_ context.Context, req *mcp.UnsubscribeRequest) error {
			if req.Params.URI == dropped {
				unsubscribed.Add(1)
			}
			return nil
		},
	})
	read := func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "x"}}}, nil
	}
	server.AddResource(&mcp.Resource{URI: uri, Name: "watched"}, read)
	server.AddResource(&mcp.Resource{URI: dropped, Name: "dropped"}, read)
	// Each acknowledgement means one listen request is registered on the
	// server, so that what is raised afterwards must arrive.
	var acks atomic.Int64
	server.AddSendingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			res, err := next(ctx, method, req)
			if method == "notifications/subscriptions/acknowledged" {
				acks.Add(1)
			}
			return res, err
		}
	})
	ts := newTestServer(t, server, nil)
	proxy, err := chaos.New(strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)

	var updated, updatedDropped, listChanged atomic.Int64
	client := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			if req.Params.URI == dropped {
				updatedDropped.Add(1)
				return
			}
			updated.Add(1)
		},
		ResourceListChangedHandler: func(context.Context, *mcp.ResourceListChangedRequest) { listChanged.Add(1) },
	})
	var ev events
	watch := &listenWatch{
		Transport: &wsmcp.ClientTransport{URL: "ws://" + proxy.Addr(), Reconnect: ev.options(wsmcp.ReconnectOptions{})},
		listen:    map[any]bool{},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, watch, &mcp.ClientSessionOptions{ProtocolVersion: "2026-07-28"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	for _, u := range []string{uri, dropped} {
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: u}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the three listen requests to be acknowledged", func() bool { return acks.Load() == 3 })

	// raise makes n resource updates and n list changes, one at a time
	// (list changes are debounced), and waits for each to arrive.
	const n = 5
	raise := func(phase string) {
		t.Helper()
		for i := range n {
			u, l := updated.Load(), listChanged.Load()
			for _, u := range []string{dropped, uri} {
				if err := server.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: u}); err != nil {
					t.Fatal(err)
				}
			}
			server.AddResource(&mcp.Resource{URI: fmt.Sprintf("test://%s/%d", phase, i), Name: "added"}, read)
			waitFor(t, fmt.Sprintf("update and list change %d %s the cut", i, phase), func() bool {
				return updated.Load() > u && listChanged.Load() > l
			})
		}
	}
	raise("before")

	// End one subscription. (This comes after the "before" round: the
	// go-sdk server drops a session's list-change subscription when any
	// listen of the session ends.)
	if lostCancel {
		proxy.Stall()
	}
	if err := cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: dropped}); err != nil {
		t.Fatal(err)
	}
	if lostCancel {
		waitFor(t, "the cancellation to be written", func() bool { return watch.cancelled() == 1 })
	} else {
		waitFor(t, "the server to end the cancelled subscription", func() bool { return unsubscribed.Load() == 1 })
	}
	droppedBefore := updatedDropped.Load()
	proxy.Cut()
	waitFor(t, "the transport to reconnect", func() bool { c, _ := ev.counts(); return c == 2 })
	for deadline := time.Now().Add(5 * time.Second); acks.Load() < 5; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 2 listen requests registered again after the cut; the listen requests failed with %v",
				acks.Load()-3, watch.errors())
		}
	}
	raise("after")

	if u, l := updated.Load(), listChanged.Load(); u != 2*n || l != 2*n {
		t.Errorf("received %d updates and %d list changes, want %d of each", u, l, 2*n)
	}
	if n := acks.Load(); n != 5 {
		t.Errorf("%d listen requests registered in all, want 3 before the cut and 2 after: the cancelled one came back", n)
	}
	if n := updatedDropped.Load() - droppedBefore; n != 0 {
		t.Errorf("received %d updates of a resource unsubscribed before the cut", n)
	}
	if errs := watch.errors(); len(errs) > 0 {
		t.Errorf("listen requests failed: %v", errs)
	}
	if c, d := ev.counts(); c != 2 || d != 1 {
		t.Errorf("hooks: %d connected, %d disconnected; want 2 and 1", c, d)
	}
	// The session still works for calls.
	if _, err := cs.ListResources(ctx, nil); err != nil {
		t.Errorf("list after the cut: %v", err)
	}
}
