package middleware

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpws/mcpws/internal/subprotocol"
)

// findToken never panics, returns a token from exactly one place, refuses
// two credentials, and refuses a query token unless allowed.
func FuzzFindToken(f *testing.F) {
	f.Add("Bearer abc", "mcp", "", false)
	f.Add("", "mcp, mcp.auth.abc", "", false)
	f.Add("Bearer abc", "mcp, mcp.auth.abc", "", false)
	f.Add("", "mcp", "abc", true)
	f.Add("", "mcp", "abc", false)
	f.Add("Basic dXNlcg==", "mcp", "", false)
	f.Add("bearer   spaced  ", "", "", false)
	f.Fuzz(func(t *testing.T, authz, protocols, query string, allowQuery bool) {
		r := httptest.NewRequest("GET", "/mcp", nil)
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		if protocols != "" {
			r.Header.Set("Sec-WebSocket-Protocol", protocols)
		}
		if query != "" {
			r.URL.RawQuery = url.Values{"access_token": {query}}.Encode()
		}
		tok, err := findToken(r, allowQuery)
		if err != nil {
			if tok != "" {
				t.Fatalf("token %q with error %v", tok, err)
			}
			return
		}
		if query != "" && !allowQuery {
			t.Fatal("query token accepted while not allowed")
		}
		if tok == "" {
			return
		}
		sources := 0
		if strings.Contains(authz, tok) {
			sources++
		}
		if strings.Contains(protocols, "mcp.auth."+tok) {
			sources++
		}
		if query == tok {
			sources++
		}
		if sources == 0 {
			t.Fatalf("token %q appears in no source", tok)
		}
		sp, _ := subprotocol.Parse(r.Header)
		present := 0
		for _, p := range []bool{authz != "", sp.Token != "", query != ""} {
			if p {
				present++
			}
		}
		if present > 1 {
			t.Fatalf("token %q returned although %d credentials were sent", tok, present)
		}
	})
}
