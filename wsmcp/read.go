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
		in, err := c.next()
		if err != nil {
			return nil, err
		}
		if !c.heard.Load() {
			c.heard.Store(true)
			if fn := c.onHeard.Load(); fn != nil {
				(*fn)()
			}
		}
		within := c.withinRate(in.size)
		if in.msg == nil {
			if within {
				c.answerInvalid(in.bad)
			}
			continue
		}
		if c.control(in.msg) {
			continue
		}
		c.countReceived(in.size)
		if !within && !c.passOverRate(in.msg, in.size) {
			continue
		}
		if c.admit(in.msg, in.size) {
			return in.msg, nil
		}
	}
}

// inbound is one message read from the socket: well-formed (msg), or not
// (bad says how to answer it).
type inbound struct {
	msg  jsonrpc.Message
	size int
	bad  *invalid
}

// next returns the message put back by unread, or reads and decodes one.
func (c *conn) next() (inbound, error) {
	if p := c.first; p != nil {
		c.first = nil
		return *p, nil
	}
	data, buf, err := c.readMessage()
	if err != nil {
		return inbound{}, err
	}
	in := c.decode(data)
	putReadBuf(buf)
	return in, nil
}

// unread puts a message that next returned back, for Read to process as
// if it had just arrived. Only the reader calls it, before Read.
func (c *conn) unread(in inbound) { c.first = &in }

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
		c.shutdown(websocket.StatusUnsupportedData, reasonBinary, true, nil)
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
		c.shutdown(websocket.StatusInvalidFramePayloadData, reasonInvalidUTF8, true, nil)
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
	// A close frame, so that the peer learns why: Close writes it while the
	// reader is still waiting for the rest of the message, and drops the
	// socket if the peer does not answer it in time.
	go c.shutdown(websocket.StatusPolicyViolation, reasonMessageTimeout, true, errors.New("message did not finish arriving in time"))
}

// decode parses one message of the peer's.
func (c *conn) decode(data []byte) inbound {
	msg, err := decodeMessage(data)
	if err == nil {
		if c.lim.keepRaw {
			setWire(msg, bytes.Clone(data))
		}
		return inbound{msg: msg, size: len(data)}
	}
	return inbound{size: len(data), bad: classify(data, err)}
}

// withinRate draws one message of size bytes from the connection's rates
// (HandlerOptions.MessageRate and ByteRate), and closes the socket of a
// peer that keeps sending over them.
func (c *conn) withinRate(size int) bool {
	if c.limiter == nil {
		return true
	}
	ok, abuse := c.limiter.allow(size)
	if abuse {
		c.rateAbuse()
	}
	return ok
}

// maxPassOverRate bounds the size of the notifications that pass over the
// rate: a real one is a few hundred bytes.
const maxPassOverRate = 16 << 10

// passOverRate handles a well-formed message that came over the rate: a
// request is refused, a notification dropped, except a cancellation, which
// is passed on as a response is (losing either would leave a call waiting
// forever), and notifications/initialized, without which the session could
// not start.
func (c *conn) passOverRate(msg jsonrpc.Message, size int) bool {
	req, ok := msg.(*jsonrpc.Request)
	if !ok || size <= maxPassOverRate && (req.Method == "notifications/cancelled" || req.Method == "notifications/initialized") {
		return true
	}
	c.observe(In, req.Method, size)
	c.limited(LimitMessageRate)
	if req.IsCall() {
		c.replyError(idKey(req.ID), errRateLimited, true)
	}
	return false
}

// answerInvalid answers a message that is not valid JSON-RPC, unless it is
// a response: JSON-RPC never answers a response (§5), or two peers that both
// did would answer each other forever.
func (c *conn) answerInvalid(bad *invalid) {
	n := c.invalidIn.Add(1)
	if n == 1 {
		c.log.Debug("wsmcp: invalid message", "session", c.id, "error", bad.cause.Error())
	}
	if bad.reply == nil {
		c.ignoreResponse(nil)
		return
	}
	// Not a message of the session: never numbered for replay.
	c.replyError(bad.id, bad.reply, false)
}

// ignoreResponse drops a response that answers no request of ours (id),
// or a malformed one (nil). The first is logged; the rest are counted, and
// the count logged when the connection closes.
func (c *conn) ignoreResponse(id any) {
	if c.ignored.Add(1) == 1 {
		c.log.Warn("wsmcp: response to no outstanding request, ignored", "session", c.id, "id", truncate(fmt.Sprint(id), 64))
	}
}

// truncate cuts s to at most n bytes, for logging peer-chosen text.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// admit applies the transport's per-message policy to a decoded message
// of size bytes. It reports whether the SDK should see the message.
func (c *conn) admit(msg jsonrpc.Message, size int) bool {
	switch m := msg.(type) {
	case *jsonrpc.Request:
		c.observe(In, m.Method, size)
		if !m.IsCall() {
			if c.lim.releaseOnCancel && m.Method == "notifications/cancelled" {
				c.releaseCancelled(m.Params)
			}
			return true
		}
		key := idKey(m.ID)
		if c.screened(m, key) {
			return false
		}
		c.mu.Lock()
		if c.closed {
			// Sealed by a resume, or closing: no answer could go out here.
			c.mu.Unlock()
			return false
		}
		_, dup := c.inCalls[key]
		draining := c.draining
		full := c.lim.maxInFlight > 0 && len(c.inCalls) >= c.lim.maxInFlight
		tooBig := false
		if !dup && !draining && !full {
			if tooBig = !c.flights.admit(int64(size)); !tooBig {
				c.inCalls[key] = inCall{method: m.Method, start: time.Now(), size: int64(size)}
			}
		}
		c.mu.Unlock()
		switch {
		case dup:
			// Answer with id null: the id belongs to the call already
			// running. Not a message of the session.
			c.replyError(nil, errDuplicateID, false)
			return false
		case draining:
			c.replyError(key, errShuttingDown, true)
			return false
		case full:
			c.limited(LimitInFlight)
			c.replyError(key, errTooManyFlights, true)
			return false
		case tooBig:
			c.limited(LimitInFlightBytes)
			c.replyError(key, errTooManyBytes, true)
			return false
		}
		if c.extra != nil && !c.lim.keepRaw { // a relay reads the text, not an mcp.Server
			m.Extra = c.extra
		}
		return true
	case *jsonrpc.Response:
		key := idKey(m.ID)
		c.mu.Lock()
		method, ok := c.outCalls[key]
		delete(c.outCalls, key)
		c.mu.Unlock()
		if !ok {
			c.ignoreResponse(key)
			return false
		}
		c.observe(In, method, size)
		return true
	}
	return false
}

// screened reports whether call m, with id key, was refused by the
// session's screen (and answered). Only the methods the screen looks at
// get to it, and never a call whose id is in use, which admit answers.
func (c *conn) screened(m *jsonrpc.Request, key any) bool {
	fn := c.screen.Load()
	if fn == nil || m.Method != "initialize" && m.Method != "resources/subscribe" {
		return false
	}
	c.mu.Lock()
	_, dup := c.inCalls[key]
	c.mu.Unlock()
	if dup {
		return false
	}
	e := (*fn)(m)
	if e != nil {
		c.replyError(key, e, true)
	}
	return e != nil
}

// releaseCancelled ends the bookkeeping of the peer's call that a
// notifications/cancelled names, on a relayed connection (NewConnHandler):
// the MCP specification lets the receiver of a cancellation not answer, and
// servers that do so (the TypeScript SDK's) would otherwise hold the call's
// place in MaxInFlight and its bytes for the life of the session. A late
// answer still goes out. Served by an mcp.Server, the SDK answers every
// call, and the call counts until it does.
func (c *conn) releaseCancelled(params json.RawMessage) {
	key, ok := cancelledID(params)
	if !ok {
		return
	}
	c.mu.Lock()
	call, ok := c.takeCallLocked(key)
	c.mu.Unlock()
	if ok {
		c.flights.finish(call.size)
	}
}

// replyError queues a JSON-RPC error response written by the transport
// itself. A nil id is written as "id": null, which jsonrpc.EncodeMessage
// cannot express. A reply to a request of the session is numbered for
// replay (session), so that a resumed client gets it; a reply to input
// that is not valid JSON-RPC is not.
func (c *conn) replyError(id any, e *jsonrpc.Error, session bool) {
	data, err := json.Marshal(struct {
		JSONRPC string         `json:"jsonrpc"`
		ID      any            `json:"id"`
		Error   *jsonrpc.Error `json:"error"`
	}{"2.0", id, e})
	if err != nil {
		return
	}
	mode := raw
	if session {
		mode = numberedReader
	}
	_ = c.enqueueMsg(context.Background(), data, mode, nil)
}
