package middleware

import (
	"net/http"
	"sync"

	"github.com/mcpws/mcpws/internal/closehook"
	"github.com/mcpws/mcpws/internal/refusal"
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
// exceed the caps. Run it after [Authenticate].
//
// In front of a wsmcp Handler, a connection counts until its socket
// closes: the Handler returns from ServeHTTP as soon as the session
// starts, and takes over releasing the slot when the connection ends. In
// front of any other handler, the slot is released when ServeHTTP returns.
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
			ctx, done := closehook.Register(r.Context(), func() {
				mu.Lock()
				defer mu.Unlock()
				total--
				if key != "" {
					if byUser[key]--; byUser[key] == 0 {
						delete(byUser, key)
					}
				}
			})
			defer done() // releases now unless a wsmcp Handler adopted the slot
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}
