package wsmcp

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// serverConn returns the server side of a socket pair as a *conn.
func serverConn(t *testing.T, lim *limits) *conn {
	t.Helper()
	conns := make(chan *websocket.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		conns <- ws
	}))
	t.Cleanup(srv.Close)
	client, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.CloseNow() })
	c := newConn(<-conns, "test", lim, false)
	t.Cleanup(func() { c.shutdown(websocket.StatusNormalClosure, "", false, nil) })
	return c
}

// A response waiting for room in a full queue still counts against the
// in-flight bounds: a peer that stops reading cannot pile up results by
// sending more calls. Once it is queued, the call is off the books.
func TestResponseCountsUntilQueued(t *testing.T) {
	t.Parallel()
	lim := limits{pingInterval: -1, writeTimeout: time.Minute, maxQueueBytes: 10}.resolved(DefaultServerReadLimit)
	c := serverConn(t, &lim)
	var b budgets
	c.flights = b.newFlights("", 1<<20)
	id, _ := jsonrpc.MakeID("call")
	if !c.admit(&jsonrpc.Request{ID: id, Method: "tools/call"}, 1000) {
		t.Fatal("call not admitted")
	}
	// Stand in for a writer that makes no progress, with a full queue.
	c.mu.Lock()
	c.writing, c.queued = true, 10
	c.mu.Unlock()

	written := make(chan error, 1)
	go func() { written <- c.Write(context.Background(), &jsonrpc.Response{ID: id, Result: []byte(`{}`)}) }()
	waitUntil(t, "the writer to wait for room", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.waiters > 0
	})
	c.mu.Lock()
	_, counted := c.inCalls["call"]
	c.mu.Unlock()
	if !counted || c.flights.held() != 1000 {
		t.Errorf("while waiting: counted %v, %d bytes held; want the call still counted", counted, c.flights.held())
	}
	// Room: the response is queued and the call released.
	c.mu.Lock()
	c.queued = 0
	c.broadcastLocked()
	c.mu.Unlock()
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	_, counted = c.inCalls["call"]
	c.mu.Unlock()
	if counted || c.flights.held() != 0 {
		t.Errorf("once queued: counted %v, %d bytes held; want none", counted, c.flights.held())
	}
}

// A call we gave up on (notifications/cancelled) leaves nothing behind.
func TestCancelledOutgoingCallForgotten(t *testing.T) {
	t.Parallel()
	lim := limits{pingInterval: -1}.resolved(DefaultServerReadLimit)
	c := serverConn(t, &lim)
	for i := range 100 {
		id, _ := jsonrpc.MakeID(float64(i))
		if err := c.Write(context.Background(), &jsonrpc.Request{ID: id, Method: "sampling/createMessage", Params: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		params := fmt.Appendf(nil, `{"requestId":%d}`, i)
		if err := c.Write(context.Background(), &jsonrpc.Request{Method: "notifications/cancelled", Params: params}); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	n := len(c.outCalls)
	c.mu.Unlock()
	if n != 0 {
		t.Errorf("%d cancelled calls still tracked", n)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A request whose Write is still waiting to be queued when its socket dies
// is answered once: failLost makes up CodeConnectionLost for it, and the
// Write then reports it done instead of failing, so that the reconnecting
// client does not send it again on the next socket, whose server would
// answer it a second time.
func TestLostCallAnsweredOnce(t *testing.T) {
	t.Parallel()
	lim := limits{pingInterval: -1, writeTimeout: time.Minute, maxQueueBytes: 10}.resolved(DefaultClientReadLimit)
	c := serverConn(t, &lim)
	// Stand in for a writer that makes no progress, with a full queue.
	c.mu.Lock()
	c.writing, c.queued = true, 10
	c.mu.Unlock()
	id, _ := jsonrpc.MakeID("lost")
	written := make(chan error, 1)
	go func() { written <- c.Write(context.Background(), &jsonrpc.Request{ID: id, Method: "tools/call"}) }()
	waitUntil(t, "the call to wait for room", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.outCalls[idKey(id)]
		return ok
	})
	// The socket dies: its reader answers the calls it sent, then closes.
	r := &redialer{}
	r.failLost(c)
	c.shutdown(websocket.StatusAbnormalClosure, "", false, nil)
	if err := <-written; err != nil {
		t.Fatalf("Write = %v; the call was answered, and must not be sent again", err)
	}
	if n := len(r.pending); n != 1 {
		t.Fatalf("%d responses made up, want 1", n)
	}
}

// Close on a socket that was dropped (abort) returns at once, even with
// messages left in the queue and no writer: the SDK calls it from the
// goroutine that found the connection idle after a failed write, which may
// be notifying every subscriber of the server in turn.
func TestCloseAfterDropDoesNotFlush(t *testing.T) {
	t.Parallel()
	lim := limits{pingInterval: -1, writeTimeout: time.Minute}.resolved(DefaultServerReadLimit)
	c := serverConn(t, &lim)
	// What abort leaves before its own shutdown runs: a status, a dropped
	// socket, a queue that no writer will send.
	c.mu.Lock()
	c.status = closeStatus{code: websocket.StatusAbnormalClosure, reason: reasonSlowConsumer, err: ErrSlowConsumer}
	c.queue, c.queued = [][]byte{[]byte(`{}`)}, 2
	c.mu.Unlock()
	_ = c.ws.CloseNow()

	closed := make(chan struct{})
	go func() { _ = c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close on a dropped socket waited to flush its queue (up to the 1 minute write timeout)")
	}
	if st := c.closeInfo(); st.Code != websocket.StatusAbnormalClosure || st.Reason != reasonSlowConsumer {
		t.Errorf("closed with %d %q, want the status recorded when the socket was dropped", st.Code, st.Reason)
	}
}
