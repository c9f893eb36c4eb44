package wsmcp

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mcpws/mcpws/internal/rpcerr"
)

// writeChunk is the fragment size for large messages, so that pings and
// pongs can interleave with a long write.
const writeChunk = 32 << 10

// Write implements mcp.Connection. It queues the message; if no writer is
// running, the calling goroutine sends what is queued itself, once, under
// the write watchdog, and anything more goes to a writer goroutine. It
// waits, within ctx, for room in a full queue; if the queue stays full past
// the write timeout the peer is not reading, the socket is dropped and
// ErrSlowConsumer returned.
//
// A notification that the server fans out to every subscriber
// (resources/updated, list_changed) never waits: the SDK sends it to one
// session after another, and one peer that does not read would hold up all
// the others. If it finds the queue full, the socket is dropped at once as a
// slow consumer; otherwise a writer goroutine sends it.
//
// ctx is the SDK's, which notifications/cancelled may cancel mid-write; it
// is never passed to the socket, where it would close the connection.
func (c *conn) Write(ctx context.Context, msg jsonrpc.Message) error {
	data, err := c.encode(msg)
	if err != nil {
		return err
	}
	resp, _ := msg.(*jsonrpc.Response)
	mode := numbered
	if fanOut(msg) {
		mode = broadcast
	}
	if err := c.enqueueMsg(ctx, data, mode, resp); err != nil {
		if req, ok := msg.(*jsonrpc.Request); ok && req.IsCall() {
			key := idKey(req.ID)
			c.mu.Lock()
			delete(c.outCalls, key)
			answered := c.failed[key]
			c.mu.Unlock()
			if answered {
				// The socket died while this waited to be queued, and the
				// call was answered for it (failLost): sending it again on
				// the next socket would answer it twice.
				return nil
			}
		}
		return err
	}
	return nil
}

// encode serialises msg and does the bookkeeping of sending a request: the
// calls we wait for, and the hooks. A response's bookkeeping waits until it
// is queued (takeCall, served): until then its call still counts against
// MaxInFlight and the in-flight bytes, so that a peer that stops reading
// cannot pile up results waiting for room.
func (c *conn) encode(msg jsonrpc.Message) ([]byte, error) {
	data, err := c.encodeBooked(msg)
	if err == nil {
		c.observeOut(msg, data)
	}
	return data, err
}

// observeOut reports an outgoing request or notification, encoded as data,
// to the hooks. Responses are reported when they are queued (served).
func (c *conn) observeOut(msg jsonrpc.Message, data []byte) {
	if req, ok := msg.(*jsonrpc.Request); ok {
		c.observe(Out, req.Method, len(data))
	}
}

// encodeBooked is encode without the hooks, for callers that hold a lock
// and report the message (observe) once they have released it. A message
// read or written on the raw path (raw.go) goes out as its text.
func (c *conn) encodeBooked(msg jsonrpc.Message) ([]byte, error) {
	data, ok := wireOf(msg)
	if !ok {
		var err error
		if data, err = jsonrpc.EncodeMessage(msg); err != nil {
			return nil, fmt.Errorf("wsmcp: encoding message: %w", err)
		}
	}
	if m, ok := msg.(*jsonrpc.Request); ok {
		c.mu.Lock()
		switch {
		case m.IsCall():
			c.outCalls[idKey(m.ID)] = m.Method
		case m.Method == "notifications/cancelled":
			// A call we gave up on: its response, if any, is stray.
			if id, ok := cancelledID(m.Params); ok {
				delete(c.outCalls, id)
			}
		}
		c.mu.Unlock()
	}
	return data, nil
}

// takeCall ends the bookkeeping of the peer's request id, answered by a
// response now queued or kept for replay, and returns it.
func (c *conn) takeCall(id jsonrpc.ID) inCall {
	c.mu.Lock()
	call, ok := c.takeCallLocked(idKey(id))
	to := c.handedTo
	c.mu.Unlock()
	if !ok && to != nil {
		// A resume moved the calls to another socket meanwhile.
		return to.takeCall(id)
	}
	return call
}

// takeCallLocked is takeCall on this socket only; c.mu must be held.
func (c *conn) takeCallLocked(key any) (inCall, bool) {
	call, ok := c.inCalls[key]
	delete(c.inCalls, key)
	if c.draining && len(c.inCalls) == 0 {
		c.broadcastLocked()
	}
	return call, ok
}

// served returns the bytes of an answered call and reports it to the hooks.
func (c *conn) served(resp *jsonrpc.Response, call inCall, size int) {
	c.flights.finish(call.size)
	c.observe(Out, call.method, size)
	if c.hooks.Served != nil && !call.start.IsZero() {
		c.hooks.Served(c.ctx, call.method, time.Since(call.start), rpcerr.Code(resp.Error))
	}
}

// cancelledID returns the request id that a notifications/cancelled names.
func cancelledID(params json.RawMessage) (any, bool) {
	var p struct {
		RequestID json.RawMessage `json:"requestId"`
	}
	if json.Unmarshal(params, &p) != nil {
		return nil, false
	}
	id, err := decodeID(p.RequestID)
	if err != nil || !id.IsValid() {
		return nil, false
	}
	return idKey(id), true
}

// enqueue adds one encoded message of the session to the outbound queue:
// while the session may be resumed it is also numbered and kept for replay,
// in queue order. When the message is a response (answers is not nil), the
// call it answers is taken off the books as it is queued, and reported
// served before the message is written: not before it is queued, or a peer
// that does not read could pile up results outside the in-flight bounds;
// not after it is written, or a peer quick to send its next request would
// find the call still counted, and hooks would see the calls out of order.
func (c *conn) enqueue(ctx context.Context, data []byte, answers *jsonrpc.Response) error {
	return c.enqueueMsg(ctx, data, numbered, answers)
}

// enqueueRaw queues a message that is not part of the session's numbered
// stream: an ack, a resume answer, a replayed message.
func (c *conn) enqueueRaw(data []byte) error {
	return c.enqueueMsg(context.Background(), data, raw, nil)
}

// How enqueueMsg treats a message.
type enqueueMode int

const (
	numbered       enqueueMode = iota // part of the session: kept for replay, waits for room in the log
	numberedReader                    // the same, from the reader, which must not wait for acks it alone reads
	broadcast                         // numbered, never waits and never writes inline: no room drops the socket
	raw                               // transport control: not numbered
)

// enqueueMsg adds one encoded message to the outbound queue and starts the
// writer if it is not running.
func (c *conn) enqueueMsg(ctx context.Context, data []byte, mode enqueueMode, answers *jsonrpc.Response) error {
	var deadline *time.Timer
	c.mu.Lock()
	var l *replayLog
	for {
		if mode != raw {
			l = c.rlog.Load()
		}
		queueFull := c.queued > 0 && c.queued+len(data) > c.lim.maxQueueBytes
		// Has the peer acknowledged enough to make room in the log?
		logFull := (mode == numbered || mode == broadcast) && l != nil && !l.fits(len(data))
		if c.closed || !queueFull && !logFull {
			break
		}
		if mode == broadcast {
			c.mu.Unlock()
			return c.noRoom(logFull)
		}
		if deadline == nil {
			deadline = time.NewTimer(c.lim.writeTimeout)
			defer deadline.Stop()
		}
		if err := c.awaitProgressLocked(ctx, deadline.C); err != nil {
			c.mu.Unlock()
			if err == ErrSlowConsumer {
				c.limited(LimitSlowConsumer)
				c.abort(websocket.StatusAbnormalClosure, reasonSlowConsumer, err)
			}
			return err
		}
	}
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if l != nil {
		if err := l.add(data, mode == numberedReader); err != nil {
			c.mu.Unlock()
			c.limited(LimitReplay)
			go c.shutdown(websocket.StatusPolicyViolation, reasonNoAcks, true, err)
			return err
		}
	}
	c.queue = append(c.queue, data)
	c.queued += len(data)
	var call inCall
	if answers != nil {
		call, _ = c.takeCallLocked(idKey(answers.ID))
	}
	inline := !c.writing
	c.writing = true
	c.mu.Unlock()
	if answers != nil {
		c.served(answers, call, len(data))
	}
	if !inline {
		return nil
	}
	if mode == broadcast {
		// The caller is sending to every subscriber in turn: a write to a
		// socket whose peer does not read must not hold it up.
		go c.writeLoop(false)
		return nil
	}
	// No writer is running: this goroutine writes the batch itself, which
	// saves a goroutine and a wake-up per message on a quiet connection,
	// and hands what piles up meanwhile to a writer goroutine. The write
	// watchdog bounds how long it can block.
	c.writeLoop(true)
	return nil
}

// noRoom drops the socket for a fanned-out notification that found no room
// (broadcast), and returns the error of its write. A full queue is a slow
// consumer (1006): a resumable session parks and keeps the notification for
// the client. A full replay log ends a resumable session (recorded as 1008
// ReasonNoAcks, which does not park it; the peer sees the socket dropped):
// parked with a full log, it would make the notification wait for room
// that only the client can make. The first notification to find no room
// reports it; the next ones find the socket closing.
func (c *conn) noRoom(logFull bool) error {
	st := closeStatus{code: websocket.StatusAbnormalClosure, reason: reasonSlowConsumer, err: ErrSlowConsumer}
	limit := LimitSlowConsumer
	if logFull {
		st = closeStatus{code: websocket.StatusPolicyViolation, reason: reasonNoAcks, err: errReplayOverflow}
		limit = LimitReplay
	}
	c.mu.Lock()
	first := c.status.code == 0
	if first {
		c.status = st
	}
	c.mu.Unlock()
	if first {
		c.limited(limit)
	}
	c.abort(st.code, st.reason, st.err)
	return st.err
}

// keptBatch is the largest queue array a connection keeps between writes;
// a larger one, left by a burst, is given back to the collector.
const keptBatch = 16

// writeLoop sends queued messages until the queue is empty, then exits: an
// idle connection has no writer goroutine. Inline, in an enqueuing caller's
// goroutine, it sends one batch and leaves the rest to a goroutine.
func (c *conn) writeLoop(inline bool) {
	var batch [][]byte
	for first := true; ; first = false {
		c.mu.Lock()
		if c.closed || len(c.queue) == 0 {
			if c.queue == nil && cap(batch) <= keptBatch {
				// The emptied batch (its entries cleared) holds the next
				// messages: no allocation per message on a quiet connection.
				c.queue = batch[:0]
			}
			c.writing = false
			c.broadcastLocked()
			c.mu.Unlock()
			return
		}
		if inline && !first {
			c.mu.Unlock()
			go c.writeLoop(false)
			return
		}
		batch, c.queue = c.queue, batch[:0]
		c.mu.Unlock()

		n := 0
		for i, data := range batch {
			if err := c.writeMessage(data); err != nil {
				c.abort(websocket.StatusAbnormalClosure, "", err)
				c.mu.Lock()
				c.writing = false
				c.broadcastLocked()
				c.mu.Unlock()
				return
			}
			n += len(data)
			batch[i] = nil
		}
		c.mu.Lock()
		c.queued -= n
		c.broadcastLocked()
		c.mu.Unlock()
	}
}

// writeMessage writes one message under the write watchdog; large messages
// go out in fragments.
func (c *conn) writeMessage(data []byte) error {
	c.writeTimer.Reset(c.lim.writeTimeout)
	defer c.writeTimer.Stop()
	if len(data) <= writeChunk {
		return c.ws.Write(context.Background(), websocket.MessageText, data)
	}
	w, err := c.ws.Writer(context.Background(), websocket.MessageText)
	if err != nil {
		return err
	}
	for len(data) > 0 {
		n := min(len(data), writeChunk)
		if _, err := w.Write(data[:n]); err != nil {
			_ = w.Close()
			return err
		}
		data = data[n:]
	}
	return w.Close()
}

// writeStalled fires when one frame write took longer than the write
// timeout: the peer is not reading.
func (c *conn) writeStalled() {
	c.abort(websocket.StatusAbnormalClosure, reasonSlowConsumer, ErrSlowConsumer)
}

// broadcastLocked wakes everyone waiting for progress. c.mu must be held.
func (c *conn) broadcastLocked() {
	if c.waiters > 0 {
		close(c.progress)
		c.progress = make(chan struct{})
	}
}

// waitFlushed waits until the writer has sent everything queued.
func (c *conn) waitFlushed(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.writing || len(c.queue) > 0 {
		if c.closed {
			return ErrClosed
		}
		if err := c.awaitProgressLocked(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// awaitProgressLocked waits until the writer makes progress, a request
// finishes while draining, the connection ends, ctx ends (its error) or
// stop fires (ErrSlowConsumer). c.mu is held on entry and on return.
func (c *conn) awaitProgressLocked(ctx context.Context, stop <-chan time.Time) error {
	progress := c.progress
	c.waiters++
	c.mu.Unlock()
	var err error
	select {
	case <-progress:
	case <-c.done:
	case <-ctx.Done():
		err = ctx.Err()
	case <-stop:
		err = ErrSlowConsumer
	}
	c.mu.Lock()
	c.waiters--
	return err
}
