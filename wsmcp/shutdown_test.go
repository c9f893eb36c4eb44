package wsmcp_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
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
	t.Parallel()
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
	if n := ts.h.Connections(); n != 0 {
		t.Errorf("sessions after shutdown = %d", n)
	}
}

// When the deadline passes first, Shutdown still closes every socket with
// 1001 and reports the deadline.
func TestShutdownDeadline(t *testing.T) {
	t.Parallel()
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
	if err := shutdownWithin(t, ts.h, ctx, 10*time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want deadline exceeded", err)
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
	var written atomic.Int64
	mcp.AddTool(server, &mcp.Tool{Name: "flood"}, func(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		chunk := strings.Repeat("x", 64<<10)
		for i := 0; ; i++ {
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: "f", Progress: float64(i), Message: chunk}); err != nil {
				handlerErr <- err
				return nil, nil, err
			}
			written.Add(1)
			if i > 100000 {
				handlerErr <- errors.New("wrote 6 GB to a client that does not read")
				return nil, nil, nil
			}
		}
	})
	ts := newTestServer(t, server, &wsmcp.HandlerOptions{ConnOptions: wsmcp.ConnOptions{MaxQueueBytes: 256 << 10, WriteTimeout: 200 * time.Millisecond}})
	c := dialRaw(t, ts.url)
	c.initialize()
	heapBefore := heapInUse()
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
	// What the server took in is bounded by the queue and the kernel's
	// socket buffers, not by how long the client stalls.
	if n := written.Load(); n > 400 {
		t.Errorf("the server accepted %d messages of 64 KiB for a client that reads nothing", n)
	}
	waitFor(t, "the slow consumer to be dropped", func() bool { return ts.h.Connections() == 0 })
	if grew := heapInUse() - heapBefore; grew > 2<<20 {
		t.Errorf("heap grew by %d KiB after the drop, want everything freed", grew>>10)
	}
	t.Logf("accepted %d messages (%d KiB) before dropping the client", written.Load(), written.Load()*64)
	if log := ts.log.String(); !strings.Contains(log, "reason=\"slow consumer\"") {
		t.Errorf("drop not logged as slow consumer:\n%s", log)
	}
}

// Shutdown with 1,000 live sessions, each with a call in flight: new
// upgrades are refused, every call completes with its result, every socket
// is closed with 1001, and (TestMain's goleak) no goroutine is left.
func TestShutdownUnderLoad(t *testing.T) {
	t.Parallel()
	const sessions = 1000
	started, release := make(chan struct{}, sessions), make(chan struct{})
	ts := newTestServer(t, gatedServer(started, release), nil)
	clients := make([]*rawConn, sessions)
	for i := range clients {
		clients[i] = dialRaw(t, ts.url)
		clients[i].initialize()
		clients[i].send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"gate"}}`, i))
	}
	for range sessions {
		<-started
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- ts.h.Shutdown(ctx) }()
	waitFor(t, "new upgrades to be refused", func() bool { return upgradeStatus(t, ts.url) == http.StatusServiceUnavailable })
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with every call still running", err)
	default:
	}
	// The clients read, as live clients do, so that every close handshake
	// completes; a client that reads only after Shutdown returned would
	// hold it for coder/websocket's close timeout.
	type outcome struct {
		result bool
		code   websocket.StatusCode
	}
	outcomes := make(chan outcome, sessions)
	for i, c := range clients {
		go func() {
			m, err := c.tryRecv()
			o := outcome{result: err == nil && m["id"] == float64(i) && m["result"] != nil}
			for err == nil {
				_, err = c.tryRecv()
			}
			o.code = websocket.CloseStatus(err)
			outcomes <- o
		}()
	}
	close(release)
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	results, going := 0, 0
	for range sessions {
		o := <-outcomes
		if o.result {
			results++
		}
		if o.code == websocket.StatusGoingAway {
			going++
		}
	}
	if results != sessions || going != sessions {
		t.Errorf("%d of %d calls completed, %d of %d sockets closed with 1001", results, sessions, going, sessions)
	}
	if n := ts.h.Connections(); n != 0 {
		t.Errorf("%d sessions left", n)
	}
}

// shutdownWithin runs h.Shutdown(ctx) and fails the test if it has not
// returned within bound, so that a Shutdown that ignores its deadline
// fails the test instead of hanging it.
func shutdownWithin(t *testing.T, h *wsmcp.Handler, ctx context.Context, bound time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- h.Shutdown(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(bound):
		t.Fatalf("Shutdown still running %v later", bound)
		return nil
	}
}

// Shutdown honours its deadline with clients that never read: sockets
// whose close handshake (or queued output) outlives the deadline are
// dropped (the log counts them), and Shutdown returns within the deadline
// plus the documented CloseGrace, reporting that the drain was cut short.
// A polite close instead would wait out coder/websocket's 5 s close
// timeouts.
func TestShutdownDeadlineNonReading(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// stall is what the client sends after initialize before it stops
		// reading.
		stall string
	}{
		// The close frame goes out, the reply never comes.
		{"silent", ""},
		// The outbound queue is full and the socket's buffers too: neither
		// the queued output nor the close frame can be written.
		{"flooded", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"count","arguments":{"n":100000,"ms":0,"size":65536},"_meta":{"progressToken":"p"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var progress atomic.Int64
			ts := newTestServer(t, newMCPServer(), &wsmcp.HandlerOptions{Hooks: &wsmcp.Hooks{
				Message: func(_ context.Context, dir wsmcp.Direction, method string, _ int) {
					if dir == wsmcp.Out && method == "notifications/progress" {
						progress.Add(1)
					}
				},
			}})
			const clients = 4
			for range clients {
				c := dialRaw(t, ts.url)
				c.initialize()
				if tt.stall != "" {
					c.send(tt.stall)
				}
			}
			waitFor(t, "the sessions to start", func() bool { return ts.h.Connections() == clients })
			if tt.stall != "" {
				// 50 messages of 64 KiB per client: past the socket buffers, into the
				// 4 MiB queue.
				// Megabytes of JSON encoded under -race: allow a machine many
				// times slower than waitFor's 5 s does.
				for deadline := time.Now().Add(time.Minute); progress.Load() < clients*50; time.Sleep(10 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("the floods wrote %d messages in a minute, want %d", progress.Load(), clients*50)
					}
				}
			}
			// Nothing completes the close handshakes: any deadline is cut
			// short, and a short one keeps the test short.
			const deadline = 200 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			err := shutdownWithin(t, ts.h, ctx, 30*time.Second)
			took := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Shutdown = %v, want deadline exceeded", err)
			}
			if want := "dropped=" + strconv.Itoa(clients); !strings.Contains(ts.log.String(), want) {
				t.Errorf("the shutdown log does not say %s:\n%s", want, ts.log)
			}
			// CloseGrace is the most Shutdown overruns its deadline; ten
			// times that is room for a busy machine, and still short of
			// the 5 s a polite close would take.
			if limit := deadline + 10*wsmcp.CloseGrace; took > limit {
				t.Errorf("Shutdown with a %v deadline took %v, over %v", deadline, took, limit)
			}
			t.Logf("Shutdown returned after %v", took.Round(time.Millisecond))
			if n := ts.h.Connections(); n != 0 {
				t.Errorf("%d sessions left after Shutdown", n)
			}
		})
	}
}
