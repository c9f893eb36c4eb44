// Package mcpws assembles the secure-by-default MCP WebSocket endpoint:
// Origin allow-list, upgrade rate limit per IP, authentication with
// audience binding, upgrade rate limit and connection cap per identity,
// total connection cap, and the wsmcp transport, plus the RFC 9728
// protected resource metadata route.
//
//	endpoint := mcpws.New(getServer, &mcpws.Options{Verifier: v, Resource: "https://mcp.example.com/mcp"})
//	endpoint.Mount(router, "/mcp")
//
// Each piece is an ordinary middleware in package
// github.com/mcpws/mcpws/middleware, for stacks of your own.
package mcpws
