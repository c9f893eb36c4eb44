package wsmcp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

// unlimited lifts the message rates, which a benchmark's one connection
// passes at once.
var unlimited = &wsmcp.HandlerOptions{MessageRate: -1, ByteRate: -1}

// BenchmarkCallTool measures a tools/call round trip through the SDK on
// both ends over one socket on loopback.
func BenchmarkCallTool(b *testing.B) {
	ts := httptest.NewServer(wsmcp.NewHandler(func(*http.Request) *mcp.Server { return newMCPServer() }, unlimited))
	defer ts.Close()
	ctx := context.Background()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "b", Version: "1"}, nil).
		Connect(ctx, &wsmcp.ClientTransport{URL: "ws" + strings.TrimPrefix(ts.URL, "http")}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cs.Close()
	params := &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "ping"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cs.CallTool(ctx, params); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTransportRoundTrip isolates the transport: the client's
// Connection writes a request, the server's echoes it back as a response
// (no SDK session on the server), and the client reads it.
func BenchmarkTransportRoundTrip(b *testing.B) {
	ts := httptest.NewServer(wsmcp.NewHandler(func(*http.Request) *mcp.Server { return newMCPServer() }, unlimited))
	defer ts.Close()
	ctx := context.Background()
	conn, err := (&wsmcp.ClientTransport{URL: "ws" + strings.TrimPrefix(ts.URL, "http")}).Connect(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	id, _ := jsonrpc.MakeID(float64(1))
	ping := &jsonrpc.Request{ID: id, Method: "ping", Params: json.RawMessage(`{}`)}
	b.ReportAllocs()
	for b.Loop() {
		if err := conn.Write(ctx, ping); err != nil {
			b.Fatal(err)
		}
		msg, err := conn.Read(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := msg.(*jsonrpc.Response); !ok {
			b.Fatalf("got %T", msg)
		}
	}
}
