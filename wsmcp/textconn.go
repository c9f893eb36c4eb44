package wsmcp

import (
	"context"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpws/mcpws/internal/textconn"
)

// The sessions that a Handler made with NewConnHandler hands to a
// ServeConnFunc are textconn.Conns: a relay in this module (the gateway)
// passes messages on as their text, checked but never re-encoded, and ends
// a session with a close code.
var (
	_ textconn.Conn = (*conn)(nil)
	_ textconn.Conn = (*session)(nil)
)

func (c *conn) ReadText(ctx context.Context) ([]byte, error) { return readText(ctx, c) }

func (s *session) ReadText(ctx context.Context) ([]byte, error) { return readText(ctx, s) }

func (c *conn) WriteText(ctx context.Context, data []byte) error { return writeText(ctx, c, data) }

func (s *session) WriteText(ctx context.Context, data []byte) error {
	return writeText(ctx, s, data)
}

func (c *conn) CloseWith(code websocket.StatusCode, reason string) {
	c.shutdown(code, reason, true, nil)
}

// CloseWith ends the session for good, parked or not.
func (s *session) CloseWith(code websocket.StatusCode, reason string) { s.closeWith(code, reason) }

// readText reads the next message of mc as the peer wrote it (a Handler
// made with NewConnHandler keeps the text of what it reads); a message
// without its text, which the transport made up, is encoded.
func readText(ctx context.Context, mc mcp.Connection) ([]byte, error) {
	msg, err := mc.Read(ctx)
	if err != nil {
		return nil, err
	}
	if data, ok := wireOf(msg); ok {
		return data, nil
	}
	return jsonrpc.EncodeMessage(msg)
}

// writeText checks data and writes it to mc as it is.
func writeText(ctx context.Context, mc mcp.Connection, data []byte) error {
	msg, err := parseText(data)
	if err != nil {
		return err
	}
	return mc.Write(ctx, msg.Message)
}
