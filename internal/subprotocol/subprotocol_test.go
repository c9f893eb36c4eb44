package subprotocol

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// The mcp.session entry is read as a routing hint, once, with a bounded
// alphabet; every bad form is refused with its own error.
func TestParseSession(t *testing.T) {
	id := "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	tests := []struct {
		name string
		line string
		want Offer
		err  error
	}{
		{"hint beside mcp", "mcp, mcp.session." + id, Offer{MCP: true, Session: id}, nil},
		{"hint with token and version", "mcp, mcp.auth.t, mcp.version.2025-11-25, mcp.session." + id,
			Offer{MCP: true, Token: "t", Version: "2025-11-25", Session: id}, nil},
		{"nginx request id", "mcp, mcp.session.0123456789abcdef0123456789abcdef",
			Offer{MCP: true, Session: "0123456789abcdef0123456789abcdef"}, nil},
		{"dash and underscore", "mcp, mcp.session.abc-def_ghi-jkl_mn", Offer{MCP: true, Session: "abc-def_ghi-jkl_mn"}, nil},
		{"longest", "mcp, mcp.session." + strings.Repeat("a", MaxSessionLen), Offer{MCP: true, Session: strings.Repeat("a", MaxSessionLen)}, nil},
		{"empty", "mcp, mcp.session.", Offer{}, ErrBadSession},
		{"too short", "mcp, mcp.session.abc", Offer{}, ErrBadSession},
		{"too long", "mcp, mcp.session." + strings.Repeat("a", MaxSessionLen+1), Offer{}, ErrBadSession},
		{"dot inside", "mcp, mcp.session.abcdefgh.ijklmnopq", Offer{}, ErrBadSession},
		{"token character outside the alphabet", "mcp, mcp.session.abcdefgh*ijklmnopq", Offer{}, ErrBadSession},
		{"two hints", "mcp, mcp.session." + id + ", mcp.session." + id, Offer{}, ErrDuplicateSess},
		{"two hints on two lines", "mcp, mcp.session." + id + "\x00mcp.session." + id, Offer{}, ErrDuplicateSess},
		{"not a token", "mcp, mcp.session.abc def ghi jkl mno", Offer{}, ErrBadSubprotocols},
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
