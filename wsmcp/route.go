package wsmcp

import (
	"crypto/rand"
	"errors"
	"net/http"

	"github.com/mcpws/mcpws/internal/subprotocol"
)

// Routing (docs/deploy.md, "Several replicas"): an ingress in front of N
// replicas hashes on a routing key of the upgrade request, so that a
// client that redials reaches the replica that holds its session. The key
// must be visible before the upgrade and the same at every dial, the first
// included: a reconnecting ClientTransport makes one up and sends it in the
// Mcp-Route request header (RouteHeader) at every dial, a browser in an
// "mcp.route.<key>" subprotocol entry, and an ingress may make one up for a
// client that sends none.
//
// The key steers routing and nothing else. The session id is always minted
// by the server (crypto/rand.Text): a key never becomes a session id or
// names anything in a SessionStore, so proposing another client's key
// reaches, at most, the same replica. Resuming a session takes its id, its
// secret and its identity, all sent inside the stream.

// RouteHeader carries a client's routing key on the upgrade request, and
// back on the response. It is never a credential nor a session id.
const RouteHeader = "Mcp-Route"

// errBadRoute refuses an upgrade whose Mcp-Route header is repeated or
// malformed.
var errBadRoute = errors.New("MCP over WebSocket: malformed Mcp-Route header: one key of 16 to 128 letters, digits, '-' or '_'")

// routeKey returns the routing key of the upgrade request: its Mcp-Route
// header, else its mcp.route subprotocol entry (already checked by
// subprotocol.Parse), else "".
func routeKey(r *http.Request, sp subprotocol.Offer) (string, error) {
	switch v := r.Header.Values(RouteHeader); len(v) {
	case 0:
		return sp.Route, nil
	case 1:
		if subprotocol.ValidKey(v[0]) {
			return v[0], nil
		}
	}
	return "", errBadRoute
}

// proposeRoute gives a reconnecting client the routing key it sends at
// every dial, the first included, unless its Header already names one.
func (t *ClientTransport) proposeRoute() {
	if t.Reconnect != nil && t.route == "" && t.Header.Get(RouteHeader) == "" {
		t.route = rand.Text()
	}
}

// routed returns header with the client's routing key in Mcp-Route.
func (t *ClientTransport) routed(header http.Header) http.Header {
	if t.route == "" {
		return header
	}
	header = header.Clone()
	if header == nil {
		header = http.Header{}
	}
	header.Set(RouteHeader, t.route)
	return header
}
