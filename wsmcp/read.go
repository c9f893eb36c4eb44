package wsmcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// maxPooledBuffer keeps a rare huge message from pinning its buffer in the
// pool.
const maxPooledBuffer = 64 << 10

var readBufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Read implements mcp.Connection. It returns an error only when the socket
// is finished: any error stops the SDK's read loop and cancels every call in
// flight. Bad input is answered here and reading goes on.
//
// The context is the SDK's and is deliberately not passed to the socket:
// coder/websocket closes the whole connection when a read's context ends.
func (c *conn) Read(context.Context) (jsonrpc.Message, error) {
	for {
		msg, size, err := c.next()
		if err != nil {
			return nil, err
		}
		if msg != nil && c.control(msg) {
			continue
		}
		c.countReceived(size)
		if msg != nil && c.admit(msg, size) {
			return msg, nil
		}
	}
}

// next returns the message put back by unread, or reads and decodes one.
// msg is nil for input that decode has already answered as invalid.
func (c *conn) next() (msg jsonrpc.Message, size int, err error) {
	if p := c.first; p != nil {
		c.first = nil
		return p.msg, p.size, nil
	}
	data, buf, err := c.readMessage()
	if err != nil {
		return nil, 0, err
	}
	msg, size = c.decode(data), len(data)
	putReadBuf(buf)
	return msg, size, nil
}

// unread puts a message that next returned back, for Read to process as
// if it had just arrived. Only the reader calls it, before Read.
func (c *conn) unread(msg jsonrpc.Message, size int) {
	c.first = &unreadMsg{msg, size}
}

// unreadMsg is a message put back by unread.
type unreadMsg struct {
	msg  jsonrpc.Message
	size int
}

// putReadBuf returns a read buffer to the pool, unless it grew too big.
func putReadBuf(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledBuffer {
		buf.Reset()
		readBufPool.Put(buf)
	}
}

// readMessage reads one whole text message into a pooled buffer. Binary
// messages and invalid UTF-8 close the socket; oversized messages are
// closed with 1009 by coder/websocket itself.
func (c *conn) readMessage() ([]byte, *bytes.Buffer, error) {
	typ, r, err := c.ws.Reader(context.Background())
	if err != nil {
		return nil, nil, c.readFailed(err)
	}
	if typ != websocket.MessageText {
		c.shutdown(websocket.StatusUnsupportedData, ReasonBinary, true, nil)
		return nil, nil, fmt.Errorf("%w: peer sent a binary message", ErrClosed)
	}
	buf := readBufPool.Get().(*bytes.Buffer)
	if c.readTimer != nil {
		c.readTimer.Reset(c.lim.messageTimeout)
	}
	_, err = buf.ReadFrom(r)
	if c.readTimer != nil {
		c.readTimer.Stop()
	}
	if err != nil {
		buf.Reset()
		readBufPool.Put(buf)
		return nil, nil, c.readFailed(err)
	}
	data := buf.Bytes()
	if !utf8.Valid(data) {
		c.shutdown(websocket.StatusInvalidFramePayloadData, ReasonInvalidUTF8, true, nil)
		return nil, nil, fmt.Errorf("%w: peer sent invalid UTF-8", ErrClosed)
	}
	return data, buf, nil
}

// readFailed ends the connection after the socket failed under the reader:
// the peer closed or vanished, or a message exceeded the read limit (for
// which coder/websocket has already sent 1009).
func (c *conn) readFailed(err error) error {
	code := websocket.CloseStatus(err)
	switch {
	case errors.Is(err, websocket.ErrMessageTooBig):
		code = websocket.StatusMessageTooBig
		c.limited(LimitMessageSize)
	case code == -1:
		code = websocket.StatusAbnormalClosure
	}
	c.shutdown(code, "", false, err)
	return fmt.Errorf("%w: %w", ErrClosed, err)
}

// messageStalled fires when a message has not finished arriving within the
// message timeout.
func (c *conn) messageStalled() {
	c.abort(websocket.StatusPolicyViolation, ReasonMessageTimeout, errors.New("message did not finish arriving in time"))
}

// decode parses one message. Invalid input is answered with a JSON-RPC
// error (id null unless the id could be read) and nil is returned.
func (c *conn) decode(data []byte) jsonrpc.Message {
	msg, err := decodeMessage(data)
	if err == nil {
		return msg
	}
	switch {
	case isBatch(data):
		c.replyError(nil, errBatch)
	case !json.Valid(data):
		c.replyError(nil, errParse)
	default:
		c.replyError(salvageID(data), errNotJSONRPC)
	}
	c.log.Debug("wsmcp: invalid message", "session", c.id, "error", err.Error())
	return nil
}

// isBatch reports whether data is a JSON array, that is a JSON-RPC batch.
func isBatch(data []byte) bool {
	data = bytes.TrimLeft(data, " \t\r\n")
	return len(data) > 0 && data[0] == '['
}

// salvageID returns the id of a malformed request, if it has a valid one,
// so that the error reply can be matched to it.
func salvageID(data []byte) any {
	var probe struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(data, &probe) != nil {
		return nil
	}
	switch probe.ID.(type) {
	case string, float64:
		return probe.ID
	}
	return nil
}

// admit applies the transport's per-message policy to a decoded message
// of size bytes. It reports whether the SDK should see the message.
func (c *conn) admit(msg jsonrpc.Message, size int) bool {
	switch m := msg.(type) {
	case *jsonrpc.Request:
		c.observe(In, m.Method, size)
		if !m.IsCall() {
			return true
		}
		key := idKey(m.ID)
		if c.limiter != nil {
			if ok, abuse := c.limiter.allow(); !ok {
				c.rateLimited(key, abuse)
				return false
			}
		}
		c.mu.Lock()
		_, dup := c.inCalls[key]
		draining := c.draining
		full := c.lim.maxInFlight > 0 && len(c.inCalls) >= c.lim.maxInFlight
		if !dup && !draining && !full {
			c.inCalls[key] = inCall{method: m.Method, start: time.Now()}
		}
		c.mu.Unlock()
		switch {
		case dup:
			// Answer with id null: the id belongs to the call already running.
			c.replyError(nil, errDuplicateID)
			return false
		case draining:
			c.replyError(key, errShuttingDown)
			return false
		case full:
			c.limited(LimitInFlight)
			c.replyError(key, errTooManyFlights)
			return false
		}
		if c.extra != nil {
			m.Extra = c.extra
		}
		return true
	case *jsonrpc.Response:
		key := idKey(m.ID)
		c.mu.Lock()
		method, ok := c.outCalls[key]
		delete(c.outCalls, key)
		c.mu.Unlock()
		c.observe(In, method, size)
		if !ok {
			c.log.Warn("wsmcp: response to no outstanding request, ignored", "session", c.id, "id", fmt.Sprint(key))
			return false
		}
		return true
	}
	return false
}

// replyError queues a JSON-RPC error response written by the transport
// itself. A nil id is written as "id": null, which jsonrpc.EncodeMessage
// cannot express.
func (c *conn) replyError(id any, e *jsonrpc.Error) {
	data, err := json.Marshal(struct {
		JSONRPC string         `json:"jsonrpc"`
		ID      any            `json:"id"`
		Error   *jsonrpc.Error `json:"error"`
	}{"2.0", id, e})
	if err != nil {
		return
	}
	_ = c.enqueueMsg(context.Background(), data, numberedReader)
}
