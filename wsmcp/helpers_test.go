package wsmcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"

	"github.com/mcpws/mcpws/internal/testlog"
	"github.com/mcpws/mcpws/wsmcp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testServer is a Handler on an httptest server, with a captured log.
type testServer struct {
	*httptest.Server
	h   *wsmcp.Handler
	log *testlog.Buffer
	url string
}

// newTestServer serves server over WebSocket. opts may be nil; its Logger
// is replaced by a captured one.
func newTestServer(t *testing.T, server *mcp.Server, opts *wsmcp.HandlerOptions) *testServer {
	t.Helper()
	return newWrappedServer(t, server, opts, nil)
}

// newWrappedServer is newTestServer with wrap (if not nil) around the
// Handler, in the place of middleware.
func newWrappedServer(t *testing.T, server *mcp.Server, opts *wsmcp.HandlerOptions, wrap func(http.Handler) http.Handler) *testServer {
	t.Helper()
	return newServerWith(t, server, opts, wrap, nil)
}

// newServerWith is newWrappedServer with prepare (if not nil) run on the
// httptest server before it starts: to replace its listener, say.
func newServerWith(t *testing.T, server *mcp.Server, opts *wsmcp.HandlerOptions, wrap func(http.Handler) http.Handler, prepare func(*httptest.Server)) *testServer {
	t.Helper()
	var o wsmcp.HandlerOptions
	if opts != nil {
		o = *opts
	}
	buf := &testlog.Buffer{}
	o.Logger = slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := wsmcp.NewHandler(func(*http.Request) *mcp.Server { return server }, &o)
	var handler http.Handler = h
	if wrap != nil {
		handler = wrap(h)
	}
	ts := httptest.NewUnstartedServer(handler)
	if prepare != nil {
		prepare(ts)
	}
	ts.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
		ts.Close()
	})
	return &testServer{Server: ts, h: h, log: buf, url: "ws" + strings.TrimPrefix(ts.URL, "http")}
}

// newMCPServer returns a server with the tools the tests call.
func newMCPServer() *mcp.Server { return newMCPServerWith(nil) }

// newMCPServerWith is newMCPServer with options.
func newMCPServerWith(opts *mcp.ServerOptions) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, opts)
	type echoArgs struct {
		Text string `json:"text"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
	})
	type sleepArgs struct {
		MS int `json:"ms"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "sleep"}, func(ctx context.Context, _ *mcp.CallToolRequest, in sleepArgs) (*mcp.CallToolResult, any, error) {
		t := time.NewTimer(time.Duration(in.MS) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "slept"}}}, nil, nil
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	})
	type countArgs struct {
		N    int `json:"n"`
		MS   int `json:"ms"`
		Size int `json:"size,omitempty"` // of each notification's message
	}
	mcp.AddTool(s, &mcp.Tool{Name: "count"}, func(ctx context.Context, req *mcp.CallToolRequest, in countArgs) (*mcp.CallToolResult, any, error) {
		for i := range in.N {
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
				ProgressToken: req.Params.GetProgressToken(), Progress: float64(i), Total: float64(in.N),
				Message: strings.Repeat("x", in.Size),
			}); err != nil {
				return nil, nil, err
			}
			time.Sleep(time.Duration(in.MS) * time.Millisecond)
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("counted %d", in.N)}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "ask"}, func(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{
			Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "question"}}}, MaxTokens: 10,
		})
		if err != nil {
			return nil, nil, err
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "answer: " + res.Content.(*mcp.TextContent).Text}}}, nil, nil
	})
	return s
}

// toolStarts returns a channel that receives once each time server starts
// to run the tool named name.
func toolStarts(server *mcp.Server, name string) <-chan struct{} {
	started := make(chan struct{}, 100)
	server.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if p, ok := req.GetParams().(*mcp.CallToolParamsRaw); ok && p.Name == name {
				started <- struct{}{}
			}
			return next(ctx, method, req)
		}
	})
	return started
}

// rawConn is a test client that speaks JSON-RPC by hand.
type rawConn struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialRaw(t *testing.T, url string) *rawConn {
	t.Helper()
	c, _ := dialRawHeader(t, url, nil)
	return c
}

// dialRawHeader dials with header and returns the session id too.
func dialRawHeader(t *testing.T, url string, header http.Header) (*rawConn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"mcp"}, HTTPHeader: header})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(-1)
	t.Cleanup(func() { _ = ws.CloseNow() })
	return &rawConn{t: t, ws: ws}, resp.Header.Get(wsmcp.SessionIDHeader)
}

func (c *rawConn) sendType(typ websocket.MessageType, s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, typ, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *rawConn) send(s string) { c.t.Helper(); c.sendType(websocket.MessageText, s) }

// recv reads one message and decodes it.
func (c *rawConn) recv() map[string]any {
	c.t.Helper()
	m, err := c.tryRecv()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

func (c *rawConn) tryRecv() (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, data, err := c.ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("reply is not JSON: %q", data)
	}
	return m, nil
}

// closeCode reads until the socket closes and returns the close code.
func (c *rawConn) closeCode() websocket.StatusCode {
	c.t.Helper()
	for {
		if _, err := c.tryRecv(); err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

// initialize performs the 2025-11-25 handshake.
func (c *rawConn) initialize() {
	c.t.Helper()
	c.send(`{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	if m := c.recv(); m["id"] != "init" || m["result"] == nil {
		c.t.Fatalf("initialize reply = %v", m)
	}
	c.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
}

// errorCode returns the code of an error reply, or 0.
func errorCode(m map[string]any) int {
	e, ok := m["error"].(map[string]any)
	if !ok {
		return 0
	}
	code, _ := e["code"].(float64)
	return int(code)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// connect opens an SDK client session over the transport.
func connect(t *testing.T, url string, client *mcp.Client, version string) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var opts *mcp.ClientSessionOptions
	if version != "" {
		opts = &mcp.ClientSessionOptions{ProtocolVersion: version}
	}
	cs, err := client.Connect(ctx, &wsmcp.ClientTransport{URL: url}, opts)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// metaResume is the _meta key of the resumption handshake (docs/resumption.md).
const metaResume = "io.mcpws/resume"

// heapInUse is the heap in use after garbage collection: twice, so that
// what sync.Pool keeps for one more cycle is gone too.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}
