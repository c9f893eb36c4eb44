package middleware

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/mcpws/mcpws/internal/refusal"
)

// OriginOptions configures [Origin].
type OriginOptions struct {
	// AllowedOrigins are the exact origins (scheme://host[:port]) whose
	// pages may open a connection, for example "https://app.example.com".
	// They are compared after normalisation: lowercase scheme and host,
	// explicit port. No wildcards.
	AllowedOrigins []string

	// RequireOrigin refuses requests without an Origin header. Browsers
	// always send one on a WebSocket upgrade; other clients usually do not,
	// so by default a missing Origin is allowed.
	RequireOrigin bool

	// AllowedHosts, if set, is the exact list of Host header values
	// (host[:port]) accepted. Set it for servers on localhost or private
	// addresses: under DNS rebinding an attacker's name resolves to your
	// address, and only the Host header shows it.
	AllowedHosts []string

	// Logger records each refusal with its reason and the offending
	// value. Nil discards them.
	Logger *slog.Logger
}

// Origin refuses with 403, before any upgrade, a request whose Origin is
// not in the allow-list, or is "null" (sandboxed frames, file: pages), or
// is malformed; and, when AllowedHosts is set, a request for another Host.
//
// Without it, any web page a user visits can open an authenticated socket
// with the user's cookies (cross-site WebSocket hijacking): SameSite does
// not stop sibling subdomains. Run it before authentication.
//
// It panics if an allowed origin cannot be parsed.
func Origin(opts OriginOptions) func(http.Handler) http.Handler {
	allowed := make([]string, 0, len(opts.AllowedOrigins))
	for _, o := range opts.AllowedOrigins {
		n, err := normalizeOrigin(o)
		if err != nil {
			panic(fmt.Sprintf("middleware.Origin: allowed origin %q: %v", o, err))
		}
		allowed = append(allowed, n)
	}
	hosts := make([]string, 0, len(opts.AllowedHosts))
	for _, h := range opts.AllowedHosts {
		hosts = append(hosts, strings.ToLower(h))
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			refuse := func(reason, msg string) {
				f := refusal.Refusal{Status: http.StatusForbidden, Reason: reason,
					Detail: fmt.Sprintf("%s: origin %q, host %q", msg, r.Header.Values("Origin"), r.Host)}
				if !refusal.Write(w, r, f, "Forbidden: "+msg) {
					f.Log(logger, "mcpws: request refused", r)
				}
			}
			if len(hosts) > 0 && !slices.Contains(hosts, strings.ToLower(r.Host)) {
				refuse("host", "host not allowed")
				return
			}
			origins := r.Header.Values("Origin")
			switch {
			case len(origins) == 0:
				if opts.RequireOrigin {
					refuse("no_origin", "Origin header required")
					return
				}
			case len(origins) > 1:
				refuse("origin", "more than one Origin header")
				return
			default:
				n, err := normalizeOrigin(origins[0])
				if err != nil || !slices.Contains(allowed, n) {
					refuse("origin", "origin not allowed")
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// normalizeOrigin returns scheme://host:port in lower case with an explicit
// port, or an error for "null" and anything that is not a bare origin.
func normalizeOrigin(s string) (string, error) {
	if s == "null" {
		return "", fmt.Errorf("opaque origin")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	if u.Scheme == "" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("not an origin")
	}
	scheme := strings.ToLower(u.Scheme)
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		switch scheme {
		case "http", "ws":
			port = "80"
		case "https", "wss":
			port = "443"
		default:
			return "", fmt.Errorf("scheme %q has no default port", scheme)
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}
