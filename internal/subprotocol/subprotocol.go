// Package subprotocol parses the Sec-WebSocket-Protocol entries of the MCP
// WebSocket binding (SEP-1288): "mcp", "mcp.auth.<token>" and
// "mcp.version.<protocolVersion>", and mcpws's routing key
// "mcp.route.<key>". The transport and the authentication middleware both
// read them.
package subprotocol

import (
	"errors"
	"net/http"
	"strings"
)

// Subprotocol entries of the MCP WebSocket binding (SEP-1288).
const (
	// MCP is the WebSocket subprotocol that the server selects.
	MCP = "mcp"
	// AuthPrefix starts an entry that carries a bearer token, for
	// browsers, which cannot set an Authorization header on a WebSocket. The
	// server never selects it, so the token is never echoed back.
	AuthPrefix = "mcp.auth."
	// VersionPrefix starts an entry that hints the MCP protocol
	// version the client intends to speak.
	VersionPrefix = "mcp.version."
	// RoutePrefix starts an entry that carries a browser's routing key,
	// the same at every dial, so that an ingress can route on it (hash on
	// the Sec-WebSocket-Protocol header) before the upgrade. It steers
	// routing and nothing else: the server never selects it, never makes
	// it a session id, and it is never a credential.
	RoutePrefix = "mcp.route."
)

// Bounds of a routing key (in an mcp.route entry or the Mcp-Route
// header) and of a session id in a resume request: long enough to be
// unguessable when random, short enough to be cheap to log and hash.
const (
	MinKeyLen = 16
	MaxKeyLen = 128
)

// Errors from [Parse].
var (
	ErrNoMCP           = errors.New(`subprotocol: the client did not offer the "mcp" subprotocol`)
	ErrDuplicateAuth   = errors.New("subprotocol: more than one mcp.auth subprotocol entry")
	ErrEmptyAuth       = errors.New("subprotocol: empty mcp.auth subprotocol entry")
	ErrDuplicateVer    = errors.New("subprotocol: more than one mcp.version subprotocol entry")
	ErrAuthWithoutMCP  = errors.New(`subprotocol: an mcp.auth entry is only valid alongside "mcp"`)
	ErrUnknownVersion  = errors.New("subprotocol: the mcp.version subprotocol names a protocol version this server does not speak")
	ErrBadSubprotocols = errors.New("subprotocol: malformed Sec-WebSocket-Protocol header")
	ErrDuplicateRoute  = errors.New("subprotocol: more than one mcp.route subprotocol entry")
	ErrBadRoute        = errors.New("subprotocol: an mcp.route key must be 16 to 128 letters, digits, '-' or '_'")
)

// Offer is what a client offered in its Sec-WebSocket-Protocol header.
type Offer struct {
	// MCP reports whether "mcp" was offered.
	MCP bool
	// Version is the value of an mcp.version entry, or "".
	Version string
	// Token is the value of an mcp.auth entry, or "". It is a credential:
	// never log it.
	Token string
	// Route is the value of an mcp.route entry, or "": a routing key,
	// neither a session id nor a credential.
	Route string
}

// Parse reads the Sec-WebSocket-Protocol entries of an upgrade
// request. It does not require "mcp" to be present (the Handler decides that)
// but refuses an mcp.auth entry without it, repeated mcp.auth, mcp.version
// or mcp.route entries, an empty token, a routing key that fails
// [ValidKey], and entries that are not RFC 9110 tokens.
func Parse(h http.Header) (Offer, error) {
	var s Offer
	for _, line := range h.Values("Sec-WebSocket-Protocol") {
		for entry := range strings.SplitSeq(line, ",") {
			entry = strings.TrimSpace(entry)
			switch {
			case !isToken(entry):
				return Offer{}, ErrBadSubprotocols
			case entry == MCP:
				s.MCP = true
			case strings.HasPrefix(entry, AuthPrefix):
				if s.Token != "" {
					return Offer{}, ErrDuplicateAuth
				}
				s.Token = entry[len(AuthPrefix):]
				if s.Token == "" {
					return Offer{}, ErrEmptyAuth
				}
			case strings.HasPrefix(entry, VersionPrefix):
				if s.Version != "" {
					return Offer{}, ErrDuplicateVer
				}
				s.Version = entry[len(VersionPrefix):]
			case strings.HasPrefix(entry, RoutePrefix):
				if s.Route != "" {
					return Offer{}, ErrDuplicateRoute
				}
				s.Route = entry[len(RoutePrefix):]
				if !ValidKey(s.Route) {
					return Offer{}, ErrBadRoute
				}
			}
		}
	}
	if s.Token != "" && !s.MCP {
		return Offer{}, ErrAuthWithoutMCP
	}
	return s, nil
}

// ValidKey reports whether k is a well-formed routing key or session id:
// MinKeyLen to MaxKeyLen ASCII letters, digits, '-' and '_' (what
// crypto/rand.Text and nginx's $request_id produce), nothing that could
// split a log line or a header.
func ValidKey(k string) bool {
	if len(k) < MinKeyLen || len(k) > MaxKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		b := k[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '-', b == '_':
		default:
			return false
		}
	}
	return true
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
