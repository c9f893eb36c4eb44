// Package headers holds what the transports read of request headers: the
// allow-list of headers that reach handlers, and token matching.
package headers

import (
	"net/http"
	"slices"
	"strings"

	"github.com/mcpws/mcpws/internal/subprotocol"
)

// HasToken reports whether the comma-separated header key contains token,
// case-insensitively.
func HasToken(h http.Header, key, token string) bool {
	for _, line := range h.Values(key) {
		for v := range strings.SplitSeq(line, ",") {
			if strings.EqualFold(strings.TrimSpace(v), token) {
				return true
			}
		}
	}
	return false
}

// forwardedHeaders are the upgrade request headers that reach handlers in
// RequestExtra.Header by default: what identifies the client, its
// language, the path through proxies and the trace, nothing that can carry
// a credential.
var forwardedHeaders = []string{
	"Accept-Language", "Baggage", "Forwarded", "Mcp-Protocol-Version", "Origin",
	"Traceparent", "Tracestate", "User-Agent", "X-Forwarded-For", "X-Forwarded-Host",
	"X-Forwarded-Proto", "X-Real-Ip", "X-Request-Id",
}

// IsUpgrade reports whether r asks for a WebSocket upgrade.
func IsUpgrade(r *http.Request) bool {
	return HasToken(r.Header, "Connection", "upgrade") && HasToken(r.Header, "Upgrade", "websocket")
}

// Filter builds the function that copies, for handlers, the headers of a
// request that are on the allow-list: forwardedHeaders and extra. Sec-WebSocket-Protocol is kept without its mcp.auth entries.
// Everything else is dropped: Authorization and Cookie, and also what a
// proxy may add (X-Forwarded-Access-Token, X-Amzn-Oidc-Data, …), which a
// deny-list would let through.
func Filter(extra []string) func(http.Header) http.Header {
	allowed := make(map[string]bool, len(forwardedHeaders)+len(extra))
	for _, k := range slices.Concat(forwardedHeaders, extra) {
		allowed[http.CanonicalHeaderKey(k)] = true
	}
	return func(h http.Header) http.Header {
		out := make(http.Header, len(allowed))
		for k, v := range h {
			if allowed[k] {
				out[k] = slices.Clone(v)
			}
		}
		var kept []string
		for _, line := range h.Values("Sec-WebSocket-Protocol") {
			for entry := range strings.SplitSeq(line, ",") {
				entry = strings.TrimSpace(entry)
				if entry != "" && !strings.HasPrefix(entry, subprotocol.AuthPrefix) {
					kept = append(kept, entry)
				}
			}
		}
		if len(kept) > 0 {
			out.Set("Sec-WebSocket-Protocol", strings.Join(kept, ", "))
		}
		return out
	}
}
