package wsmcp

import (
	"crypto/rand"
	"errors"
	"net/http"

	"github.com/mcpws/mcpws/internal/subprotocol"
)

// Routing by session id (docs/deploy.md, "Several replicas"): an ingress
// in front of N replicas hashes on the session id of the upgrade request,
// so that a client that redials reaches the replica that holds its
// session. The id must therefore be visible before the upgrade: a
// reconnecting ClientTransport sends it in the Mcp-Session-Id request
// header (SessionIDHeader), a browser in an "mcp.session.<id>"
// subprotocol entry. On a client's first connection there is no id yet,
// so the client proposes one (or the ingress does, for clients that do
// not), and the Handler adopts it when it is well formed and no session of
// this Handler uses it: the first connection and every redial then hash
// alike.
//
// The id is a routing hint, never a credential: resuming a session takes
// its secret, sent inside the stream, and the identity it is bound to. A
// client that proposes the id of someone else's session gets a fresh id,
// and only its own connection is routed by its choice.

// errBadSessionHeader refuses an upgrade whose Mcp-Session-Id header is
// repeated or malformed.
var errBadSessionHeader = errors.New("MCP over WebSocket: malformed Mcp-Session-Id header: one id of 16 to 128 letters, digits, '-' or '_'")

// proposedID returns the session id the upgrade request proposes: its
// Mcp-Session-Id header, else its mcp.session subprotocol entry (already
// checked by subprotocol.Parse), else "".
func proposedID(r *http.Request, sp subprotocol.Offer) (string, error) {
	switch v := r.Header.Values(SessionIDHeader); len(v) {
	case 0:
		return sp.Session, nil
	case 1:
		if subprotocol.ValidSessionID(v[0]) {
			return v[0], nil
		}
	}
	return "", errBadSessionHeader
}

// claimID returns the id of a new connection: proposed if it is free (no
// open connection nor parked session of h has it), a random one
// otherwise. The id stays claimed until releaseID.
func (h *Handler) claimID(proposed string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ids == nil {
		h.ids = map[string]bool{}
	}
	id := proposed
	if id == "" || h.ids[id] || h.sessions[id] != nil {
		id = rand.Text()
	}
	h.ids[id] = true
	return id
}

// releaseID frees the id of a connection that closed or never opened. A
// parked session keeps it claimed through h.sessions.
func (h *Handler) releaseID(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.ids, id)
}

// proposeRoute gives a reconnecting client the routing key it sends at
// every dial, the first included, unless its Header already names one.
func (t *ClientTransport) proposeRoute() {
	if t.Reconnect != nil && t.route == "" && t.Header.Get(SessionIDHeader) == "" {
		t.route = rand.Text()
	}
}

// routed returns header with the client's routing key in Mcp-Session-Id.
// The key stays the same across redials: the ingress hashed the first
// dial on it, whatever id the server then chose.
func (t *ClientTransport) routed(header http.Header) http.Header {
	if t.route == "" {
		return header
	}
	header = header.Clone()
	if header == nil {
		header = http.Header{}
	}
	header.Set(SessionIDHeader, t.route)
	return header
}
