package wsmcp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/textconn"
	"github.com/mcpws/mcpws/wsmcp"
)

// relay copies every message from one connection to the other until
// either ends, then closes both.
func relay(ctx context.Context, from, to mcp.Connection) {
	defer to.Close()
	defer from.Close()
	for {
		msg, err := from.Read(ctx)
		if err != nil {
			return
		}
		if err := to.Write(ctx, msg); err != nil {
			return
		}
	}
}

// serveRelayed is a ServeConnFunc that relays the session to an in-process
// server, as a gateway relays it to a child.
func serveRelayed(server *mcp.Server) wsmcp.ServeConnFunc {
	return func(ctx context.Context, conn mcp.Connection) error {
		near, far := mcp.NewInMemoryTransports()
		if _, err := server.Connect(ctx, far, nil); err != nil {
			return err
		}
		peer, err := near.Connect(ctx)
		if err != nil {
			return err
		}
		go relay(ctx, conn, peer)
		go relay(ctx, peer, conn)
		return nil
	}
}

// TestConnHandlerRefusals checks the status and body of every way getServe
// refuses an upgrade.
func TestConnHandlerRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		status int
		body   string
	}{
		{"nil", nil, http.StatusBadRequest, "no server for this request"},
		{"refusal", &wsmcp.Refusal{Status: http.StatusTooManyRequests, Reason: "children", Message: "too many children for this caller"}, http.StatusTooManyRequests, "too many children for this caller"},
		{"wrapped refusal", errors.Join(errors.New("x"), &wsmcp.Refusal{Status: http.StatusServiceUnavailable, Reason: "children", Message: "full"}), http.StatusServiceUnavailable, "full"},
		{"other error", errors.New("fork: resource temporarily unavailable"), http.StatusServiceUnavailable, "service unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := wsmcp.NewConnHandler(func(*http.Request) (wsmcp.ServeConnFunc, error) { return nil, tt.err }, nil)
			ts := httptest.NewServer(h)
			defer ts.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http"), &websocket.DialOptions{Subprotocols: []string{"mcp"}})
			if err == nil {
				t.Fatal("upgrade succeeded")
			}
			if resp == nil || resp.StatusCode != tt.status {
				t.Fatalf("response = %v, want status %d", resp, tt.status)
			}
			body, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(body), tt.body) || strings.Contains(string(body), "fork") {
				t.Errorf("body = %q, want %q and no error detail", body, tt.body)
			}
		})
	}
}

// TestConnHandlerRelay serves a session through a relay, with and without
// resumption: the SDK client sees the relayed server.
func TestConnHandlerRelay(t *testing.T) {
	t.Parallel()
	for _, resume := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "resumable"}[resume], func(t *testing.T) {
			var opts wsmcp.HandlerOptions
			if resume {
				opts.Resumption = &wsmcp.ResumptionOptions{}
			}
			server := newMCPServer()
			h := wsmcp.NewConnHandler(func(*http.Request) (wsmcp.ServeConnFunc, error) { return serveRelayed(server), nil }, &opts)
			ts := httptest.NewServer(h)
			defer ts.Close()
			defer h.Shutdown(context.Background())
			client := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil)
			cs := connect(t, "ws"+strings.TrimPrefix(ts.URL, "http"), client, "")
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "count", Arguments: map[string]any{"n": 2, "ms": 0}})
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Content[0].(*mcp.TextContent).Text; got != "counted 2" {
				t.Errorf("result = %q", got)
			}
			cs.Close()
			waitFor(t, "the session to end", func() bool { return h.Connections() == 0 })
		})
	}
}

// TestCloseWith checks that a relay's CloseWith reaches the client with its
// code and reason, on a plain and on a resumable session.
func TestCloseWith(t *testing.T) {
	t.Parallel()
	for _, resume := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "resumable"}[resume], func(t *testing.T) {
			var opts wsmcp.HandlerOptions
			if resume {
				opts.Resumption = &wsmcp.ResumptionOptions{}
			}
			h := wsmcp.NewConnHandler(func(*http.Request) (wsmcp.ServeConnFunc, error) {
				return func(ctx context.Context, conn mcp.Connection) error {
					go func() {
						if _, err := conn.Read(ctx); err == nil {
							conn.(textconn.Conn).CloseWith(websocket.StatusInternalError, "child exited")
						}
					}()
					return nil
				}, nil
			}, &opts)
			ts := httptest.NewServer(h)
			defer ts.Close()
			defer h.Shutdown(context.Background())
			c := dialRaw(t, "ws"+strings.TrimPrefix(ts.URL, "http"))
			c.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
			_, err := c.tryRecv()
			if websocket.CloseStatus(err) != websocket.StatusInternalError {
				t.Fatalf("read error = %v, want close 1011", err)
			}
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Reason != "child exited" {
				t.Errorf("close = %v, want reason %q", err, "child exited")
			}
			waitFor(t, "the session to end", func() bool { return h.Connections() == 0 })
		})
	}
}

// A relayed server may leave a cancelled call unanswered, as the MCP
// specification allows and the TypeScript SDK's servers do: the cancel
// ends the call's place in MaxInFlight and its bytes, so a client that
// cancels does not wedge its session. Served by an mcp.Server, which
// answers every call, a call counts until its answer (TestHostile...).
func TestConnHandlerCancelledCallsReleased(t *testing.T) {
	t.Parallel()
	// A peer that answers ping and initialize, and nothing else.
	silent := func(ctx context.Context, conn mcp.Connection) error {
		go func() {
			defer conn.Close()
			for {
				msg, err := conn.Read(ctx)
				if err != nil {
					return
				}
				req, ok := msg.(*jsonrpc.Request)
				if !ok || !req.IsCall() || req.Method == "tools/call" {
					continue
				}
				result := json.RawMessage(`{}`)
				if req.Method == "initialize" {
					result = json.RawMessage(`{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"silent","version":"1"}}`)
				}
				if err := conn.Write(ctx, &jsonrpc.Response{ID: req.ID, Result: result}); err != nil {
					return
				}
			}
		}()
		return nil
	}
	const maxInFlight = 4
	h := wsmcp.NewConnHandler(func(*http.Request) (wsmcp.ServeConnFunc, error) { return silent, nil },
		&wsmcp.HandlerOptions{MaxInFlight: maxInFlight})
	ts := httptest.NewServer(h)
	defer ts.Close()
	defer h.Shutdown(context.Background())
	c := dialRaw(t, "ws"+strings.TrimPrefix(ts.URL, "http"))
	c.initialize()
	for i := range 3 * maxInFlight {
		c.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"x"}}`, i))
		c.send(fmt.Sprintf(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":%d}}`, i))
	}
	c.send(`{"jsonrpc":"2.0","id":"p","method":"ping"}`)
	for {
		m := c.recv()
		if code := errorCode(m); code != 0 {
			t.Fatalf("after cancelled calls: %v (code %d); want them released", m, code)
		}
		if m["id"] == "p" {
			break
		}
	}
	_ = c.ws.CloseNow()
	waitFor(t, "the session to end", func() bool { return h.Connections() == 0 })
}
