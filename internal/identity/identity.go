// Package identity names a verified caller for the limits, connection caps
// and session resumption that tell callers apart, and carries it in a
// request's context, so that the middleware and the transport cannot
// disagree, and neither imports the other.
package identity

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// Key returns "issuer\x00subject" for a verified caller, or "" for none.
func Key(info *auth.TokenInfo) string {
	if info == nil {
		return ""
	}
	iss, _ := info.Extra["iss"].(string)
	return iss + "\x00" + info.UserID
}

type tokenInfoKey struct{}

// WithTokenInfo returns a context that carries info.
func WithTokenInfo(ctx context.Context, info *auth.TokenInfo) context.Context {
	return context.WithValue(ctx, tokenInfoKey{}, info)
}

// TokenInfo returns the identity stored by WithTokenInfo, or else the one
// stored by the SDK's auth.RequireBearerToken, or nil.
func TokenInfo(ctx context.Context) *auth.TokenInfo {
	if info, ok := ctx.Value(tokenInfoKey{}).(*auth.TokenInfo); ok {
		return info
	}
	return auth.TokenInfoFromContext(ctx)
}
