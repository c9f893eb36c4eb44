package middleware

import (
	"context"
	"net"
	"net/http"
	"time"

	chimw "github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"

	"github.com/mcpws/mcpws/internal/identity"
	"github.com/mcpws/mcpws/internal/refusal"
	"github.com/mcpws/mcpws/wsmcp"
)

// RateLimitByIP limits upgrade requests per client IP, with 429 and
// Retry-After. Run it before authentication: it also shields signature
// and JWKS work.
//
// The client IP is the one chi's ClientIPFrom* middleware resolved, when
// one runs in front; otherwise r.RemoteAddr. It is canonicalised (IPv6 by
// /64, v4-mapped IPv6 as IPv4). Behind a reverse proxy, RemoteAddr is the
// proxy, so every client would share one bucket: put a trusted-proxy
// middleware in front, naming only proxies you trust (this one never
// reads X-Forwarded-For itself, which any client can forge):
//
//	r.Use(chimw.ClientIPFromXFF("10.0.0.0/8"))      // your proxies' addresses, or
//	r.Use(chimw.ClientIPFromXFFTrustedProxies(1))   // one proxy hop, e.g. nginx
//	r.Handle("/mcp", middleware.RateLimitByIP(60, time.Minute)(h))
//
// With nginx, set "proxy_set_header X-Forwarded-For
// $proxy_add_x_forwarded_for" (docs/deploy.md).
//
// options follow httprate's own and override them. The counts live in
// this process unless one is httprate.WithLimitCounter: behind N
// replicas, each admits the rate, N times it in all, unless they share a
// counter (package redismcpws). A counter that fails refuses the upgrade
// with 503 (reason "rate.unavailable"), never lets it through uncounted.
func RateLimitByIP(requests int, window time.Duration, options ...httprate.Option) func(http.Handler) http.Handler {
	return limitOnce(httprate.Limit(requests, window, append([]httprate.Option{httprate.WithKeyFuncs(func(r *http.Request) (string, error) {
		return clientIP(r), nil
	}), httprate.WithLimitHandler(tooMany("rate.ip")), httprate.WithErrorHandler(unavailable("rate.unavailable"))}, options...)...))
}

// clientIP returns the canonical client IP of r: chi's trusted-proxy
// result when present, else the host of r.RemoteAddr.
func clientIP(r *http.Request) string {
	ip := chimw.GetClientIP(r.Context())
	if ip == "" {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		ip = host
	}
	return httprate.CanonicalizeIP(ip)
}

// RateLimitByIdentity limits upgrade requests per authenticated identity
// (issuer and subject), with 429 and Retry-After. Run it after
// [Authenticate]; requests without an identity pass (they are not pooled
// into one shared bucket), so it is no substitute for [RateLimitByIP].
// options are as for [RateLimitByIP]: pass httprate.WithLimitCounter to
// share the counts between replicas.
func RateLimitByIdentity(requests int, window time.Duration, options ...httprate.Option) func(http.Handler) http.Handler {
	limit := httprate.Limit(requests, window, append([]httprate.Option{httprate.WithKeyFuncs(func(r *http.Request) (string, error) {
		return IdentityKey(r), nil
	}), httprate.WithLimitHandler(tooMany("rate.identity")), httprate.WithErrorHandler(unavailable("rate.unavailable"))}, options...)...)
	limit = limitOnce(limit)
	return func(next http.Handler) http.Handler {
		limited := limit(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if IdentityKey(r) == "" {
				next.ServeHTTP(w, r)
				return
			}
			limited.ServeHTTP(w, r)
		})
	}
}

// IdentityKey returns "issuer\x00subject" for the request's verified
// identity, or "" without one (see internal/identity).
func IdentityKey(r *http.Request) string {
	return identity.Key(wsmcp.TokenInfoFromContext(r.Context()))
}

// tooMany answers an upgrade over the rate, recording reason.
func tooMany(reason string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if answered(r) {
			return
		}
		refusal.Write(w, r, refusal.Refusal{Status: http.StatusTooManyRequests, Reason: reason}, "Too Many Requests: upgrade rate exceeded")
	}
}

// unavailable answers an upgrade whose rate could not be counted (a
// shared counter that failed), recording reason: 503, never admitted
// uncounted.
func unavailable(reason string) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		if p, ok := r.Context().Value(answeredKey{}).(*bool); ok {
			*p = true
		}
		refusal.Write(w, r, refusal.Refusal{Status: http.StatusServiceUnavailable, Reason: reason, Detail: err.Error()}, "Service Unavailable: upgrade rate cannot be checked")
	}
}

// httprate calls the limit handler after the error handler when a counter
// fails; limitOnce marks the request so that the first answer is the only
// one.
type answeredKey struct{}

func limitOnce(limit func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		limited := limit(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			limited.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), answeredKey{}, new(bool))))
		})
	}
}

// answered reports whether the error handler already answered r.
func answered(r *http.Request) bool {
	p, ok := r.Context().Value(answeredKey{}).(*bool)
	return ok && *p
}
