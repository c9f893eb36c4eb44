package wsmcp_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

// What a client can make the session store hold is bounded: an initialize
// that offers resumption with params over 4 KiB, and subscriptions past
// 100, 8 KiB of URIs in all or 2 KiB each, are refused with -32602 and a
// message that says so, before the SDK sees them; the connection stays
// up, and the stored state stays under 16 KiB. An unsubscribe makes room
// again.
func TestStoredStateBounded(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	var runs atomic.Int32
	ts := newTestServer(t, subscribableServer(&runs), &wsmcp.HandlerOptions{Resumption: &wsmcp.ResumptionOptions{Store: store}})
	c, id := dialRawHeader(t, ts.url, http.Header{})
	const (
		initMsg = "invalid params: a resumable session keeps its initialize params in the session store, at most 4096 bytes of them; send fewer, or do not offer resumption"
		subMsg  = "invalid params: a resumable session keeps its subscriptions in the session store, at most 100 of them, 8192 bytes of URIs in all and 2048 per URI; unsubscribe first"
	)
	// reply reads up to the next answer: acknowledgements come between.
	reply := func() map[string]any {
		t.Helper()
		for {
			if m := c.recv(); m["id"] != nil {
				return m
			}
		}
	}
	refused := func(reply map[string]any, want string) {
		t.Helper()
		e, _ := reply["error"].(map[string]any)
		if errorCode(reply) != jsonrpc.CodeInvalidParams || e["message"] != want {
			t.Fatalf("reply %v; want %d %q", reply, jsonrpc.CodeInvalidParams, want)
		}
	}
	initialize := func(pad int) map[string]any {
		c.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":"i%d","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"experimental":{"pad":%q}},"clientInfo":{"name":"raw","version":"1"},"_meta":{"io.mcpws/resume":{}}}}`, pad, strings.Repeat("x", pad)))
		return reply()
	}
	refused(initialize(4096), initMsg)
	if reply := initialize(3800); errorCode(reply) != 0 {
		t.Fatalf("an initialize under the bound: %v", reply)
	}
	c.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)

	subscribe := func(i int, uri string) map[string]any {
		c.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":"s%d","method":"resources/subscribe","params":{"uri":%q}}`, i, uri))
		return reply()
	}
	refused(subscribe(0, "test://"+strings.Repeat("u", 2048)), subMsg)
	// 80-byte URIs: 83 bytes each in the stored JSON, 98 of them fit.
	uri := func(i int) string { return fmt.Sprintf("test://%073d", i) }
	n := 0
	for ; n < 200; n++ {
		reply := subscribe(n+1, uri(n))
		if errorCode(reply) != 0 {
			refused(reply, subMsg)
			break
		}
	}
	if n != 98 {
		t.Fatalf("%d subscriptions of 80 bytes accepted; want 98 (8192 bytes)", n)
	}
	if reply := subscribe(1000, uri(0)); errorCode(reply) != 0 {
		t.Fatalf("subscribing again to a subscribed URI: %v", reply)
	}
	c.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":"u","method":"resources/unsubscribe","params":{"uri":%q}}`, uri(0)))
	if r := reply(); errorCode(r) != 0 {
		t.Fatal(r)
	}
	if reply := subscribe(1001, uri(500)); errorCode(reply) != 0 {
		t.Fatalf("a subscription after an unsubscribe: %v", reply)
	}
	waitFor(t, "the subscriptions in the store", func() bool { return strings.Contains(string(store.get(id)), uri(500)) })
	if size := len(store.get(id)); size > 16<<10 {
		t.Fatalf("stored state of %d bytes; want at most 16 KiB", size)
	} else {
		t.Logf("stored state at the bounds: %d bytes", size)
	}
}

// A session whose state grows past 16 KiB after it was first stored (the
// server's own initialize result, here 9 KiB of instructions, is the part
// no client bound covers) stops being stored, and its stored state is
// ended: no replica re-creates it, nor admits the secret it named; it
// still resumes on its own replica.
func TestStateTooLargeAfterCreate(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	ro := wsmcp.ResumptionOptions{Store: store}
	srv := func() *mcp.Server {
		s := mcp.NewServer(&mcp.Implementation{Name: "big", Version: "1"}, &mcp.ServerOptions{
			Instructions:       strings.Repeat("i", 9<<10),
			SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
			UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
		})
		return s
	}
	a, b := newPeerWith(t, ro, srv), newPeerWith(t, ro, srv)
	c, id := a.dialAs(t, "alice", nil)
	secret := grantedSession(t, c)
	c.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	waitFor(t, "the state in the store", func() bool { return store.get(id) != nil })
	for i := range 90 {
		c.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"resources/subscribe","params":{"uri":"test://%073d"}}`, i+1, i))
	}
	waitFor(t, "the stored state to be ended", func() bool {
		return strings.Contains(a.log.String(), "too large to store") && store.ended(id)
	})
	if reply, code := b.resumeOn(t, "alice", id, secret); errorCode(reply) != wsmcp.CodeNotResumable {
		t.Fatalf("B re-created a session whose state no longer fits: %v, close %d", reply, code)
	}
	_ = c.ws.CloseNow()
	if reply, code := a.resumeOn(t, "alice", id, secret); errorCode(reply) != 0 {
		t.Fatalf("the session no longer resumes on its own replica: %v, close %d", reply, code)
	}
}
