// Package middleware holds the security middleware for an MCP WebSocket
// endpoint, each an ordinary func(http.Handler) http.Handler that composes
// with chi, net/http and your own:
//
//   - [Origin]: exact Origin allow-list and optional Host allow-list, against
//     cross-site WebSocket hijacking and DNS rebinding.
//   - [Authenticate]: bearer token from the Authorization header or an
//     mcp.auth subprotocol entry, checked by a TokenVerifier such as
//     [NewJWTVerifier]; the identity reaches every MCP request.
//   - [RateLimitByIP] and [RateLimitByIdentity]: upgrade rates, counted by a
//     [RateCounter] (in this process, or shared by replicas).
//   - [ConnectionLimit]: concurrent connections per identity and in total.
//
// The root package mcpws assembles them in the safe order.
package middleware
