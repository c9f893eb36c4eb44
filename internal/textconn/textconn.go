// Package textconn is how a relay in this module reaches the sessions that
// a wsmcp Handler hands to a ServeConnFunc: messages as their text, never
// decoded and re-encoded by the relay, and an end with a close code. The
// mcp.Connection a ServeConnFunc gets implements Conn.
package textconn

import (
	"context"

	"github.com/coder/websocket"
)

// Conn is a session of a wsmcp Handler, seen by a relay.
type Conn interface {
	// ReadText returns the next message of the client's, as it wrote it.
	// The slice is the caller's. It returns an error only when the
	// session has ended, as mcp.Connection.Read does.
	ReadText(ctx context.Context) ([]byte, error)
	// WriteText sends data, one JSON-RPC message, as it is, after checking
	// that it is one (UTF-8, JSON, the shape of a request, notification
	// or response): otherwise it returns an error wrapping
	// wsmcp.ErrInvalidMessage and sends nothing. data may be reused once
	// WriteText returns.
	WriteText(ctx context.Context, data []byte) error
	// CloseWith ends the session for good, closing its socket with code
	// and reason (a fixed string of at most 123 bytes: the client sees it).
	CloseWith(code websocket.StatusCode, reason string)
}
