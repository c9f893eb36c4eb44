package middleware

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	chimw "github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"

	"github.com/mcpws/mcpws/internal/identity"
	"github.com/mcpws/mcpws/internal/refusal"
)

// RateOption configures [RateLimitByIP] and [RateLimitByIdentity].
type RateOption func(*rateOptions)

type rateOptions struct {
	counter RateCounter
}

// WithRateCounter counts with c instead of a counter of the limit's own
// in this process: behind N replicas, each admits the rate, N times it
// in all, unless they share one (package redismcpws). A limit by IP and a
// limit by identity may share a counter, since their keys differ ("ip:"
// and "identity:" lead them); two limits by the same key need a counter
// each.
func WithRateCounter(c RateCounter) RateOption {
	return func(o *rateOptions) { o.counter = c }
}

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
// The counts live in this process (see [NewLocalRateCounter]) unless
// [WithRateCounter] names another counter. A counter that fails refuses
// the upgrade with 503 (reason "rate.unavailable"), never lets it
// through uncounted.
func RateLimitByIP(requests int, window time.Duration, opts ...RateOption) func(http.Handler) http.Handler {
	return rateLimit(Rate{requests, window}, "ip:", clientIP, "rate.ip", opts)
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
// opts are as for [RateLimitByIP].
func RateLimitByIdentity(requests int, window time.Duration, opts ...RateOption) func(http.Handler) http.Handler {
	limit := rateLimit(Rate{requests, window}, "identity:", IdentityKey, "rate.identity", opts)
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
// identity, or "" without one: the key of RateLimitByIdentity and of the
// per-identity cap of ConnectionLimit.
func IdentityKey(r *http.Request) string {
	return identity.Key(identity.TokenInfo(r.Context()))
}

// rateLimit counts each request under kind + keyOf(r) against rate, with
// no lock of its own: requests wait only for the counter, and requests
// under different keys need not wait for one another. A refusal records
// reason.
func rateLimit(rate Rate, kind string, keyOf func(*http.Request) string, reason string, opts []RateOption) func(http.Handler) http.Handler {
	var o rateOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.counter == nil {
		o.counter = NewLocalRateCounter()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ok, retry, err := o.counter.Allow(r.Context(), kind+keyOf(r), rate)
			switch {
			case err != nil:
				refusal.Write(w, r, refusal.Refusal{Status: http.StatusServiceUnavailable, Reason: "rate.unavailable", Detail: err.Error()}, "Service Unavailable: upgrade rate cannot be checked")
			case !ok:
				// RFC 9110 §10.2.3: whole seconds, rounded up.
				w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(retry.Seconds())))))
				refusal.Write(w, r, refusal.Refusal{Status: http.StatusTooManyRequests, Reason: reason}, "Too Many Requests: upgrade rate exceeded")
			default:
				next.ServeHTTP(w, r)
			}
		})
	}
}
