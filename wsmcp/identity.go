package wsmcp

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mcpws/mcpws/internal/identity"
)

// ContextWithTokenInfo returns a context that carries the caller's verified
// identity. Authentication middleware calls it on the upgrade request
// (package middleware's Authenticate does); the Handler hands the identity
// to every request of the connection as RequestExtra.TokenInfo and closes
// the socket with 1008 "token expired" when info.Expiration passes.
func ContextWithTokenInfo(ctx context.Context, info *auth.TokenInfo) context.Context {
	return identity.WithTokenInfo(ctx, info)
}

// TokenInfoFromContext returns the identity stored by ContextWithTokenInfo,
// or else the one stored by the SDK's auth.RequireBearerToken, or nil.
func TokenInfoFromContext(ctx context.Context) *auth.TokenInfo {
	return identity.TokenInfo(ctx)
}
