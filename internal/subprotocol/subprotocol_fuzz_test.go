package subprotocol

import (
	"net/http"
	"strings"
	"testing"
)

// Parse never panics, and a token it returns is exactly one
// trimmed mcp.auth entry of the header, offered alongside "mcp".
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
