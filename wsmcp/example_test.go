package wsmcp_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/wsmcp"
)

// Serve an MCP server over WebSocket at /mcp, and drain it on shutdown.
func ExampleNewHandler() {
	server := mcp.NewServer(&mcp.Implementation{Name: "greeter", Version: "1.0.0"}, nil)
	type args struct {
		Name string `json:"name"`
	}
	mcp.AddTool(server, &mcp.Tool{Name: "greet", Description: "Say hello"},
		func(_ context.Context, _ *mcp.CallToolRequest, in args) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "Hello, " + in.Name}}}, nil, nil
		})

	ws := wsmcp.NewHandler(func(*http.Request) *mcp.Server { return server }, nil)
	mux := http.NewServeMux()
	mux.Handle("/mcp", ws)
	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: mux}
	// Hijacked WebSocket connections are not drained by srv.Shutdown.
	srv.RegisterOnShutdown(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ws.Shutdown(ctx)
	})
	_ = srv // srv.ListenAndServe()
}

// Connect the SDK's client over WebSocket and call a tool.
func ExampleClientTransport() {
	server := mcp.NewServer(&mcp.Implementation{Name: "greeter", Version: "1.0.0"}, nil)
	type args struct {
		Name string `json:"name"`
	}
	mcp.AddTool(server, &mcp.Tool{Name: "greet"},
		func(_ context.Context, _ *mcp.CallToolRequest, in args) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "Hello, " + in.Name}}}, nil, nil
		})
	ws := wsmcp.NewHandler(func(*http.Request) *mcp.Server { return server }, nil)
	ts := httptest.NewServer(ws)
	defer ts.Close()
	defer ws.Shutdown(context.Background())

	ctx := context.Background()
	client := mcp.NewClient(&mcp.Implementation{Name: "example", Version: "1.0.0"}, nil)
	session, err := client.Connect(ctx, &wsmcp.ClientTransport{
		URL: "ws" + strings.TrimPrefix(ts.URL, "http"),
		// Header: http.Header{"Authorization": {"Bearer " + token}},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
	res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "Ada"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Content[0].(*mcp.TextContent).Text)
	// Output: Hello, Ada
}

// Keep sessions across dropped sockets: the server keeps a dropped 2025
// session for a grace period; the client redials with a fresh token and
// resumes it, with nothing lost or repeated.
func ExampleReconnectOptions() {
	server := mcp.NewServer(&mcp.Implementation{Name: "durable", Version: "1.0.0"}, nil)
	handler := wsmcp.NewHandler(func(*http.Request) *mcp.Server { return server }, &wsmcp.HandlerOptions{
		Resumption:  &wsmcp.ResumptionOptions{GracePeriod: 30 * time.Second},
		MaxLifetime: time.Hour, // come back through authentication every hour
	})
	ts := httptest.NewServer(handler)
	defer ts.Close()
	defer handler.Shutdown(context.Background())

	transport := &wsmcp.ClientTransport{
		URL:         "ws" + strings.TrimPrefix(ts.URL, "http"),
		TokenSource: func(context.Context) (string, error) { return "a fresh token", nil },
		Reconnect: &wsmcp.ReconnectOptions{
			MaxElapsed:   time.Minute,
			Disconnected: func(err error) { log.Println("disconnected:", err) },
		},
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1.0.0"}, nil)
	session, err := client.Connect(context.Background(), transport, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
	fmt.Println(session.InitializeResult().ServerInfo.Name)
	// Output: durable
}

// Serve each session's connection yourself: here it is relayed to a
// server in the same process, as a gateway relays it to a child process's
// stdio. The Handler's limits, budgets, resumption and drain still apply:
// they live in the connection.
func ExampleNewConnHandler() {
	server := mcp.NewServer(&mcp.Implementation{Name: "greeter", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "greet"},
		func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "Hello through the relay"}}}, nil, nil
		})
	// pipe copies messages one way until either side ends, then closes both.
	pipe := func(ctx context.Context, from, to mcp.Connection) {
		defer to.Close()
		defer from.Close()
		for {
			msg, err := from.Read(ctx)
			if err != nil || to.Write(ctx, msg) != nil {
				return
			}
		}
	}
	ws := wsmcp.NewConnHandler(func(*http.Request) (wsmcp.ServeConnFunc, error) {
		// Refuse here, before the upgrade, with a *wsmcp.Refusal (429, 503).
		return func(ctx context.Context, conn mcp.Connection) error {
			near, far := mcp.NewInMemoryTransports()
			if _, err := server.Connect(ctx, far, nil); err != nil {
				return err // closes the socket with 1011
			}
			peer, err := near.Connect(ctx)
			if err != nil {
				return err
			}
			go pipe(ctx, conn, peer)
			go pipe(ctx, peer, conn)
			return nil
		}, nil
	}, nil)
	ts := httptest.NewServer(ws)
	defer ts.Close()
	defer ws.Shutdown(context.Background())

	client := mcp.NewClient(&mcp.Implementation{Name: "example", Version: "1.0.0"}, nil)
	session, err := client.Connect(context.Background(), &wsmcp.ClientTransport{URL: "ws" + strings.TrimPrefix(ts.URL, "http")}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
	res, err := session.CallTool(context.Background(), &mcp.CallToolParams{Name: "greet"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Content[0].(*mcp.TextContent).Text)
	// Output: Hello through the relay
}
