package wsmcp

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

type tokenInfoKey struct{}

// ContextWithTokenInfo returns a context that carries the caller's verified
// identity. Authentication middleware calls it on the upgrade request; the
// Handler hands the identity to every request of the connection as
// RequestExtra.TokenInfo and closes the socket with 1008 "token expired"
// when info.Expiration passes.
func ContextWithTokenInfo(ctx context.Context, info *auth.TokenInfo) context.Context {
	return context.WithValue(ctx, tokenInfoKey{}, info)
}

// TokenInfoFromContext returns the identity stored by ContextWithTokenInfo,
// or else the one stored by the SDK's auth.RequireBearerToken, or nil.
func TokenInfoFromContext(ctx context.Context) *auth.TokenInfo {
	if info, ok := ctx.Value(tokenInfoKey{}).(*auth.TokenInfo); ok {
		return info
	}
	return auth.TokenInfoFromContext(ctx)
}
