package subprotocol

import (
	"net/http"
	"strings"
	"testing"
)

// Parse never panics, a token it returns is exactly one trimmed mcp.auth
// entry of the header, offered alongside "mcp", and a routing key it
// returns is exactly one valid mcp.route entry.
func FuzzParseSubprotocols(f *testing.F) {
	for _, seed := range []string{
		"mcp",
		"mcp, mcp.auth.eyJhbGciOi.eyJzdWIiOiJhIn0.sig",
		"mcp.auth.x",
		"mcp, mcp.auth.a, mcp.auth.b",
		"mcp, mcp.version.2025-11-25",
		"mcp,,mcp",
		" mcp ,\tmcp.auth.t ",
		"mcp, mcp.auth.",
		"mcp, mcp.route.ABCDEFGHIJKLMNOPQRSTUVWXYZ",
		"mcp, mcp.route.a, mcp.route.b",
		"mcp.route.0123456789abcdef0123456789abcdef, mcp.auth.t, mcp",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		s, err := Parse(http.Header{"Sec-Websocket-Protocol": {line}})
		if err != nil {
			if s != (Offer{}) {
				t.Fatalf("error %v with a non-zero result %+v", err, s)
			}
			return
		}
		if s.Route != "" {
			found := 0
			for entry := range strings.SplitSeq(line, ",") {
				if strings.TrimSpace(entry) == RoutePrefix+s.Route {
					found++
				}
			}
			if found != 1 || !ValidKey(s.Route) {
				t.Fatalf("route %q is not one valid entry of %q", s.Route, line)
			}
		}
		if s.Token == "" {
			return
		}
		if !s.MCP {
			t.Fatalf("token without mcp in %q", line)
		}
		found := 0
		for entry := range strings.SplitSeq(line, ",") {
			if strings.TrimSpace(entry) == AuthPrefix+s.Token {
				found++
			}
		}
		if found != 1 || strings.ContainsAny(s.Token, ",") || strings.TrimSpace(s.Token) != s.Token {
			t.Fatalf("token %q is not one trimmed entry of %q", s.Token, line)
		}
	})
}
