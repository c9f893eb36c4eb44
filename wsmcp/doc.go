// Package wsmcp is a WebSocket transport for the official Go MCP SDK
// (github.com/modelcontextprotocol/go-sdk).
//
// On the server, [NewHandler] returns an [http.Handler] that upgrades each
// request to a WebSocket (subprotocol "mcp") and serves one MCP session over
// it, in the shape of the SDK's mcp.NewStreamableHTTPHandler:
//
//	h := wsmcp.NewHandler(func(*http.Request) *mcp.Server { return server }, nil)
//	http.Handle("/mcp", h)
//
// On the client, [ClientTransport] is an mcp.Transport:
//
//	session, err := client.Connect(ctx, &wsmcp.ClientTransport{URL: "ws://localhost:8080/mcp"}, nil)
//
// # Wire binding
//
// One JSON-RPC 2.0 message travels in one WebSocket text message. Binary
// messages close the socket with 1003, invalid UTF-8 with 1007, messages
// over the read limit with 1009. Text that is not JSON is answered with a
// -32700 error, JSON that is not JSON-RPC with -32600, and a batch with
// -32600: the socket stays open in all three cases. The full binding,
// including close codes, is written down in docs/protocol.md.
//
// # Security
//
// The Handler itself checks neither Origin nor credentials: that is the job
// of the middleware in package github.com/mcpws/mcpws/middleware, which the
// root package mcpws assembles into a secure default. Mounting a bare
// Handler behind cookie authentication exposes it to cross-site WebSocket
// hijacking.
//
// # Keepalive
//
// Both sides ping every [DefaultPingInterval] and drop a peer that does not
// answer within the pong timeout. Do not also enable the SDK's own
// ServerOptions.KeepAlive or ClientOptions.KeepAlive: WebSocket pings are
// cheaper and also keep proxies from timing the connection out.
package wsmcp
