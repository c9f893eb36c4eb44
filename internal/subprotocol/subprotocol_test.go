package subprotocol

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// The mcp.route entry is read as a routing key, once, with a bounded
// alphabet; every bad form is refused with its own error.
func TestParseRoute(t *testing.T) {
	id := "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	tests := []struct {
		name string
		line string
		want Offer
		err  error
	}{
		{"hint beside mcp", "mcp, mcp.route." + id, Offer{MCP: true, Route: id}, nil},
		{"hint with token and version", "mcp, mcp.auth.t, mcp.version.2025-11-25, mcp.route." + id,
			Offer{MCP: true, Token: "t", Version: "2025-11-25", Route: id}, nil},
		{"nginx request id", "mcp, mcp.route.0123456789abcdef0123456789abcdef",
			Offer{MCP: true, Route: "0123456789abcdef0123456789abcdef"}, nil},
		{"dash and underscore", "mcp, mcp.route.abc-def_ghi-jkl_mn", Offer{MCP: true, Route: "abc-def_ghi-jkl_mn"}, nil},
		{"longest", "mcp, mcp.route." + strings.Repeat("a", MaxKeyLen), Offer{MCP: true, Route: strings.Repeat("a", MaxKeyLen)}, nil},
		{"empty", "mcp, mcp.route.", Offer{}, ErrBadRoute},
		{"too short", "mcp, mcp.route.abc", Offer{}, ErrBadRoute},
		{"too long", "mcp, mcp.route." + strings.Repeat("a", MaxKeyLen+1), Offer{}, ErrBadRoute},
		{"dot inside", "mcp, mcp.route.abcdefgh.ijklmnopq", Offer{}, ErrBadRoute},
		{"token character outside the alphabet", "mcp, mcp.route.abcdefgh*ijklmnopq", Offer{}, ErrBadRoute},
		{"two hints", "mcp, mcp.route." + id + ", mcp.route." + id, Offer{}, ErrDuplicateRoute},
		{"two hints on two lines", "mcp, mcp.route." + id + "\x00mcp.route." + id, Offer{}, ErrDuplicateRoute},
		{"not a token", "mcp, mcp.route.abc def ghi jkl mno", Offer{}, ErrBadSubprotocols},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Sec-Websocket-Protocol": strings.Split(tt.line, "\x00")}
			got, err := Parse(h)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("Parse(%q) = %+v, %v; want %+v, %v", tt.line, got, err, tt.want, tt.err)
			}
		})
	}
}
