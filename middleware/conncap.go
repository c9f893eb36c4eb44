package middleware

import (
	"net/http"
	"sync"

	"github.com/mcpws/mcpws/internal/refusal"
	"github.com/mcpws/mcpws/wsmcp"
)

// ConnectionLimitOptions configures [ConnectionLimit].
type ConnectionLimitOptions struct {
	// PerIdentity bounds the open connections of one identity (issuer and
	// subject); over it, 429. Zero means no bound.
	PerIdentity int
	// Total bounds all open connections; over it, 503. Zero means no bound.
	Total int
}

// ConnectionLimit refuses, before the upgrade, a connection that would
// exceed the caps. A connection counts until the wsmcp Handler closes it
// (through wsmcp.ContextWithCloseHook), not just until ServeHTTP returns.
// Run it after [Authenticate].
func ConnectionLimit(opts ConnectionLimitOptions) func(http.Handler) http.Handler {
	var (
		mu     sync.Mutex
		total  int
		byUser = map[string]int{}
	)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := IdentityKey(r)
			mu.Lock()
			switch {
			case opts.Total > 0 && total >= opts.Total:
				mu.Unlock()
				refusal.Write(w, r, refusal.Refusal{Status: http.StatusServiceUnavailable, Reason: "cap.total"}, "Service Unavailable: connection limit reached")
				return
			case opts.PerIdentity > 0 && key != "" && byUser[key] >= opts.PerIdentity:
				mu.Unlock()
				refusal.Write(w, r, refusal.Refusal{Status: http.StatusTooManyRequests, Reason: "cap.identity", Detail: "identity at its cap"}, "Too Many Requests: too many connections for this identity")
				return
			}
			total++
			if key != "" {
				byUser[key]++
			}
			mu.Unlock()
			release := func() {
				mu.Lock()
				defer mu.Unlock()
				total--
				if key != "" {
					if byUser[key]--; byUser[key] == 0 {
						delete(byUser, key)
					}
				}
			}
			next.ServeHTTP(w, r.WithContext(wsmcp.ContextWithCloseHook(r.Context(), release)))
		})
	}
}
