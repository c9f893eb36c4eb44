// Package subprotocol parses the Sec-WebSocket-Protocol entries of the MCP
// WebSocket binding (SEP-1288): "mcp", "mcp.auth.<token>" and
// "mcp.version.<protocolVersion>", and mcpws's routing hint
// "mcp.session.<id>". The transport and the authentication middleware both
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
	// SessionPrefix starts an entry that names the session a browser
	// reconnects to, so that an ingress can route on it (hash on the
	// Sec-WebSocket-Protocol header) before the upgrade. It is a hint: the
	// server never selects it, and it is never a credential (resuming a
	// session takes its secret, inside the stream).
	SessionPrefix = "mcp.session."
)

// Bounds of a session id in an mcp.session entry (and in the
// Mcp-Session-Id request header): long enough to be unguessable when
// random, short enough to be cheap to log and hash.
const (
	MinSessionLen = 16
	MaxSessionLen = 128
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
	ErrDuplicateSess   = errors.New("subprotocol: more than one mcp.session subprotocol entry")
	ErrBadSession      = errors.New("subprotocol: an mcp.session id must be 16 to 128 letters, digits, '-' or '_'")
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
	// Session is the value of an mcp.session entry, or "": a routing hint,
	// not a credential.
	Session string
}

// Parse reads the Sec-WebSocket-Protocol entries of an upgrade
// request. It does not require "mcp" to be present (the Handler decides that)
// but refuses an mcp.auth entry without it, repeated mcp.auth, mcp.version
// or mcp.session entries, an empty token, a session id that fails
// [ValidSessionID], and entries that are not RFC 9110 tokens.
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
			case strings.HasPrefix(entry, SessionPrefix):
				if s.Session != "" {
					return Offer{}, ErrDuplicateSess
				}
				s.Session = entry[len(SessionPrefix):]
				if !ValidSessionID(s.Session) {
					return Offer{}, ErrBadSession
				}
			}
		}
	}
	if s.Token != "" && !s.MCP {
		return Offer{}, ErrAuthWithoutMCP
	}
	return s, nil
}

// ValidSessionID reports whether id may name a session in an mcp.session
// entry or an Mcp-Session-Id request header: MinSessionLen to MaxSessionLen
// ASCII letters, digits, '-' and '_' (what crypto/rand.Text and nginx's
// $request_id produce), nothing that could split a log line or a header.
func ValidSessionID(id string) bool {
	if len(id) < MinSessionLen || len(id) > MaxSessionLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
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
