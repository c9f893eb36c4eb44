package wsmcp_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

// Relay JSON-RPC text to a server and back without re-encoding it: the
// shape of a stdio bridge or a proxy.
func ExampleClientTransport_ConnectRaw() {
	server := mcp.NewServer(&mcp.Implementation{Name: "greeter", Version: "1.0.0"}, nil)
	ws := wsmcp.NewHandler(func(*http.Request) *mcp.Server { return server }, nil)
	ts := httptest.NewServer(ws)
	defer ts.Close()
	defer ws.Shutdown(context.Background())

	ctx := context.Background()
	conn, err := (&wsmcp.ClientTransport{
		URL:       "ws" + strings.TrimPrefix(ts.URL, "http"),
		Reconnect: &wsmcp.ReconnectOptions{}, // redial, and resume if the server allows
	}).ConnectRaw(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	// The id goes out as written, and comes back as the server wrote it.
	err = conn.Write(ctx, []byte(`{"jsonrpc":"2.0","id":"req-1","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"relay","version":"1"}}}`))
	if err != nil {
		log.Fatal(err) // errors.Is(err, wsmcp.ErrInvalidMessage): answer the sender yourself
	}
	reply, err := conn.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.Contains(string(reply), `"id":"req-1"`), strings.Contains(string(reply), `"name":"greeter"`))
	// Output: true true
}
