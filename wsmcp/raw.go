package wsmcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ErrInvalidMessage reports that [RawConn.Write] refused its input: it was
// not one valid JSON-RPC 2.0 message. The error also wraps the
// *jsonrpc.Error that a server answers such input with (errors.As), unless
// the input looks like a response, which is never answered; the
// *[InvalidMessageError] it is tells the id to answer with.
var ErrInvalidMessage = errors.New("wsmcp: not a valid JSON-RPC message")

// InvalidMessageError is the error [RawConn.Write] returns for input it
// refused that is to be answered. It wraps [ErrInvalidMessage] and Reply.
type InvalidMessageError struct {
	// ID is the text of the input's id, byte for byte, when it has a
	// string or numeric one (an integer beyond ±(2⁵³−1), a fraction and an
	// exponent included), so that the sender can match the answer; nil
	// when it has none that can be read: answer with "id": null then.
	ID json.RawMessage
	// Reply is the error to answer with.
	Reply *jsonrpc.Error
}

func (e *InvalidMessageError) Error() string {
	return ErrInvalidMessage.Error() + ": " + e.Reply.Error()
}

func (e *InvalidMessageError) Unwrap() []error { return []error{ErrInvalidMessage, e.Reply} }

// RawConn is a client connection that exchanges JSON-RPC messages as their
// text, for programs that relay MCP rather than speak it: a stdio bridge, a
// proxy, a recorder. It is the connection [ClientTransport.Connect] gives
// the SDK, with the same reconnection, resumption, keepalive and limits;
// only the messages stay as the peers wrote them. What the server sends is
// returned byte for byte, and what Write is given goes out byte for byte:
// ids however they are spelled, _meta and unknown members intact.
//
// Two edits are made, both for resumption and both to initialize only: the
// first initialize request gets the transport's offer added under
// params._meta["io.mcpws/resume"], and the server's grant is taken out of
// the result's _meta before Read returns it, so that the resumption secret
// never reaches the program (which may log it).
//
// Every call written gets exactly one response from Read: the server's,
// or, when the connection or the session is lost before it arrives, an
// error response made up by the transport with code [CodeConnectionLost]
// and the id spelled as it was written; the call may or may not have run.
// A call cancelled with notifications/cancelled is not answered that way.
// After the last of those, Read returns the error that ended the
// connection. Nothing is made up after Close.
//
// Read is called from one goroutine at a time; Write from any.
type RawConn struct {
	conn mcp.Connection

	mu     sync.Mutex
	calls  map[any]json.RawMessage // the id, as written, of each call not yet answered, by idKey
	lost   [][]byte                // made-up responses, for Read to return first
	final  error                   // once set, Read returns it after lost
	closed bool
}

// ConnectRaw dials the server like Connect and returns a connection that
// exchanges raw messages (see [RawConn]). t is used for one connection.
func (t *ClientTransport) ConnectRaw(ctx context.Context) (*RawConn, error) {
	c, err := t.connect(ctx, true)
	if err != nil {
		return nil, err
	}
	return &RawConn{conn: c, calls: map[any]json.RawMessage{}}, nil
}

// SessionID returns the session id the server announced at the handshake.
func (c *RawConn) SessionID() string { return c.conn.SessionID() }

// Write sends one JSON-RPC message, data, exactly as it is (data may be
// reused once Write returns). Invalid UTF-8, text that is not JSON, a batch
// and JSON that is not JSON-RPC 2.0 are not sent: Write returns an error
// wrapping [ErrInvalidMessage] and the JSON-RPC error to answer it with.
// The error does not quote data, which may hold secrets. Integer ids beyond ±(2⁵³−1) are refused the same way: other peers would
// round them.
//
// Write waits, within ctx, while the connection redials, and for room in
// the outbound queue.
func (c *RawConn) Write(ctx context.Context, data []byte) error {
	msg, err := parseText(data)
	if err != nil {
		return err
	}
	data = msg.wire
	var key any
	if req, ok := msg.Message.(*jsonrpc.Request); ok {
		c.mu.Lock()
		if c.final != nil {
			// The connection has ended: a call written now is answered
			// like those it ended with, so that every call gets one.
			err := c.final
			if m, ok := memberValue(data, "id"); ok && req.IsCall() && !c.closed {
				c.lost = append(c.lost, errorResponse(data[m.valStart:m.valEnd], lostError(err)))
			}
			c.mu.Unlock()
			return err
		}
		switch {
		case req.IsCall():
			key = idKey(req.ID)
			if m, ok := memberValue(data, "id"); ok {
				c.calls[key] = data[m.valStart:m.valEnd]
			}
		case req.Method == "notifications/cancelled":
			if id, ok := cancelledID(req.Params); ok {
				delete(c.calls, id)
			}
		}
		c.mu.Unlock()
	}
	err = c.conn.Write(ctx, msg.Message)
	if err != nil && key != nil && ctx.Err() != nil {
		// Given up before it was sent: no response will come.
		c.mu.Lock()
		delete(c.calls, key)
		c.mu.Unlock()
	}
	return err
}

// Read returns the next message from the server, as the server wrote it,
// or a response the transport made up for a lost call (see [RawConn]). The
// slice is the caller's. It returns an error only when the connection has
// ended: [ErrClosed] after Close, else why it ended ([ErrSessionLost],
// [ErrReconnectFailed], a final close, a *[DialError] for a refused redial).
func (c *RawConn) Read(ctx context.Context) ([]byte, error) {
	for {
		c.mu.Lock()
		if len(c.lost) > 0 {
			data := c.lost[0]
			c.lost = c.lost[1:]
			c.mu.Unlock()
			return data, nil
		}
		if c.final != nil {
			err := c.final
			c.mu.Unlock()
			return nil, err
		}
		c.mu.Unlock()

		msg, err := c.conn.Read(ctx)
		if err != nil {
			c.end(err)
			continue
		}
		switch m := msg.(type) {
		case *jsonrpc.Request:
			if data, ok := wireOf(m); ok {
				return data, nil
			}
		case *jsonrpc.Response:
			key := idKey(m.ID)
			c.mu.Lock()
			id, asked := c.calls[key]
			delete(c.calls, key)
			c.mu.Unlock()
			if data, ok := wireOf(m); ok {
				return data, nil
			}
			// Made up by the transport for a lost call.
			if !asked {
				continue
			}
			return errorResponse(id, m.Error), nil
		}
	}
}

// end records err as the end of the connection, and makes up an error
// response for every call still waiting for one.
func (c *RawConn) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.final != nil {
		return
	}
	c.final = err
	if c.closed {
		return
	}
	lost := lostError(err)
	for _, id := range c.calls {
		c.lost = append(c.lost, errorResponse(id, lost))
	}
	clear(c.calls)
}

// lostError is the answer to a call whose connection ended with err.
func lostError(err error) *jsonrpc.Error {
	return &jsonrpc.Error{Code: CodeConnectionLost,
		Message: fmt.Sprintf("connection lost before the response arrived; the request may or may not have run (%v)", err)}
}

// Close ends the connection: what is queued is flushed, and the socket
// closed with 1000. Read then returns ErrClosed.
func (c *RawConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.conn.Close()
}

// errorResponse writes a response with the error e for the call whose id
// was written as id.
func errorResponse(id json.RawMessage, e error) []byte {
	var je *jsonrpc.Error
	if !errors.As(e, &je) {
		je = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprint(e)}
	}
	data, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   *jsonrpc.Error  `json:"error"`
	}{"2.0", id, je})
	return data
}

// textMessage is a message given as text (RawConn.Write, WriteText): the
// decoded message, which the transport's bookkeeping reads, with wire, a
// copy of the text, attached to be written instead of an encoding.
type textMessage struct {
	jsonrpc.Message
	wire []byte
}

// parseText checks that data is one JSON-RPC 2.0 message, the same way the
// transport checks what a peer sends, and returns it with a copy of data
// attached. Invalid UTF-8, text that is not JSON, a batch and JSON that is
// not JSON-RPC 2.0 give an error wrapping [ErrInvalidMessage] (an
// *[InvalidMessageError] when the input is to be answered), which does not
// quote data.
func parseText(data []byte) (textMessage, error) {
	if !utf8.Valid(data) {
		return textMessage{}, fmt.Errorf("%w: invalid UTF-8: %w", ErrInvalidMessage, errParse)
	}
	msg, err := decodeMessage(data)
	if err != nil {
		if bad := classify(data, err); bad.reply != nil {
			return textMessage{}, &InvalidMessageError{ID: bad.id, Reply: bad.reply}
		}
		return textMessage{}, fmt.Errorf("%w: malformed response", ErrInvalidMessage)
	}
	data = bytes.Clone(data)
	setWire(msg, data)
	return textMessage{msg, data}, nil
}

// wire is the text of a message as a peer wrote it, kept on the decoded
// message's Extra on the raw path, and written instead of an encoding.
type wire []byte

// setWire attaches data to msg as its text.
func setWire(msg jsonrpc.Message, data []byte) {
	switch m := msg.(type) {
	case *jsonrpc.Request:
		m.Extra = wire(data)
	case *jsonrpc.Response:
		m.Extra = wire(data)
	}
}

// wireOf returns the text attached to msg, if any.
func wireOf(msg jsonrpc.Message) ([]byte, bool) {
	var w wire
	var ok bool
	switch m := msg.(type) {
	case *jsonrpc.Request:
		w, ok = m.Extra.(wire)
	case *jsonrpc.Response:
		w, ok = m.Extra.(wire)
	}
	return w, ok
}
