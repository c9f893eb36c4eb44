package middleware

import (
	"net/http"
	"time"

	"github.com/go-chi/httprate"

	"github.com/mcpws/mcpws/internal/refusal"
	"github.com/mcpws/mcpws/wsmcp"
)

// RateLimitByIP limits upgrade requests per client IP, with 429 and
// Retry-After. Run it before authentication: it also shields signature
// and JWKS work. The IP is r.RemoteAddr, canonicalised (IPv6 by /64);
// behind a proxy, put chi's middleware.ClientIPFromXFFTrustedProxies (or
// RealIP with care) in front, naming only proxies you trust.
func RateLimitByIP(requests int, window time.Duration) func(http.Handler) http.Handler {
	return httprate.Limit(requests, window, httprate.WithKeyFuncs(httprate.KeyByIP), httprate.WithLimitHandler(tooMany("rate.ip")))
}

// RateLimitByIdentity limits upgrade requests per authenticated identity
// (issuer and subject), with 429 and Retry-After. Run it after
// [Authenticate]; requests without an identity pass.
func RateLimitByIdentity(requests int, window time.Duration) func(http.Handler) http.Handler {
	return httprate.Limit(requests, window, httprate.WithKeyFuncs(func(r *http.Request) (string, error) {
		return IdentityKey(r), nil
	}), httprate.WithLimitHandler(tooMany("rate.identity")))
}

// IdentityKey returns "issuer\x00subject" for the request's verified
// identity, or "" without one (see wsmcp.Identity).
func IdentityKey(r *http.Request) string {
	return wsmcp.Identity(wsmcp.TokenInfoFromContext(r.Context()))
}

// tooMany answers an upgrade over the rate, recording reason.
func tooMany(reason string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		refusal.Write(w, r, refusal.Refusal{Status: http.StatusTooManyRequests, Reason: reason}, "Too Many Requests: upgrade rate exceeded")
	}
}
