package wsmcp_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/chaos"
	"github.com/mcpws/mcpws/wsmcp"
)

// frameServer is a WebSocket server that records the text of every frame
// it receives and answers each with the next of its scripted replies.
func frameServer(t *testing.T, replies ...string) (url string, got <-chan string) {
	t.Helper()
	frames := make(chan string, 16)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"mcp"}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		for _, reply := range replies {
			_, data, err := ws.Read(r.Context())
			if err != nil {
				return
			}
			frames <- string(data)
			if err := ws.Write(r.Context(), websocket.MessageText, []byte(reply)); err != nil {
				return
			}
		}
		_, _, _ = ws.Read(r.Context()) // until the client closes
	}))
	t.Cleanup(ts.Close)
	return "ws" + strings.TrimPrefix(ts.URL, "http"), frames
}

// RawConn carries messages byte for byte both ways: ids however they are
// spelled, member order, spacing, numbers and unknown members.
func TestRawConnFidelity(t *testing.T) {
	t.Parallel()
	requests := []string{
		`{"jsonrpc":"2.0","id":"a\u0062","method":"tools/call","params":{"name":"x","_meta":{"progressToken":1e0,"z":{"deep":[1.50,"\u00e9"]}}},"x-unknown":{"k":[true,null]}}`,
		`{ "method" : "ping" , "id" : -0 , "jsonrpc" : "2.0" }`,
		`{"jsonrpc":"2.0","method":"notifications/x","params":{"n":12345678901234567890}}`,
	}
	replies := []string{
		`{"result":{"content":[],"_meta":{"k":"v"}},"jsonrpc":"2.0","id":"ab","extra":1}`,
		`{  "jsonrpc":"2.0",  "id":0, "result":{ } }`,
		`{"jsonrpc":"2.0","method":"notifications/y","params":{"big":1.0E+400}}`,
	}
	url, frames := frameServer(t, replies...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := (&wsmcp.ClientTransport{URL: url}).ConnectRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, req := range requests {
		buf := []byte(req)
		if err := c.Write(ctx, buf); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		copy(buf, strings.Repeat("#", len(buf))) // Write must not keep the caller's buffer
		if got := <-frames; got != req {
			t.Errorf("server received\n %s\nwant\n %s", got, req)
		}
		data, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if string(data) != replies[i] {
			t.Errorf("read\n %s\nwant\n %s", data, replies[i])
		}
	}
}

// Write sends nothing that is not one JSON-RPC message, and says what a
// server would have answered.
func TestRawConnWriteInvalid(t *testing.T) {
	t.Parallel()
	url, frames := frameServer(t, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := (&wsmcp.ClientTransport{URL: url}).ConnectRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tests := []struct {
		name string
		in   string
		code int64 // 0: no answer (a response)
	}{
		{"invalid UTF-8", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}", jsonrpc.CodeParseError},
		{"not JSON", `hello`, jsonrpc.CodeParseError},
		{"truncated", `{"jsonrpc":"2.0","id":1,`, jsonrpc.CodeParseError},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, jsonrpc.CodeInvalidRequest},
		{"no version", `{"id":1,"method":"ping"}`, jsonrpc.CodeInvalidRequest},
		{"fractional id", `{"jsonrpc":"2.0","id":1.5,"method":"ping"}`, jsonrpc.CodeInvalidRequest},
		{"id too big", `{"jsonrpc":"2.0","id":9007199254740993,"method":"ping"}`, jsonrpc.CodeInvalidRequest},
		{"malformed response", `{"jsonrpc":"2.0","id":{},"result":1}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Write(ctx, []byte(tt.in))
			if !errors.Is(err, wsmcp.ErrInvalidMessage) {
				t.Fatalf("Write = %v, want ErrInvalidMessage", err)
			}
			var je *jsonrpc.Error
			switch {
			case tt.code == 0 && errors.As(err, &je):
				t.Errorf("Write = %v, answers a response with %d", err, je.Code)
			case tt.code != 0 && (!errors.As(err, &je) || je.Code != tt.code):
				t.Errorf("Write = %v, want code %d", err, tt.code)
			}
		})
	}
	// Nothing reached the server; a valid message still goes through.
	const ping = `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	if err := c.Write(ctx, []byte(ping)); err != nil {
		t.Fatal(err)
	}
	if got := <-frames; got != ping {
		t.Errorf("server's first frame = %s, want the ping", got)
	}
}

// A call in flight when a session without resumption is lost gets an
// error response with its id as written; then Read reports the loss.
func TestRawConnLostCalls(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv := newMCPServer()
	started := toolStarts(srv, "sleep")
	proxy, c := rawSessionWith(t, ctx, srv)
	if err := c.Write(ctx, []byte(`{"jsonrpc":"2.0","id":-0,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":10000}}}`)); err != nil {
		t.Fatal(err)
	}
	<-started // the call runs on the server when the connection is cut
	for _, m := range []string{
		`{"jsonrpc":"2.0","id":"c\u0061ncelled","method":"tools/call","params":{"name":"sleep","arguments":{"ms":10000}}}`,
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"cancelled"}}`,
	} {
		if err := c.Write(ctx, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	proxy.Cut()
	data, id, e := readErrorAnswer(t, ctx, c)
	if id != "-0" || e.Code != wsmcp.CodeConnectionLost || !strings.Contains(e.Message, "session lost") {
		t.Fatalf("lost call answered with %s; want id -0, code %d, a message that says the session was lost", data, wsmcp.CodeConnectionLost)
	}
	if data, err := c.Read(ctx); !errors.Is(err, wsmcp.ErrSessionLost) {
		t.Fatalf("then Read = %s, %v; want ErrSessionLost (the cancelled call is not answered)", data, err)
	}
}

// rawSession opens a 2025 session over a raw reconnecting client,
// through a proxy that the test can cut, to a server without resumption.
func rawSession(t *testing.T, ctx context.Context) (*chaos.Proxy, *wsmcp.RawConn) {
	t.Helper()
	return rawSessionWith(t, ctx, newMCPServer())
}

// rawSessionWith is rawSession with server.
func rawSessionWith(t *testing.T, ctx context.Context, server *mcp.Server) (*chaos.Proxy, *wsmcp.RawConn) {
	t.Helper()
	_, proxy, url := chaosServerWith(t, server, nil)
	c, err := (&wsmcp.ClientTransport{URL: url, Reconnect: &wsmcp.ReconnectOptions{}}).ConnectRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	initialize(t, ctx, c)
	return proxy, c
}

// readErrorAnswer reads one message, an error response, and returns it
// with its id as written and its error.
func readErrorAnswer(t *testing.T, ctx context.Context, c *wsmcp.RawConn) ([]byte, string, jsonrpc.Error) {
	t.Helper()
	data, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("Read = %v, want an error response", err)
	}
	var resp struct {
		ID    json.RawMessage `json:"id"`
		Error jsonrpc.Error   `json:"error"`
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		t.Fatalf("answer %s: %v", data, err)
	}
	return data, string(resp.ID), resp.Error
}

// initialize opens a 2025 session on c.
func initialize(t *testing.T, ctx context.Context, c *wsmcp.RawConn) []byte {
	t.Helper()
	if err := c.Write(ctx, []byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"},"_meta":{"mine":1}}}`)); err != nil {
		t.Fatal(err)
	}
	data, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)); err != nil {
		t.Fatal(err)
	}
	return data
}

// On the raw path a resumable session survives cuts: a call streaming
// progress completes with every notification, and the resumption secret
// never reaches the program.
func TestRawConnResumption(t *testing.T) {
	t.Parallel()
	_, proxy, url := chaosServer(t, &wsmcp.HandlerOptions{Resumption: &wsmcp.ResumptionOptions{GracePeriod: 10 * time.Second}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ev events
	c, err := (&wsmcp.ClientTransport{URL: url, Reconnect: ev.options(wsmcp.ReconnectOptions{})}).ConnectRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if init := initialize(t, ctx, c); strings.Contains(string(init), "io.mcpws/resume") || !strings.Contains(string(init), `"serverInfo"`) {
		t.Fatalf("initialize result = %s; want it without the grant", init)
	}
	const n = 100
	if err := c.Write(ctx, []byte(`{"jsonrpc":"2.0","id":"call","method":"tools/call","params":{"name":"count","arguments":{"n":100,"ms":2},"_meta":{"progressToken":"p"}}}`)); err != nil {
		t.Fatal(err)
	}
	progress := 0
	for {
		data, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("after %d progress notifications: %v", progress, err)
		}
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				Progress float64 `json:"progress"`
			} `json:"params"`
			Result json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		if m.Method == "notifications/progress" {
			if int(m.Params.Progress) != progress {
				t.Fatalf("progress %v after %d: lost or repeated", m.Params.Progress, progress)
			}
			if progress++; progress == 20 || progress == 60 {
				proxy.Cut()
			}
			continue
		}
		if string(m.ID) != `"call"` || !strings.Contains(string(m.Result), "counted 100") {
			t.Fatalf("result = %s", data)
		}
		break
	}
	if progress != n {
		t.Errorf("%d progress notifications, want %d", progress, n)
	}
	if c, _ := ev.counts(); c < 3 {
		t.Errorf("%d connections, want at least 3 (two cuts)", c)
	}
}

// A call written after the connection ended is answered too, with its id
// as written: every call gets one answer, however late the program is to
// notice the end.
func TestRawConnCallAfterEnd(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	proxy, c := rawSession(t, ctx)
	proxy.Cut()
	if _, err := c.Read(ctx); !errors.Is(err, wsmcp.ErrSessionLost) {
		t.Fatalf("Read after the cut = %v, want ErrSessionLost", err)
	}
	if err := c.Write(ctx, []byte(`{"jsonrpc":"2.0","id":"l\u0061te","method":"ping"}`)); !errors.Is(err, wsmcp.ErrSessionLost) {
		t.Fatalf("Write after the end = %v, want ErrSessionLost", err)
	}
	data, id, e := readErrorAnswer(t, ctx, c)
	if id != `"l\u0061te"` || e.Code != wsmcp.CodeConnectionLost {
		t.Fatalf("late call answered with %s; want its id as written and code %d", data, wsmcp.CodeConnectionLost)
	}
	if _, err := c.Read(ctx); !errors.Is(err, wsmcp.ErrSessionLost) {
		t.Fatalf("then Read = %v, want ErrSessionLost", err)
	}
}
