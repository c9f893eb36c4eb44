package mcpws

import (
	"log/slog"
	"net/http"

	"github.com/mcpws/mcpws/internal/refusal"
)

// observe wraps the whole stack: every request that a layer refuses before
// the upgrade is logged here once, with its status and reason, and handed
// to the Refused hook.
func observe(next http.Handler, logger *slog.Logger, refused func(*http.Request, int, string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, result := refusal.Watch(r.Context())
		r = r.WithContext(ctx)
		next.ServeHTTP(w, r)
		f, ok := result()
		if !ok {
			return
		}
		f.Log(logger, "mcpws: request refused", r)
		if refused != nil {
			refused(r, f.Status, f.Reason)
		}
	})
}
