package middleware

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mcpws/mcpws/internal/identity"
	"github.com/mcpws/mcpws/internal/refusal"
	"github.com/mcpws/mcpws/internal/subprotocol"
)

// AuthOptions configures [Authenticate].
type AuthOptions struct {
	// Verifier checks a bearer token and returns the caller's identity;
	// errors should wrap auth.ErrInvalidToken. [NewJWTVerifier] returns
	// one; opaque tokens and introspection plug into the same slot. The
	// identity must have a UserID: limits, caps and resumption are keyed
	// by it, so an identity without one is refused. Required.
	Verifier auth.TokenVerifier

	// ResourceMetadataURL is the URL of the RFC 9728 protected resource
	// metadata, sent in WWW-Authenticate so that clients can discover the
	// authorization server.
	ResourceMetadataURL string

	// Scopes are required of every token; a token lacking one is refused
	// with 403 insufficient_scope.
	Scopes []string

	// AllowQueryToken accepts a token in the access_token query parameter.
	// Off by default: URLs end up in logs and browser history.
	AllowQueryToken bool

	// Logger records refusals with their reason, never the token.
	Logger *slog.Logger
}

// Authenticate refuses, before any upgrade, a request without a valid
// bearer token, and hands the verified identity to the wsmcp Handler (and
// so to every MCP request as RequestExtra.TokenInfo) in the request's
// context, where wsmcp.TokenInfoFromContext finds it.
//
// The token comes from "Authorization: Bearer", or for browsers from an
// "mcp.auth.<token>" subprotocol entry. Answers:
//   - no token: 401 with WWW-Authenticate: Bearer resource_metadata="…"
//   - a token that fails verification, or whose identity has no subject
//     (TokenInfo.UserID empty, or a Verifier returning neither identity nor
//     error): 401, error="invalid_token"
//   - a token lacking a required scope: 403, error="insufficient_scope"
//   - two credentials, or a token in the query string when not allowed:
//     400, error="invalid_request"
//
// It panics without a Verifier.
func Authenticate(opts AuthOptions) func(http.Handler) http.Handler {
	if opts.Verifier == nil {
		panic("middleware.Authenticate: no Verifier")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			refuse := func(status int, reason, code, desc, detail string) {
				f := refusal.Refusal{Status: status, Reason: "auth." + reason, Detail: detail}
				if !challenge(w, r, opts, f, code, desc) {
					f.Log(logger, "mcpws: request refused", r)
				}
			}
			token, err := findToken(r, opts.AllowQueryToken)
			if err != nil {
				refuse(http.StatusBadRequest, "invalid_request", "invalid_request", err.Error(), err.Error())
				return
			}
			if token == "" {
				refuse(http.StatusUnauthorized, "no_token", "", "", "")
				return
			}
			info, err := opts.Verifier(r.Context(), token, r)
			if err != nil {
				refuse(http.StatusUnauthorized, Reason(err), "invalid_token", "the access token is invalid", "")
				return
			}
			if info == nil || info.UserID == "" {
				// Without a subject, every such token would share one
				// identity: its caps, rates and resumption rights.
				detail := "the verifier returned an identity without a subject"
				if info == nil {
					detail = "the verifier returned no identity and no error"
				}
				refuse(http.StatusUnauthorized, ReasonNoSubject, "invalid_token", "the access token names no subject", detail)
				return
			}
			if missing := missingScopes(info.Scopes, opts.Scopes); len(missing) > 0 {
				refuse(http.StatusForbidden, "insufficient_scope", "insufficient_scope", "", "subject "+info.UserID+" lacks "+strings.Join(missing, " "))
				return
			}
			logger.Debug("mcpws: authenticated", "subject", info.UserID, "remote", r.RemoteAddr)
			next.ServeHTTP(w, r.WithContext(identity.WithTokenInfo(r.Context(), info)))
		})
	}
}

// Token-finding errors.
var (
	errTwoCredentials = errors.New("more than one credential in the request")
	errQueryToken     = errors.New("tokens in the query string are not accepted")
)

// findToken returns the bearer token of r, from exactly one place.
func findToken(r *http.Request, allowQuery bool) (string, error) {
	var found []string
	for _, h := range r.Header.Values("Authorization") {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return "", errors.New("malformed Authorization header")
		}
		found = append(found, strings.TrimSpace(tok))
	}
	sp, err := subprotocol.Parse(r.Header)
	if err != nil {
		return "", err
	}
	if sp.Token != "" {
		found = append(found, sp.Token)
	}
	if q := r.URL.Query()["access_token"]; len(q) > 0 {
		if !allowQuery {
			return "", errQueryToken
		}
		found = append(found, q...)
	}
	switch len(found) {
	case 0:
		return "", nil
	case 1:
		return found[0], nil
	}
	return "", errTwoCredentials
}

func missingScopes(have, want []string) []string {
	var missing []string
	for _, s := range want {
		if !slices.Contains(have, s) {
			missing = append(missing, s)
		}
	}
	return missing
}

// challenge writes a refusal with an RFC 6750 WWW-Authenticate header and
// records it (see refusal.Write).
func challenge(w http.ResponseWriter, r *http.Request, opts AuthOptions, f refusal.Refusal, code, desc string) bool {
	var params []string
	if opts.ResourceMetadataURL != "" {
		params = append(params, fmt.Sprintf("resource_metadata=%q", opts.ResourceMetadataURL))
	}
	if code != "" {
		params = append(params, fmt.Sprintf("error=%q", code))
	}
	if desc != "" {
		params = append(params, fmt.Sprintf("error_description=%q", desc))
	}
	if code == "insufficient_scope" {
		params = append(params, fmt.Sprintf("scope=%q", strings.Join(opts.Scopes, " ")))
	}
	v := "Bearer"
	if len(params) > 0 {
		v += " " + strings.Join(params, ", ")
	}
	w.Header().Set("WWW-Authenticate", v)
	return refusal.Write(w, r, f, http.StatusText(f.Status))
}
