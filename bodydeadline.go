package mcpws

import (
	"net/http"
	"time"
)

// bodyDeadline bounds how long the body of a request may take to arrive,
// as HandlerOptions.MessageTimeout bounds a WebSocket message: it must be
// in within timeout of the stack seeing the request, or reading it fails
// (the go-sdk then answers 400, and the connection closes). Without it, a
// client that trickles a body, or never ends a chunked one, holds its
// request, the bytes in flight it was charged and a connection for as long
// as it likes; and so does one refused before the handler runs (401, 403,
// 429), since net/http reads up to 256 KiB of an unread body before it
// answers. Requests without a body (GET streams, upgrades) are untouched,
// and net/http clears the deadline once a body has been read whole, so a
// long answer is never cut by it. A timeout of zero or less sets none.
func bodyDeadline(timeout time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if timeout <= 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Body != nil && r.Body != http.NoBody {
				// A ResponseWriter that cannot set it (a wrapper without
				// Unwrap) leaves the body to the server's ReadTimeout.
				_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout))
			}
			next.ServeHTTP(w, r)
		})
	}
}
