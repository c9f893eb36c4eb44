package wsmcp

import (
	"errors"
	"net/http"
	"strings"
)

// Subprotocol entries of the MCP WebSocket binding (SEP-1288).
const (
	// Subprotocol is the WebSocket subprotocol that the server selects.
	Subprotocol = "mcp"
	// SubprotocolAuthPrefix starts an entry that carries a bearer token, for
	// browsers, which cannot set an Authorization header on a WebSocket. The
	// server never selects it, so the token is never echoed back.
	SubprotocolAuthPrefix = "mcp.auth."
	// SubprotocolVersionPrefix starts an entry that hints the MCP protocol
	// version the client intends to speak.
	SubprotocolVersionPrefix = "mcp.version."
)

// Errors from [ParseSubprotocols].
var (
	ErrNoSubprotocol   = errors.New(`wsmcp: the client did not offer the "mcp" subprotocol`)
	ErrDuplicateAuth   = errors.New("wsmcp: more than one mcp.auth subprotocol entry")
	ErrEmptyAuth       = errors.New("wsmcp: empty mcp.auth subprotocol entry")
	ErrDuplicateVer    = errors.New("wsmcp: more than one mcp.version subprotocol entry")
	ErrAuthWithoutMCP  = errors.New(`wsmcp: an mcp.auth entry is only valid alongside "mcp"`)
	ErrUnknownVersion  = errors.New("wsmcp: the mcp.version subprotocol names a protocol version this server does not speak")
	ErrBadSubprotocols = errors.New("wsmcp: malformed Sec-WebSocket-Protocol header")
)

// Subprotocols is what a client offered in its Sec-WebSocket-Protocol header.
type Subprotocols struct {
	// MCP reports whether "mcp" was offered.
	MCP bool
	// Version is the value of an mcp.version entry, or "".
	Version string
	// Token is the value of an mcp.auth entry, or "". It is a credential:
	// never log it.
	Token string
}

// ParseSubprotocols reads the Sec-WebSocket-Protocol entries of an upgrade
// request. It does not require "mcp" to be present (the Handler decides that)
// but refuses an mcp.auth entry without it, repeated mcp.auth or mcp.version
// entries, an empty token, and entries that are not RFC 9110 tokens.
func ParseSubprotocols(h http.Header) (Subprotocols, error) {
	var s Subprotocols
	for _, line := range h.Values("Sec-WebSocket-Protocol") {
		for entry := range strings.SplitSeq(line, ",") {
			entry = strings.TrimSpace(entry)
			switch {
			case !isToken(entry):
				return Subprotocols{}, ErrBadSubprotocols
			case entry == Subprotocol:
				s.MCP = true
			case strings.HasPrefix(entry, SubprotocolAuthPrefix):
				if s.Token != "" {
					return Subprotocols{}, ErrDuplicateAuth
				}
				s.Token = entry[len(SubprotocolAuthPrefix):]
				if s.Token == "" {
					return Subprotocols{}, ErrEmptyAuth
				}
			case strings.HasPrefix(entry, SubprotocolVersionPrefix):
				if s.Version != "" {
					return Subprotocols{}, ErrDuplicateVer
				}
				s.Version = entry[len(SubprotocolVersionPrefix):]
			}
		}
	}
	if s.Token != "" && !s.MCP {
		return Subprotocols{}, ErrAuthWithoutMCP
	}
	return s, nil
}

// isToken reports whether s is an RFC 9110 token, as every subprotocol
// name must be (RFC 6455 §4.1). JWTs are: base64url and dots.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0:
		default:
			return false
		}
	}
	return true
}
