//go:build linux

package gateway

import (
	"context"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/textconn"
)

// front is one client session as the relay sees it, whatever carries it:
// JSON-RPC texts each way, and an end. The process side knows nothing
// else, so that another front (Streamable HTTP, through a go-sdk
// transport) can be relayed to the same processes.
type front interface {
	// ReadText returns the client's next message, as it wrote it; an
	// error means the session has ended.
	ReadText(ctx context.Context) ([]byte, error)
	// WriteText sends one line of the process's, if it is one JSON-RPC
	// message (else an error wrapping wsmcp.ErrInvalidMessage).
	WriteText(ctx context.Context, data []byte) error
	// fail ends the session because of its process.
	fail(f failure)
	SessionID() string
	Close() error
}

// failure is why the process side ended a session.
type failure int

const (
	failExited failure = iota // the process exited
	failStart                 // it could not be started
	failTooBig                // it wrote a line over MaxMessageBytes
	failStuck                 // it stopped reading its input
	failBusy                  // a bound on processes was reached after the upgrade
)

// String is the close reason a WebSocket client sees: a fixed string, a
// process's output never reaches a close frame.
func (f failure) String() string {
	switch f {
	case failStart:
		return "MCP server process failed to start"
	case failTooBig:
		return "MCP server process sent a message over the limit"
	case failStuck:
		return "MCP server process is not reading its input"
	case failBusy:
		return "too many MCP server processes"
	}
	return "MCP server process exited"
}

// wsFront is a session of a wsmcp Handler made with NewConnHandler.
type wsFront struct {
	mcp.Connection
	textconn.Conn
}

// fail closes the socket with 1011 (retrying the same session is
// pointless), or 1013 when the gateway is only busy.
func (f wsFront) fail(why failure) {
	code := websocket.StatusInternalError
	if why == failBusy {
		code = websocket.StatusTryAgainLater
	}
	f.CloseWith(code, why.String())
}
